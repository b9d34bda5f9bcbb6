// Convolution layers, mirroring torch.nn.Conv2d / ConvTranspose2d: weight and bias names, shapes and default init.
import type { Engine } from '../engine.js';
import { ShapeError } from '../errors.js';
import type { Pair } from '../kernels/conv2d.js';
import { conv2d, convTranspose2d } from '../ops/conv.js';
import type { Tensor } from '../tensor/tensor.js';
import { defaultUniform, SeededRandom } from './init.js';
import { Module } from './module.js';

export interface Conv2dLayerOptions {
  /** A number applies to both height and width; a pair is [h, w]. Default 1. */
  stride?: number | Pair;
  /** Zero padding on each side. Default 0. */
  padding?: number | Pair;
  dilation?: number | Pair;
  groups?: number;
  bias?: boolean;
  seed?: number;
}

export interface ConvTranspose2dLayerOptions extends Conv2dLayerOptions {
  outputPadding?: number | Pair;
}

const asPair = (v: number | Pair): Pair => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

function checkGroups(layer: string, inChannels: number, outChannels: number, groups: number): void {
  if (!Number.isInteger(groups) || groups < 1 || inChannels % groups !== 0 || outChannels % groups !== 0) {
    throw new ShapeError(`${layer}: groups ${groups} must be a positive integer dividing ${inChannels} input and ${outChannels} output channels`);
  }
}

/** nn.Conv2d: weight (out, in / groups, kh, kw), bias (out). */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly kernelSize: Pair;
  readonly stride: number | Pair;
  readonly padding: number | Pair;
  readonly dilation: number | Pair;
  readonly groups: number;

  constructor(engine: Engine, readonly inChannels: number, readonly outChannels: number, kernelSize: number | Pair, options: Conv2dLayerOptions = {}) {
    super(engine);
    const { stride = 1, padding = 0, dilation = 1, groups = 1, bias = true, seed = 0 } = options;
    checkGroups('Conv2d', inChannels, outChannels, groups);
    this.stride = stride;
    this.padding = padding;
    this.dilation = dilation;
    this.groups = groups;
    this.kernelSize = asPair(kernelSize);
    const [kh, kw] = this.kernelSize;
    // PyTorch's fan_in for a conv weight: in_channels / groups * kh * kw (weight.size(1) * receptive field).
    const fanIn = (inChannels / groups) * kh * kw;
    const rng = new SeededRandom(seed);
    const wShape = [outChannels, inChannels / groups, kh, kw];
    this.weight = this.param('weight', engine.tensor(defaultUniform(rng, outChannels * fanIn, fanIn), wShape));
    this.bias = bias ? this.param('bias', engine.tensor(defaultUniform(rng, outChannels, fanIn), [outChannels])) : null;
  }

  /** x: (N, in, H, W) -> (N, out, Ho, Wo). */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }
}

/** nn.ConvTranspose2d: weight (in, out / groups, kh, kw), bias (out). */
export class ConvTranspose2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly kernelSize: Pair;
  readonly stride: number | Pair;
  readonly padding: number | Pair;
  readonly outputPadding: number | Pair;
  readonly dilation: number | Pair;
  readonly groups: number;

  constructor(engine: Engine, readonly inChannels: number, readonly outChannels: number, kernelSize: number | Pair, options: ConvTranspose2dLayerOptions = {}) {
    super(engine);
    const { stride = 1, padding = 0, outputPadding = 0, dilation = 1, groups = 1, bias = true, seed = 0 } = options;
    checkGroups('ConvTranspose2d', inChannels, outChannels, groups);
    this.stride = stride;
    this.padding = padding;
    this.outputPadding = outputPadding;
    this.dilation = dilation;
    this.groups = groups;
    this.kernelSize = asPair(kernelSize);
    const [kh, kw] = this.kernelSize;
    // PyTorch computes fan_in from weight.size(1) * receptive field, i.e. out_channels / groups * kh * kw here.
    const fanIn = (outChannels / groups) * kh * kw;
    const rng = new SeededRandom(seed);
    const wShape = [inChannels, outChannels / groups, kh, kw];
    this.weight = this.param('weight', engine.tensor(defaultUniform(rng, inChannels * fanIn, fanIn), wShape));
    this.bias = bias ? this.param('bias', engine.tensor(defaultUniform(rng, outChannels, fanIn), [outChannels])) : null;
  }

  /** x: (N, in, H, W) -> (N, out, Ho, Wo). */
  forward(x: Tensor): Tensor {
    return convTranspose2d(x, this.weight, this.bias, {
      stride: this.stride, padding: this.padding, outputPadding: this.outputPadding, dilation: this.dilation, groups: this.groups,
    });
  }
}
