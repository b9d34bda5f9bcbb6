// Nearest-neighbour resampling of one volume onto another's grid through their affines
// (voxel -> world -> voxel), for masks and atlases that come on a different grid.
import { DataError } from '../errors.js';
import { sameAffine, type Vec3, type Volume } from './volume.js';

export function invertAffine(m: number[]): number[] {
  // 3x3 inverse by cofactors, then the translation.
  const [a, b, c, tx, d, e, f, ty, g, h, i, tz] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  if (Math.abs(det) < 1e-12) throw new DataError('affine is singular');
  const r = [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
    (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
    (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det];
  const t = [-(r[0] * tx + r[1] * ty + r[2] * tz), -(r[3] * tx + r[4] * ty + r[5] * tz), -(r[6] * tx + r[7] * ty + r[8] * tz)];
  return [r[0], r[1], r[2], t[0], r[3], r[4], r[5], t[1], r[6], r[7], r[8], t[2], 0, 0, 0, 1];
}

export function multiplyAffines(a: number[], b: number[]): number[] {
  const out = new Array<number>(16).fill(0);
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) for (let k = 0; k < 4; k++) out[r * 4 + c] += a[r * 4 + k] * b[k * 4 + c];
  return out;
}

export function sameGrid(a: Volume, b: Volume): boolean {
  return a.dims.every((d, i) => d === b.dims[i]) && sameAffine(a.affine, b.affine);
}

/** `source` resampled by nearest neighbour onto `target`'s grid; voxels that map outside get `fill`. */
export function resampleNearest<T extends Volume>(source: T, target: Volume, fill = 0): T {
  if (sameGrid(source, target)) return source;
  const m = multiplyAffines(invertAffine(source.affine), target.affine); // target voxel -> source voxel
  const [X, Y, Z] = target.dims;
  const [SX, SY, SZ] = source.dims;
  const Ctor = source.data.constructor as new (n: number) => T['data'];
  const out = new Ctor(X * Y * Z);
  const src = source.data;
  let o = 0;
  for (let z = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      for (let x = 0; x < X; x++, o++) {
        const i = Math.round(m[0] * x + m[1] * y + m[2] * z + m[3]);
        const j = Math.round(m[4] * x + m[5] * y + m[6] * z + m[7]);
        const k = Math.round(m[8] * x + m[9] * y + m[10] * z + m[11]);
        out[o] = i >= 0 && j >= 0 && k >= 0 && i < SX && j < SY && k < SZ ? src[i + SX * (j + SY * k)] : fill;
      }
    }
  }
  const dims: Vec3 = [X, Y, Z];
  return { ...source, data: out, dims, spacing: [...target.spacing] as Vec3, affine: [...target.affine], source: target.source };
}
