// The frozen image encoder as the training pipeline sees it: a prepared grey slice (values in
// [0, 1]) in, SAM's (256, h, w) embedding out, computed under no-grad with every activation freed,
// and cached by content (embedding-cache.ts) so each distinct input is encoded once.
import type { Engine } from '../engine.js';
import { noGrad } from '../graph/autograd.js';
import { preprocessGreySlice } from '../models/mobilesam/preprocess.js';
import type { Tensor } from '../tensor/tensor.js';
import { embeddingKey, type EmbeddingEntry, type EmbeddingStore } from './embedding-cache.js';

export interface FrozenEncoder {
  /** 'mobilesam', 'vit_b', ... or a config file name. */
  readonly name: string;
  /** Everything that determines the embedding besides the pixels: name, weights hash, preprocessing. */
  readonly identity: string;
  /** SAM's input side: 1024, or smaller (a config's img_size, or --encoder-size / inputSize). */
  readonly inputSize: number;
  readonly engine: Engine;
  /** (1, 3, S, S) -> (1, 256, h, w). */
  forward(x: Tensor): Tensor;
  dispose(): void;
}

export interface GreyImage {
  /** Row-major height x width. */
  data: Float32Array;
  height: number;
  width: number;
}

export interface EmbedProgress {
  done: number;
  total: number;
  cached: number;
}

/**
 * Embeddings of grey images, in order. Cached entries are read; the rest are encoded one at a time
 * and stored. onProgress after each image.
 */
export async function embedImages(
  encoder: FrozenEncoder,
  store: EmbeddingStore,
  images: readonly GreyImage[],
  options: { onProgress?: (p: EmbedProgress) => void; signal?: AbortSignal } = {},
): Promise<EmbeddingEntry[]> {
  const out: EmbeddingEntry[] = [];
  let cached = 0;
  options.onProgress?.({ done: 0, total: images.length, cached });
  for (const image of images) {
    options.signal?.throwIfAborted();
    const key = await embeddingKey(encoder.identity, image.data, [image.height, image.width]);
    let entry = await store.get(key);
    if (entry) {
      cached++;
    } else {
      entry = await encodeOne(encoder, image);
      await store.put(key, entry);
    }
    out.push(entry);
    options.onProgress?.({ done: out.length, total: images.length, cached });
  }
  return out;
}

/** One encoder pass: SAM preprocessing on the host, forward under no-grad, the embedding read back. */
export async function encodeOne(encoder: FrozenEncoder, image: GreyImage): Promise<EmbeddingEntry> {
  const { engine } = encoder;
  const input = preprocessGreySlice(image.data, image.height, image.width, encoder.inputSize);
  return engine.scopeAsync(async () => {
    const x = engine.tensor(input.data, [1, 3, input.size, input.size]);
    const y = noGrad(() => encoder.forward(x));
    const shape = y.shape.slice(1); // (256, h, w)
    return { shape, data: await y.readFloat() };
  });
}
