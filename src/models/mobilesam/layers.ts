// TinyViT's convolutional pieces (mobile_sam/modeling/tiny_vit_sam.py): Conv2d_BN, MBConv, PatchMerging,
// ConvLayer, and the transformer blocks' Mlp. Module and state-dict names follow the PyTorch tree;
// the batch norms are folded into their convolutions, as in the exported ONNX model, so each
// Conv2d_BN holds only `c.weight` and `c.bias`.
import type { Engine } from '../../engine.js';
import { Conv2d } from '../../nn/conv.js';
import { LayerNorm, Linear } from '../../nn/layers.js';
import { Module, ModuleList } from '../../nn/module.js';
import { permute, reshape } from '../../ops/copy.js';
import { add, gelu } from '../../ops/elementwise.js';
import { matmul } from '../../ops/matmul.js';
import type { Activation } from '../../kernels/matmul.js';
import type { Tensor } from '../../tensor/tensor.js';
import { mergeStride } from './config.js';

/** Conv2d_BN with the batch norm folded in: conv weight scaled by gamma / sqrt(var + eps), bias = beta - mean * scale. */
export class Conv2dBN extends Module {
  readonly c: Conv2d;
  constructor(engine: Engine, inChannels: number, outChannels: number, kernelSize = 1, stride = 1, padding = 0, groups = 1) {
    super(engine);
    this.c = this.child('c', new Conv2d(engine, inChannels, outChannels, kernelSize, { stride, padding, groups }));
  }
  forward(x: Tensor): Tensor {
    return this.c.forward(x);
  }
}

/** Inverted residual: 1x1 expand, GELU, depthwise 3x3, GELU, 1x1 project, + shortcut, GELU. x: (B, C, H, W). */
export class MBConv extends Module {
  readonly conv1: Conv2dBN;
  readonly conv2: Conv2dBN;
  readonly conv3: Conv2dBN;
  constructor(engine: Engine, channels: number, expandRatio: number) {
    super(engine);
    const hidden = channels * expandRatio;
    this.conv1 = this.child('conv1', new Conv2dBN(engine, channels, hidden, 1));
    this.conv2 = this.child('conv2', new Conv2dBN(engine, hidden, hidden, 3, 1, 1, hidden));
    this.conv3 = this.child('conv3', new Conv2dBN(engine, hidden, channels, 1));
  }
  forward(x: Tensor): Tensor {
    return this.engine.scope(() => {
      const h1 = gelu(this.conv1.forward(x));
      const h2 = gelu(this.conv2.forward(h1));
      h1.dispose();
      const h3 = this.conv3.forward(h2);
      h2.dispose();
      return gelu(add(h3, x));
    });
  }
}

/**
 * Downsampling between stages: 1x1 conv to the next width, GELU, depthwise 3x3 (stride 2, or 1 where
 * MobileSAM keeps 64x64), GELU, 1x1 conv. Takes (B, C, H, W) or tokens (B, H*W, C); returns tokens.
 */
export class PatchMerging extends Module {
  readonly conv1: Conv2dBN;
  readonly conv2: Conv2dBN;
  readonly conv3: Conv2dBN;
  constructor(engine: Engine, readonly resolution: number, inDim: number, readonly outDim: number) {
    super(engine);
    this.conv1 = this.child('conv1', new Conv2dBN(engine, inDim, outDim, 1));
    this.conv2 = this.child('conv2', new Conv2dBN(engine, outDim, outDim, 3, mergeStride(outDim), 1, outDim));
    this.conv3 = this.child('conv3', new Conv2dBN(engine, outDim, outDim, 1));
  }
  forward(x: Tensor): Tensor {
    return this.engine.scope(() => {
      const r = this.resolution;
      const image = x.rank === 3 ? tokensToImage(x, r, r) : x; // (B, C, H, W)
      const h1 = gelu(this.conv1.forward(image));
      const h2 = gelu(this.conv2.forward(h1));
      const h3 = this.conv3.forward(h2); // (B, outDim, H', W')
      return imageToTokens(h3);
    });
  }
}

/** Stage 0: MBConv blocks at full resolution, then the patch merging. (B, C, H, W) -> tokens of the next stage. */
export class ConvLayer extends Module {
  readonly blocks: ModuleList<MBConv>;
  readonly downsample: PatchMerging | null;
  constructor(engine: Engine, dim: number, resolution: number, depth: number, expandRatio: number, outDim: number | null) {
    super(engine);
    this.blocks = this.child('blocks', new ModuleList(engine, Array.from({ length: depth }, () => new MBConv(engine, dim, expandRatio))));
    this.downsample = outDim === null ? null : this.child('downsample', new PatchMerging(engine, resolution, dim, outDim));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const block of this.blocks.items) {
      const next = block.forward(h);
      if (h !== x) h.dispose();
      h = next;
    }
    if (!this.downsample) return h;
    const out = this.downsample.forward(h);
    if (h !== x) h.dispose();
    return out;
  }
}

/**
 * nn.Linear whose forward multiplies by a transposed copy of the weight, (in, out), made once after
 * loading: our matmul kernel streams a row-major (K, N) operand 2.5x faster than a transposed one on
 * lavapipe (measured: 8.3 vs 3.1 GFLOP/s for 4096x320 @ 320x1280). The state dict keeps PyTorch's (out, in).
 */
export class FrozenLinear extends Linear {
  private weightT: Tensor | null = null;
  /** Uploads weightᵀ from the host copy of the weight (out, in). */
  setWeightTransposed(weight: Float32Array): void {
    const [rows, cols] = [this.outFeatures, this.inFeatures];
    const t = new Float32Array(weight.length);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = weight[i * cols + j];
    this.weightT?.dispose();
    this.weightT = this.engine.keep(this.engine.tensor(t, [cols, rows]));
  }
  override forward(x: Tensor, { activation = 'none', residual = null }: { activation?: Activation; residual?: Tensor | null } = {}): Tensor {
    if (!this.weightT) return super.forward(x, { activation, residual });
    return matmul(x, this.weightT, { bias: this.bias, activation, residual });
  }
  override dispose(): void {
    super.dispose();
    this.weightT?.dispose();
  }
}

/** TinyViT's Mlp: LayerNorm, fc1, GELU, fc2 (the norm is inside the Mlp, unlike timm's). */
export class Mlp extends Module {
  readonly norm: LayerNorm;
  readonly fc1: FrozenLinear;
  readonly fc2: FrozenLinear;
  constructor(engine: Engine, dim: number, hidden: number) {
    super(engine);
    this.norm = this.child('norm', new LayerNorm(engine, dim));
    this.fc1 = this.child('fc1', new FrozenLinear(engine, dim, hidden));
    this.fc2 = this.child('fc2', new FrozenLinear(engine, hidden, dim));
  }
  /** x: (B, L, C); the residual, when given, is added in fc2's epilogue. */
  forward(x: Tensor, residual: Tensor | null = null): Tensor {
    return this.engine.scope(() => {
      const h = this.fc1.forward(this.norm.forward(x), { activation: 'gelu' });
      return this.fc2.forward(h, { residual });
    });
  }
}

/** (B, H*W, C) tokens -> (B, C, H, W). */
export function tokensToImage(x: Tensor, h: number, w: number): Tensor {
  const [b, , c] = x.shape;
  const grid = reshape(x, [b, h, w, c]); // (B, H, W, C)
  const image = permute(grid, [0, 3, 1, 2]); // (B, C, H, W)
  grid.dispose();
  return image;
}

/** (B, C, H, W) -> (B, H*W, C) tokens. */
export function imageToTokens(x: Tensor): Tensor {
  const [b, c, h, w] = x.shape;
  const flat = reshape(x, [b, c, h * w]); // (B, C, L)
  const tokens = permute(flat, [0, 2, 1]); // (B, L, C)
  flat.dispose();
  return tokens;
}
