// Basic layers, mirroring torch.nn names and state_dict keys.
import type { Engine } from '../engine.js';
import { layerNorm, layerNorm2d } from '../ops/layernorm.js';
import { matmul } from '../ops/matmul.js';
import type { Activation } from '../kernels/matmul.js';
import type { Tensor } from '../tensor/tensor.js';
import { defaultUniform, SeededRandom } from './init.js';
import { Module } from './module.js';

/** y = x @ weightᵀ + bias over the last dimension; weight is (out, in) as in PyTorch. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(engine: Engine, readonly inFeatures: number, readonly outFeatures: number, { bias = true, seed = 0 }: { bias?: boolean; seed?: number } = {}) {
    super(engine);
    const rng = new SeededRandom(seed);
    this.weight = this.param('weight', engine.tensor(defaultUniform(rng, outFeatures * inFeatures, inFeatures), [outFeatures, inFeatures]));
    this.bias = bias ? this.param('bias', engine.tensor(defaultUniform(rng, outFeatures, inFeatures), [outFeatures])) : null;
  }
  /** x: (..., in) -> (..., out); the activation and residual fuse into the matmul when nothing records. */
  forward(x: Tensor, { activation = 'none', residual = null }: { activation?: Activation; residual?: Tensor | null } = {}): Tensor {
    return matmul(x, this.weight, { transB: true, bias: this.bias, activation, residual });
  }
}

/** nn.LayerNorm over the last dimension. */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(engine: Engine, readonly dim: number, readonly eps = 1e-5) {
    super(engine);
    this.weight = this.param('weight', engine.fill([dim], 1));
    this.bias = this.param('bias', engine.zeros([dim]));
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** segment-anything's LayerNorm2d: normalises NCHW over C. */
export class LayerNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(engine: Engine, readonly channels: number, readonly eps = 1e-6) {
    super(engine);
    this.weight = this.param('weight', engine.fill([channels], 1));
    this.bias = this.param('bias', engine.zeros([channels]));
  }
  forward(x: Tensor): Tensor {
    return layerNorm2d(x, this.weight, this.bias, this.eps);
  }
}
