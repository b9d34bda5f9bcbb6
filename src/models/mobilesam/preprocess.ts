// SAM's preprocessing for a grey 2-D slice, on the host: intensities min-max scaled to 0..255 (an
// 8-bit image, what SAM was trained on), ResizeLongestSide(1024) with bilinear interpolation, the
// grey channel repeated to RGB, SAM's pixel mean/std, zero padding at the bottom and right to a
// square. (segment-anything resizes with PIL; for the upsampling that medical slices need, PIL's
// bilinear and ours agree up to rounding to 8 bits, which SAM's pipeline does and ours does not.)
import { UsageError } from '../../errors.js';
import { resizeBilinear } from '../../data/resize.js';

export const SAM_PIXEL_MEAN = [123.675, 116.28, 103.53] as const;
export const SAM_PIXEL_STD = [58.395, 57.12, 57.375] as const;

/** ResizeLongestSide.get_preprocess_shape: the longest side becomes `target`, rounded half up. */
export function resizedShape(height: number, width: number, target: number): [number, number] {
  const scale = target / Math.max(height, width);
  return [Math.floor(height * scale + 0.5), Math.floor(width * scale + 0.5)];
}

export interface SamInput {
  /** (3, size, size), normalised and padded. */
  data: Float32Array;
  size: number;
  /** The resized image's extent inside the padded square (the rest is padding). */
  height: number;
  width: number;
}

/** A grey (height, width) slice of any intensity range -> SAM's (3, size, size) input. */
export function preprocessGreySlice(slice: Float32Array, height: number, width: number, size = 1024): SamInput {
  if (slice.length !== height * width) throw new UsageError(`preprocess: ${slice.length} values are not ${height}x${width}`);
  let lo = Infinity, hi = -Infinity;
  for (const v of slice) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = hi > lo ? hi - lo : 1;
  const scaled = Float32Array.from(slice, (v) => ((v - lo) / range) * 255);
  const [h, w] = resizedShape(height, width, size);
  const resized = resizeBilinear(scaled, height, width, h, w);
  const data = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) {
    const plane = c * size * size;
    const mean = SAM_PIXEL_MEAN[c], std = SAM_PIXEL_STD[c];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[plane + y * size + x] = (resized[y * w + x] - mean) / std;
  }
  return { data, size, height: h, width: w };
}
