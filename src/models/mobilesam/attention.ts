// TinyViT's attention blocks (mobile_sam/modeling/tiny_vit_sam.py): multi-head attention inside
// non-overlapping local windows with a learned bias per head and relative offset, a depthwise 3x3
// "local conv" between attention and MLP, and the stage (BasicLayer) that chains them.
import type { Engine } from '../../engine.js';
import { ShapeError } from '../../errors.js';
import { LayerNorm } from '../../nn/layers.js';
import { Module, ModuleList } from '../../nn/module.js';
import { pad, permute, reshape, slice } from '../../ops/copy.js';
import { add, mul } from '../../ops/elementwise.js';
import { matmul } from '../../ops/matmul.js';
import { softmax } from '../../ops/softmax.js';
import type { Tensor } from '../../tensor/tensor.js';
import { Conv2dBN, FrozenLinear, imageToTokens, Mlp, PatchMerging, tokensToImage } from './layers.js';

/**
 * TinyViT's attention_bias_idxs for a window of side `ws`: entry (i, j) is the index of the offset
 * (|dy|, |dx|) between window positions i and j, offsets numbered in first-seen order. Returns the
 * (ws*ws) x (ws*ws) index table and the number of distinct offsets (ws*ws for a square window).
 */
export function attentionBiasIndex(ws: number): { idxs: Int32Array; offsets: number } {
  const n = ws * ws;
  const seen = new Map<number, number>();
  const idxs = new Int32Array(n * n);
  for (let p1 = 0; p1 < n; p1++) {
    for (let p2 = 0; p2 < n; p2++) {
      const key = Math.abs(Math.floor(p1 / ws) - Math.floor(p2 / ws)) * ws + Math.abs((p1 % ws) - (p2 % ws));
      let id = seen.get(key);
      if (id === undefined) seen.set(key, (id = seen.size));
      idxs[p1 * n + p2] = id;
    }
  }
  return { idxs, offsets: seen.size };
}

/** attention_biases[:, attention_bias_idxs]: (heads, offsets) -> (heads, N, N), on the host. */
export function expandAttentionBiases(biases: Float32Array, heads: number, ws: number): Float32Array {
  const { idxs, offsets } = attentionBiasIndex(ws);
  const nn = idxs.length;
  const out = new Float32Array(heads * nn);
  for (let h = 0; h < heads; h++) for (let k = 0; k < nn; k++) out[h * nn + k] = biases[h * offsets + idxs[k]];
  return out;
}

/** TinyViT's Attention with attn_ratio 1: LayerNorm, qkv, per-head softmax(q kᵀ * scale + bias) v, proj. */
export class TinyVitAttention extends Module {
  readonly norm: LayerNorm;
  readonly qkv: FrozenLinear;
  readonly proj: FrozenLinear;
  /** (heads, ws*ws offsets), the learned table; expanded to (heads, N, N) by refreshBias(). */
  readonly attentionBiases: Tensor;
  readonly headDim: number;
  private expandedBias: Tensor | null = null;
  private readonly scale: Tensor;

  constructor(engine: Engine, readonly dim: number, readonly numHeads: number, readonly windowSize: number) {
    super(engine);
    if (dim % numHeads !== 0) throw new ShapeError(`TinyVitAttention: ${numHeads} heads do not divide dim ${dim}`);
    this.headDim = dim / numHeads;
    this.norm = this.child('norm', new LayerNorm(engine, dim));
    this.qkv = this.child('qkv', new FrozenLinear(engine, dim, 3 * dim));
    this.proj = this.child('proj', new FrozenLinear(engine, dim, dim));
    this.attentionBiases = this.param('attention_biases', engine.zeros([numHeads, windowSize * windowSize]));
    this.scale = engine.keep(engine.tensor([this.headDim ** -0.5], [1]));
  }

  /** Rebuilds the (heads, N, N) bias from attention_biases; call after loading weights (PyTorch's eval-mode `ab` cache). */
  async refreshBias(): Promise<void> {
    const table = await this.attentionBiases.readFloat();
    this.expandedBias?.dispose();
    const n = this.windowSize * this.windowSize;
    this.expandedBias = this.engine.keep(this.engine.tensor(expandAttentionBiases(table, this.numHeads, this.windowSize), [this.numHeads, n, n]));
  }

  /** x: (Bw, N, C) windows of N = ws*ws tokens -> (Bw, N, C). */
  forward(x: Tensor): Tensor {
    if (!this.expandedBias) throw new ShapeError('TinyVitAttention: call refreshBias() after loading weights');
    const bias = this.expandedBias;
    return this.engine.scope(() => {
      const [bw, n, c] = x.shape;
      const qkv = this.qkv.forward(this.norm.forward(x)); // (Bw, N, 3C), per head [q | k | v]
      const split = reshape(qkv, [bw, n, this.numHeads, 3, this.headDim]); // (Bw, N, heads, 3, d)
      const parts = permute(split, [3, 0, 2, 1, 4]); // (3, Bw, heads, N, d)
      const part = (i: number) => reshape(slice(parts, [i, 0, 0, 0, 0], [i + 1, bw, this.numHeads, n, this.headDim]), [bw, this.numHeads, n, this.headDim]);
      const q = part(0), k = part(1), v = part(2); // (Bw, heads, N, d)
      const scores = matmul(q, k, { transB: true }); // (Bw, heads, N, N)
      const attn = softmax(add(mul(scores, this.scale), bias), -1);
      const out = matmul(attn, v); // (Bw, heads, N, d)
      const merged = reshape(permute(out, [0, 2, 1, 3]), [bw, n, c]); // (Bw, N, C)
      return this.proj.forward(merged);
    });
  }

  override dispose(): void {
    super.dispose();
    this.scale.dispose();
    this.expandedBias?.dispose();
  }
}

/** (B, H, W, C) padded to multiples of ws -> (B * nH * nW, ws*ws, C) windows. */
export function windowPartition(x: Tensor, ws: number): Tensor {
  const [b, h, w, c] = x.shape;
  const grid = reshape(x, [b, h / ws, ws, w / ws, ws, c]); // (B, nH, ws, nW, ws, C)
  const windows = permute(grid, [0, 1, 3, 2, 4, 5]); // (B, nH, nW, ws, ws, C)
  return reshape(windows, [b * (h / ws) * (w / ws), ws * ws, c]); // (B*nH*nW, ws*ws, C)
}

/** Inverse of windowPartition: (B * nH * nW, ws*ws, C) -> (B, H, W, C) with H = nH*ws, W = nW*ws. */
export function windowReverse(x: Tensor, ws: number, b: number, h: number, w: number): Tensor {
  const c = x.shape[2];
  const grid = reshape(x, [b, h / ws, w / ws, ws, ws, c]); // (B, nH, nW, ws, ws, C)
  const image = permute(grid, [0, 1, 3, 2, 4, 5]); // (B, nH, ws, nW, ws, C)
  return reshape(image, [b, h, w, c]); // (B, H, W, C)
}

/** TinyViTBlock: x + windowed attention, depthwise 3x3 local conv, x + Mlp. Tokens (B, H*W, C) in and out. */
export class TinyVitBlock extends Module {
  readonly attn: TinyVitAttention;
  readonly localConv: Conv2dBN;
  readonly mlp: Mlp;
  constructor(engine: Engine, readonly dim: number, readonly resolution: number, numHeads: number, readonly windowSize: number, mlpRatio: number, localConvSize: number) {
    super(engine);
    this.attn = this.child('attn', new TinyVitAttention(engine, dim, numHeads, windowSize));
    this.mlp = this.child('mlp', new Mlp(engine, dim, dim * mlpRatio));
    this.localConv = this.child('local_conv', new Conv2dBN(engine, dim, dim, localConvSize, 1, localConvSize >> 1, dim));
  }

  forward(x: Tensor): Tensor {
    return this.engine.scope(() => {
      const [b, l, c] = x.shape;
      const r = this.resolution, ws = this.windowSize;
      let attended: Tensor; // (B, L, C)
      if (r === ws) {
        attended = this.attn.forward(x);
      } else {
        const padded = r % ws === 0 ? 0 : ws - (r % ws);
        const grid = reshape(x, [b, r, r, c]); // (B, H, W, C)
        const big = padded ? pad(grid, [[0, 0], [0, padded], [0, padded]]) : grid; // (B, pH, pW, C)
        const p = r + padded;
        const windows = this.attn.forward(windowPartition(big, ws)); // (B*nH*nW, ws*ws, C)
        const merged = windowReverse(windows, ws, b, p, p); // (B, pH, pW, C)
        const cropped = padded ? slice(merged, [0, 0, 0, 0], [b, r, r, c]) : merged; // (B, H, W, C)
        attended = reshape(cropped, [b, l, c]); // (B, L, C)
      }
      const h = add(x, attended);
      const local = imageToTokens(this.localConv.forward(tokensToImage(h, r, r))); // (B, L, C)
      return this.mlp.forward(local, local);
    });
  }
}

/** A TinyViT stage: blocks at one resolution, then the patch merging (none after the last stage). */
export class BasicLayer extends Module {
  readonly blocks: ModuleList<TinyVitBlock>;
  readonly downsample: PatchMerging | null;
  constructor(engine: Engine, dim: number, resolution: number, depth: number, numHeads: number, windowSize: number, mlpRatio: number, localConvSize: number, outDim: number | null) {
    super(engine);
    this.blocks = this.child('blocks', new ModuleList(engine, Array.from({ length: depth }, () => new TinyVitBlock(engine, dim, resolution, numHeads, windowSize, mlpRatio, localConvSize))));
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
