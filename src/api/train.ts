// Training a head on embeddings held in memory: the training pipeline's loop (CE + batch soft Dice,
// Adam, seeded shuffles, NaN/Inf stop before the update) without its files. Also the augmentation
// bank for in-memory images: augmented views are made once, in image space, and embedded like any
// other image, so training still runs on cached embeddings.
import { augmentSlice, REFERENCE_AUGMENTATION, type AugmentOptions } from '../data/augment.js';
import { DataError, ShapeError } from '../errors.js';
import type { Sample } from '../train/model.js';
import { DEFAULT_TRAIN_CONFIG, train, type EpochInfo, type StepInfo, type TrainConfig } from '../train/trainer.js';
import type { Head } from './head.js';
import type { Embedding, Image2D, LabelMap } from './types.js';

export type { EpochInfo, StepInfo } from '../train/trainer.js';
export type { AugmentOptions } from '../data/augment.js';

export interface TrainOptions {
  /** Default 20. */
  epochs?: number;
  /** Default 4 (the reference's). */
  batchSize?: number;
  /** Adam's learning rate, default 5e-4 (the reference's). */
  lr?: number;
  /** Seeds the epochs' sample order (default 0): equal inputs and options give equal weights. */
  seed?: number;
  /** 'constant' (default, the reference) or 'cosine'. */
  schedule?: TrainConfig['schedule'];
  onStep?: (info: StepInfo) => void;
  onEpoch?: (info: EpochInfo) => void | Promise<void>;
  /** Aborting stops before the next step; the head keeps the weights of the last finished step. */
  signal?: AbortSignal;
}

export interface TrainResult {
  steps: number;
  /** Mean loss of each epoch. */
  epochLosses: number[];
  /** Loss of the last step. */
  finalLoss: number;
}

export interface TrainingData {
  /** One per example, all the same shape: (C, h, w) from encoder.embed(). */
  embeddings: readonly Embedding[];
  /** One per embedding, all the same size; values 0..numClasses-1. The head's logits are resized to this size. */
  labels: readonly LabelMap[];
}

/** Trains the head in place on (embedding, label map) pairs. */
export async function trainHead(head: Head, data: TrainingData, options: TrainOptions = {}): Promise<TrainResult> {
  const { embeddings, labels } = data;
  if (embeddings.length !== labels.length) throw new DataError(`training: ${embeddings.length} embeddings but ${labels.length} label maps`);
  const samples: Sample[] = embeddings.map((e, i) => {
    const label = labels[i];
    if (label.data.length !== label.height * label.width) throw new ShapeError(`label map ${i}: ${label.data.length} values do not fill ${label.height}x${label.width}`);
    if (e.shape.length !== 3 || e.data.length !== e.shape[0] * e.shape[1] * e.shape[2]) throw new ShapeError(`embedding ${i}: shape [${e.shape}] does not describe its ${e.data.length} values as (C, h, w)`);
    if (e.shape[0] !== head.embedChannels) throw new ShapeError(`embedding ${i} has ${e.shape[0]} channels; the head was made for ${head.embedChannels}`);
    return { id: `example ${i}`, inputShape: [...e.shape], input: e.data, label: label.data, labelSize: [label.height, label.width] };
  });
  const config: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG,
    epochs: options.epochs ?? DEFAULT_TRAIN_CONFIG.epochs,
    batchSize: options.batchSize ?? DEFAULT_TRAIN_CONFIG.batchSize,
    lr: options.lr ?? DEFAULT_TRAIN_CONFIG.lr,
    seed: options.seed ?? 0,
    schedule: options.schedule ?? 'constant',
    checkpointEvery: 0,
  };
  const epochLosses: number[] = [];
  let finalLoss = NaN;
  const { position, optimizer } = await train(head.model, samples, config, {
    signal: options.signal,
    onStep: (info) => {
      finalLoss = info.loss;
      options.onStep?.(info);
    },
    onEpoch: async (info) => {
      epochLosses.push(info.loss);
      await options.onEpoch?.(info);
    },
  });
  optimizer.dispose();
  return { steps: position.step, epochLosses, finalLoss };
}

export interface AugmentBankOptions {
  /** Augmented views per image, besides the original. */
  views: number;
  /** Equal seeds give equal views (default 0). */
  seed?: number;
  /** Default: the AutoSAM reference's augmentations (mirror, rotation, scale, elastic, gamma, brightness, noise). */
  augment?: AugmentOptions;
}

/**
 * The augmentation bank: each image (min-max scaled to [0, 1]) with its label map, followed by
 * `views` augmented copies of both. Embed the returned images and train on them with the returned labels.
 */
export function augmentationBank(images: readonly Image2D[], labels: readonly LabelMap[], options: AugmentBankOptions): { images: Image2D[]; labels: LabelMap[] } {
  if (images.length !== labels.length) throw new DataError(`augmentation: ${images.length} images but ${labels.length} label maps`);
  if (!(Number.isInteger(options.views) && options.views >= 0)) throw new DataError(`views must be an integer >= 0, got ${options.views}`);
  const out = { images: [] as Image2D[], labels: [] as LabelMap[] };
  images.forEach((image, i) => {
    const label = labels[i];
    if (label.height !== image.height || label.width !== image.width) throw new ShapeError(`augmentation: image ${i} is ${image.height}x${image.width}, its label map ${label.height}x${label.width}`);
    if (image.data.length !== image.height * image.width || label.data.length !== image.data.length) throw new ShapeError(`augmentation: image ${i} or its label map does not fill ${image.height}x${image.width}`);
    const slice = {
      image: minMax(image.data), label: label.data, height: image.height, width: image.width,
      spacing: [1, 1] as [number, number], volumeId: `image${i}`, sliceIndex: 0, axis: 2 as const,
    };
    out.images.push({ data: slice.image, height: slice.height, width: slice.width });
    out.labels.push({ data: label.data, height: label.height, width: label.width });
    for (let k = 1; k <= options.views; k++) {
      const view = augmentSlice(slice, `${options.seed ?? 0}:image${i}:view${k}`, options.augment ?? REFERENCE_AUGMENTATION);
      out.images.push({ data: view.image, height: view.height, width: view.width });
      out.labels.push({ data: view.label!, height: view.height, width: view.width });
    }
  });
  return out;
}

function minMax(data: Image2D['data']): Float32Array {
  let lo = Infinity, hi = -Infinity;
  for (const v of data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = hi > lo ? hi - lo : 1;
  return Float32Array.from(data, (v) => (v - lo) / range);
}
