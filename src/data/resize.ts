// Resizing 2D slices: images bilinearly, labels by nearest neighbour, both with pixel centres
// aligned (PyTorch's align_corners=False), so a label map and its image stay registered.
import { UsageError } from '../errors.js';
import type { Slice2D } from './slice.js';

function checkSizes(length: number, height: number, width: number, outHeight: number, outWidth: number): void {
  if (length !== height * width) throw new UsageError(`resize: ${length} values are not ${height}x${width}`);
  if (!(Number.isInteger(outHeight) && Number.isInteger(outWidth) && outHeight > 0 && outWidth > 0)) {
    throw new UsageError(`resize: bad target size ${outHeight}x${outWidth}`);
  }
}

export function resizeBilinear(src: Float32Array, height: number, width: number, outHeight: number, outWidth: number): Float32Array {
  checkSizes(src.length, height, width, outHeight, outWidth);
  const out = new Float32Array(outHeight * outWidth);
  const sy = height / outHeight;
  const sx = width / outWidth;
  // Column weights are the same on every row: compute them once.
  const x0s = new Int32Array(outWidth);
  const x1s = new Int32Array(outWidth);
  const fxs = new Float32Array(outWidth);
  for (let x = 0; x < outWidth; x++) {
    const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), width - 1);
    x0s[x] = Math.floor(fx);
    x1s[x] = Math.min(x0s[x] + 1, width - 1);
    fxs[x] = fx - x0s[x];
  }
  for (let y = 0; y < outHeight; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, height - 1);
    const wy = fy - y0;
    const r0 = y0 * width;
    const r1 = y1 * width;
    for (let x = 0; x < outWidth; x++) {
      const wx = fxs[x];
      const top = src[r0 + x0s[x]] * (1 - wx) + src[r0 + x1s[x]] * wx;
      const bottom = src[r1 + x0s[x]] * (1 - wx) + src[r1 + x1s[x]] * wx;
      out[y * outWidth + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

export function resizeNearest<T extends Uint8Array | Int16Array | Float32Array>(src: T, height: number, width: number, outHeight: number, outWidth: number): T {
  checkSizes(src.length, height, width, outHeight, outWidth);
  const out = new (src.constructor as new (n: number) => T)(outHeight * outWidth);
  const xs = new Int32Array(outWidth);
  for (let x = 0; x < outWidth; x++) xs[x] = Math.min(Math.floor(((x + 0.5) * width) / outWidth), width - 1);
  for (let y = 0; y < outHeight; y++) {
    const row = Math.min(Math.floor(((y + 0.5) * height) / outHeight), height - 1) * width;
    for (let x = 0; x < outWidth; x++) out[y * outWidth + x] = src[row + xs[x]];
  }
  return out;
}

/** A slice resized to outHeight x outWidth; spacing grows or shrinks so physical size is kept. */
export function resizeSlice(slice: Slice2D, outHeight: number, outWidth: number): Slice2D {
  const { height, width } = slice;
  return {
    ...slice,
    image: resizeBilinear(slice.image, height, width, outHeight, outWidth),
    label: slice.label ? resizeNearest(slice.label, height, width, outHeight, outWidth) : null,
    height: outHeight,
    width: outWidth,
    spacing: [(slice.spacing[0] * height) / outHeight, (slice.spacing[1] * width) / outWidth],
  };
}
