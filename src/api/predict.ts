// Segmenting with a trained head: embeddings in, label maps (argmax over classes) out, optionally
// with the per-class softmax probabilities, one image at a time under no-grad.
import { ShapeError, UsageError } from '../errors.js';
import { noGrad } from '../graph/autograd.js';
import { reduce } from '../ops/reduce.js';
import { permute } from '../ops/copy.js';
import { softmax } from '../ops/softmax.js';
import type { Head } from './head.js';
import type { Embedding, LabelMap } from './types.js';

export interface PredictOptions {
  /** [height, width] of the label maps (default: each embedding's imageSize, the image it came from). */
  outputSize?: [number, number];
  /** Also return softmax probabilities, (C, H, W) per image. */
  probabilities?: boolean;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface Prediction extends LabelMap {
  /** (numClasses, height, width), when asked for. */
  probabilities?: Float32Array;
}

export async function predict(head: Head, embeddings: readonly Embedding[], options: PredictOptions = {}): Promise<Prediction[]> {
  if (head.numClasses > 256) throw new UsageError(`predict: ${head.numClasses} classes do not fit a Uint8Array label map`);
  const { engine } = head;
  const module = head.model.module;
  const out: Prediction[] = [];
  module.eval();
  options.onProgress?.(0, embeddings.length);
  try {
    for (const [i, e] of embeddings.entries()) {
      options.signal?.throwIfAborted();
      if (e.shape.length !== 3 || e.data.length !== e.shape[0] * e.shape[1] * e.shape[2]) throw new ShapeError(`embedding ${i}: shape [${e.shape}] does not describe its ${e.data.length} values as (C, h, w)`);
      if (e.shape[0] !== head.embedChannels) throw new ShapeError(`embedding ${i} has ${e.shape[0]} channels; the head was made for ${head.embedChannels}`);
      const size = options.outputSize ?? e.imageSize;
      if (!size) throw new UsageError(`embedding ${i} carries no imageSize: pass outputSize`);
      const [height, width] = size;
      const result = await engine.scopeAsync(async () => {
        const x = engine.tensor(e.data, [1, ...e.shape]);
        const logits = noGrad(() => head.model.forward(x, [height, width])); // (1, C, H, W)
        const labels = (await noGrad(() => reduce('argmax', logits, 1)).read()) as Int32Array; // (1, H, W)
        // softmax runs over the last axis: classes moved last and back, (1, C, H, W) -> (1, H, W, C) -> (1, C, H, W).
        const probabilities = options.probabilities ? await noGrad(() => permute(softmax(permute(logits, [0, 2, 3, 1]), -1), [0, 3, 1, 2])).readFloat() : undefined;
        return { labels, probabilities };
      });
      out.push({ data: Uint8Array.from(result.labels), height, width, ...(result.probabilities ? { probabilities: result.probabilities } : {}) });
      options.onProgress?.(i + 1, embeddings.length);
    }
  } finally {
    module.train();
  }
  return out;
}
