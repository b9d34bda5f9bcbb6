// Volumes in memory: images as float32, label maps as uint8/int16, NIfTI (i, j, k) order, i fastest.
import { DataError, FormatError } from '../errors.js';
import { hasScaling, readNifti, type NiftiFile, type NiftiHeader } from '../io/nifti.js';
import { writeNifti, type NiftiWriteOptions } from '../io/nifti-write.js';

export type Vec3 = [number, number, number];
export type LabelData = Uint8Array | Int16Array;

export interface Volume<T extends Float32Array | LabelData = Float32Array | LabelData> {
  data: T;
  /** Sizes [X, Y, Z] in NIfTI order: index = x + X * (y + Y * z). */
  dims: Vec3;
  /** Voxel sizes [sx, sy, sz] in mm. */
  spacing: Vec3;
  /** Voxel (x, y, z) to world in mm, 4x4 row-major. */
  affine: number[];
  /** What writing a prediction back needs from the file this came from (absent for built volumes). */
  source?: VolumeSource;
}

export type ImageVolume = Volume<Float32Array>;
export type LabelVolume = Volume<LabelData>;

export interface VolumeSource {
  version: 1 | 2;
  qformCode: number;
  sformCode: number;
  quatern: Vec3;
  qoffset: Vec3;
  qfac: number;
  description: string;
}

export function voxelCount(dims: Vec3): number {
  return dims[0] * dims[1] * dims[2];
}

function spatial(file: NiftiFile, source: string, frame: number | undefined): { dims: Vec3; offset: number; count: number } {
  const d = file.header.dims;
  const dims: Vec3 = [d[0] ?? 1, d[1] ?? 1, d[2] ?? 1];
  const frames = d.slice(3).reduce((a, b) => a * b, 1);
  // Reading frame 0 of a 4D file silently would hide a wrong file choice (ACDC's *_4d.nii.gz).
  if (frame === undefined && frames > 1) throw new FormatError(`${source}: a 4D volume (${d.join('x')}); pick one frame`);
  const f = frame ?? 0;
  if (!Number.isInteger(f) || f < 0 || f >= frames) {
    throw new FormatError(`${source}: has ${frames} frame(s) of ${dims.join('x')}; frame ${f} asked for`);
  }
  const count = voxelCount(dims);
  return { dims, offset: f * count, count };
}

function sourceOf(header: NiftiHeader): VolumeSource {
  return {
    version: header.version,
    qformCode: header.qformCode,
    sformCode: header.sformCode,
    quatern: header.quatern,
    qoffset: header.qoffset,
    qfac: header.qfac,
    description: header.description,
  };
}

function spacingOf(header: NiftiHeader): Vec3 {
  return [header.pixdim[0] ?? 1, header.pixdim[1] ?? 1, header.pixdim[2] ?? 1].map((s) => (s > 0 ? s : 1)) as Vec3;
}

/** An image volume (float32, scl_slope / scl_inter applied) from a parsed NIfTI file. */
export function imageFromNifti(file: NiftiFile, source = 'image', frame?: number): ImageVolume {
  const { dims, offset, count } = spatial(file, source, frame);
  const raw = file.data;
  const out = new Float32Array(count);
  const { sclSlope, sclInter } = file.header;
  if (hasScaling(file.header)) for (let i = 0; i < count; i++) out[i] = raw[offset + i] * sclSlope + sclInter;
  else for (let i = 0; i < count; i++) out[i] = raw[offset + i];
  return { data: out, dims, spacing: spacingOf(file.header), affine: file.affine, source: sourceOf(file.header) };
}

/** A label volume (uint8 if every label fits 0..255, else int16); labels must be integers after scaling. */
export function labelsFromNifti(file: NiftiFile, source = 'label map', frame?: number): LabelVolume {
  const { dims, offset, count } = spatial(file, source, frame);
  const raw = file.data;
  const scaled = hasScaling(file.header);
  const { sclSlope, sclInter } = file.header;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < count; i++) {
    const v = scaled ? raw[offset + i] * sclSlope + sclInter : raw[offset + i];
    if (!Number.isInteger(v)) throw new DataError(`${source}: label maps hold integers; voxel ${describeVoxel(i, dims)} is ${v}`);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min < -32768 || max > 32767) throw new DataError(`${source}: labels span ${min}..${max}, beyond int16`);
  const out = min >= 0 && max <= 255 ? new Uint8Array(count) : new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = scaled ? raw[offset + i] * sclSlope + sclInter : raw[offset + i];
  return { data: out, dims, spacing: spacingOf(file.header), affine: file.affine, source: sourceOf(file.header) };
}

export function readImageVolume(bytes: Uint8Array, source: string, frame?: number): ImageVolume {
  return imageFromNifti(readNifti(bytes, source), source, frame);
}

export function readLabelVolume(bytes: Uint8Array, source: string, frame?: number): LabelVolume {
  return labelsFromNifti(readNifti(bytes, source), source, frame);
}

export interface VolumeWriteOptions extends NiftiWriteOptions {
  /** Storage type; label maps are uint8 or int16, images float32. Default: the data's own type. */
  datatype?: 'uint8' | 'int16' | 'float32';
}

/** Encodes a volume as NIfTI, keeping its affine and, when it came from a file, that file's qform. */
export function volumeToNifti(volume: Volume, options: VolumeWriteOptions = {}): Uint8Array {
  const data = convertData(volume.data, options.datatype);
  const src = volume.source;
  return writeNifti(
    {
      data,
      dims: volume.dims,
      pixdim: volume.spacing,
      affine: volume.affine,
      qform: src && src.qformCode > 0 ? { quatern: src.quatern, qoffset: src.qoffset, qfac: src.qfac } : undefined,
      qformCode: src?.qformCode,
      sformCode: src?.sformCode,
      description: src?.description,
    },
    { version: options.version ?? src?.version ?? 1, gzip: options.gzip },
  );
}

function convertData(data: Float32Array | LabelData, datatype: VolumeWriteOptions['datatype']): Float32Array | LabelData {
  if (!datatype) return data;
  if (datatype === 'float32') return data instanceof Float32Array ? data : Float32Array.from(data);
  const [Target, lo, hi] = datatype === 'uint8' ? [Uint8Array, 0, 255] as const : [Int16Array, -32768, 32767] as const;
  if (data instanceof Target) return data;
  const out = new Target(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isInteger(v) || v < lo || v > hi) throw new DataError(`value ${v} at index ${i} cannot be stored as ${datatype}`);
    out[i] = v;
  }
  return out;
}

/** A label volume on the same grid as `like` (for predictions written next to their source image). */
export function labelVolumeLike(like: Volume, data: LabelData): LabelVolume {
  if (data.length !== voxelCount(like.dims)) {
    throw new DataError(`label data has ${data.length} voxels, the reference grid ${like.dims.join('x')} has ${voxelCount(like.dims)}`);
  }
  return { data, dims: [...like.dims], spacing: [...like.spacing], affine: [...like.affine], source: like.source };
}

export function describeVoxel(index: number, dims: Vec3): string {
  const x = index % dims[0];
  const y = Math.floor(index / dims[0]) % dims[1];
  const z = Math.floor(index / (dims[0] * dims[1]));
  return `(${x}, ${y}, ${z})`;
}

/** Throws DataError unless every label lies in [0, numClasses). */
export function checkLabelRange(label: LabelVolume, numClasses: number, source: string): void {
  const data = label.data;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < 0 || v >= numClasses) {
      throw new DataError(`${source}: label ${v} at voxel ${describeVoxel(i, label.dims)} is outside [0, ${numClasses})`);
    }
  }
}

/** Throws DataError unless image and label share one grid (dims; the affine is compared loosely). */
export function checkSameGrid(image: Volume, label: Volume, source: string): void {
  if (image.dims.some((d, i) => d !== label.dims[i])) {
    throw new DataError(`${source}: image is ${image.dims.join('x')} but its label map is ${label.dims.join('x')}`);
  }
}

/** Voxel count per class 0..numClasses-1 (labels already checked to lie in range). */
export function countClasses(label: LabelData, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < label.length; i++) counts[label[i]]++;
  return counts;
}

export function sameAffine(a: number[], b: number[], tolerance = 1e-3): boolean {
  return a.every((v, i) => Math.abs(v - b[i]) <= tolerance * Math.max(1, Math.abs(v)));
}
