// The viewer's pixels: grey windowing, rows flipped for display, class colours blended at the
// chosen opacity, background left grey; and the pixel counter the end-to-end test reads
// screenshots with, checked on composites whose classes are known.
import { describe, expect, it } from 'vitest';
import { classColour, compositeRgba, countClassPixels, greySlice, displayWindow } from '../../src/app/render.js';
import type { ImageVolume } from '../../src/data/volume.js';

describe('app rendering', () => {
  const view = { width: 3, height: 2, spacing: [1, 1] as [number, number], grey: new Uint8ClampedArray([0, 100, 200, 50, 150, 250]) };

  it('draws the last row on top and blends class colours at the opacity', () => {
    const rgba = compositeRgba(view, [0, 1, 2, 0, 0, 3], 0.5);
    // Top output row = input row 1 (grey 50, 150, 250; class 3 on the last pixel).
    expect(Array.from(rgba.slice(0, 4))).toEqual([50, 50, 50, 255]);
    const c3 = classColour(3);
    expect(Array.from(rgba.slice(8, 11))).toEqual(Array.from(new Uint8ClampedArray(c3.map((c) => 250 + (c - 250) * 0.5)))); // Uint8ClampedArray rounds ties to even
    const c1 = classColour(1);
    expect(Array.from(rgba.slice(16, 19))).toEqual(Array.from(new Uint8ClampedArray(c1.map((c) => 100 + (c - 100) * 0.5))));
    // Opacity 0: the plain grey image; opacity 1: the pure class colour.
    expect(Array.from(compositeRgba(view, [0, 1, 2, 0, 0, 3], 0).slice(16, 19))).toEqual([100, 100, 100]);
    expect(Array.from(compositeRgba(view, [0, 1, 2, 0, 0, 3], 1).slice(20, 23))).toEqual(classColour(2));
  });

  it('counts class pixels back from a composite at opacity 1 and 0.5', () => {
    const n = 400;
    const grey = new Uint8ClampedArray(n).map((_, i) => (i * 37) % 256);
    const labels = Uint8Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 0 : i % 5));
    const truth = [0, 0, 0, 0, 0];
    for (const k of labels) truth[k]++;
    for (const opacity of [1, 0.5]) {
      const counts = countClassPixels(compositeRgba({ width: 20, height: 20, spacing: [1, 1], grey }, labels, opacity), 5, opacity, 2);
      expect(counts.slice(1)).toEqual(truth.slice(1));
    }
  });

  it('gives distinct colours to many classes', () => {
    const colours = new Set(Array.from({ length: 64 }, (_, k) => classColour(k).join()));
    expect(colours.size).toBe(64);
  });

  it('windows a volume slice to its 1st..99th percentile', () => {
    const data = Float32Array.from({ length: 1000 }, (_, i) => i);
    const image: ImageVolume = { data, dims: [10, 10, 10], spacing: [1, 1, 1], affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] };
    const [lo, hi] = displayWindow(image);
    expect(lo).toBeCloseTo(9.99, 6);
    expect(hi).toBeCloseTo(989.01, 6);
    const s = greySlice(image, 2, 5, [lo, hi]);
    expect([s.width, s.height]).toEqual([10, 10]);
    expect(s.grey[0]).toBe(new Uint8ClampedArray([((500 - lo) * 255) / (hi - lo)])[0]);
    expect(s.grey[99]).toBe(new Uint8ClampedArray([((599 - lo) * 255) / (hi - lo)])[0]);
  });
});
