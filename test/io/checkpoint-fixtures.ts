// Shared by the checkpoint tests: the fixtures tools/golden/checkpoints.py wrote, their numpy
// references, a bitwise comparison, and a tiny pickle/zip builder for hand-made malformed files.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { expect } from 'vitest';
import type { CheckpointTensor } from '../../src/io/checkpoint-tensor.js';
import { float16ToFloat32, readNpy } from '../../src/io/npy.js';

export const CHECKPOINTS_DIR = fileURLToPath(new URL('../fixtures/checkpoints/', import.meta.url));

export function fixture(file: string): Uint8Array {
  return new Uint8Array(readFileSync(CHECKPOINTS_DIR + file));
}

interface ReferenceEntry {
  key: string;
  shape: number[];
  dtype: string;
  file: string;
}

interface Manifest {
  sam_tiny: ReferenceEntry[];
  sam_tiny_f16: ReferenceEntry[];
  dtypes: ReferenceEntry[];
  wrapped: ReferenceEntry[];
  hf_key_map: Record<string, string>;
}

export const manifest: Manifest = JSON.parse(readFileSync(CHECKPOINTS_DIR + 'manifest.json', 'utf8'));

/** The reference as the loader must return it: floats (float16 included) as float32, integers as stored. */
export function reference(entry: ReferenceEntry): CheckpointTensor['data'] {
  const npy = readNpy(fixture(`reference/${entry.file}`));
  if (npy.dtype === 'float16') return float16ToFloat32(npy.data);
  if (npy.dtype === 'float32' || npy.dtype === 'int64' || npy.dtype === 'int32' || npy.dtype === 'uint8' || npy.dtype === 'bool') return npy.data;
  throw new Error(`unexpected reference dtype ${npy.dtype} for ${entry.key}`);
}

/** Equal bit for bit (NaN payloads, -0 and denormals included), and of the same array type. */
export function expectSameBits(actual: CheckpointTensor['data'], expected: CheckpointTensor['data'], label: string): void {
  expect(actual.constructor.name, label).toBe(expected.constructor.name);
  expect(actual.length, label).toBe(expected.length);
  const a = new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength);
  const firstDiff = a.findIndex((v, i) => v !== b[i]);
  expect(firstDiff, `${label}: first differing byte`).toBe(-1);
}

export function expectMatchesReference(loaded: Map<string, CheckpointTensor>, entries: ReferenceEntry[], expectedDtype?: string): void {
  expect([...loaded.keys()]).toEqual(entries.map((e) => e.key));
  for (const entry of entries) {
    const t = loaded.get(entry.key)!;
    expect(t.shape, entry.key).toEqual(entry.shape);
    if (expectedDtype) expect(t.dtype, entry.key).toBe(expectedDtype);
    expectSameBits(t.data, reference(entry), entry.key);
  }
}

// ---- hand-made files

/** Pickle opcodes for hand-built test pickles (protocol 2, as torch.save writes). */
export const op = {
  proto: [0x80, 2],
  mark: [0x28],
  stop: [0x2e],
  tuple: [0x74],
  emptyTuple: [0x29],
  reduce: [0x52],
  setitem: [0x73],
  binpersid: [0x51],
  newfalse: [0x89],
  global: (module: string, name: string) => [0x63, ...ascii(`${module}\n${name}\n`)],
  str: (s: string) => {
    const b = new TextEncoder().encode(s);
    return [0x58, ...u32(b.length), ...b];
  },
  int: (n: number) => {
    if (n >= 0 && n < 2 ** 31) return [0x4a, ...u32(n)];
    const big = BigInt(n);
    const bytes: number[] = [];
    for (let i = 0; i < 8; i++) bytes.push(Number((big >> BigInt(8 * i)) & 0xffn));
    return [0x8a, 8, ...bytes];
  },
};

function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

/** OrderedDict {'w': _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())}. */
export function tensorPickle({ key = '0', numel, size, stride, offset = 0, storageClass = 'FloatStorage' }: {
  key?: string; numel: number; size: number[]; stride?: number[]; offset?: number; storageClass?: string;
}): Uint8Array {
  const strides = stride ?? size.map((_, d) => size.slice(d + 1).reduce((a, b) => a * b, 1));
  const ints = (xs: number[]) => [...op.mark, ...xs.flatMap(op.int), ...op.tuple];
  const orderedDict = [...op.global('collections', 'OrderedDict'), ...op.emptyTuple, ...op.reduce];
  const persid = [...op.mark, ...op.str('storage'), ...op.global('torch', storageClass), ...op.str(key), ...op.str('cpu'), ...op.int(numel), ...op.tuple, ...op.binpersid];
  const tensor = [...op.global('torch._utils', '_rebuild_tensor_v2'), ...op.mark, ...persid, ...op.int(offset), ...ints(size), ...ints(strides), ...op.newfalse, ...orderedDict, ...op.tuple, ...op.reduce];
  return new Uint8Array([...op.proto, ...orderedDict, ...op.str('w'), ...tensor, ...op.setitem, ...op.stop]);
}

/** A torch.save-style archive: stored records under one folder. */
export function pthArchive(records: Record<string, Uint8Array>, prefix = 'archive'): Uint8Array {
  const files: Record<string, [Uint8Array, { level: 0 }]> = {};
  for (const [name, data] of Object.entries(records)) files[`${prefix}/${name}`] = [data, { level: 0 }];
  return zipSync(files);
}

export function float32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** A safetensors file from a header object and a data buffer. */
export function safetensorsFile(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
