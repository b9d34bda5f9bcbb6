// What the trainer trains: a module whose forward maps a batch of inputs (embeddings for the heads,
// images for the UNet baseline) to class logits at the label size.
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';

export interface TrainableModel {
  readonly module: Module;
  readonly numClasses: number;
  /** (B, ...input) -> (B, C, H, W) logits at labelSize. */
  forward(input: Tensor, labelSize: readonly [number, number]): Tensor;
}

/** A training or evaluation example: one model input and, for training, its label map. */
export interface Sample {
  /** e.g. 'ch2/axis0/70/view2'. */
  id: string;
  /** Per-sample input shape, without the batch axis: (256, 64, 64) embeddings or (1, S, S) images. */
  inputShape: number[];
  input: Float32Array;
  /** Row-major labelSize[0] x labelSize[1]. */
  label: Uint8Array;
  labelSize: [number, number];
}
