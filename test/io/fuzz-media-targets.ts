// Fuzz targets for the data and model readers (NIfTI, PNG, .npy, ONNX), used by fuzz-harness.ts.
// Besides the generic byte mutations each target has targeted ones that rewrite the header fields
// a reader sizes things by (NIfTI dim[]/datatype/bitpix/vox_offset/sizeof_hdr and the gzip size
// trailer, PNG IHDR width/height with a valid CRC, .npy shape claims, ONNX varint lengths and
// dims), keeping the rest of the file valid so the claim reaches the code that trusts it.

import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'fflate';
import { encode } from 'fast-png';
import { imageFromNifti, labelsFromNifti } from '../../src/data/volume.js';
import { isGzip, readNifti } from '../../src/io/nifti.js';
import { writeNifti } from '../../src/io/nifti-write.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { readOnnx } from '../../src/io/onnx.js';
import { modelProtoType, ONNX_ATTRIBUTE_TYPE as A, ONNX_DATA_TYPE as D } from '../../src/io/onnx-schema.js';
import { pngToGrey, pngToLabels, readPng } from '../../src/io/png.js';
import type { FuzzTarget, Mutation } from './fuzz-harness.js';

/** Whole numbers a header field is set to: edges of int16/int32/uint32, negatives, and sizes that claim gigabytes. */
const CLAIMS = [0, 1, 2, -1, -2, 3, 7, 8, 255, 256, 348, 352, 540, 32767, -32768, 65535, 65536, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 - 1, 2 ** 40, 2 ** 53, 1e30, NaN, Infinity, -Infinity, 0.5];

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)];

// ---- NIfTI ----------------------------------------------------------------------------------------

interface Field {
  name: string;
  offset: number;
  kind: 'i16' | 'i32' | 'i64' | 'f32';
}

const NIFTI1_FIELDS: Field[] = [
  { name: 'sizeof_hdr', offset: 0, kind: 'i32' },
  ...Array.from({ length: 8 }, (_, i): Field => ({ name: `dim[${i}]`, offset: 40 + 2 * i, kind: 'i16' })),
  { name: 'datatype', offset: 70, kind: 'i16' },
  { name: 'bitpix', offset: 72, kind: 'i16' },
  { name: 'vox_offset', offset: 108, kind: 'f32' },
  { name: 'scl_slope', offset: 112, kind: 'f32' },
];

const NIFTI2_FIELDS: Field[] = [
  { name: 'sizeof_hdr', offset: 0, kind: 'i32' },
  { name: 'datatype', offset: 12, kind: 'i16' },
  { name: 'bitpix', offset: 14, kind: 'i16' },
  ...Array.from({ length: 8 }, (_, i): Field => ({ name: `dim[${i}]`, offset: 16 + 8 * i, kind: 'i64' })),
  { name: 'vox_offset', offset: 168, kind: 'i64' },
  { name: 'scl_slope', offset: 176, kind: 'i64' },
];

function writeField(view: DataView, field: Field, value: number, littleEndian: boolean): void {
  const int = (bits: number) => BigInt.asIntN(bits, BigInt(Number.isFinite(value) ? Math.trunc(Math.min(Math.max(value, -(2 ** 63)), 2 ** 63)) : 0));
  if (field.kind === 'f32') view.setFloat32(field.offset, value, littleEndian);
  else if (field.kind === 'i16') view.setInt16(field.offset, Number(int(16)), littleEndian);
  else if (field.kind === 'i32') view.setInt32(field.offset, Number(int(32)), littleEndian);
  else view.setBigInt64(field.offset, int(64), littleEndian);
}

/** Rewrites one header field of a (possibly gzipped) NIfTI file, re-gzipping so the claim gets past the gzip layer. */
export function mutateNiftiHeader(input: Uint8Array, random: () => number): Mutation {
  const gz = isGzip(input);
  if (gz && random() < 0.15) {
    // The gzip trailer's ISIZE: what gunzipSync would size its output by.
    const bytes = input.slice();
    const value = pick(random, [0xffffffff, 0x80000000, 0x40000000, 0, 1]);
    new DataView(bytes.buffer).setUint32(bytes.length - 4, value, true);
    return { bytes, mutation: `gzip ISIZE = ${value}` };
  }
  const plain = gz ? gunzipSync(input) : input.slice();
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  const littleEndian = view.getInt32(0, true) === 348 || view.getInt32(0, true) === 540;
  const version = view.getInt32(0, littleEndian) === 540 ? 2 : 1;
  const fields = version === 1 ? NIFTI1_FIELDS : NIFTI2_FIELDS;
  const changes: string[] = [];
  for (let n = 1 + Math.floor(random() * 2); n > 0; n--) {
    const field = pick(random, fields);
    const value = pick(random, CLAIMS);
    writeField(view, field, value, littleEndian);
    changes.push(`${field.name} = ${value}`);
  }
  return { bytes: gz ? gzipSync(plain, { level: 1 }) : plain, mutation: `NIfTI-${version} ${changes.join(', ')}${gz ? ' (re-gzipped)' : ''}` };
}

function niftiSeeds(dataDir: URL): Uint8Array[] {
  const affine = [2, 0, 0, -10, 0, 3, 0, 5, 0, 0, 4, 1, 0, 0, 0, 1];
  const small = (data: Uint8Array | Int16Array | Float32Array, dims: number[], version: 1 | 2, gzip: boolean) =>
    writeNifti({ data, dims, pixdim: [2, 3, 4], affine }, { version, gzip });
  const labels = Uint8Array.from({ length: 6 * 5 * 4 }, (_, i) => i % 3);
  const image = Float32Array.from({ length: 5 * 4 * 3 }, (_, i) => Math.sin(i));
  const wide = Int16Array.from({ length: 4 * 4 * 2 * 2 }, (_, i) => i * 7 - 40);
  return [
    small(labels, [6, 5, 4], 1, false),
    small(image, [5, 4, 3], 1, true),
    small(wide, [4, 4, 2, 2], 2, false),
    small(labels, [6, 5, 4], 2, true),
    ...['nifti1_bigendian_float32.nii', 'nifti1_qform_only_uint8.nii.gz', 'nifti1_qform_sform_uint8.nii.gz', 'nifti2_int16_scaled.nii.gz'].map(
      (f) => new Uint8Array(readFileSync(new URL(f, dataDir))),
    ),
  ];
}

/** readNifti and what the data loaders make of it (image and label volumes of frame 0). */
function readNiftiAsVolumes(bytes: Uint8Array): number {
  const file = readNifti(bytes, 'fuzz.nii');
  let n = file.data.byteLength;
  n += imageFromNifti(file, 'fuzz.nii', 0).data.byteLength;
  n += labelsFromNifti(file, 'fuzz.nii', 0).data.byteLength;
  return n;
}

// ---- PNG ------------------------------------------------------------------------------------------

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Rewrites IHDR fields (width, height, bit depth, colour type, interlace) and fixes the chunk's CRC; or garbles IDAT bytes, CRC fixed. */
export function mutatePngHeader(input: Uint8Array, random: () => number): Mutation {
  const bytes = input.slice();
  const view = new DataView(bytes.buffer);
  if (random() < 0.25) {
    // fast-png's encoder writes IHDR then one IDAT: its data starts at 41.
    const length = view.getUint32(33);
    const flips = 1 + Math.floor(random() * 4);
    const at: number[] = [];
    for (let i = 0; i < flips; i++) {
      const p = 41 + Math.floor(random() * length);
      bytes[p] ^= 1 << Math.floor(random() * 8);
      at.push(p);
    }
    view.setUint32(41 + length, crc32(bytes.subarray(37, 41 + length)));
    return { bytes, mutation: `PNG IDAT bits flipped at ${at} (CRC fixed)` };
  }
  // Signature (8), IHDR length (4), "IHDR" (4), then width at 16, height at 20, depth 24, colour 25, interlace 28; CRC at 29.
  const changes: string[] = [];
  for (let n = 1 + Math.floor(random() * 2); n > 0; n--) {
    const field = pick(random, ['width', 'height', 'width', 'height', 'depth', 'colour', 'interlace', 'IHDR length', 'IDAT length'] as const);
    if (field === 'width' || field === 'height') {
      const value = pick(random, [0, 1, 2, 255, 4097, 65535, 65536, 100_000, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1]);
      view.setUint32(field === 'width' ? 16 : 20, value);
      changes.push(`${field} = ${value}`);
    } else if (field === 'depth' || field === 'colour' || field === 'interlace') {
      const value = pick(random, [0, 1, 2, 3, 4, 6, 8, 16, 255]);
      bytes[field === 'depth' ? 24 : field === 'colour' ? 25 : 28] = value;
      changes.push(`${field} = ${value}`);
    } else {
      const at = field === 'IHDR length' ? 8 : 33; // the first chunk after IHDR is IDAT in fast-png's output
      const value = pick(random, [0, 12, 14, 2 ** 31 - 1, 2 ** 32 - 1]);
      view.setUint32(at, value);
      changes.push(`${field} = ${value}`);
    }
  }
  view.setUint32(29, crc32(bytes.subarray(12, 29)));
  return { bytes, mutation: `PNG ${changes.join(', ')} (IHDR CRC fixed)` };
}

function pngSeeds(): Uint8Array[] {
  const w = 13;
  const h = 9;
  const values = (channels: number, max: number) => Uint8Array.from({ length: w * h * channels }, (_, i) => (i * 37) % max);
  return [
    encode({ width: w, height: h, data: values(1, 4), channels: 1, depth: 8 }),
    encode({ width: w, height: h, data: values(3, 256), channels: 3, depth: 8 }),
    encode({ width: w, height: h, data: values(4, 256), channels: 4, depth: 8 }),
    encode({ width: w, height: h, data: Uint16Array.from({ length: w * h }, (_, i) => i * 300), channels: 1, depth: 16 }),
    encode({ width: w, height: h, data: values(2, 256), channels: 2, depth: 8 }),
  ];
}

function readPngAsInputs(bytes: Uint8Array): number {
  const png = readPng(bytes, 'fuzz.png');
  return png.data.byteLength + pngToGrey(png).byteLength + pngToLabels(png, 'fuzz.png').byteLength;
}

// ---- .npy -----------------------------------------------------------------------------------------

const SHAPE_CLAIMS = [
  '(4000000000, 4000000000)', '(2147483648,)', '(4294967296,)', '(9007199254740991,)', '(9007199254740993,)',
  '(1000000, 1000000, 1000000)', '(-1,)', '(-4, -4)', '(1e9,)', '(0,)', '()', '(3, 0, 1000000000000)',
  '(100000000000000000000000,)', "('a',)", '(None,)', '(True,)', '[2, 3]', '(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)',
];

/** Replaces the header's shape with a claim and re-pads, so the dict still parses. */
export function mutateNpyShape(input: Uint8Array, random: () => number): Mutation {
  const major = input[6];
  const preamble = major === 1 ? 10 : 12;
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const header = String.fromCharCode(...input.subarray(preamble, preamble + headerLength));
  const claim = pick(random, SHAPE_CLAIMS);
  const dict = header.replace(/'shape': (\([^)]*\)|\[[^\]]*\])/, `'shape': ${claim}`).trimEnd();
  const padding = (64 - ((preamble + dict.length + 1) % 64)) % 64;
  const text = dict + ' '.repeat(padding) + '\n';
  const out = new Uint8Array(preamble + text.length + input.length - preamble - headerLength);
  out.set(input.subarray(0, preamble));
  const outView = new DataView(out.buffer);
  if (major === 1) outView.setUint16(8, text.length, true);
  else outView.setUint32(8, text.length, true);
  for (let i = 0; i < text.length; i++) out[preamble + i] = text.charCodeAt(i);
  out.set(input.subarray(preamble + headerLength), preamble + text.length);
  return { bytes: out, mutation: `npy shape = ${claim}` };
}

function npySeeds(npyDir: URL): Uint8Array[] {
  const files = ['f4.npy', 'f2.npy', 'i8.npy', 'b1.npy', 'u2.npy', 'v2_f4.npy', 'scalar_f4.npy', 'empty_f4.npy'];
  return [...files.map((f) => new Uint8Array(readFileSync(new URL(f, npyDir)))), writeNpy(Float32Array.from({ length: 24 }, (_, i) => i / 3), [2, 3, 4])];
}

// ---- ONNX -----------------------------------------------------------------------------------------

const f32Bytes = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

/** A small model built with protobufjs from the schema, as test/io/onnx.test.ts builds its own. */
export function tinyOnnxModel(): Uint8Array {
  const type = modelProtoType();
  const model = {
    ir_version: 7,
    producer_name: 'fuzz',
    opset_import: [{ domain: '', version: 12 }],
    graph: {
      name: 'tiny',
      node: [
        { name: '/lin/MatMul', op_type: 'MatMul', input: ['x', 'W'], output: ['h'] },
        {
          name: '/Constant', op_type: 'Constant', output: ['c'],
          attribute: [{ name: 'value', type: A.TENSOR, t: { dims: [2], data_type: D.FLOAT, raw_data: f32Bytes([0.5, -1.5]) } }],
        },
        {
          name: '/Add', op_type: 'Add', input: ['h', 'c'], output: ['y'],
          attribute: [
            { name: 'ints', type: A.INTS, ints: [1, -2, 3] },
            { name: 'mode', type: A.STRING, s: new TextEncoder().encode('constant') },
            { name: 'alpha', type: A.FLOAT, f: 0.25 },
          ],
        },
      ],
      initializer: [
        { name: 'W', dims: [3, 2], data_type: D.FLOAT, raw_data: f32Bytes([1, 2, 3, 4, 5, 6]) },
        { name: 'b', dims: [2], data_type: D.FLOAT, float_data: [0.1, 0.2] },
        { name: 'steps', dims: [2], data_type: D.INT64, int64_data: [7, -9] },
        { name: 'mask', dims: [4], data_type: D.UINT8, raw_data: new Uint8Array([1, 0, 1, 1]) },
        { name: 'idx', dims: [2, 2], data_type: D.INT16, raw_data: new Uint8Array([1, 0, 2, 0, 3, 0, 4, 0]) },
      ],
      input: [{ name: 'x', type: { tensor_type: { elem_type: D.FLOAT, shape: { dim: [{ dim_param: 'batch' }, { dim_value: 3 }] } } } }],
      output: [{ name: 'y', type: { tensor_type: { elem_type: D.FLOAT } } }],
    },
  };
  // A copy: in Node, finish() returns a Buffer, whose slice() is a view that mutations would write through.
  return new Uint8Array(type.encode(type.fromObject(model)).finish());
}

function encodeVarint(value: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}

const VARINT_CLAIMS = [0n, 1n, 127n, 128n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 35n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 64n - 1n, -1n];

/**
 * Replaces the varint after a tag byte with a claim: for length-delimited tags (raw_data 0x4a,
 * graph 0x3a, initializer 0x2a, node/name 0x0a, dims packed 0x0a) that is a length, for varint tags
 * (dims 0x08, data_type 0x10) a value.
 */
export function mutateOnnxVarint(input: Uint8Array, random: () => number): Mutation {
  const tags = [0x4a, 0x3a, 0x2a, 0x0a, 0x08, 0x10, 0x22, 0x42];
  const tag = pick(random, tags);
  const hits: number[] = [];
  for (let i = 0; i < input.length - 1; i++) if (input[i] === tag) hits.push(i);
  if (hits.length === 0) return { bytes: input.slice(), mutation: `no tag 0x${tag.toString(16)}` };
  const at = pick(random, hits) + 1;
  let end = at;
  while (end < input.length && input[end] & 0x80) end++;
  end = Math.min(end + 1, input.length);
  const value = pick(random, VARINT_CLAIMS);
  const varint = encodeVarint(value);
  const out = new Uint8Array(input.length - (end - at) + varint.length);
  out.set(input.subarray(0, at));
  out.set(varint, at);
  out.set(input.subarray(end), at + varint.length);
  return { bytes: out, mutation: `varint after tag 0x${tag.toString(16)} at ${at - 1} = ${value}` };
}

function tensorBytesOf(bytes: Uint8Array): number {
  const model = readOnnx(bytes, 'fuzz.onnx');
  let n = 0;
  for (const t of model.graph.initializers.values()) n += t.data.byteLength;
  for (const node of model.graph.nodes) {
    for (const value of Object.values(node.attributes)) if (value && typeof value === 'object' && 'data' in value) n += value.data.byteLength;
  }
  return n;
}

// ---- the targets ----------------------------------------------------------------------------------

// Compressed formats legitimately inflate far past 8x their size (a blank mask, a zero-padded volume);
// what bounds them is the capped inflation in the readers, checked by the targeted cases.
const DEFLATE_AMPLIFICATION = 1100;

export function mediaFuzzTargets(fixturesRoot: URL): FuzzTarget[] {
  return [
    { name: 'nifti', seeds: niftiSeeds(new URL('data/', fixturesRoot)), read: readNiftiAsVolumes, targeted: mutateNiftiHeader, dataErrors: true, maxAmplification: DEFLATE_AMPLIFICATION * 8 },
    { name: 'png', seeds: pngSeeds(), read: readPngAsInputs, targeted: mutatePngHeader, dataErrors: true, maxAmplification: DEFLATE_AMPLIFICATION * 8 },
    { name: 'npy', seeds: npySeeds(new URL('npy/', fixturesRoot)), read: (b) => readNpy(b).data.byteLength, targeted: mutateNpyShape },
    { name: 'onnx', seeds: [tinyOnnxModel()], read: tensorBytesOf, targeted: mutateOnnxVarint },
  ];
}
