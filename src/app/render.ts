// Slice rendering for the viewer, as pure functions over arrays (no DOM), so the overlay the user
// sees is the overlay the tests check: the grey slice windowed to its 1st..99th percentile, each
// class drawn in its colour blended at the chosen opacity, background (class 0) left clear.
import type { Axis } from '../data/dataset.js';
import { percentiles } from '../data/normalize.js';
import { extractImageSlice, extractLabelSlice, sliceLayout } from '../data/slice.js';
import type { ImageVolume, LabelVolume } from '../data/volume.js';

/** Class colours (RGB); class 0 is background and never drawn. Distinct hues, readable over grey. */
export const CLASS_COLOURS: [number, number, number][] = [
  [0, 0, 0],
  [230, 25, 75], // red
  [60, 180, 75], // green
  [255, 225, 25], // yellow
  [0, 130, 200], // blue
  [245, 130, 48], // orange
  [145, 30, 180], // purple
  [70, 240, 240], // cyan
  [240, 50, 230], // magenta
  [210, 245, 60], // lime
  [250, 190, 212], // pink
  [0, 128, 128], // teal
];

export function classColour(k: number): [number, number, number] {
  if (k < CLASS_COLOURS.length) return CLASS_COLOURS[k];
  // Beyond the table: golden-angle hues, so every class still differs from its neighbours.
  const h = (k * 137.508) % 360;
  const f = (n: number) => {
    const a = 0.65 * 0.5; // HSL saturation 0.65 at lightness 0.5
    const x = (n + h / 30) % 12;
    return Math.round(255 * (0.5 - a * Math.max(-1, Math.min(x - 3, 9 - x, 1))));
  };
  return [f(0), f(8), f(4)];
}

export const cssColour = (k: number) => `rgb(${classColour(k).join(',')})`;

/** A displayable slice: row-major height x width, in voxel order (see src/data/slice.ts). */
export interface SliceView {
  width: number;
  height: number;
  /** Physical size of a pixel along [rows, columns] in mm, for the aspect ratio. */
  spacing: [number, number];
  grey: Uint8ClampedArray;
}

/** Display window of a volume: its 1st and 99th percentile (robust to a few very bright voxels). */
export function displayWindow(image: ImageVolume): [number, number] {
  const step = Math.max(1, Math.floor(image.data.length / 200_000));
  const sample = new Float32Array(Math.ceil(image.data.length / step));
  for (let i = 0, j = 0; i < image.data.length; i += step, j++) sample[j] = image.data[i];
  const [lo, hi] = percentiles(sample, [1, 99]);
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

export function greySlice(image: ImageVolume, axis: Axis, index: number, window: [number, number]): SliceView {
  const layout = sliceLayout(image.dims, image.spacing, axis);
  const raw = extractImageSlice(image, axis, index);
  const grey = new Uint8ClampedArray(raw.length);
  const scale = 255 / (window[1] - window[0]);
  for (let i = 0; i < raw.length; i++) grey[i] = (raw[i] - window[0]) * scale;
  return { width: layout.width, height: layout.height, spacing: layout.spacing, grey };
}

export function labelSlice(label: LabelVolume, axis: Axis, index: number): Uint8Array {
  return extractLabelSlice(label, axis, index);
}

/**
 * RGBA pixels of a slice with an optional label overlay. Rows are flipped so that the last voxel row
 * is drawn at the top (radiological volumes store y or z increasing upwards).
 */
export function compositeRgba(view: SliceView, labels: ArrayLike<number> | null, opacity: number): Uint8ClampedArray<ArrayBuffer> {
  const { width, height, grey } = view;
  const out = new Uint8ClampedArray(width * height * 4);
  const a = Math.max(0, Math.min(1, opacity));
  for (let r = 0; r < height; r++) {
    const dst = (height - 1 - r) * width;
    for (let c = 0; c < width; c++) {
      const i = r * width + c;
      const o = (dst + c) * 4;
      const g = grey[i];
      const k = labels ? labels[i] : 0;
      if (k > 0) {
        const [cr, cg, cb] = classColour(k);
        out[o] = g + (cr - g) * a;
        out[o + 1] = g + (cg - g) * a;
        out[o + 2] = g + (cb - g) * a;
      } else {
        out[o] = g;
        out[o + 1] = g;
        out[o + 2] = g;
      }
      out[o + 3] = 255;
    }
  }
  return out;
}

/** Pixels per class whose colour is within `tolerance` of the class colour blended at `opacity` over some grey. */
export function countClassPixels(rgba: ArrayLike<number>, numClasses: number, opacity: number, tolerance = 6): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let o = 0; o < rgba.length; o += 4) {
    const [r, g, b] = [rgba[o], rgba[o + 1], rgba[o + 2]];
    if (r === g && g === b) continue;
    for (let k = 1; k < numClasses; k++) {
      const col = classColour(k);
      // Solve for the grey behind: r = g0 + (col - g0) a  =>  g0 = (r - col a) / (1 - a).
      const g0 = opacity >= 1 ? 0 : (r - col[0] * opacity) / (1 - opacity);
      const expect = (c: number) => g0 + (c - g0) * opacity;
      if (Math.abs(expect(col[0]) - r) <= tolerance && Math.abs(expect(col[1]) - g) <= tolerance && Math.abs(expect(col[2]) - b) <= tolerance && g0 >= -tolerance && g0 <= 255 + tolerance) {
        counts[k]++;
        break;
      }
    }
  }
  return counts;
}
