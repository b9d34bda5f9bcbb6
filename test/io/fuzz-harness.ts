// Seeded, bounded fuzzing of every reader (checkpoints here, NIfTI/PNG/.npy/ONNX in
// fuzz-media-targets.ts): shared by test/io/fuzz-readers.test.ts (a few hundred cases per reader)
// and scripts/fuzz-readers.mjs (as many as asked for).
// Each case mutates a valid file (truncation, bit flips, byte overwrites, "interesting" integers in
// 4/8-byte windows, inflated decimal numbers, insertions, deletions, splices) and feeds it to a reader.
// A case passes when the reader returns a result no larger than a small multiple of its input, or
// throws a FormatError (or a DataError, for readers whose callers check the values), within the
// time bound. Targets with a `targeted` mutation use it for odd case seeds. Anything else (another exception type, a slow case,
// an oversized result) is a failure, reported with the seed that reproduces it.

import { readFileSync } from 'node:fs';
import { DataError, FormatError } from '../../src/errors.js';
import type { CheckpointTensor } from '../../src/io/checkpoint-tensor.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { PickleTuple, StorageRef, unpickle, type PickleValue } from '../../src/io/pickle.js';
import { readPth } from '../../src/io/pth.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { readZipDirectory, readZipEntry } from '../../src/io/zip.js';
import { mulberry32 } from '../../src/util/random.js';
import { mediaFuzzTargets } from './fuzz-media-targets.js';

export interface Mutation {
  bytes: Uint8Array;
  mutation: string;
}

export interface FuzzTarget {
  name: string;
  /** Valid inputs the mutations start from. */
  seeds: Uint8Array[];
  /** Returns the bytes the result holds, to bound amplification. */
  read: (bytes: Uint8Array) => number;
  /** A format-aware mutation (header fields that size things), used for odd case seeds. */
  targeted?: (input: Uint8Array, random: () => number) => Mutation;
  /** DataError (values that parse but make no sense, e.g. a colour label mask) also counts as a refusal. */
  dataErrors?: boolean;
  /** Result bytes allowed per input byte (default 8); compressed formats need more. */
  maxAmplification?: number;
}

export interface FuzzFailure {
  target: string;
  caseSeed: number;
  mutation: string;
  problem: string;
}

export interface FuzzReport {
  target: string;
  cases: number;
  accepted: number;
  refused: number;
  failures: FuzzFailure[];
  slowestMs: number;
  totalMs: number;
}

/** A case that allocates by an unchecked header takes seconds or dies; a checked one takes milliseconds. */
export const DEFAULT_CASE_LIMIT_MS = 500;
/** Decoding may widen (float16 -> float32, uint8 -> ...) but never multiply the input by more than this. */
const MAX_AMPLIFICATION = 8;

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 2 ** 32, 2 ** 40, 2 ** 53, 2 ** 62, 2 ** 63, 2 ** 64 - 1];

/** mulberry32: small, seedable, the same everywhere. */
export const rng = mulberry32;

/** The mutation of one case: the target's targeted one for odd case seeds, the generic one otherwise. */
export function mutateCase(target: FuzzTarget, input: Uint8Array, caseSeed: number): Mutation {
  if (target.targeted && caseSeed % 2 === 1) return target.targeted(input, rng(caseSeed));
  return mutate(input, caseSeed);
}

export function mutate(input: Uint8Array, seed: number): Mutation {
  const random = rng(seed);
  const int = (n: number) => Math.floor(random() * n);
  // Half the positions fall in the first or last 2 KiB, where headers and zip directories live.
  const position = (n: number) => {
    if (n <= 4096 || random() < 0.5) return int(n);
    return random() < 0.5 ? int(2048) : n - 1 - int(2048);
  };
  const bytes = input.slice();
  const kind = int(8);
  switch (kind) {
    case 0: {
      const cut = int(bytes.length);
      return { bytes: bytes.subarray(0, cut), mutation: `truncate to ${cut}` };
    }
    case 1: {
      const flips = 1 + int(8);
      const at: number[] = [];
      for (let i = 0; i < flips; i++) {
        const p = position(bytes.length);
        bytes[p] ^= 1 << int(8);
        at.push(p);
      }
      return { bytes, mutation: `flip bits at ${at}` };
    }
    case 2: {
      const p = position(bytes.length);
      const n = 1 + int(4);
      for (let i = 0; i < n && p + i < bytes.length; i++) bytes[p + i] = int(256);
      return { bytes, mutation: `overwrite ${n} bytes at ${p}` };
    }
    case 3: {
      const width = random() < 0.5 ? 4 : 8;
      const p = Math.min(position(bytes.length), Math.max(0, bytes.length - width));
      const value = BigInt(INTERESTING[int(INTERESTING.length)]) + BigInt(int(3) - 1);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (p + width <= bytes.length) {
        if (width === 4) view.setUint32(p, Number(BigInt.asUintN(32, value)), true);
        else view.setBigUint64(p, BigInt.asUintN(64, value), true);
      }
      return { bytes, mutation: `write ${value} as u${width * 8} at ${p}` };
    }
    case 4: {
      // A decimal number (a JSON shape or offset, a pickle text field) made enormous.
      const start = position(bytes.length);
      let p = start;
      while (p < bytes.length && p < start + 256 && !(bytes[p] >= 0x30 && bytes[p] <= 0x39)) p++;
      if (p >= bytes.length || p >= start + 256) return { bytes, mutation: 'no digits to inflate' };
      let end = p;
      while (end < bytes.length && bytes[end] >= 0x30 && bytes[end] <= 0x39) end++;
      const huge = new TextEncoder().encode(String([4_000_000_000, 1e12, 2 ** 53, 1e30][int(4)]));
      const out = new Uint8Array(bytes.length - (end - p) + huge.length);
      out.set(bytes.subarray(0, p));
      out.set(huge, p);
      out.set(bytes.subarray(end), p + huge.length);
      return { bytes: out, mutation: `inflate number at ${p}` };
    }
    case 5: {
      const p = position(bytes.length);
      const n = 1 + int(16);
      const out = new Uint8Array(bytes.length + n);
      out.set(bytes.subarray(0, p));
      for (let i = 0; i < n; i++) out[p + i] = int(256);
      out.set(bytes.subarray(p), p + n);
      return { bytes: out, mutation: `insert ${n} bytes at ${p}` };
    }
    case 6: {
      const p = position(bytes.length);
      const n = 1 + int(64);
      const rest = bytes.subarray(Math.min(p + n, bytes.length));
      const out = new Uint8Array(p + rest.length);
      out.set(bytes.subarray(0, p));
      out.set(rest, p);
      return { bytes: out, mutation: `delete ${n} bytes at ${p}` };
    }
    default: {
      // Copy a slice over another place: repeated structures (duplicate entries, nested headers).
      const from = position(bytes.length);
      const to = position(bytes.length);
      const n = Math.min(1 + int(128), bytes.length - from, bytes.length - to);
      bytes.copyWithin(to, from, from + n);
      return { bytes, mutation: `splice ${n} bytes ${from}->${to}` };
    }
  }
}

export function fuzz(target: FuzzTarget, cases: number, seed: number, caseLimitMs = DEFAULT_CASE_LIMIT_MS): FuzzReport {
  const report: FuzzReport = { target: target.name, cases, accepted: 0, refused: 0, failures: [], slowestMs: 0, totalMs: 0 };
  const started = performance.now();
  for (let i = 0; i < cases; i++) {
    const caseSeed = (seed * 1_000_003 + i) >>> 0;
    const input = target.seeds[i % target.seeds.length];
    const { bytes, mutation } = mutateCase(target, input, caseSeed);
    const fail = (problem: string) => report.failures.push({ target: target.name, caseSeed, mutation, problem });
    const t0 = performance.now();
    try {
      const resultBytes = target.read(bytes);
      report.accepted++;
      if (resultBytes > (target.maxAmplification ?? MAX_AMPLIFICATION) * bytes.length + 4096) fail(`result of ${resultBytes} bytes from ${bytes.length} input bytes`);
    } catch (err) {
      if (err instanceof FormatError || (target.dataErrors && err instanceof DataError)) report.refused++;
      else fail(`threw ${(err as Error)?.constructor?.name ?? typeof err}: ${(err as Error)?.message ?? String(err)}`);
    }
    const ms = performance.now() - t0;
    report.slowestMs = Math.max(report.slowestMs, ms);
    if (ms > caseLimitMs) fail(`took ${ms.toFixed(0)} ms`);
  }
  report.totalMs = performance.now() - started;
  return report;
}

// ---- the readers and their seeds

/** Where the seeds live; a bundled copy of this file (scripts/fuzz-readers.mjs) passes them explicitly. */
export const DEFAULT_FIXTURES_DIR = new URL('../fixtures/checkpoints/', import.meta.url);
export const DEFAULT_FIXTURES_ROOT = new URL('../fixtures/', import.meta.url);

function tensorBytes(map: Map<string, CheckpointTensor>): number {
  const seen = new Set<ArrayBufferLike>();
  let n = 0;
  for (const t of map.values()) {
    if (seen.has(t.data.buffer)) continue;
    seen.add(t.data.buffer);
    n += t.data.byteLength;
  }
  return n;
}

/** data.pkl of a .pth, for fuzzing the unpickler alone. */
function dataPkl(bytes: Uint8Array): Uint8Array {
  const entries = readZipDirectory(bytes);
  const name = [...entries.keys()].find((k) => k.endsWith('/data.pkl'))!;
  return readZipEntry(bytes, entries.get(name)!).slice();
}

/** A stand-in for the archive: any well-formed storage id resolves to a storage of the claimed size. */
function fakeStorage(pid: PickleValue): StorageRef {
  if (!(pid instanceof PickleTuple) || pid.items.length !== 5) throw new FormatError('bad persistent id');
  const numel = pid.items[4];
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new FormatError('bad numel');
  return new StorageRef('FloatStorage', String(pid.items[2]), 'cpu', numel);
}

/** Every reader: `fixturesDir` holds the checkpoint seeds, `fixturesRoot` the data/ and npy/ ones. */
export function fuzzTargets(fixturesDir: URL = DEFAULT_FIXTURES_DIR, fixturesRoot: URL = DEFAULT_FIXTURES_ROOT): FuzzTarget[] {
  const fixture = (file: string) => new Uint8Array(readFileSync(new URL(file, fixturesDir)));
  return [
    { name: 'pickle', seeds: ['dtypes.pth', 'wrapped.pth', 'sam_tiny.pth'].map((f) => dataPkl(fixture(f))), read: (b) => (unpickle(b, { persistentLoad: fakeStorage }), 0) },
    { name: 'pth', seeds: [fixture('dtypes.pth'), fixture('wrapped.pth'), fixture('sam_tiny_f16.pth')], read: (b) => tensorBytes(readPth(b)) },
    { name: 'safetensors', seeds: [fixture('dtypes.safetensors'), fixture('sam_tiny_hf.safetensors')], read: (b) => tensorBytes(readSafetensors(b).tensors) },
    { name: 'loadCheckpoint', seeds: [fixture('dtypes.pth'), fixture('dtypes.safetensors')], read: (b) => tensorBytes(loadCheckpoint(b)) },
    ...mediaFuzzTargets(fixturesRoot),
  ];
}

export function formatReport(r: FuzzReport): string {
  return `${r.target}: ${r.cases} cases, ${r.accepted} accepted, ${r.refused} refused, ${r.failures.length} failures; slowest ${r.slowestMs.toFixed(1)} ms, total ${(r.totalMs / 1000).toFixed(2)} s`;
}
