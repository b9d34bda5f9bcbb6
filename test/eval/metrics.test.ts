// Dice and HD95 against medpy.metric.binary (fixtures from tools/golden/metrics.py), plus the
// empty-mask conventions src/eval/metrics.ts documents. Tolerances: Dice 1e-12 (a ratio of
// integers, computed the same way), HD95 1e-6 mm.
import { describe, expect, it } from 'vitest';
import type { Vec3 } from '../../src/data/volume.js';
import { DataError } from '../../src/errors.js';
import { classMetrics, dice, hd95, percentile, surface, surfaceDistances } from '../../src/eval/metrics.js';
import { labelCases, loadArray } from './golden.js';

const aniso: Vec3 = [1.0, 1.5, 2.5];

function maskOf(labels: Uint8Array, label: number): Uint8Array {
  return labels.map((v) => (v === label ? 1 : 0));
}

describe('metrics against medpy', () => {
  it('has the medpy fixtures, including absent and one-sided classes', () => {
    const classes = labelCases.flatMap((c) => c.classes);
    expect(labelCases.length).toBeGreaterThanOrEqual(6);
    expect(classes.some((c) => c.absent)).toBe(true);
    expect(classes.some((c) => c.hd95Infinite)).toBe(true);
  });

  for (const c of labelCases) {
    it(`${c.name}: per-class Dice (1e-12) and HD95 (1e-6 mm)`, () => {
      const pred = loadArray(c.pred, c.dims) as Uint8Array;
      const truth = loadArray(c.truth, c.dims) as Uint8Array;
      const ours = classMetrics(pred, truth, c.dims, c.spacing, c.numClasses);
      expect(ours.map((m) => m.label)).toEqual(c.classes.map((r) => r.label));
      ours.forEach((m, k) => {
        const ref = c.classes[k];
        expect(m.predVoxels).toBe(ref.predVoxels);
        expect(m.truthVoxels).toBe(ref.truthVoxels);
        if (ref.absent) {
          expect(m.dice).toBeNaN();
          expect(m.hd95).toBeNaN();
          return;
        }
        expect(Math.abs(m.dice - ref.dice!)).toBeLessThanOrEqual(1e-12);
        if (ref.hd95Infinite) expect(m.hd95).toBe(Infinity);
        else expect(Math.abs(m.hd95 - ref.hd95!)).toBeLessThanOrEqual(1e-6);
      });
    });

    it(`${c.name}: the whole-volume binary functions agree with the cropped per-class path`, () => {
      const pred = loadArray(c.pred, c.dims) as Uint8Array;
      const truth = loadArray(c.truth, c.dims) as Uint8Array;
      for (const ref of c.classes) {
        const p = maskOf(pred, ref.label);
        const t = maskOf(truth, ref.label);
        const d = dice(p, t);
        const h = hd95(p, t, c.dims, c.spacing);
        if (ref.absent) {
          expect(d).toBeNaN();
          expect(h).toBeNaN();
        } else {
          expect(Math.abs(d - ref.dice!)).toBeLessThanOrEqual(1e-12);
          if (ref.hd95Infinite) expect(h).toBe(Infinity);
          else expect(Math.abs(h - ref.hd95!)).toBeLessThanOrEqual(1e-6);
        }
      }
    });
  }

  it('identical volumes score Dice 1 and HD95 0 in every present class', () => {
    const c = labelCases.find((k) => k.name === 'identical')!;
    const truth = loadArray(c.truth, c.dims) as Uint8Array;
    for (const m of classMetrics(truth, truth, c.dims, c.spacing, c.numClasses)) {
      expect(m.dice).toBe(1);
      expect(m.hd95).toBe(0);
    }
  });
});

describe('metric conventions and edge cases', () => {
  const dims: Vec3 = [5, 4, 3];
  const n = 60;

  it('all-empty volumes: every class absent (NaN), none scored 0 or 1', () => {
    const empty = new Uint8Array(n);
    for (const m of classMetrics(empty, empty, dims, aniso, 4)) {
      expect(m.dice).toBeNaN();
      expect(m.hd95).toBeNaN();
    }
    expect(dice(empty, empty)).toBeNaN();
    expect(hd95(empty, empty, dims, aniso)).toBeNaN();
  });

  it('one side empty: Dice 0, HD95 Infinity, in either direction', () => {
    const empty = new Uint8Array(n);
    const one = new Uint8Array(n);
    one[17] = 1;
    expect(dice(one, empty)).toBe(0);
    expect(dice(empty, one)).toBe(0);
    expect(hd95(one, empty, dims, aniso)).toBe(Infinity);
    expect(hd95(empty, one, dims, aniso)).toBe(Infinity);
  });

  it('two single voxels: HD95 is their distance in mm', () => {
    const a = new Uint8Array(n);
    const b = new Uint8Array(n);
    a[0 + 5 * (0 + 4 * 0)] = 1; // (0, 0, 0)
    b[4 + 5 * (3 + 4 * 2)] = 1; // (4, 3, 2)
    expect(hd95(a, b, dims, aniso)).toBeCloseTo(Math.hypot(4 * 1.0, 3 * 1.5, 2 * 2.5), 12);
  });

  it('a full volume has its outer layer as surface (outside counts as background); a 3x3x3 cube has one interior voxel', () => {
    // 5x4x3 has (5-2)(4-2)(3-2) = 6 voxels away from every face
    expect(surface(new Uint8Array(n).fill(1), dims).reduce((a, v) => a + v, 0)).toBe(n - 6);
    const cube = new Uint8Array(n);
    for (let z = 0; z < 3; z++) for (let y = 0; y < 3; y++) for (let x = 1; x < 4; x++) cube[x + 5 * (y + 4 * z)] = 1;
    const s = surface(cube, dims);
    expect(s.reduce((a, v) => a + v, 0)).toBe(26);
    expect(s[2 + 5 * (1 + 4 * 1)]).toBe(0);
  });

  it('percentile interpolates like numpy (linear)', () => {
    // numpy.percentile([0, 1, 2, 10], 95) = 2 + 8 * 0.85 = 8.8 (position 2.85)
    expect(percentile(Float64Array.from([10, 0, 2, 1]), 95)).toBeCloseTo(8.8, 12);
    expect(percentile(Float64Array.from([3]), 95)).toBe(3);
  });

  it('rejects bad labels, grids and class counts with DataError', () => {
    const ok = new Uint8Array(n);
    const bad = new Uint8Array(n);
    bad[7] = 4;
    expect(() => classMetrics(bad, ok, dims, aniso, 4)).toThrow(DataError);
    expect(() => classMetrics(ok, bad, dims, aniso, 4)).toThrow(/ground truth: label 4/);
    expect(() => classMetrics(ok, ok, [5, 4, 2], aniso, 4)).toThrow(DataError);
    expect(() => classMetrics(ok, ok, dims, [1, -1, 1], 4)).toThrow(DataError);
    expect(() => classMetrics(ok, ok, dims, aniso, 1)).toThrow(DataError);
    expect(() => surfaceDistances(ok, ok, dims, aniso)).toThrow(DataError);
  });
});
