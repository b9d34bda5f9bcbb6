// Intensity normalisation to [0, 1]. Works on any Float32Array, so callers choose the scope:
// per slice (what the reference does with min-max) or per volume.
import { UsageError } from '../errors.js';

export type Normalization =
  | { kind: 'minmax' }
  /** Clip to the [low, high] percentiles (in %), then min-max. */
  | { kind: 'percentile'; low: number; high: number }
  /** CT window: [center - width/2, center + width/2] maps to [0, 1], clipped. */
  | { kind: 'window'; center: number; width: number }
  | { kind: 'none' };

export function normalizeIntensity(data: Float32Array, method: Normalization): Float32Array {
  switch (method.kind) {
    case 'none':
      return data.slice();
    case 'minmax': {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < data.length; i++) {
        if (data[i] < lo) lo = data[i];
        if (data[i] > hi) hi = data[i];
      }
      return rescale(data, lo, hi);
    }
    case 'percentile': {
      const [lo, hi] = percentiles(data, [method.low, method.high]);
      return rescale(data, lo, hi);
    }
    case 'window':
      return rescale(data, method.center - method.width / 2, method.center + method.width / 2);
  }
}

/** Linear map of [lo, hi] to [0, 1], clipped; a flat input (hi <= lo) gives zeros. */
function rescale(data: Float32Array, lo: number, hi: number): Float32Array {
  const out = new Float32Array(data.length);
  if (!(hi > lo)) return out;
  const scale = 1 / (hi - lo);
  for (let i = 0; i < data.length; i++) {
    const v = (data[i] - lo) * scale;
    out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return out;
}

const PERCENTILE_SAMPLE = 1 << 20;

/**
 * Percentiles (in %) with linear interpolation between order statistics (numpy's default).
 * Inputs beyond about a million values are subsampled with a fixed stride (exact enough for clipping).
 */
export function percentiles(data: Float32Array, ps: number[]): number[] {
  if (data.length === 0) return ps.map(() => 0);
  const stride = Math.max(1, Math.floor(data.length / PERCENTILE_SAMPLE));
  const sample = new Float32Array(Math.ceil(data.length / stride));
  for (let i = 0, j = 0; i < data.length; i += stride, j++) sample[j] = data[i];
  sample.sort();
  return ps.map((p) => {
    const pos = (Math.min(100, Math.max(0, p)) / 100) * (sample.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, sample.length - 1);
    return sample[lo] + (sample[hi] - sample[lo]) * (pos - lo);
  });
}

/** 'minmax' | 'none' | 'percentile:LOW,HIGH' | 'window:CENTER,WIDTH' (e.g. 'window:40,400'). */
export function parseNormalization(text: string): Normalization {
  const [kind, args = ''] = text.split(':', 2);
  const nums = args === '' ? [] : args.split(',').map(Number);
  const bad = () => new UsageError(`bad normalisation '${text}': use minmax, none, percentile:LOW,HIGH or window:CENTER,WIDTH`);
  if (nums.some((n) => !Number.isFinite(n))) throw bad();
  if (kind === 'minmax' && nums.length === 0) return { kind: 'minmax' };
  if (kind === 'none' && nums.length === 0) return { kind: 'none' };
  if (kind === 'percentile' && nums.length === 2 && nums[0] >= 0 && nums[0] < nums[1] && nums[1] <= 100) {
    return { kind: 'percentile', low: nums[0], high: nums[1] };
  }
  if (kind === 'window' && nums.length === 2 && nums[1] > 0) return { kind: 'window', center: nums[0], width: nums[1] };
  throw bad();
}

export function formatNormalization(n: Normalization): string {
  if (n.kind === 'percentile') return `percentile:${n.low},${n.high}`;
  if (n.kind === 'window') return `window:${n.center},${n.width}`;
  return n.kind;
}
