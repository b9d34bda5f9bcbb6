// 2D slices out of volumes and back. A slice keeps voxel order: along axis 2 rows are j and
// columns i; along axis 1 rows are k and columns i; along axis 0 rows are k and columns j.
// No flips for display: predictions go back into the volume exactly where they came from.
import { DataError } from '../errors.js';
import type { Axis, LoadedCase } from './dataset.js';
import type { LabelData, LabelVolume, Vec3, Volume } from './volume.js';

export interface Slice2D {
  /** Row-major, height x width. */
  image: Float32Array;
  label: Uint8Array | null;
  height: number;
  width: number;
  /** [row, column] spacing in mm. */
  spacing: [number, number];
  volumeId: string;
  sliceIndex: number;
  axis: Axis;
}

interface SliceLayout {
  count: number;
  height: number;
  width: number;
  spacing: [number, number];
  /** Voxel index of (slice s, row r, column c) = s * sliceStride + r * rowStride + c * colStride. */
  sliceStride: number;
  rowStride: number;
  colStride: number;
}

export function sliceLayout(dims: Vec3, spacing: Vec3, axis: Axis): SliceLayout {
  const [X, Y, Z] = dims;
  const [sx, sy, sz] = spacing;
  if (axis === 2) return { count: Z, height: Y, width: X, spacing: [sy, sx], sliceStride: X * Y, rowStride: X, colStride: 1 };
  if (axis === 1) return { count: Y, height: Z, width: X, spacing: [sz, sx], sliceStride: X, rowStride: X * Y, colStride: 1 };
  return { count: X, height: Z, width: Y, spacing: [sz, sy], sliceStride: 1, rowStride: X * Y, colStride: X };
}

export function sliceCount(volume: Volume, axis: Axis): number {
  return volume.dims[axis];
}

/** Copies slice `index` of any volume data into `out` (row-major height x width). */
function copySlice<T extends { [i: number]: number }>(data: ArrayLike<number>, layout: SliceLayout, index: number, out: T): T {
  const { height, width, sliceStride, rowStride, colStride } = layout;
  let o = 0;
  for (let r = 0; r < height; r++) {
    let v = index * sliceStride + r * rowStride;
    for (let c = 0; c < width; c++, v += colStride) out[o++] = data[v];
  }
  return out;
}

export function extractImageSlice(volume: Volume, axis: Axis, index: number): Float32Array {
  const layout = sliceLayout(volume.dims, volume.spacing, axis);
  checkIndex(index, layout.count, axis);
  return copySlice(volume.data, layout, index, new Float32Array(layout.height * layout.width));
}

export function extractLabelSlice(volume: LabelVolume, axis: Axis, index: number): Uint8Array {
  const layout = sliceLayout(volume.dims, volume.spacing, axis);
  checkIndex(index, layout.count, axis);
  return copySlice(volume.data, layout, index, new Uint8Array(layout.height * layout.width));
}

function checkIndex(index: number, count: number, axis: Axis): void {
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new DataError(`slice ${index} out of range 0..${count - 1} along axis ${axis}`);
}

/** Foreground (label > 0) voxel count of every slice along an axis, in one pass over the volume. */
export function foregroundPerSlice(label: LabelVolume, axis: Axis): number[] {
  const [X, Y] = label.dims;
  const counts = new Array<number>(label.dims[axis]).fill(0);
  const data = label.data;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0) continue;
    counts[axis === 2 ? Math.floor(i / (X * Y)) : axis === 1 ? Math.floor(i / X) % Y : i % X]++;
  }
  return counts;
}

export interface SliceOptions {
  axis: Axis;
  /** Which slices; default all. */
  indices?: number[];
  /** Drop slices whose label has no foreground (label > 0); needs a label. */
  skipEmpty?: boolean;
}

/** The 2D slices of a loaded case, spacing carried over from the volume. */
export function sliceCase(loaded: LoadedCase, volumeId: string, options: SliceOptions): Slice2D[] {
  const { image, label } = loaded;
  const { axis } = options;
  const layout = sliceLayout(image.dims, image.spacing, axis);
  let indices = options.indices ?? Array.from({ length: layout.count }, (_, i) => i);
  if (options.skipEmpty) {
    if (!label) throw new DataError(`${volumeId}: skipping empty slices needs a label map`);
    const fg = foregroundPerSlice(label, axis);
    indices = indices.filter((i) => fg[i] > 0);
  }
  return indices.map((sliceIndex) => ({
    image: extractImageSlice(image, axis, sliceIndex),
    label: label ? extractLabelSlice(label, axis, sliceIndex) : null,
    height: layout.height,
    width: layout.width,
    spacing: [...layout.spacing] as [number, number],
    volumeId,
    sliceIndex,
    axis,
  }));
}

/** Writes a 2D label slice (height x width, row-major) back into a volume's data in place. */
export function insertSlice(target: LabelData, dims: Vec3, axis: Axis, index: number, slice: ArrayLike<number>): void {
  const layout = sliceLayout(dims, [1, 1, 1], axis);
  checkIndex(index, layout.count, axis);
  if (slice.length !== layout.height * layout.width) {
    throw new DataError(`slice has ${slice.length} values; axis ${axis} slices of ${dims.join('x')} have ${layout.height}x${layout.width}`);
  }
  let o = 0;
  for (let r = 0; r < layout.height; r++) {
    let v = index * layout.sliceStride + r * layout.rowStride;
    for (let c = 0; c < layout.width; c++, v += layout.colStride) target[v] = slice[o++];
  }
}

/** A uint8 label volume on `reference`'s grid from predicted slices; slices not given stay 0. */
export function stackLabelSlices(reference: Volume, axis: Axis, slices: { sliceIndex: number; label: ArrayLike<number> }[]): LabelVolume {
  const data = new Uint8Array(reference.data.length);
  for (const s of slices) insertSlice(data, reference.dims, axis, s.sliceIndex, s.label);
  return { data, dims: [...reference.dims], spacing: [...reference.spacing], affine: [...reference.affine], source: reference.source };
}
