// Timing, seeded inputs and error measures shared by every benchmark case. Runs in Node and in the
// browser alike: nothing here touches node:* or the DOM.

import { seededUniform } from '../../src/check/compare.js';

/** Deterministic uniform values in [lo, hi), so a failing check reproduces. */
export const seededArray = seededUniform;

/** `count` distinct indices below `n`, spread evenly with a seeded jitter (first and last included). */
export function sampleIndices(n: number, count: number, seed: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  const jitter = seededArray(count, seed, 0, 1);
  const picked = new Set<number>([0, n - 1]);
  for (let i = 0; picked.size < count && i < count; i++) picked.add(Math.min(n - 1, Math.floor(((i + jitter[i]) * n) / count)));
  return [...picked].sort((a, b) => a - b);
}

export interface Timing {
  medianMs: number;
  minMs: number;
  /** Every timed run, in order (warm-up runs excluded). */
  runsMs: number[];
}

export interface TimingPlan {
  /** Untimed runs before timing (pipeline compilation happens in the correctness run already). */
  warmup: number;
  iterations: number;
  /** Stop timing once this much time has gone by (at least one timed run always happens). */
  budgetMs: number;
}

export interface TimedSide {
  /** Must return only once the GPU has finished. */
  run(): Promise<void>;
  plan: TimingPlan;
}

export type SideTiming = Timing | { error: Error };

/**
 * Times several sides (ours, tfjs, the copy kernel) in round-robin order after their warm-ups, so a
 * change in the machine's load hits all of them alike and the ratios stay meaningful on a busy
 * machine. Each side stops at its iteration count or once its own runs exceed its budget (after at
 * least one run). A side that throws is reported as { error } and the others go on.
 */
export async function timeInterleaved(sides: TimedSide[]): Promise<SideTiming[]> {
  const runs = sides.map(() => [] as number[]);
  const spent = sides.map(() => 0);
  const errors: (Error | null)[] = sides.map(() => null);
  const attempt = async (k: number, record: boolean) => {
    const t0 = performance.now();
    try {
      await sides[k].run();
    } catch (err) {
      errors[k] = err as Error;
      return;
    }
    const ms = performance.now() - t0;
    if (record) {
      runs[k].push(ms);
      spent[k] += ms;
    }
  };
  for (let k = 0; k < sides.length; k++) for (let i = 0; i < sides[k].plan.warmup && !errors[k]; i++) await attempt(k, false);
  const active = (k: number) => !errors[k] && runs[k].length < sides[k].plan.iterations && (runs[k].length === 0 || spent[k] <= sides[k].plan.budgetMs);
  while (sides.some((_, k) => active(k))) {
    for (let k = 0; k < sides.length; k++) if (active(k)) await attempt(k, true);
  }
  return runs.map((r, k) => (errors[k] ? { error: errors[k]! } : { medianMs: median(r), minMs: Math.min(...r), runsMs: r.map(round3) }));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export interface ErrorReport {
  /** max |actual - expected| over the compared elements (Infinity for NaN where a number was expected). */
  maxAbsErr: number;
  /** The element with the largest excess over the tolerance, for the failure message. */
  worstIndex: number;
  compared: number;
  ok: boolean;
}

/**
 * Compares `actual[indices[i]]` (or every element, without indices) with `expected[i]`:
 * ok when |actual - expected| <= atol + rtol * |expected| everywhere.
 */
export function compareValues(
  actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, indices?: readonly number[],
): ErrorReport {
  let maxAbsErr = 0, worstExcess = -Infinity, worstIndex = -1, ok = true;
  const n = indices ? indices.length : expected.length;
  if (!indices && actual.length !== expected.length) throw new Error(`compareValues: ${actual.length} values vs ${expected.length} expected`);
  for (let i = 0; i < n; i++) {
    const at = indices ? indices[i] : i;
    const a = actual[at], e = expected[i];
    const d = Number.isNaN(a) || Number.isNaN(e) ? (Number.isNaN(a) && Number.isNaN(e) ? 0 : Infinity) : Math.abs(a - e);
    if (d > maxAbsErr) maxAbsErr = d;
    const excess = d - (atol + rtol * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worstIndex = at;
    }
    if (excess > 0) ok = false;
  }
  return { maxAbsErr, worstIndex, compared: n, ok };
}
