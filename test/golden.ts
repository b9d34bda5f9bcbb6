// Loads the PyTorch golden fixtures that tools/golden/kernels.py writes (see tools/golden/README.md).
// A helper for tests, not a test: each op's test file asks for its cases by op name.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readNpy } from '../src/io/npy.js';

export const GOLDEN_KERNELS_DIR = fileURLToPath(new URL('./fixtures/golden/kernels/', import.meta.url));

export type GoldenTensor =
  | { dtype: 'float32'; shape: number[]; data: Float32Array }
  | { dtype: 'int32'; shape: number[]; data: Int32Array };

export interface GoldenCase {
  name: string;
  /** The op's parameters, as named in kernels.py (axes may be negative, as in PyTorch). */
  params: Record<string, unknown>;
  inputs: Record<string, GoldenTensor>;
  outputs: Record<string, GoldenTensor>;
}

/** One case as manifest.json lists it: tensors by file name, relative to the manifest. */
export interface GoldenManifestCase {
  op: string;
  name: string;
  params: Record<string, unknown>;
  inputs: Record<string, string>;
  outputs: Record<string, string>;
}

export interface GoldenManifest {
  generator: string;
  torch: string;
  numpy: string;
  seed: number;
  cases: GoldenManifestCase[];
}

let manifest: GoldenManifest | undefined;

export function loadGoldenManifest(): GoldenManifest {
  manifest ??= JSON.parse(readFileSync(GOLDEN_KERNELS_DIR + 'manifest.json', 'utf8')) as GoldenManifest;
  return manifest;
}

export function loadGoldenTensor(file: string): GoldenTensor {
  const array = readNpy(readFileSync(GOLDEN_KERNELS_DIR + file));
  if (array.dtype === 'float32' || array.dtype === 'int32') return array;
  throw new Error(`golden fixture ${file} has dtype ${array.dtype}; kernels.py writes only float32 and int32`);
}

/** Every case of one op (e.g. 'matmul'), tensors loaded; throws if the manifest has none, so a typo cannot pass silently. */
export function loadGoldenCases(op: string): GoldenCase[] {
  const cases = loadGoldenManifest().cases.filter((c) => c.op === op);
  if (cases.length === 0) throw new Error(`no golden cases for op '${op}' in ${GOLDEN_KERNELS_DIR}manifest.json`);
  const loadAll = (files: Record<string, string>) =>
    Object.fromEntries(Object.entries(files).map(([key, file]) => [key, loadGoldenTensor(file)]));
  return cases.map((c) => ({ name: c.name, params: c.params, inputs: loadAll(c.inputs), outputs: loadAll(c.outputs) }));
}
