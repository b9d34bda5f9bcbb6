// Seeded 2D augmentations, identical on image and label, with the reference AutoSAM pipeline's
// values as defaults (xhu248/AutoSAM dataset/ACDC.py, batchgenerators transforms, in its order):
//   BrightnessTransform(mu=1, sigma=1, p=0.5)   additive, one N(mu, sigma) draw per slice
//   GammaTransform(p=0.5)                        gamma in (0.5, 2), half the time below 1
//   GaussianNoiseTransform(p=0.5)                std ~ U(0, 0.1) (batchgenerators calls it variance)
//   MirrorTransform(axes=(1,))                   flip columns with p = 0.5
//   SpatialTransform: elastic alpha (100, 350), sigma (40, 60), p = 1; rotation +-0.1 rad, p = 0.5;
//                     scale (0.5, 1.9), p = 0.5; border mode nearest
// Geometry warps the image bilinearly (the reference uses cubic) and the label by nearest
// neighbour with the same sampled field, so augmented labels only hold values of the original.
// Images are expected in [0, 1] (normalised first, as the reference does).
import { UsageError } from '../errors.js';
import { createRng, type Rng } from './random.js';
import type { Slice2D } from './slice.js';

export interface AugmentOptions {
  brightness: { p: number; mu: number; sigma: number };
  gamma: { p: number; range: [number, number] };
  noise: { p: number; std: [number, number] };
  /** Flip columns (left-right) and/or rows (up-down), each with probability p. */
  mirror: { p: number; columns: boolean; rows: boolean };
  /**
   * Elastic deformation: a uniform(-1, 1) field per axis, Gaussian-smoothed (sigma) and scaled (alpha).
   * alpha and sigma are in pixels of a `referenceSize`-pixel slice, the reference's 224; for other sizes
   * sigma scales with the size and alpha with its square, so the deformation is the same relative to the slice.
   */
  elastic: { p: number; alpha: [number, number]; sigma: [number, number]; referenceSize: number };
  /** Rotation angle range in radians. */
  rotation: { p: number; range: [number, number] };
  /** Zoom factor of the sampling grid (above 1 shows more of the image, smaller). */
  scale: { p: number; range: [number, number] };
}

export const REFERENCE_AUGMENTATION: AugmentOptions = {
  brightness: { p: 0.5, mu: 1, sigma: 1 },
  gamma: { p: 0.5, range: [0.5, 2] },
  noise: { p: 0.5, std: [0, 0.1] },
  mirror: { p: 0.5, columns: true, rows: false },
  elastic: { p: 1, alpha: [100, 350], sigma: [40, 60], referenceSize: 224 },
  rotation: { p: 0.5, range: [-0.1, 0.1] },
  scale: { p: 0.5, range: [0.5, 1.9] },
};

export const NO_AUGMENTATION: AugmentOptions = {
  brightness: { ...REFERENCE_AUGMENTATION.brightness, p: 0 },
  gamma: { ...REFERENCE_AUGMENTATION.gamma, p: 0 },
  noise: { ...REFERENCE_AUGMENTATION.noise, p: 0 },
  mirror: { ...REFERENCE_AUGMENTATION.mirror, p: 0 },
  elastic: { ...REFERENCE_AUGMENTATION.elastic, p: 0 },
  rotation: { ...REFERENCE_AUGMENTATION.rotation, p: 0 },
  scale: { ...REFERENCE_AUGMENTATION.scale, p: 0 },
};

export type AugmentOverrides = { [K in keyof AugmentOptions]?: Partial<AugmentOptions[K]> };

/** The reference values with some fields replaced, e.g. { elastic: { p: 0 } }. */
export function augmentOptions(overrides: AugmentOverrides = {}, base: AugmentOptions = REFERENCE_AUGMENTATION): AugmentOptions {
  const out = { ...base } as AugmentOptions;
  for (const key of Object.keys(overrides) as (keyof AugmentOptions)[]) {
    if (!(key in base)) throw new UsageError(`unknown augmentation '${key}'`);
    (out as unknown as Record<string, object>)[key] = { ...base[key], ...overrides[key] };
  }
  return out;
}

/**
 * One augmented view of a slice. Pass a seed or an Rng; equal seeds give equal views.
 * The slice is not modified.
 */
export function augmentSlice(slice: Slice2D, seed: number | string | Rng, options: AugmentOptions = REFERENCE_AUGMENTATION): Slice2D {
  const rng = typeof seed === 'object' ? seed : createRng(seed);
  const image = slice.image.slice();
  applyIntensity(image, rng, options);
  const mirrored = mirror(image, slice.label, slice.height, slice.width, rng, options.mirror);
  const field = samplingField(slice.height, slice.width, rng, options);
  if (!field) return { ...slice, image: mirrored.image, label: mirrored.label };
  return {
    ...slice,
    image: warpBilinear(mirrored.image, slice.height, slice.width, field),
    label: mirrored.label ? warpNearest(mirrored.label, slice.height, slice.width, field) : null,
  };
}

/**
 * K views of one slice for an augmentation bank: view i is seeded by (seed, volume, slice, i),
 * so a view is the same whichever order or subset of views is computed.
 */
export function augmentViews(slice: Slice2D, count: number, seed: number, options: AugmentOptions = REFERENCE_AUGMENTATION): Slice2D[] {
  return Array.from({ length: count }, (_, i) => augmentSlice(slice, `${seed}:${slice.volumeId}:${slice.axis}:${slice.sliceIndex}:${i}`, options));
}

function applyIntensity(image: Float32Array, rng: Rng, o: AugmentOptions): void {
  if (rng.next() < o.brightness.p) {
    const add = o.brightness.mu + o.brightness.sigma * rng.normal();
    for (let i = 0; i < image.length; i++) image[i] += add;
  }
  if (rng.next() < o.gamma.p) {
    const [lo, hi] = o.gamma.range;
    const gamma = rng.next() < 0.5 && lo < 1 ? rng.uniform(lo, 1) : rng.uniform(Math.max(lo, 1), hi);
    let min = Infinity;
    let max = -Infinity;
    for (const v of image) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const range = max - min;
    for (let i = 0; i < image.length; i++) image[i] = Math.pow((image[i] - min) / (range + 1e-7), gamma) * range + min;
  }
  if (rng.next() < o.noise.p) {
    const std = rng.uniform(o.noise.std[0], o.noise.std[1]);
    for (let i = 0; i < image.length; i++) image[i] += std * rng.normal();
  }
}

function mirror(
  image: Float32Array,
  label: Uint8Array | null,
  height: number,
  width: number,
  rng: Rng,
  o: AugmentOptions['mirror'],
): { image: Float32Array; label: Uint8Array | null } {
  const flipColumns = o.columns && rng.next() < o.p;
  const flipRows = o.rows && rng.next() < o.p;
  if (!flipColumns && !flipRows) return { image, label: label ? label.slice() : null };
  const flip = <T extends Float32Array | Uint8Array>(src: T): T => {
    const out = new (src.constructor as new (n: number) => T)(src.length);
    for (let r = 0; r < height; r++) {
      const sr = flipRows ? height - 1 - r : r;
      for (let c = 0; c < width; c++) out[r * width + c] = src[sr * width + (flipColumns ? width - 1 - c : c)];
    }
    return out;
  };
  return { image: flip(image), label: label ? flip(label) : null };
}

/** Source (row, column) of every output pixel, or null when no geometric transform was drawn. */
interface SamplingField {
  rows: Float32Array;
  cols: Float32Array;
}

function samplingField(height: number, width: number, rng: Rng, o: AugmentOptions): SamplingField | null {
  const n = height * width;
  const cy = (height - 1) / 2;
  const cx = (width - 1) / 2;
  let dy: Float32Array | null = null;
  let dx: Float32Array | null = null;
  if (rng.next() < o.elastic.p) {
    const k = Math.sqrt(height * width) / o.elastic.referenceSize;
    const alpha = rng.uniform(o.elastic.alpha[0], o.elastic.alpha[1]) * k * k;
    const sigma = rng.uniform(o.elastic.sigma[0], o.elastic.sigma[1]) * k;
    dy = smoothNoise(height, width, sigma, alpha, rng);
    dx = smoothNoise(height, width, sigma, alpha, rng);
  }
  const angle = rng.next() < o.rotation.p ? rng.uniform(o.rotation.range[0], o.rotation.range[1]) : 0;
  let scale = 1;
  if (rng.next() < o.scale.p) {
    const [lo, hi] = o.scale.range;
    // batchgenerators: half the draws zoom in (lo..1), half zoom out (1..hi), when the range spans 1.
    scale = rng.next() < 0.5 && lo < 1 ? rng.uniform(lo, 1) : rng.uniform(Math.max(lo, 1), hi);
  }
  if (!dy && angle === 0 && scale === 1) return null;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const rows = new Float32Array(n);
  const cols = new Float32Array(n);
  for (let r = 0, i = 0; r < height; r++) {
    for (let c = 0; c < width; c++, i++) {
      // Centred coordinates, elastic offsets, then rotation and scaling, as batchgenerators' augment_spatial.
      const y = r - cy + (dy ? dy[i] : 0);
      const x = c - cx + (dx ? dx[i] : 0);
      rows[i] = (y * cos + x * sin) * scale + cy;
      cols[i] = (-y * sin + x * cos) * scale + cx;
    }
  }
  return { rows, cols };
}

/** alpha * gaussian_filter(U(-1, 1), sigma, mode='constant'), the Gaussian approximated by three box blurs. */
function smoothNoise(height: number, width: number, sigma: number, alpha: number, rng: Rng): Float32Array {
  const field = new Float32Array(height * width);
  for (let i = 0; i < field.length; i++) field[i] = rng.next() * 2 - 1;
  // Box radius whose three-fold convolution has variance sigma^2: 3 * ((2r+1)^2 - 1) / 12 = sigma^2.
  const radius = Math.max(0, Math.round((Math.sqrt(4 * sigma * sigma + 1) - 1) / 2));
  const line = new Float32Array(Math.max(height, width));
  for (let pass = 0; pass < 3; pass++) {
    for (let r = 0; r < height; r++) boxBlur(field, r * width, 1, width, radius, line);
    for (let c = 0; c < width; c++) boxBlur(field, c, width, height, radius, line);
  }
  for (let i = 0; i < field.length; i++) field[i] *= alpha;
  return field;
}

/** In-place moving average of `length` values at data[start + k * stride], zeros outside. */
function boxBlur(data: Float32Array, start: number, stride: number, length: number, radius: number, line: Float32Array): void {
  for (let k = 0; k < length; k++) line[k] = data[start + k * stride];
  const norm = 1 / (2 * radius + 1);
  let sum = 0;
  for (let k = 0; k <= Math.min(radius, length - 1); k++) sum += line[k];
  for (let k = 0; k < length; k++) {
    data[start + k * stride] = sum * norm;
    const enter = k + radius + 1;
    const leave = k - radius;
    if (enter < length) sum += line[enter];
    if (leave >= 0) sum -= line[leave];
  }
}

function warpBilinear(src: Float32Array, height: number, width: number, field: SamplingField): Float32Array {
  const out = new Float32Array(height * width);
  for (let i = 0; i < out.length; i++) {
    // Border mode 'nearest': coordinates clamp to the edge.
    const y = Math.min(Math.max(field.rows[i], 0), height - 1);
    const x = Math.min(Math.max(field.cols[i], 0), width - 1);
    const y0 = Math.floor(y);
    const x0 = Math.floor(x);
    const y1 = Math.min(y0 + 1, height - 1);
    const x1 = Math.min(x0 + 1, width - 1);
    const wy = y - y0;
    const wx = x - x0;
    const top = src[y0 * width + x0] * (1 - wx) + src[y0 * width + x1] * wx;
    const bottom = src[y1 * width + x0] * (1 - wx) + src[y1 * width + x1] * wx;
    out[i] = top * (1 - wy) + bottom * wy;
  }
  return out;
}

function warpNearest(src: Uint8Array, height: number, width: number, field: SamplingField): Uint8Array {
  const out = new Uint8Array(height * width);
  for (let i = 0; i < out.length; i++) {
    const y = Math.min(Math.max(Math.round(field.rows[i]), 0), height - 1);
    const x = Math.min(Math.max(Math.round(field.cols[i]), 0), width - 1);
    out[i] = src[y * width + x];
  }
  return out;
}
