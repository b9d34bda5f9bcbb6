// One engine per test file (vitest runs each file in its own process).
import { afterAll } from 'vitest';
import { Engine } from '../../src/engine.js';
import { seededUniform } from '../../src/check/compare.js';

let enginePromise: Promise<Engine> | null = null;

export function testEngine(): Promise<Engine> {
  enginePromise ??= Engine.create();
  return enginePromise;
}

afterAll(async () => {
  if (enginePromise) (await enginePromise).dispose();
});

/** Deterministic uniform values in [lo, hi), so failures reproduce. */
export const randomArray = seededUniform;

/** max |a - b| over all elements, and max |b| (the reference's scale). NaN anywhere counts as Infinity. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) {
      if (!(Number.isNaN(a[i]) && Number.isNaN(b[i])) && a[i] !== b[i]) return Infinity;
    } else if (d > m) m = d;
  }
  return m;
}

/** Asserts |actual - expected| <= atol + rtol * |expected| elementwise; reports the worst element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0, label = ''): void {
  if (actual.length !== expected.length) throw new Error(`${label}: length ${actual.length}, expected ${expected.length}`);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = expected[i], a = actual[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (e === a) continue; // equal infinities
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(`${label}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}
