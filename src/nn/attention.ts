// segment-anything's Attention (modeling/transformer.py), used by the TwoWayTransformer of the
// mask decoder: projections to an internal dim (embedding_dim / downsample_rate), heads split,
// softmax(q kᵀ / sqrt(d)) v, heads recombined, output projection. Written as a composition of
// recorded ops, so its gradient is exact.
import type { Engine } from '../engine.js';
import { ShapeError } from '../errors.js';
import { permuteView } from '../ops/copy.js';
import { mul } from '../ops/elementwise.js';
import { matmul } from '../ops/matmul.js';
import { softmax } from '../ops/softmax.js';
import type { Tensor } from '../tensor/tensor.js';
import { Linear } from './layers.js';
import { Module } from './module.js';

export class Attention extends Module {
  readonly internalDim: number;
  readonly qProj: Linear;
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly outProj: Linear;
  /** 1 / sqrt(head dim), as a one-element tensor for the broadcast multiply (not a parameter). */
  private readonly scale: Tensor;

  constructor(engine: Engine, readonly embeddingDim: number, readonly numHeads: number, downsampleRate = 1, seed = 0) {
    super(engine);
    this.internalDim = Math.floor(embeddingDim / downsampleRate);
    if (this.internalDim % numHeads !== 0) throw new ShapeError(`Attention: num_heads ${numHeads} must divide the internal dim ${this.internalDim}`);
    this.qProj = this.child('q_proj', new Linear(engine, embeddingDim, this.internalDim, { seed: seed + 1 }));
    this.kProj = this.child('k_proj', new Linear(engine, embeddingDim, this.internalDim, { seed: seed + 2 }));
    this.vProj = this.child('v_proj', new Linear(engine, embeddingDim, this.internalDim, { seed: seed + 3 }));
    this.outProj = this.child('out_proj', new Linear(engine, this.internalDim, embeddingDim, { seed: seed + 4 }));
    this.scale = engine.keep(engine.tensor([1 / Math.sqrt(this.internalDim / numHeads)], [1]));
  }

  override dispose(): void {
    super.dispose();
    this.scale.dispose();
  }

  // The reference's reshape + transpose pairs, each as one permuteView (no copy for the reshape).
  private separateHeads(x: Tensor): Tensor {
    const [b, n, c] = x.shape;
    return permuteView(x, [b, n, this.numHeads, c / this.numHeads], [0, 2, 1, 3]); // (B, N, heads, d) -> (B, heads, N, d)
  }

  private recombineHeads(x: Tensor): Tensor {
    const [b, h, n, d] = x.shape;
    return permuteView(x, [b, h, n, d], [0, 2, 1, 3], [b, n, h * d]); // (B, N, heads, d) -> (B, N, heads * d)
  }

  /** q: (B, Nq, C), k and v: (B, Nk, C) -> (B, Nq, C). */
  forward(q: Tensor, k: Tensor, v: Tensor): Tensor {
    const qh = this.separateHeads(this.qProj.forward(q)); // (B, heads, Nq, d)
    const kh = this.separateHeads(this.kProj.forward(k)); // (B, heads, Nk, d)
    const vh = this.separateHeads(this.vProj.forward(v)); // (B, heads, Nk, d)
    const scores = matmul(qh, kh, { transB: true }); // (B, heads, Nq, Nk)
    const scaled = mul(scores, this.scale);
    const attn = softmax(scaled, -1);
    const out = matmul(attn, vh); // (B, heads, Nq, d)
    return this.outProj.forward(this.recombineHeads(out));
  }
}
