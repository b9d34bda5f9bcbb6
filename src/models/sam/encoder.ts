// SAM's ViT image encoder (segment-anything modeling/image_encoder.py, ImageEncoderViT): patch
// embedding, absolute position embedding, transformer blocks with windowed or global attention and
// decomposed relative-position bias, and the neck. State-dict names are segment-anything's, so
// loadSamPart(encoder, checkpoint, 'image_encoder') loads a real SAM checkpoint. Forward-only and
// frozen: run under noGrad (forward does), one engine scope per block.
import type { Engine } from '../../engine.js';
import { ShapeError } from '../../errors.js';
import { noGrad } from '../../graph/autograd.js';
import { Conv2d } from '../../nn/conv.js';
import { LayerNorm } from '../../nn/layers.js';
import { Module, ModuleList } from '../../nn/module.js';
import { permute } from '../../ops/copy.js';
import { add } from '../../ops/elementwise.js';
import type { Tensor } from '../../tensor/tensor.js';
import { Neck } from '../mobilesam/encoder.js';
import { FrozenLinear } from '../mobilesam/layers.js';
import { release, SamAttention, samWindowPartition, samWindowUnpartition, type SamAttentionImpl } from './attention.js';
import { tokenGridSize, type SamVitConfig } from './config.js';

/** Conv2d(3, C, patch, stride patch): (B, 3, H, W) -> (B, H/p, W/p, C), channels last. */
export class PatchEmbed extends Module {
  readonly proj: Conv2d;
  constructor(engine: Engine, patchSize: number, inChannels: number, embedDim: number) {
    super(engine);
    this.proj = this.child('proj', new Conv2d(engine, inChannels, embedDim, patchSize, { stride: patchSize }));
  }
  forward(x: Tensor): Tensor {
    return this.engine.scope(() => permute(this.proj.forward(x), [0, 2, 3, 1])); // (B, H/p, W/p, C)
  }
}

/** MLPBlock: lin1, exact GELU (fused in lin1's epilogue), lin2. */
export class MlpBlock extends Module {
  readonly lin1: FrozenLinear;
  readonly lin2: FrozenLinear;
  constructor(engine: Engine, embeddingDim: number, mlpDim: number) {
    super(engine);
    this.lin1 = this.child('lin1', new FrozenLinear(engine, embeddingDim, mlpDim));
    this.lin2 = this.child('lin2', new FrozenLinear(engine, mlpDim, embeddingDim));
  }
  /** x: (..., C); the residual, when given, is added in lin2's epilogue. */
  forward(x: Tensor, residual: Tensor | null = null): Tensor {
    return this.engine.scope(() => {
      const hidden = this.lin1.forward(x, { activation: 'gelu' }); // (..., mlpDim)
      const out = this.lin2.forward(hidden, { residual });
      release(hidden);
      return out;
    });
  }
}

/** Block: x + attn(norm1(x)) (windowed unless windowSize is 0), then x + mlp(norm2(x)). (B, H, W, C) in and out. */
export class SamBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: SamAttention;
  readonly norm2: LayerNorm;
  readonly mlp: MlpBlock;
  constructor(engine: Engine, dim: number, numHeads: number, mlpRatio: number, readonly windowSize: number, inputSize: [number, number]) {
    super(engine);
    this.norm1 = this.child('norm1', new LayerNorm(engine, dim, 1e-6));
    this.attn = this.child('attn', new SamAttention(engine, dim, numHeads, windowSize === 0 ? inputSize : [windowSize, windowSize]));
    this.norm2 = this.child('norm2', new LayerNorm(engine, dim, 1e-6));
    this.mlp = this.child('mlp', new MlpBlock(engine, dim, Math.floor(dim * mlpRatio)));
  }

  forward(x: Tensor): Tensor {
    return this.engine.scope(() => {
      const [, h, w] = x.shape;
      const normed = this.norm1.forward(x); // (B, H, W, C)
      let attended: Tensor; // x + attention, (B, H, W, C)
      if (this.windowSize > 0) {
        const ws = this.windowSize;
        const { windows, paddedH, paddedW } = samWindowPartition(normed, ws); // (B*nWin, ws, ws, C)
        release(normed);
        const out = this.attn.forward(windows); // (B*nWin, ws, ws, C)
        release(windows);
        const image = samWindowUnpartition(out, ws, paddedH, paddedW, h, w); // (B, H, W, C)
        release(out);
        attended = add(x, image);
        release(image);
      } else {
        attended = this.attn.forward(normed, x);
        release(normed);
      }
      const normed2 = this.norm2.forward(attended);
      const out = this.mlp.forward(normed2, attended);
      release(normed2, attended);
      return out;
    });
  }
}

export interface SamEncoderForwardOptions {
  /** Sees 'patch_embed' (after the position embedding), 'blocks.{i}' and 'neck'; must not keep the tensor. */
  onStage?: (name: string, t: Tensor) => void;
}

export class ImageEncoderViT extends Module {
  readonly patchEmbed: PatchEmbed;
  readonly posEmbed: Tensor;
  readonly blocks: ModuleList<SamBlock>;
  readonly neck: Neck;
  readonly gridSize: number;

  constructor(engine: Engine, readonly config: SamVitConfig) {
    super(engine);
    const { embed_dim: dim, patch_size: patch } = config;
    this.gridSize = tokenGridSize(config);
    const g = this.gridSize;
    this.patchEmbed = this.child('patch_embed', new PatchEmbed(engine, patch, 3, dim));
    this.posEmbed = this.param('pos_embed', engine.zeros([1, g, g, dim]));
    const global = new Set(config.global_attn_indexes);
    this.blocks = this.child('blocks', new ModuleList(engine, Array.from({ length: config.depth }, (_, i) => (
      new SamBlock(engine, dim, config.num_heads, config.mlp_ratio, global.has(i) ? 0 : config.window_size, [g, g])
    ))));
    this.neck = this.child('neck', new Neck(engine, dim, config.out_chans));
    this.requiresGrad(false);
    this.eval();
  }

  /** 'auto' (default; see SamAttentionImpl), 'fused': the flash-attention kernel, 'composed': matmul + softmax, the reference. */
  setAttentionImpl(impl: SamAttentionImpl): this {
    for (const b of this.blocks.items) b.attn.impl = impl;
    return this;
  }

  /** x: (B, 3, img, img), preprocessed -> (B, out_chans, img/patch, img/patch). */
  forward(x: Tensor, { onStage }: SamEncoderForwardOptions = {}): Tensor {
    const { img_size: size } = this.config;
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== size || x.shape[3] !== size) {
      throw new ShapeError(`ImageEncoderViT: expects (B, 3, ${size}, ${size}), got [${x.shape}]`);
    }
    return noGrad(() => {
      let h = this.engine.scope(() => add(this.patchEmbed.forward(x), this.posEmbed)); // (B, g, g, C)
      onStage?.('patch_embed', h);
      this.blocks.items.forEach((block, i) => {
        const next = block.forward(h);
        h.dispose();
        h = next;
        onStage?.(`blocks.${i}`, h);
      });
      const out = this.engine.scope(() => this.neck.forward(permute(h, [0, 3, 1, 2]))); // (B, out_chans, g, g)
      h.dispose();
      onStage?.('neck', out);
      return out;
    });
  }

  /** forward, with the peak of live GPU bytes during it (the pool's peak is reset first). */
  forwardMeasured(x: Tensor, options: SamEncoderForwardOptions = {}): { embedding: Tensor; peakLiveBytes: number } {
    this.engine.pool.resetPeaks();
    const embedding = this.forward(x, options);
    return { embedding, peakLiveBytes: this.engine.memory().peakLiveBytes };
  }
}
