// Segmentation metrics on 3D label volumes: per-class Dice and HD95 in millimetres.
//
// HD95 follows medpy.metric.binary.hd95 (medpy 0.5.2) step for step:
//   surface(A) = A xor erode(A), erosion with the 6-neighbour cross (connectivity 1) and voxels
//                outside the volume counted as background (scipy's border_value = 0), so a mask
//                touching the volume's edge has surface there;
//   d(A -> B)  = for every surface voxel of A, the exact Euclidean distance in mm (anisotropic
//                spacing) to the nearest surface voxel of B;
//   HD95       = numpy.percentile(concat(d(pred -> truth), d(truth -> pred)), 95), linear interpolation.
// test/eval/metrics.test.ts compares against medpy on fixtures from tools/golden/metrics.py.
//
// Empty masks, decided here (medpy's dc returns 1 when both are empty and its hd95 raises when
// either is empty; we follow nnU-Net's evaluation instead, which leaves absent classes out):
//   - class absent from both prediction and truth: Dice NaN and HD95 NaN ("absent"), and every mean
//     skips it: there is nothing to segment and nothing was predicted, which says nothing either way;
//   - class in only one of them: Dice 0 (2|A n B| / (|A| + |B|) with an empty side), HD95 Infinity:
//     no surface exists to measure to, and any finite number would flatter a missed organ.
//
// Volumes use src/data/volume.ts' layout: dims [X, Y, Z], index = x + X * (y + Y * z).

import { DataError } from '../errors.js';
import type { LabelVolume, Vec3 } from '../data/volume.js';
import { checkGrid, squaredDistanceTransform } from './edt.js';

export interface ClassMetrics {
  /** the label value (1..numClasses-1; 0 is background and is not scored) */
  label: number;
  /** NaN when the class is absent from both volumes, 0 when absent from one */
  dice: number;
  /** mm; NaN when absent from both, Infinity when absent from exactly one */
  hd95: number;
  predVoxels: number;
  truthVoxels: number;
}

/** Dice of two binary masks (nonzero = inside); NaN when both are empty. */
export function dice(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  if (pred.length !== truth.length) throw new DataError(`dice: masks of ${pred.length} and ${truth.length} voxels`);
  let both = 0;
  let p = 0;
  let t = 0;
  for (let i = 0; i < pred.length; i++) {
    const a = pred[i] !== 0;
    const b = truth[i] !== 0;
    if (a) p++;
    if (b) t++;
    if (a && b) both++;
  }
  return diceFromCounts(both, p, t);
}

function diceFromCounts(both: number, pred: number, truth: number): number {
  return pred + truth === 0 ? NaN : (2 * both) / (pred + truth);
}

/** The one-voxel border of a binary mask: voxels inside whose 6-neighbourhood leaves the mask or the volume. */
export function surface(mask: ArrayLike<number>, dims: Vec3): Uint8Array {
  const [X, Y, Z] = dims;
  const XY = X * Y;
  const out = new Uint8Array(mask.length);
  for (let z = 0, i = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      for (let x = 0; x < X; x++, i++) {
        if (mask[i] === 0) continue;
        const interior =
          x > 0 && mask[i - 1] !== 0 && x < X - 1 && mask[i + 1] !== 0 &&
          y > 0 && mask[i - X] !== 0 && y < Y - 1 && mask[i + X] !== 0 &&
          z > 0 && mask[i - XY] !== 0 && z < Z - 1 && mask[i + XY] !== 0;
        if (!interior) out[i] = 1;
      }
    }
  }
  return out;
}

/**
 * Distances in mm from each surface voxel of `from` to the nearest surface voxel of `to`
 * (medpy's __surface_distances(result=from, reference=to)), in index order. Both masks must be non-empty.
 */
export function surfaceDistances(from: ArrayLike<number>, to: ArrayLike<number>, dims: Vec3, spacing: Vec3): Float64Array {
  checkGrid(from.length, dims, spacing);
  checkGrid(to.length, dims, spacing);
  return distancesBetweenSurfaces(surface(from, dims), surface(to, dims), dims, spacing);
}

function distancesBetweenSurfaces(fromSurface: Uint8Array, toSurface: Uint8Array, dims: Vec3, spacing: Vec3): Float64Array {
  const squared = squaredDistanceTransform(toSurface, dims, spacing);
  let count = 0;
  for (let i = 0; i < fromSurface.length; i++) count += fromSurface[i];
  const out = new Float64Array(count);
  for (let i = 0, k = 0; i < fromSurface.length; i++) if (fromSurface[i]) out[k++] = Math.sqrt(squared[i]);
  if (count === 0 || out[0] === Infinity) throw new DataError('surfaceDistances: both masks must be non-empty');
  return out;
}

/** 95th percentile of the symmetric surface distances in mm; NaN if both masks are empty, Infinity if one is. */
export function hd95(pred: ArrayLike<number>, truth: ArrayLike<number>, dims: Vec3, spacing: Vec3): number {
  checkGrid(pred.length, dims, spacing);
  checkGrid(truth.length, dims, spacing);
  const p = anyNonzero(pred);
  const t = anyNonzero(truth);
  if (!p || !t) return p || t ? Infinity : NaN;
  const predSurface = surface(pred, dims);
  const truthSurface = surface(truth, dims);
  const forward = distancesBetweenSurfaces(predSurface, truthSurface, dims, spacing);
  const backward = distancesBetweenSurfaces(truthSurface, predSurface, dims, spacing);
  const all = new Float64Array(forward.length + backward.length);
  all.set(forward);
  all.set(backward, forward.length);
  return percentile(all, 95);
}

/**
 * numpy.percentile(values, q) with its default 'linear' method, including numpy's two-sided lerp
 * (a + (b - a) t below t = 0.5, b - (b - a)(1 - t) from there), so results agree to the last bit.
 * Sorts `values` in place.
 */
export function percentile(values: Float64Array, q: number): number {
  const n = values.length;
  if (n === 0) throw new DataError('percentile of no values');
  values.sort();
  const position = (q / 100) * (n - 1);
  const lo = Math.floor(position);
  const t = position - lo;
  const a = values[lo];
  const b = values[Math.min(lo + 1, n - 1)];
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

function anyNonzero(mask: ArrayLike<number>): boolean {
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) return true;
  return false;
}

/**
 * Dice and HD95 of every foreground class 1..numClasses-1 between two label volumes on one grid.
 * Labels must be integers in [0, numClasses). Each class' HD95 is computed inside the bounding box
 * of that class in either volume: every surface voxel of both masks lies inside it and outside it
 * both masks are background, exactly as beyond the volume's edge, so cropping changes no distance.
 */
export function classMetrics(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  dims: Vec3,
  spacing: Vec3,
  numClasses: number,
): ClassMetrics[] {
  checkGrid(pred.length, dims, spacing);
  checkGrid(truth.length, dims, spacing);
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new DataError(`numClasses must be an integer >= 2, got ${numClasses}`);
  const stats = classStatistics(pred, truth, dims, numClasses);
  const out: ClassMetrics[] = [];
  for (let c = 1; c < numClasses; c++) {
    const { both, pred: p, truth: t, box } = stats[c];
    let distance: number;
    if (p === 0 || t === 0) distance = p + t === 0 ? NaN : Infinity;
    else {
      const crop = cropDims(box);
      const predMask = cropMask(pred, dims, box, c);
      const truthMask = cropMask(truth, dims, box, c);
      distance = hd95(predMask, truthMask, crop, spacing);
    }
    out.push({ label: c, dice: diceFromCounts(both, p, t), hd95: distance, predVoxels: p, truthVoxels: t });
  }
  return out;
}

/** classMetrics of a predicted and a ground-truth label volume, which must share dims; the truth's spacing is used. */
export function volumeClassMetrics(pred: LabelVolume, truth: LabelVolume, numClasses: number): ClassMetrics[] {
  if (pred.dims.some((d, k) => d !== truth.dims[k])) {
    throw new DataError(`prediction is ${pred.dims.join('x')} but the ground truth is ${truth.dims.join('x')}`);
  }
  return classMetrics(pred.data, truth.data, truth.dims, truth.spacing, numClasses);
}

/** Inclusive voxel bounds [x0, y0, z0, x1, y1, z1]. */
type Box = [number, number, number, number, number, number];

interface ClassStatistics {
  both: number;
  pred: number;
  truth: number;
  box: Box;
}

/** One pass over both volumes: per-class voxel counts, overlap, and bounding box of the union. */
function classStatistics(pred: ArrayLike<number>, truth: ArrayLike<number>, dims: Vec3, numClasses: number): ClassStatistics[] {
  const [X, Y, Z] = dims;
  const stats: ClassStatistics[] = Array.from({ length: numClasses }, () => ({
    both: 0,
    pred: 0,
    truth: 0,
    box: [Infinity, Infinity, Infinity, -Infinity, -Infinity, -Infinity] as Box,
  }));
  const grow = (box: Box, x: number, y: number, z: number) => {
    if (x < box[0]) box[0] = x;
    if (x > box[3]) box[3] = x;
    if (y < box[1]) box[1] = y;
    if (y > box[4]) box[4] = y;
    if (z < box[2]) box[2] = z;
    if (z > box[5]) box[5] = z;
  };
  for (let z = 0, i = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      for (let x = 0; x < X; x++, i++) {
        const p = pred[i];
        const t = truth[i];
        if (p === t) {
          if (p === 0) continue;
          const s = stats[checkLabel(p, i, numClasses, 'prediction')];
          s.both++;
          s.pred++;
          s.truth++;
          grow(s.box, x, y, z);
          continue;
        }
        if (p !== 0) {
          const s = stats[checkLabel(p, i, numClasses, 'prediction')];
          s.pred++;
          grow(s.box, x, y, z);
        }
        if (t !== 0) {
          const s = stats[checkLabel(t, i, numClasses, 'ground truth')];
          s.truth++;
          grow(s.box, x, y, z);
        }
      }
    }
  }
  return stats;
}

function checkLabel(v: number, i: number, numClasses: number, which: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
    throw new DataError(`${which}: label ${v} at index ${i} is outside [0, ${numClasses})`);
  }
  return v;
}

function cropDims(box: Box): Vec3 {
  return [box[3] - box[0] + 1, box[4] - box[1] + 1, box[5] - box[2] + 1];
}

function cropMask(labels: ArrayLike<number>, dims: Vec3, box: Box, label: number): Uint8Array {
  const [X, Y] = dims;
  const [cx, cy, cz] = cropDims(box);
  const out = new Uint8Array(cx * cy * cz);
  for (let z = 0, k = 0; z < cz; z++) {
    for (let y = 0; y < cy; y++) {
      const row = box[0] + X * (box[1] + y + Y * (box[2] + z));
      for (let x = 0; x < cx; x++, k++) out[k] = labels[row + x] === label ? 1 : 0;
    }
  }
  return out;
}
