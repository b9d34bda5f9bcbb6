// From a dataset split to training samples: prepared slices (normalised, resized to S x S), the
// augmentation bank (the original plus K seeded augmented views of every labelled slice), and each
// view's model input: the frozen encoder's embedding (cached) for the heads, the image for the UNet.
import { augmentSlice, REFERENCE_AUGMENTATION, type AugmentOptions } from '../data/augment.js';
import type { Normalization } from '../data/normalize.js';
import { prepareSlices } from '../data/prepare.js';
import type { Slice2D } from '../data/slice.js';
import type { CaseSlices } from '../data/split.js';
import type { Axis } from '../data/dataset.js';
import { DataError } from '../errors.js';
import type { EmbeddingStore } from './embedding-cache.js';
import { embedImages, type EmbedProgress, type FrozenEncoder } from './frozen-encoder.js';
import type { Sample } from './model.js';

export interface SampleOptions {
  axis: Axis;
  normalization: Normalization;
  /** Slices are resized to size x size (image bilinear, label nearest): the reference trains on squares. */
  size: number;
  /** Augmented views per labelled slice, besides the original; 0 = no augmentation. */
  views: number;
  seed: number;
  augment?: AugmentOptions;
}

/** The original slice, then `views` augmented ones, each seeded by the run seed and the slice identity. */
export function augmentationBank(slices: readonly Slice2D[], views: number, seed: number, augment: AugmentOptions = REFERENCE_AUGMENTATION): Slice2D[] {
  if (!(Number.isInteger(views) && views >= 0)) throw new DataError(`views must be an integer >= 0, got ${views}`);
  const out: Slice2D[] = [];
  for (const s of slices) {
    out.push(s);
    for (let k = 1; k <= views; k++) out.push(augmentSlice(s, `${seed}:${s.volumeId}:${s.axis}:${s.sliceIndex}:view${k}`, augment));
  }
  return out;
}

export const viewId = (s: Slice2D, k: number) => `${s.volumeId}/axis${s.axis}/${s.sliceIndex}/view${k}`;

export function prepareSquareSlices(parts: CaseSlices[], options: Pick<SampleOptions, 'axis' | 'normalization' | 'size'>): Promise<Slice2D[]> {
  return prepareSlices(parts, { axis: options.axis, normalization: options.normalization, size: [options.size, options.size] });
}

/**
 * Training samples for `parts`. With an encoder: inputs are embeddings (256, h, w) from the cache
 * or the encoder (onEmbed reports progress); without: inputs are the (1, S, S) images.
 */
export async function trainingSamples(
  parts: CaseSlices[],
  options: SampleOptions,
  encoder: { encoder: FrozenEncoder; store: EmbeddingStore; onEmbed?: (p: EmbedProgress) => void; signal?: AbortSignal } | null,
): Promise<Sample[]> {
  const slices = await prepareSquareSlices(parts, options);
  for (const s of slices) if (!s.label) throw new DataError(`${s.volumeId} slice ${s.sliceIndex}: training needs a label map`);
  const bank = augmentationBank(slices, options.views, options.seed, options.augment);
  const per = options.views + 1;
  const ids = bank.map((s, i) => viewId(s, i % per));
  const labelSize: [number, number] = [options.size, options.size];
  if (!encoder) {
    return bank.map((s, i) => ({ id: ids[i], inputShape: [1, s.height, s.width], input: s.image, label: s.label!, labelSize }));
  }
  const embeddings = await embedImages(encoder.encoder, encoder.store, bank.map((s) => ({ data: s.image, height: s.height, width: s.width })), {
    onProgress: encoder.onEmbed,
    signal: encoder.signal,
  });
  return bank.map((s, i) => ({ id: ids[i], inputShape: embeddings[i].shape, input: embeddings[i].data, label: s.label!, labelSize }));
}
