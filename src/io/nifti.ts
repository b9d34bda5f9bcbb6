// NIfTI-1 and NIfTI-2 reading (.nii and .nii.gz) from bytes, so the browser app can use it too.
// Header fields come from nifti-reader-js; the affine is computed here because the library
// prefers the qform whenever its code is higher and ignores the qform of NIfTI-2 files, while
// the convention (nifti1.h, nibabel, ITK) is: sform if sform_code > 0, else qform, else pixdim.
import { Gunzip } from 'fflate';
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

// Not the library's getDatatypeCodeString: NIFTI2 copies it from NIFTI1.prototype, where it is not
// (an instance field), so calling it on a NIfTI-2 header throws a TypeError.
const OTHER_DATATYPE_NAMES: Record<number, string> = {
  1: 'binary', 32: 'complex64', 128: 'RGB24', 1024: 'int64', 1280: 'uint64', 1536: 'float128', 1792: 'complex128', 2048: 'complex256', 2304: 'RGBA32',
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

/** The most a gzip stream is inflated to, whatever it claims (a 4D volume of 2 GiB is far past any task here). */
export const MAX_INFLATED_BYTES = 2 ** 31;
/** DEFLATE at its best codes 258 bytes in 2 bits: no stream inflates to more than about 1032 times its size. */
const MAX_DEFLATE_RATIO = 1032;

/**
 * gunzip with fflate's streaming inflate and a running byte count, so nothing is sized by the
 * gzip trailer's ISIZE (which gunzipSync trusts) and a stream that inflates past `maxBytes` stops
 * there with a FormatError. A truncated or corrupt stream becomes a FormatError naming the source.
 */
export function gunzip(bytes: Uint8Array, source: string, maxBytes = MAX_INFLATED_BYTES): Uint8Array {
  return inflateCapped(bytes, source, () => maxBytes).data;
}

/**
 * The streaming inflate behind gunzip: `limitFor(prefix)` gives the cap from the first output
 * bytes (a header that says how much follows), null to stop inflating early, or undefined to be
 * asked again when more is out. Input is pushed
 * in slices small enough that one slice cannot overshoot the cap by more than a few MiB.
 */
function inflateCapped(
  bytes: Uint8Array,
  source: string,
  limitFor: (prefix: Uint8Array) => number | null | undefined,
  prefixBytes = 0,
): { data: Uint8Array; stopped: boolean } {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let limit: number | null | undefined; // undefined until limitFor knows
  const inflater = new Gunzip((chunk) => {
    chunks.push(chunk);
    total += chunk.length;
    if (limit === undefined && total >= prefixBytes) limit = limitFor(concat(chunks, total));
    if (typeof limit === 'number' && total > limit) {
      throw new FormatError(`${source}: gzip data inflates to more than ${limit} bytes (the most this file can need)`);
    }
  });
  let stopped = false;
  try {
    for (let at = 0; at < bytes.length; ) {
      if (limit === null) {
        stopped = true;
        break;
      }
      const room = typeof limit === 'number' ? Math.floor((limit - total) / MAX_DEFLATE_RATIO) : 0;
      const step = Math.min(Math.max(room, 4096), 1 << 20);
      const end = Math.min(at + step, bytes.length);
      inflater.push(bytes.subarray(at, end), end === bytes.length);
      at = end;
    }
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FormatError(`${source}: gzip data is truncated or corrupt (${(err as Error).message})`, { cause: err });
  }
  return { data: concat(chunks, total), stopped };
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  chunks.splice(0, chunks.length, out);
  return out;
}

/** Margin past a header's claimed size: padding or a trailing extension, never a second volume. */
const GZIP_MARGIN_BYTES = 1 << 20;

/**
 * Inflates a .nii.gz no further than its header allows: voxel offset plus voxel data plus a
 * margin, refused up front when that is more than the compressed stream could hold or past
 * MAX_INFLATED_BYTES. A header that does not parse stops the inflation; the parser then says why.
 */
function gunzipNifti(input: Uint8Array, source: string): Uint8Array {
  const { data } = inflateCapped(input, source, (prefix) => {
    const claimed = claimedNiftiBytes(prefix);
    if (claimed === null || claimed === undefined) return claimed;
    if (claimed > MAX_INFLATED_BYTES) throw new FormatError(`${source}: the header claims ${claimed} bytes of volume, more than the ${MAX_INFLATED_BYTES} this reader accepts`);
    if (claimed > MAX_DEFLATE_RATIO * input.length + 65536) {
      throw new FormatError(`${source}: the header claims ${claimed} bytes of volume, more than ${input.length} bytes of gzip data can hold (truncated or corrupt)`);
    }
    return claimed + GZIP_MARGIN_BYTES;
  }, 348);
  return data;
}

/** vox_offset plus the voxel data's size by the raw header fields; null when they make no sense, undefined when a NIfTI-2 header is not all out yet. */
function claimedNiftiBytes(prefix: Uint8Array): number | null | undefined {
  if (prefix.length < 348) return null;
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const le = view.getInt32(0, true) === 348 || view.getInt32(0, true) === 540;
  const version = view.getInt32(0, le) === 348 ? 1 : view.getInt32(0, le) === 540 ? 2 : 0;
  if (version === 0) return null;
  if (version === 2 && prefix.length < 540) return undefined;
  const dim = (i: number) => (version === 1 ? view.getInt16(40 + 2 * i, le) : Number(view.getBigInt64(16 + 8 * i, le)));
  const code = view.getInt16(version === 1 ? 70 : 12, le);
  const voxOffset = version === 1 ? Math.round(view.getFloat32(108, le)) : Number(view.getBigInt64(168, le));
  const type = Object.values(NIFTI_DATATYPES).find((t) => t.code === code);
  const ndim = dim(0);
  if (!type || !(ndim >= 1 && ndim <= 7) || !Number.isSafeInteger(voxOffset) || voxOffset < 0) return null;
  let count = 1;
  for (let i = 1; i <= ndim; i++) {
    const d = dim(i);
    if (d < 0) return null;
    count *= d === 0 ? 1 : d;
  }
  return voxOffset + count * type.bytes;
}

/** Parses a .nii or .nii.gz held in memory. `source` names the file in error messages. */
export function readNifti(input: Uint8Array, source = 'NIfTI data'): NiftiFile {
  const bytes = isGzip(input) ? gunzipNifti(input, source) : input;
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
  if (!datatype) throw new FormatError(`${source}: unsupported NIfTI datatype code ${h.datatypeCode}${OTHER_DATATYPE_NAMES[h.datatypeCode] ? ` (${OTHER_DATATYPE_NAMES[h.datatypeCode]})` : ''}`);
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
  if (!Number.isSafeInteger(header.voxOffset)) throw new FormatError(`${source}: vox_offset ${header.voxOffset} is not a byte offset`);
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
