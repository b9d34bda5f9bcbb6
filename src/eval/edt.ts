// Exact Euclidean distance transform on an anisotropic voxel grid (Felzenszwalb & Huttenlocher,
// "Distance Transforms of Sampled Functions", Theory of Computing 8, 2012): the squared distance is
// separable, so one 1D pass per axis gives the exact result in O(N) per axis. The first pass reads
// the binary mask directly (nearest feature in the row, two scans); the y and z passes take the
// lower envelope of parabolas, with each axis' spacing folded into the parabola positions.
//
// Meaning: out[i] = min over voxels j with feature[j] != 0 of sum_axis ((i_a - j_a) * spacing_a)^2,
// Infinity where the mask has no feature at all. scipy.ndimage.distance_transform_edt(x, sampling)
// is the same quantity (square-rooted) with the features being x == 0, i.e. ours(feature) equals
// scipy's edt(~feature)^2; test/eval/edt.test.ts checks exactly that.
//
// Layout as in src/data/volume.ts: dims [X, Y, Z], index = x + X * (y + Y * z).

import { DataError } from '../errors.js';
import type { Vec3 } from '../data/volume.js';

/** Squared distance in mm^2 from every voxel to the nearest voxel where feature != 0 (Infinity if none). */
export function squaredDistanceTransform(feature: ArrayLike<number>, dims: Vec3, spacing: Vec3): Float64Array {
  checkGrid(feature.length, dims, spacing);
  const [X, Y, Z] = dims;
  const out = new Float64Array(feature.length);
  rowPass(feature, out, X, Y * Z, spacing[0]);
  const longest = Math.max(Y, Z);
  const scratch = new EnvelopeScratch(longest);
  // y lines: for each z, X lines of stride X; z lines: X * Y lines of stride X * Y.
  for (let z = 0; z < Z; z++) {
    for (let x = 0; x < X; x++) envelopePass(out, x + X * Y * z, X, Y, spacing[1], scratch);
  }
  if (Z > 1) for (let start = 0; start < X * Y; start++) envelopePass(out, start, X * Y, Z, spacing[2], scratch);
  return out;
}

/** Distance in mm (the square root of squaredDistanceTransform). */
export function distanceTransform(feature: ArrayLike<number>, dims: Vec3, spacing: Vec3): Float64Array {
  const out = squaredDistanceTransform(feature, dims, spacing);
  for (let i = 0; i < out.length; i++) out[i] = Math.sqrt(out[i]);
  return out;
}

export function checkGrid(length: number, dims: Vec3, spacing: Vec3): void {
  if (dims.length !== 3 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new DataError(`grid dims must be three positive integers, got [${dims.join(', ')}]`);
  }
  if (spacing.length !== 3 || spacing.some((s) => !Number.isFinite(s) || s <= 0)) {
    throw new DataError(`voxel spacing must be three positive finite numbers, got [${spacing.join(', ')}]`);
  }
  const count = dims[0] * dims[1] * dims[2];
  if (length !== count) throw new DataError(`volume holds ${length} voxels, dims ${dims.join('x')} make ${count}`);
}

/** x pass: squared distance along each row to the row's nearest feature (two linear scans). */
function rowPass(feature: ArrayLike<number>, out: Float64Array, X: number, rows: number, sx: number): void {
  for (let r = 0; r < rows; r++) {
    const base = r * X;
    let last = -1; // index of the last feature seen scanning left to right
    for (let x = 0; x < X; x++) {
      if (feature[base + x] !== 0) last = x;
      out[base + x] = last < 0 ? Infinity : x - last; // index units for now
    }
    last = -1;
    for (let x = X - 1; x >= 0; x--) {
      if (feature[base + x] !== 0) last = x;
      const d = last < 0 ? out[base + x] : Math.min(out[base + x], last - x);
      // (steps * spacing)^2, the same rounding as scipy's per-axis term
      const mm = d * sx;
      out[base + x] = mm * mm;
    }
  }
}

class EnvelopeScratch {
  /** the line's input values */
  readonly f: Float64Array;
  /** indices of the parabolas in the lower envelope */
  readonly v: Int32Array;
  /** boundaries between envelope parabolas, in index units */
  readonly z: Float64Array;
  constructor(n: number) {
    this.f = new Float64Array(n);
    this.v = new Int32Array(n);
    this.z = new Float64Array(n + 1);
  }
}

/**
 * One line of n values at out[start + k * stride], replaced in place by
 * min_q ((k - q) * s)^2 + f[q]. Parabolas with f = Infinity (no feature reached yet) never enter the envelope.
 */
function envelopePass(out: Float64Array, start: number, stride: number, n: number, s: number, scratch: EnvelopeScratch): void {
  const { f, v, z } = scratch;
  const s2 = s * s;
  let k = -1; // index of the rightmost parabola in the envelope
  for (let q = 0, i = start; q < n; q++, i += stride) {
    const fq = out[i];
    f[q] = fq;
    if (fq === Infinity) continue;
    // height of parabola q at its vertex in index units: f / s^2 + q^2
    const hq = fq / s2 + q * q;
    let boundary = -Infinity;
    while (k >= 0) {
      const p = v[k];
      boundary = (hq - (f[p] / s2 + p * p)) / (2 * (q - p));
      if (boundary > z[k]) break;
      k--;
    }
    k++;
    v[k] = q;
    z[k] = k === 0 ? -Infinity : boundary;
  }
  if (k < 0) return; // no feature on the whole line: it stays Infinity
  z[k + 1] = Infinity;
  let j = 0;
  for (let q = 0, i = start; q < n; q++, i += stride) {
    while (z[j + 1] < q) j++;
    const p = v[j];
    const mm = (q - p) * s;
    out[i] = mm * mm + f[p];
  }
}
