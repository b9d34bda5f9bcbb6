// Shared by `autosam check` and the benchmarks: how GPU results are compared with a reference.
import { mulberry32 } from '../util/random.js';

export interface Comparison {
  /** Largest |actual - expected|. */
  maxAbsError: number;
  /** Largest |expected|, for judging the error's scale. */
  maxAbsExpected: number;
  /** Every element within atol + rtol * |expected| (NaN only where the reference is NaN). */
  passed: boolean;
}

export function compareArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0): Comparison {
  if (actual.length !== expected.length) return { maxAbsError: Infinity, maxAbsExpected: 0, passed: false };
  let maxAbsError = 0, maxAbsExpected = 0, passed = true;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (!(Number.isNaN(e) && Number.isNaN(a))) { passed = false; maxAbsError = Infinity; }
      continue;
    }
    if (a === e) continue;
    const d = Math.abs(a - e);
    if (!(d <= atol + rtol * Math.abs(e))) passed = false;
    if (d > maxAbsError || Number.isNaN(d)) maxAbsError = Number.isNaN(d) ? Infinity : d;
    maxAbsExpected = Math.max(maxAbsExpected, Math.abs(e));
  }
  return { maxAbsError, maxAbsExpected, passed };
}

/** Deterministic uniform values in [lo, hi) (mulberry32), so a failing check reproduces. */
export function seededUniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
  return out;
}
