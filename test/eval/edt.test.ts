// The exact distance transform against scipy.ndimage.distance_transform_edt (fixtures from
// tools/golden/metrics.py) and against a brute-force minimum over all feature voxels.
import { describe, expect, it } from 'vitest';
import type { Vec3 } from '../../src/data/volume.js';
import { DataError } from '../../src/errors.js';
import { distanceTransform, squaredDistanceTransform } from '../../src/eval/edt.js';
import { edtCases, loadArray } from './golden.js';

function bruteForce(feature: Uint8Array, dims: Vec3, spacing: Vec3): Float64Array {
  const [X, Y, Z] = dims;
  const points: Vec3[] = [];
  for (let i = 0; i < feature.length; i++) if (feature[i]) points.push([i % X, Math.floor(i / X) % Y, Math.floor(i / (X * Y))]);
  const out = new Float64Array(feature.length).fill(Infinity);
  for (let z = 0, i = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++, i++) {
    for (const [px, py, pz] of points) {
      const d = ((x - px) * spacing[0]) ** 2 + ((y - py) * spacing[1]) ** 2 + ((z - pz) * spacing[2]) ** 2;
      if (d < out[i]) out[i] = d;
    }
  }
  return out;
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('exact distance transform', () => {
  it('has the scipy fixtures', () => expect(edtCases.length).toBeGreaterThanOrEqual(3));

  for (const c of edtCases) {
    it(`${c.name}: matches scipy distance_transform_edt(~feature, sampling) to 1e-9 mm`, () => {
      const feature = loadArray(c.feature, c.dims) as Uint8Array;
      const expected = loadArray(c.distance, c.dims) as Float64Array;
      const ours = distanceTransform(feature, c.dims, c.spacing);
      // both are sqrt of a float64 sum of three squares: only rounding may differ
      expect(maxAbsDiff(ours, expected)).toBeLessThan(1e-9);
    });
  }

  it('matches a brute-force minimum on random masks of several densities and shapes', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const grids: [Vec3, Vec3, number][] = [
      [[9, 7, 5], [1, 1, 1], 0.05],
      [[6, 11, 8], [0.5, 2.0, 3.25], 0.01],
      [[1, 13, 9], [1.1, 0.6, 1.7], 0.1],
      [[12, 1, 1], [2.0, 1.0, 1.0], 0.2],
    ];
    for (const [dims, spacing, density] of grids) {
      const feature = new Uint8Array(dims[0] * dims[1] * dims[2]).map(() => (random() < density ? 1 : 0));
      feature[Math.floor(random() * feature.length)] = 1;
      expect(maxAbsDiff(squaredDistanceTransform(feature, dims, spacing), bruteForce(feature, dims, spacing))).toBeLessThan(1e-9);
    }
  });

  it('is Infinity everywhere without features and 0 on features', () => {
    const dims: Vec3 = [4, 3, 2];
    expect([...distanceTransform(new Uint8Array(24), dims, [1, 1, 1])].every((d) => d === Infinity)).toBe(true);
    expect([...distanceTransform(new Uint8Array(24).fill(1), dims, [1, 2, 3])].every((d) => d === 0)).toBe(true);
  });

  it('rejects a mismatched grid', () => {
    expect(() => distanceTransform(new Uint8Array(10), [2, 2, 2], [1, 1, 1])).toThrow(DataError);
    expect(() => distanceTransform(new Uint8Array(8), [2, 2, 2], [1, 0, 1])).toThrow(DataError);
  });
});
