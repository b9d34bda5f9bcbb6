// A training run's configuration: everything that decides its result, stored as run.json in the run
// directory. Its fingerprint ties checkpoints to the run (a checkpoint never resumes another run).
import { formatNormalization, parseNormalization, type Normalization } from '../data/normalize.js';
import type { SplitOptions } from '../data/split.js';
import { UsageError } from '../errors.js';
import type { ModelKind } from './models.js';
import { validateTrainConfig, type TrainConfig } from './trainer.js';

export interface RunConfig {
  version: 1;
  data: string;
  split: SplitOptions;
  /** Evaluate only every n-th test slice (1 = all), to make quick runs quicker. */
  testStride: number;
  /** inputSize: SAM's input side when not the encoder's own (MobileSAM: 512 for speed). */
  encoder: { name: string; checkpoint?: string; weights?: string; inputSize?: number };
  head: ModelKind;
  /** Intensity normalisation per slice, as text (parseNormalization). */
  normalization: string;
  size: number;
  views: number;
  train: TrainConfig;
  /** UNet baseline: base channel count (the reference's is 64). */
  unetBase: number;
}

export function normalizationOf(config: RunConfig): Normalization {
  return parseNormalization(config.normalization);
}

export function validateRunConfig(config: RunConfig): void {
  validateTrainConfig(config.train);
  if (!(Number.isInteger(config.size) && config.size >= 16 && config.size <= 1024 && config.size % 16 === 0)) {
    throw new UsageError(`--size must be a multiple of 16 in 16..1024, got ${config.size}`);
  }
  if (!(Number.isInteger(config.views) && config.views >= 0 && config.views <= 1000)) throw new UsageError(`--views must be an integer in 0..1000, got ${config.views}`);
  if (!(Number.isInteger(config.testStride) && config.testStride >= 1)) throw new UsageError(`test stride must be a positive integer, got ${config.testStride}`);
  if (!(Number.isInteger(config.unetBase) && config.unetBase >= 1 && config.unetBase <= 256)) throw new UsageError(`--unet-base must be an integer in 1..256, got ${config.unetBase}`);
  formatNormalization(normalizationOf(config));
}

/** Stable text of everything that decides the result (key order fixed by construction). */
export function runFingerprint(config: RunConfig): string {
  const { data, split, encoder, head, normalization, size, views, unetBase } = config;
  const { checkpointEvery: _notDecisive, ...train } = config.train;
  return JSON.stringify({ data, split, encoder, head, normalization, size, views, train, unetBase });
}
