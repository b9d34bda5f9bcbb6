// nn.InstanceNorm2d without running statistics (PyTorch's default, track_running_stats=False):
// training and evaluation normalise alike, each (n, c) plane by its own statistics, and the state
// dict holds weight and bias only when affine (default false, so usually nothing at all).
import type { Engine } from '../engine.js';
import { instanceNorm2d } from '../ops/instancenorm.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

export class InstanceNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(engine: Engine, readonly numFeatures: number, { eps = 1e-5, affine = false }: { eps?: number; affine?: boolean } = {}) {
    super(engine);
    this.eps = eps;
    this.weight = affine ? this.param('weight', engine.fill([numFeatures], 1)) : null;
    this.bias = affine ? this.param('bias', engine.zeros([numFeatures])) : null;
  }

  /** x: (N, C, H, W) -> the same shape. */
  forward(x: Tensor): Tensor {
    return instanceNorm2d(x, { weight: this.weight, bias: this.bias, eps: this.eps });
  }
}
