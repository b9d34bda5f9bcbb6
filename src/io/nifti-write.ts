// NIfTI-1 / NIfTI-2 writing (single file, little-endian, optionally gzipped), byte layout written
// out here rather than through nifti-reader-js's toArrayBuffer so every field is under our control.
import { gzipSync } from 'fflate';
import { UsageError } from '../errors.js';
import { NIFTI_DATATYPES, type NiftiDatatype, type NiftiTypedArray } from './nifti.js';

export interface NiftiWriteInput {
  /** Voxels, i fastest; the array type decides the datatype. */
  data: NiftiTypedArray;
  /** Sizes along i, j, k (and t... if any). */
  dims: number[];
  /** Voxel sizes in mm, same length as dims (or at least 3 entries). */
  pixdim: number[];
  /** Voxel to world, 4x4 row-major, mm: written as the sform, and as the qform unless `qform` is given. */
  affine: number[];
  /** The qform of the source file, kept as it was (a rotated qform beside a sheared sform survives a round trip). */
  qform?: { quatern: [number, number, number]; qoffset: [number, number, number]; qfac: number };
  qformCode?: number;
  sformCode?: number;
  sclSlope?: number;
  sclInter?: number;
  description?: string;
  intentCode?: number;
  intentName?: string;
}

export interface NiftiWriteOptions {
  version?: 1 | 2;
  gzip?: boolean;
}

const XFORM_ALIGNED_ANAT = 2;
const UNITS_MM_SEC = 2 | 8;

export function writeNifti(input: NiftiWriteInput, options: NiftiWriteOptions = {}): Uint8Array {
  // The voxels are copied as they lie in memory and the header says little-endian.
  if (!HOST_LITTLE_ENDIAN) throw new UsageError('NIfTI writing assumes a little-endian host');
  const version = options.version ?? 1;
  const datatype = datatypeOf(input.data);
  const { code, bytes: itemSize } = NIFTI_DATATYPES[datatype];
  const dims = input.dims;
  if (dims.length < 1 || dims.length > 7) throw new UsageError(`NIfTI dims must have 1..7 entries, got ${dims.length}`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== input.data.length) throw new UsageError(`NIfTI dims ${dims.join('x')} hold ${count} voxels, data has ${input.data.length}`);
  if (version === 1 && dims.some((d) => d > 32767)) throw new UsageError(`NIfTI-1 dims are int16; ${dims.join('x')} needs NIfTI-2`);
  if (input.affine.length !== 16) throw new UsageError('affine must be 16 numbers (4x4 row-major)');

  const qform = input.qform ?? affineToQuatern(input.affine);
  const pixdim = [qform.qfac, ...dims.map((_, i) => input.pixdim[i] ?? 1)];
  const header = version === 1 ? 352 : 544; // fixed header + 4 extension-flag bytes (all zero)
  const out = new Uint8Array(header + count * itemSize);
  const view = new DataView(out.buffer);
  const fields: HeaderFields = {
    dims,
    pixdim,
    datatypeCode: code,
    bitpix: itemSize * 8,
    voxOffset: header,
    sclSlope: input.sclSlope ?? 0,
    sclInter: input.sclInter ?? 0,
    qformCode: input.qformCode ?? XFORM_ALIGNED_ANAT,
    sformCode: input.sformCode ?? XFORM_ALIGNED_ANAT,
    quatern: qform.quatern,
    qoffset: qform.qoffset,
    srow: input.affine.slice(0, 12),
    description: input.description ?? 'autosam-webgpu',
    intentCode: input.intentCode ?? 0,
    intentName: input.intentName ?? '',
  };
  if (version === 1) writeHeader1(view, out, fields);
  else writeHeader2(view, out, fields);
  out.set(new Uint8Array(input.data.buffer, input.data.byteOffset, input.data.byteLength), header);
  return options.gzip ? gzipSync(out, { level: 6 }) : out;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function datatypeOf(data: NiftiTypedArray): NiftiDatatype {
  for (const [name, info] of Object.entries(NIFTI_DATATYPES)) {
    if (data.constructor === info.array) return name as NiftiDatatype;
  }
  throw new UsageError(`cannot write ${data.constructor.name} as NIfTI`);
}

interface HeaderFields {
  dims: number[];
  pixdim: number[];
  datatypeCode: number;
  bitpix: number;
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  qformCode: number;
  sformCode: number;
  quatern: [number, number, number];
  qoffset: [number, number, number];
  srow: number[];
  description: string;
  intentCode: number;
  intentName: string;
}

function writeString(out: Uint8Array, offset: number, maxLength: number, text: string): void {
  const bytes = new TextEncoder().encode(text).subarray(0, maxLength - 1);
  out.set(bytes, offset);
}

// Offsets from nifti1.h.
function writeHeader1(view: DataView, out: Uint8Array, f: HeaderFields): void {
  const le = true;
  view.setInt32(0, 348, le);
  view.setInt16(40, f.dims.length, le);
  f.dims.forEach((d, i) => view.setInt16(42 + 2 * i, d, le));
  for (let i = f.dims.length; i < 7; i++) view.setInt16(42 + 2 * i, 1, le);
  view.setInt16(68, f.intentCode, le);
  view.setInt16(70, f.datatypeCode, le);
  view.setInt16(72, f.bitpix, le);
  f.pixdim.forEach((p, i) => view.setFloat32(76 + 4 * i, p, le));
  for (let i = f.pixdim.length; i < 8; i++) view.setFloat32(76 + 4 * i, 1, le);
  view.setFloat32(108, f.voxOffset, le);
  view.setFloat32(112, f.sclSlope, le);
  view.setFloat32(116, f.sclInter, le);
  view.setUint8(123, UNITS_MM_SEC);
  writeString(out, 148, 80, f.description);
  view.setInt16(252, f.qformCode, le);
  view.setInt16(254, f.sformCode, le);
  [...f.quatern, ...f.qoffset].forEach((v, i) => view.setFloat32(256 + 4 * i, v, le));
  f.srow.forEach((v, i) => view.setFloat32(280 + 4 * i, v, le));
  writeString(out, 328, 16, f.intentName);
  out.set([0x6e, 0x2b, 0x31, 0x00], 344); // "n+1\0"
}

// Offsets from nifti2.h.
function writeHeader2(view: DataView, out: Uint8Array, f: HeaderFields): void {
  const le = true;
  view.setInt32(0, 540, le);
  out.set([0x6e, 0x2b, 0x32, 0x00, 0x0d, 0x0a, 0x1a, 0x0a], 4); // "n+2\0\r\n\032\n"
  view.setInt16(12, f.datatypeCode, le);
  view.setInt16(14, f.bitpix, le);
  view.setBigInt64(16, BigInt(f.dims.length), le);
  f.dims.forEach((d, i) => view.setBigInt64(24 + 8 * i, BigInt(d), le));
  for (let i = f.dims.length; i < 7; i++) view.setBigInt64(24 + 8 * i, 1n, le);
  f.pixdim.forEach((p, i) => view.setFloat64(104 + 8 * i, p, le));
  for (let i = f.pixdim.length; i < 8; i++) view.setFloat64(104 + 8 * i, 1, le);
  view.setBigInt64(168, BigInt(f.voxOffset), le);
  view.setFloat64(176, f.sclSlope, le);
  view.setFloat64(184, f.sclInter, le);
  writeString(out, 240, 80, f.description);
  view.setInt32(344, f.qformCode, le);
  view.setInt32(348, f.sformCode, le);
  [...f.quatern, ...f.qoffset].forEach((v, i) => view.setFloat64(352 + 8 * i, v, le));
  f.srow.forEach((v, i) => view.setFloat64(400 + 8 * i, v, le));
  view.setInt32(500, UNITS_MM_SEC, le);
  view.setInt32(504, f.intentCode, le);
  writeString(out, 508, 16, f.intentName);
}

/**
 * The qform (quaternion, offset, qfac) closest to an affine, as nifti1_io's nifti_mat44_to_quatern:
 * column lengths are the voxel sizes, a negative determinant flips the k axis (qfac = -1).
 * Exact for rotation-plus-scaling affines; a sheared affine keeps its exact form in the sform only.
 */
export function affineToQuatern(affine: number[]): { quatern: [number, number, number]; qoffset: [number, number, number]; qfac: number } {
  const col = (c: number) => [affine[c], affine[4 + c], affine[8 + c]];
  const unit = (v: number[]) => {
    const n = Math.hypot(v[0], v[1], v[2]);
    return n > 0 ? v.map((x) => x / n) : v.map(() => 0);
  };
  const [r1, r2, r3] = [unit(col(0)), unit(col(1)), unit(col(2))];
  const det =
    r1[0] * (r2[1] * r3[2] - r3[1] * r2[2]) - r2[0] * (r1[1] * r3[2] - r3[1] * r1[2]) + r3[0] * (r1[1] * r2[2] - r2[1] * r1[2]);
  const qfac = det < 0 ? -1 : 1;
  if (qfac < 0) for (let i = 0; i < 3; i++) r3[i] = -r3[i];
  // Rotation matrix R with columns r1, r2, r3: R[row][col].
  const R = [
    [r1[0], r2[0], r3[0]],
    [r1[1], r2[1], r3[1]],
    [r1[2], r2[2], r3[2]],
  ];
  let a = R[0][0] + R[1][1] + R[2][2] + 1;
  let b: number, c: number, d: number;
  if (a > 0.5) {
    a = 0.5 * Math.sqrt(a);
    b = (0.25 * (R[2][1] - R[1][2])) / a;
    c = (0.25 * (R[0][2] - R[2][0])) / a;
    d = (0.25 * (R[1][0] - R[0][1])) / a;
  } else {
    const xd = 1 + R[0][0] - (R[1][1] + R[2][2]);
    const yd = 1 + R[1][1] - (R[0][0] + R[2][2]);
    const zd = 1 + R[2][2] - (R[0][0] + R[1][1]);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd);
      c = (0.25 * (R[0][1] + R[1][0])) / b;
      d = (0.25 * (R[0][2] + R[2][0])) / b;
      a = (0.25 * (R[2][1] - R[1][2])) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd);
      b = (0.25 * (R[0][1] + R[1][0])) / c;
      d = (0.25 * (R[1][2] + R[2][1])) / c;
      a = (0.25 * (R[0][2] - R[2][0])) / c;
    } else {
      d = 0.5 * Math.sqrt(zd);
      b = (0.25 * (R[0][2] + R[2][0])) / d;
      c = (0.25 * (R[1][2] + R[2][1])) / d;
      a = (0.25 * (R[1][0] - R[0][1])) / d;
    }
    if (a < 0) {
      b = -b;
      c = -c;
      d = -d;
    }
  }
  return { quatern: [b, c, d], qoffset: [affine[3], affine[7], affine[11]], qfac };
}
