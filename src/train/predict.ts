// Segmenting a volume slice by slice with a trained model: each slice is prepared exactly as in
// training (normalised per slice, resized to S x S; for the heads, embedded through the cache),
// the logits are resized bilinearly to the slice's own size, and the argmax goes back into a label
// volume on the input's grid (same dims, spacing and affine).
import type { Axis } from '../data/dataset.js';
import { normalizeIntensity, type Normalization } from '../data/normalize.js';
import { resizeBilinear as resizeImage } from '../data/resize.js';
import { extractImageSlice, insertSlice, sliceCount, sliceLayout } from '../data/slice.js';
import type { ImageVolume, LabelVolume } from '../data/volume.js';
import { DataError } from '../errors.js';
import { noGrad } from '../graph/autograd.js';
import { reduce } from '../ops/reduce.js';
import type { EmbeddingStore } from './embedding-cache.js';
import { embedImages, type FrozenEncoder } from './frozen-encoder.js';
import type { TrainableModel } from './model.js';

export interface PredictOptions {
  axis: Axis;
  normalization: Normalization;
  size: number;
  /** Slices to segment (default all); the others stay 0 in the result. */
  slices?: number[];
  encoder?: { encoder: FrozenEncoder; store: EmbeddingStore } | null;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** The (1, ...) model input of one prepared S x S slice image. */
async function modelInput(image: Float32Array, size: number, encoder: PredictOptions['encoder']): Promise<{ data: Float32Array; shape: number[] }> {
  if (!encoder) return { data: image, shape: [1, size, size] };
  const [entry] = await embedImages(encoder.encoder, encoder.store, [{ data: image, height: size, width: size }]);
  return { data: entry.data, shape: entry.shape };
}

export async function predictVolume(model: TrainableModel, image: ImageVolume, options: PredictOptions): Promise<LabelVolume> {
  const { axis, size } = options;
  const count = sliceCount(image, axis);
  const slices = options.slices ?? Array.from({ length: count }, (_, i) => i);
  for (const s of slices) if (!(Number.isInteger(s) && s >= 0 && s < count)) throw new DataError(`predict: slice ${s} is outside 0..${count - 1} along axis ${axis}`);
  if (model.numClasses > 256) throw new DataError(`predict: ${model.numClasses} classes do not fit a uint8 label map`);
  const layout = sliceLayout(image.dims, image.spacing, axis);
  const out = new Uint8Array(image.data.length);
  const { engine } = model.module;
  model.module.eval();
  options.onProgress?.(0, slices.length);
  try {
    for (const [n, index] of slices.entries()) {
      options.signal?.throwIfAborted();
      const raw = extractImageSlice(image, axis, index);
      const prepared = resizeImage(normalizeIntensity(raw, options.normalization), layout.height, layout.width, size, size);
      const input = await modelInput(prepared, size, options.encoder);
      const labels = await engine.scopeAsync(async () => {
        const x = engine.tensor(input.data, input.shape.length === 3 ? [1, ...input.shape] : input.shape);
        const logits = noGrad(() => model.forward(x, [layout.height, layout.width])); // (1, C, H, W)
        return (await reduce('argmax', logits, 1).read()) as Int32Array; // (1, H, W)
      });
      insertSlice(out, image.dims, axis, index, labels);
      options.onProgress?.(n + 1, slices.length);
    }
  } finally {
    model.module.train();
  }
  return { data: out, dims: [...image.dims], spacing: [...image.spacing], affine: [...image.affine], source: image.source };
}
