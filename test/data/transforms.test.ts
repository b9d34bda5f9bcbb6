import { describe, expect, it } from 'vitest';
import { NO_AUGMENTATION, REFERENCE_AUGMENTATION, augmentOptions, augmentSlice, augmentViews } from '../../src/data/augment.js';
import { normalizeIntensity, parseNormalization, percentiles } from '../../src/data/normalize.js';
import { prepareSlices } from '../../src/data/prepare.js';
import { createRng, shuffled } from '../../src/data/random.js';
import { resizeBilinear, resizeNearest, resizeSlice } from '../../src/data/resize.js';
import { extractImageSlice, foregroundPerSlice, sliceCase, stackLabelSlices, type Slice2D } from '../../src/data/slice.js';
import { parseDatasetSpec } from '../../src/data/spec.js';
import { parseSplitSpec, splitBySlab } from '../../src/data/split.js';
import { checkedCase } from '../../src/data/dataset.js';
import type { LabelVolume } from '../../src/data/volume.js';
import { UsageError } from '../../src/errors.js';
import { imageVolume, labelVolume } from './helpers.js';

describe('slicing', () => {
  const image = imageVolume([5, 4, 3], [0.7, 0.8, 3]);
  const label = labelVolume([5, 4, 3], 5, [0.7, 0.8, 3]);

  it('cuts along each axis with the in-plane spacing kept and voxel values in place', () => {
    const [z] = sliceCase({ image, label }, 'v', { axis: 2, indices: [2] });
    expect([z.height, z.width, z.spacing]).toEqual([4, 5, [0.8, 0.7]]);
    expect(z.image[3 * 5 + 1]).toBe(1 + 10 * 3 + 100 * 2); // row = y 3, column = x 1
    const [y] = sliceCase({ image, label }, 'v', { axis: 1, indices: [3] });
    expect([y.height, y.width, y.spacing]).toEqual([3, 5, [3, 0.7]]);
    expect(y.image[2 * 5 + 4]).toBe(4 + 30 + 200); // row = z 2, column = x 4
    const x = sliceCase({ image, label }, 'v', { axis: 0 });
    expect(x).toHaveLength(5);
    expect([x[1].height, x[1].width, x[1].spacing, x[1].sliceIndex, x[1].axis]).toEqual([3, 4, [3, 0.8], 1, 0]);
    expect(x[1].image[1 * 4 + 2]).toBe(1 + 20 + 100); // row = z 1, column = y 2
  });

  it('skips slices without foreground and stacks predictions back into the volume', () => {
    const sparse: LabelVolume = { ...label, data: new Uint8Array(label.data.length) };
    sparse.data[2 + 5 * 1 + 20 * 1] = 3; // one voxel in slice z = 1
    expect(foregroundPerSlice(sparse, 2)).toEqual([0, 1, 0]);
    const kept = sliceCase({ image, label: sparse }, 'v', { axis: 2, skipEmpty: true });
    expect(kept.map((s) => s.sliceIndex)).toEqual([1]);
    for (const axis of [0, 1, 2] as const) {
      const slices = sliceCase({ image, label }, 'v', { axis });
      const back = stackLabelSlices(label, axis, slices.map((s) => ({ sliceIndex: s.sliceIndex, label: s.label! })));
      expect(Array.from(back.data)).toEqual(Array.from(label.data));
      expect(back.affine).toEqual(label.affine);
    }
  });
});

describe('resizing', () => {
  it('nearest keeps exactly the label set; bilinear keeps constants and aligns pixel centres', () => {
    const labels = Uint8Array.from({ length: 7 * 9 }, (_, i) => (i * 7) % 5);
    for (const [h, w] of [[3, 4], [20, 15], [224, 224]]) {
      const out = resizeNearest(labels, 7, 9, h, w);
      expect([...new Set(out)].every((v) => labels.includes(v))).toBe(true);
    }
    expect(new Set(resizeNearest(labels, 7, 9, 70, 90))).toEqual(new Set(labels));
    expect(Array.from(resizeNearest(Uint8Array.from([1, 2, 3, 4]), 2, 2, 4, 4))).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    expect(resizeBilinear(new Float32Array(12).fill(3.5), 3, 4, 17, 11).every((v) => Math.abs(v - 3.5) < 1e-6)).toBe(true);
    // Doubling [0, 1]: centres at 0.25 / 0.75 of a pixel, clamped at the border.
    expect(Array.from(resizeBilinear(Float32Array.from([0, 1]), 1, 2, 1, 4))).toEqual([0, 0.25, 0.75, 1]);
    const slice: Slice2D = { image: new Float32Array(6), label: new Uint8Array(6), height: 2, width: 3, spacing: [1, 2], volumeId: 'v', sliceIndex: 0, axis: 2 };
    expect(resizeSlice(slice, 4, 12).spacing).toEqual([0.5, 0.5]);
  });
});

describe('normalisation', () => {
  const data = Float32Array.from({ length: 101 }, (_, i) => i * 2 - 50); // -50..150
  it('min-max, percentile clip, CT window', () => {
    const mm = normalizeIntensity(data, { kind: 'minmax' });
    expect([mm[0], mm[50], mm[100]]).toEqual([0, 0.5, 1]);
    expect(percentiles(data, [0, 50, 100])).toEqual([-50, 50, 150]);
    const pc = normalizeIntensity(data, { kind: 'percentile', low: 10, high: 90 });
    expect([pc[0], pc[10], pc[50], pc[90], pc[100]].map((v) => +v.toFixed(6))).toEqual([0, 0, 0.5, 1, 1]);
    const win = normalizeIntensity(data, parseNormalization('window:40,400'));
    expect(win[45]).toBeCloseTo((40 - -160) / 400, 6); // value 40 -> 0.5
    expect(normalizeIntensity(new Float32Array(4).fill(9), { kind: 'minmax' }).every((v) => v === 0)).toBe(true);
    expect(parseNormalization('percentile:0.5,99.5')).toEqual({ kind: 'percentile', low: 0.5, high: 99.5 });
    expect(() => parseNormalization('window:40')).toThrow(UsageError);
  });
});

function testSlice(): Slice2D {
  const height = 48;
  const width = 40;
  const label = new Uint8Array(height * width);
  const image = new Float32Array(height * width);
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const d = Math.hypot(r - 24, c - 18);
      label[r * width + c] = d < 6 ? 3 : d < 12 ? 2 : c > 30 ? 1 : 0;
      image[r * width + c] = label[r * width + c] / 3;
    }
  }
  return { image, label, height, width, spacing: [1, 1], volumeId: 'v', sliceIndex: 4, axis: 2 };
}

describe('augmentation', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const slice = testSlice();
    const a = augmentSlice(slice, 42);
    const b = augmentSlice(slice, 42);
    expect(Array.from(a.image)).toEqual(Array.from(b.image));
    expect(Array.from(a.label!)).toEqual(Array.from(b.label!));
    const others = Array.from({ length: 5 }, (_, s) => augmentSlice(slice, 100 + s).image);
    expect(others.some((img) => img.some((v, i) => v !== a.image[i]))).toBe(true);
    expect(slice.image[0]).toBe(0); // input untouched
  });

  it('keeps the label set a subset of the original and moves image and label together', () => {
    const slice = testSlice();
    const original = new Set(slice.label);
    const geometricOnly = augmentOptions({ brightness: { p: 0 }, gamma: { p: 0 }, noise: { p: 0 } });
    for (let seed = 0; seed < 20; seed++) {
      const out = augmentSlice(slice, seed, seed % 2 ? REFERENCE_AUGMENTATION : geometricOnly);
      expect([...new Set(out.label)].every((v) => original.has(v))).toBe(true);
      expect([out.height, out.width, out.image.length]).toEqual([48, 40, 48 * 40]);
      if (seed % 2 === 0) {
        // Without intensity changes the image encodes its label: warped together, they agree
        // wherever the bilinear sample is not on a class boundary.
        let agree = 0;
        for (let i = 0; i < out.image.length; i++) if (Math.abs(out.image[i] * 3 - out.label![i]) < 1e-3) agree++;
        expect(agree / out.image.length).toBeGreaterThan(0.8);
      }
    }
  });

  it('mirrors exactly and leaves everything alone with NO_AUGMENTATION', () => {
    const slice = testSlice();
    const mirrorOnly = augmentOptions({ mirror: { p: 1 } }, NO_AUGMENTATION);
    const flipped = augmentSlice(slice, 1, mirrorOnly);
    for (let r = 0; r < slice.height; r++) {
      for (let c = 0; c < slice.width; c++) expect(flipped.label![r * slice.width + c]).toBe(slice.label![r * slice.width + (slice.width - 1 - c)]);
    }
    const same = augmentSlice(slice, 1, NO_AUGMENTATION);
    expect(Array.from(same.image)).toEqual(Array.from(slice.image));
    expect(Array.from(same.label!)).toEqual(Array.from(slice.label!));
  });

  it('gives bank views that do not depend on how many were asked for', () => {
    const slice = testSlice();
    const three = augmentViews(slice, 3, 9);
    const five = augmentViews(slice, 5, 9);
    expect(Array.from(five[2].image)).toEqual(Array.from(three[2].image));
    expect(Array.from(five[0].image)).not.toEqual(Array.from(five[1].image));
  });

  it('has the reference values as defaults', () => {
    expect(REFERENCE_AUGMENTATION.rotation).toEqual({ p: 0.5, range: [-0.1, 0.1] });
    expect(REFERENCE_AUGMENTATION.scale).toEqual({ p: 0.5, range: [0.5, 1.9] });
    expect(REFERENCE_AUGMENTATION.elastic).toMatchObject({ p: 1, alpha: [100, 350], sigma: [40, 60] });
    expect(() => augmentOptions({ blur: { p: 1 } } as never)).toThrow(UsageError);
  });
});

describe('seeded randomness and splits', () => {
  it('PRNG: same seed, same sequence; normal draws have mean 0 and variance 1', () => {
    const a = createRng(7);
    const b = createRng(7);
    expect(Array.from({ length: 5 }, () => a.next())).toEqual(Array.from({ length: 5 }, () => b.next()));
    const r = createRng('x');
    const xs = Array.from({ length: 20000 }, () => r.normal());
    const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
    const variance = xs.reduce((s, v) => s + (v - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    expect(shuffled([1, 2, 3, 4, 5], createRng(1)).sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('slab split: N labelled slices and validation from one slab, test from another past the gap', () => {
    const label = labelVolume([6, 5, 60], 3);
    for (let i = 0; i < 6 * 5 * 5; i++) label.data[i] = 0; // slices 0..4 empty
    const split = splitBySlab(label, 2, { labelled: 4, validation: 3, gap: 10, seed: 11 });
    expect(split.labelled).toEqual([5, 27]);
    expect(split.testRange).toEqual([37, 60]);
    expect(split.train).toHaveLength(4);
    expect(split.validation).toHaveLength(3);
    expect(split.train.every((s) => s >= 5 && s < 27)).toBe(true);
    expect(split.validation.every((s) => s >= 5 && s < 27 && !split.train.includes(s))).toBe(true);
    expect(split.test).toEqual(Array.from({ length: 23 }, (_, i) => 37 + i));
    expect(splitBySlab(label, 2, { labelled: 4, validation: 3, gap: 10, seed: 11 })).toEqual(split);
    const explicit = splitBySlab(label, 2, { labelled: 1, validation: 0, gap: 0, seed: 0, labelledRange: [40, 50], testRange: [10, 20] });
    expect(explicit.train[0]).toBeGreaterThanOrEqual(40);
    expect(explicit.test).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(() => splitBySlab(label, 2, { labelled: 1, validation: 0, gap: 0, seed: 0, labelledRange: [10, 30], testRange: [20, 40] })).toThrow(/overlap/);
    expect(() => splitBySlab(label, 2, { labelled: 30, validation: 0, gap: 10, seed: 0 })).toThrow(/22 slices with foreground/);
  });

  it('parses split and dataset specs', () => {
    expect(parseSplitSpec('volume:labelled=4,validation=2,seed=3')).toEqual({ kind: 'volume', labelled: 4, validation: 2, test: undefined, seed: 3 });
    expect(parseSplitSpec('slab:labelled=16,labelled-range=58:84,test-range=96:122,axis=0')).toMatchObject({
      kind: 'slab', labelled: 16, validation: 2, gap: 10, axis: 0, labelledRange: [58, 84], testRange: [96, 122],
    });
    expect(() => parseSplitSpec('slab:labelled=x')).toThrow(UsageError);
    expect(() => parseSplitSpec('random')).toThrow(UsageError);
    expect(parseDatasetSpec('folder:/a/b?classes=4&axis=1')).toEqual({ kind: 'folder', dir: '/a/b', options: { classes: '4', axis: '1' } });
    expect(parseDatasetSpec('head-ct')).toEqual({ kind: 'head-ct', options: {} });
    expect(() => parseDatasetSpec('head-ct:/x')).toThrow(UsageError);
  });
});

describe('prepareSlices', () => {
  it('slices, normalises per slice and resizes in one pass', async () => {
    const image = imageVolume([8, 6, 4]);
    const label = labelVolume([8, 6, 4], 4);
    const ref = checkedCase({ id: 'v', group: 'v', hasLabel: true }, 4, async () => ({ image, label }));
    const slices = await prepareSlices([{ case: ref, slices: [1, 3] }], { axis: 2, normalization: { kind: 'minmax' }, size: [12, 16] });
    expect(slices.map((s) => [s.sliceIndex, s.height, s.width])).toEqual([[1, 12, 16], [3, 12, 16]]);
    expect(Math.min(...slices[0].image)).toBe(0);
    expect(Math.max(...slices[0].image)).toBeCloseTo(1, 6);
    expect(slices[0].spacing).toEqual([0.75, 0.75]);
    expect(extractImageSlice(image, 2, 1)[0]).toBe(100); // the volume itself is not normalised in place
  });
});
