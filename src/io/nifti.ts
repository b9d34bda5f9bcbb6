// NIfTI-1 and NIfTI-2 reading (.nii and .nii.gz) from bytes, so the browser app can use it too.
// Header fields come from nifti-reader-js; the affine is computed here because the library
// prefers the qform whenever its code is higher and ignores the qform of NIfTI-2 files, while
// the convention (nifti1.h, nibabel, ITK) is: sform if sform_code > 0, else qform, else pixdim.
import { gunzipSync } from 'fflate';
import { NIFTI1, NIFTI2 } from 'nifti-reader-js';
import { FormatError } from '../errors.js';

export type NiftiDatatype = 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';
export type NiftiTypedArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

/** NIfTI datatype codes and the arrays that hold them; other codes (complex, RGB, 64-bit ints) are refused. */
export const NIFTI_DATATYPES: Record<NiftiDatatype, { code: number; bytes: number; array: new (buffer: ArrayBuffer) => NiftiTypedArray }> = {
  uint8: { code: 2, bytes: 1, array: Uint8Array },
  int16: { code: 4, bytes: 2, array: Int16Array },
  int32: { code: 8, bytes: 4, array: Int32Array },
  float32: { code: 16, bytes: 4, array: Float32Array },
  float64: { code: 64, bytes: 8, array: Float64Array },
  int8: { code: 256, bytes: 1, array: Int8Array },
  uint16: { code: 512, bytes: 2, array: Uint16Array },
  uint32: { code: 768, bytes: 4, array: Uint32Array },
};

const UNITS_METER = 1;
const UNITS_MICRON = 3;

/** The header fields this project uses, in NIfTI's own terms (lengths in millimetres). */
export interface NiftiHeader {
  version: 1 | 2;
  littleEndian: boolean;
  /** dim[1..dim[0]]: sizes along i, j, k, t, ... */
  dims: number[];
  /** pixdim[1..dim[0]], spatial entries in mm. */
  pixdim: number[];
  /** pixdim[0]: the sign of the k axis in the qform (-1 or 1). */
  qfac: number;
  datatype: NiftiDatatype;
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  /** xyzt_units with the spatial part as read (the lengths above are already converted to mm). */
  xyztUnits: number;
  qformCode: number;
  sformCode: number;
  quatern: [number, number, number];
  qoffset: [number, number, number];
  /** srow_x, srow_y, srow_z (12 numbers), in mm. */
  srow: number[];
  description: string;
  intentCode: number;
  intentName: string;
}

export interface NiftiFile {
  header: NiftiHeader;
  /** Voxel values as stored (no scaling), native byte order, i fastest. */
  data: NiftiTypedArray;
  /** Voxel (i, j, k) to world (x, y, z) in mm, 4x4 row-major. */
  affine: number[];
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** gunzip with fflate; a truncated or corrupt stream becomes a FormatError naming the source. */
export function gunzip(bytes: Uint8Array, source: string): Uint8Array {
  try {
    return gunzipSync(bytes);
  } catch (err) {
    throw new FormatError(`${source}: gzip data is truncated or corrupt (${(err as Error).message})`, { cause: err });
  }
}

/** Parses a .nii or .nii.gz held in memory. `source` names the file in error messages. */
export function readNifti(input: Uint8Array, source = 'NIfTI data'): NiftiFile {
  const bytes = isGzip(input) ? gunzip(input, source) : input;
  const version = niftiVersion(bytes, source);
  const headerSize = version === 1 ? 348 : 540;
  // Only the fixed header goes to the library: extensions are not needed and malformed ones make it throw.
  const headerBytes = copyBytes(bytes, 0, headerSize).buffer;
  const parsed = version === 1 ? new NIFTI1() : new NIFTI2();
  try {
    parsed.readHeader(headerBytes);
  } catch (err) {
    throw new FormatError(`${source}: unreadable NIfTI header (${(err as Error).message})`, { cause: err });
  }
  if (parsed.magic.startsWith('ni')) {
    throw new FormatError(`${source}: a .hdr/.img pair header; only single-file .nii/.nii.gz is supported`);
  }
  const header = normaliseHeader(parsed, version, bytes, source);
  const data = readVoxels(bytes, header, source);
  return { header, data, affine: headerAffine(header) };
}

function niftiVersion(bytes: Uint8Array, source: string): 1 | 2 {
  if (bytes.length < 348) throw new FormatError(`${source}: ${bytes.length} bytes, too short for a NIfTI header (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = view.getInt32(0, true);
  const be = view.getInt32(0, false);
  if (le === 348 || be === 348) return 1;
  if (le === 540 || be === 540) {
    if (bytes.length < 540) throw new FormatError(`${source}: truncated NIfTI-2 header`);
    return 2;
  }
  throw new FormatError(`${source}: not a NIfTI file (sizeof_hdr is ${le}, expected 348 or 540)`);
}

function normaliseHeader(h: NIFTI1 | NIFTI2, version: 1 | 2, bytes: Uint8Array, source: string): NiftiHeader {
  const ndim = h.dims[0];
  if (!(ndim >= 1 && ndim <= 7)) throw new FormatError(`${source}: dim[0] = ${ndim}, expected 1..7`);
  // Trailing sizes of 0 occur in the wild (ITK writes dim[4] = 0 for 3D images); they mean 1.
  const dims = h.dims.slice(1, ndim + 1).map((d) => (d === 0 ? 1 : d));
  if (dims.some((d) => d < 0 || !Number.isSafeInteger(d))) throw new FormatError(`${source}: bad dimensions ${dims.join('x')}`);
  const datatype = (Object.keys(NIFTI_DATATYPES) as NiftiDatatype[]).find((t) => NIFTI_DATATYPES[t].code === h.datatypeCode);
  if (!datatype) throw new FormatError(`${source}: unsupported NIfTI datatype code ${h.datatypeCode} (${h.getDatatypeCodeString(h.datatypeCode)})`);
  const unitScale = spatialUnitScale(h.xyzt_units);
  const pixdim = h.pixDims.slice(1, ndim + 1).map((p, axis) => (axis < 3 ? Math.abs(p) * unitScale : p));
  const srow = readSrow(bytes, version, h.littleEndian).map((v) => v * unitScale);
  return {
    version,
    littleEndian: h.littleEndian,
    dims,
    pixdim,
    qfac: h.pixDims[0] < 0 ? -1 : 1,
    datatype,
    voxOffset: Math.round(h.vox_offset),
    sclSlope: Number.isFinite(h.scl_slope) ? h.scl_slope : 0,
    sclInter: Number.isFinite(h.scl_inter) ? h.scl_inter : 0,
    xyztUnits: h.xyzt_units,
    qformCode: h.qform_code,
    sformCode: h.sform_code,
    quatern: [h.quatern_b, h.quatern_c, h.quatern_d],
    qoffset: [h.qoffset_x * unitScale, h.qoffset_y * unitScale, h.qoffset_z * unitScale],
    srow,
    description: h.description,
    intentCode: h.intent_code,
    intentName: h.intent_name,
  };
}

function spatialUnitScale(xyztUnits: number): number {
  const spatial = xyztUnits & 7;
  if (spatial === UNITS_METER) return 1000;
  if (spatial === UNITS_MICRON) return 0.001;
  return 1; // mm, or unknown (taken as mm, as every reader does)
}

// The library only exposes srow through its own affine choice, so read the 12 numbers directly.
function readSrow(bytes: Uint8Array, version: 1 | 2, littleEndian: boolean): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let i = 0; i < 12; i++) {
    out.push(version === 1 ? view.getFloat32(280 + 4 * i, littleEndian) : view.getFloat64(400 + 8 * i, littleEndian));
  }
  return out;
}

function readVoxels(bytes: Uint8Array, header: NiftiHeader, source: string): NiftiTypedArray {
  const { bytes: size, array } = NIFTI_DATATYPES[header.datatype];
  const count = header.dims.reduce((a, b) => a * b, 1);
  const byteLength = count * size;
  const minOffset = header.version === 1 ? 348 : 540;
  if (header.voxOffset < minOffset) throw new FormatError(`${source}: vox_offset ${header.voxOffset} lies inside the header`);
  const available = bytes.length - header.voxOffset;
  if (available < byteLength) {
    throw new FormatError(
      `${source}: truncated: ${header.dims.join('x')} ${header.datatype} needs ${byteLength} bytes of voxel data, found ${Math.max(available, 0)}`,
    );
  }
  const copy = copyBytes(bytes, header.voxOffset, header.voxOffset + byteLength);
  if (header.littleEndian !== HOST_LITTLE_ENDIAN && size > 1) swapBytes(copy, size);
  return new array(copy.buffer);
}

/**
 * A copy in a fresh ArrayBuffer of its own, aligned for any typed array. Not bytes.slice():
 * for a Node Buffer that is a view into a shared pool, whose .buffer holds other data.
 */
function copyBytes(bytes: Uint8Array, start: number, end: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(end - start);
  out.set(bytes.subarray(start, end));
  return out;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/** The voxel-to-world affine by the NIfTI rule: sform if sform_code > 0, else qform if qform_code > 0, else pixdim. */
export function headerAffine(header: NiftiHeader): number[] {
  if (header.sformCode > 0) return [...header.srow, 0, 0, 0, 1];
  const [dx, dy, dz] = [0, 1, 2].map((a) => header.pixdim[a] ?? 1);
  if (header.qformCode > 0) return quaternToAffine(header.quatern, header.qoffset, [dx, dy, dz], header.qfac);
  return [dx, 0, 0, 0, 0, dy, 0, 0, 0, 0, dz, 0, 0, 0, 0, 1];
}

/** nifti1.h method 2: rotation from the quaternion (b, c, d), scaled by pixdim, k axis times qfac. */
export function quaternToAffine(
  [b, c, d]: [number, number, number],
  offset: [number, number, number],
  [dx, dy, dz]: [number, number, number],
  qfac: number,
): number[] {
  const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
  const r = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
  ];
  const scale = [dx, dy, dz * (qfac < 0 ? -1 : 1)];
  const m: number[] = [];
  for (let row = 0; row < 3; row++) m.push(r[row][0] * scale[0], r[row][1] * scale[1], r[row][2] * scale[2], offset[row]);
  return [...m, 0, 0, 0, 1];
}

/** True when the header asks for scaling (slope 0 means "none", as does slope 1 with intercept 0). */
export function hasScaling(header: NiftiHeader): boolean {
  return header.sclSlope !== 0 && !(header.sclSlope === 1 && header.sclInter === 0);
}
