// SAM ViT's attention (segment-anything modeling/image_encoder.py): qkv projection, multi-head
// softmax(q kᵀ * scale + decomposed relative-position bias) v, output projection; and the window
// partition (with padding to a multiple of the window) around it. relPosAttentionReference is the
// composition of existing ops (differentiable), the reference the fused kernel (src/ops/attention.ts,
// used by default at inference) is tested against.
import type { Engine } from '../../engine.js';
import { ShapeError } from '../../errors.js';
import { Module } from '../../nn/module.js';
import { concat, pad, permuteView, reshape, slice } from '../../ops/copy.js';
import { add, mul } from '../../ops/elementwise.js';
import { matmul, subgroupMatmulOn } from '../../ops/matmul.js';
import { relPosAttentionPacked } from '../../ops/attention.js';
import { softmax } from '../../ops/softmax.js';
import { isGradEnabled, needsGrad } from '../../graph/autograd.js';
import type { Tensor } from '../../tensor/tensor.js';
import { FrozenLinear } from '../mobilesam/layers.js';
import { relPosSelectionMatrix } from './rel-pos.js';

/**
 * Largest score tensor (Bh chunk, Nq, Nk) one chunk may allocate: under lavapipe's 128 MiB per binding,
 * and small enough that a chunk's bias, scores and probabilities (three of these) keep vit_b's forward
 * within its weights + 400 MB (at 64 MiB it peaked 27 MiB over).
 */
export const MAX_SCORE_BYTES = 32 * 1024 * 1024;

/**
 * add_decomposed_rel_pos's two terms for q (Bh, qh*qw, d), Rh (qh, kh, d), Rw (qw, kw, d), unscaled q
 * as in segment-anything: relH[b, y, x, ky] = q[b, y, x]·Rh[y, ky] -> (Bh, qh*qw, kh), and
 * relW[b, y, x, kx] = q[b, y, x]·Rw[x, kx] -> (Bh, qh*qw, kw).
 */
export function decomposedRelPosTerms(q: Tensor, rh: Tensor, rw: Tensor, qh: number, qw: number): { relH: Tensor; relW: Tensor } {
  const [bh, n, d] = q.shape;
  const kh = rh.shape[1], kw = rw.shape[1];
  if (n !== qh * qw || rh.shape[0] !== qh || rw.shape[0] !== qw || rh.shape[2] !== d || rw.shape[2] !== d) {
    throw new ShapeError(`decomposedRelPosTerms: q [${q.shape}] with grid ${qh}x${qw}, Rh [${rh.shape}], Rw [${rw.shape}] do not fit`);
  }
  const grid = [bh, qh, qw, d]; // q read as (Bh, qh, qw, d)
  // einsum('bhwc,hkc->bhwk'): a batch over the query row y.
  const byRow = permuteView(q, grid, [1, 0, 2, 3], [qh, bh * qw, d]); // (qh, Bh*qw, d)
  const relHRows = matmul(byRow, rh, { transB: true }); // (qh, Bh*qw, kh)
  release(byRow);
  const relH = permuteView(relHRows, [qh, bh, qw, kh], [1, 0, 2, 3], [bh, n, kh]); // (Bh, qh*qw, kh)
  release(relHRows);
  // einsum('bhwc,wkc->bhwk'): a batch over the query column x.
  const byCol = permuteView(q, grid, [2, 0, 1, 3], [qw, bh * qh, d]); // (qw, Bh*qh, d)
  const relWCols = matmul(byCol, rw, { transB: true }); // (qw, Bh*qh, kw)
  release(byCol);
  const relW = permuteView(relWCols, [qw, bh, qh, kw], [1, 2, 0, 3], [bh, n, kw]); // (Bh, qh*qw, kw)
  release(relWCols);
  return { relH, relW };
}

/**
 * Frees intermediates as soon as they are dead when nothing records a tape (the frozen encoder runs
 * under noGrad): the enclosing scope would free them too, but only at its end, and a block's
 * intermediates all alive at once are what set vit_b's peak memory. With recording on, backward may
 * still need them, so they are left to the scope.
 */
export function release(...tensors: Tensor[]): void {
  if (isGradEnabled()) return;
  for (const t of tensors) t.dispose();
}

/** Both terms broadcast into one (Bh, qh*qw, kh*kw) bias: relH[..., ky] + relW[..., kx]. */
export function decomposedRelPosBias(q: Tensor, rh: Tensor, rw: Tensor, qh: number, qw: number): Tensor {
  const [bh, n] = q.shape;
  const kh = rh.shape[1], kw = rw.shape[1];
  const { relH, relW } = decomposedRelPosTerms(q, rh, rw, qh, qw);
  const bias = add(reshape(relH, [bh, n, kh, 1]), reshape(relW, [bh, n, 1, kw])); // (Bh, N, kh, kw)
  return reshape(bias, [bh, n, kh * kw]); // (Bh, Nq, Nk)
}

/**
 * softmax(q kᵀ * scale + rel_h + rel_w) v for q (Bh, qh*qw, d), k and v (Bh, kh*kw, d);
 * Rh (qh, kh, d), Rw (qw, kw, d); scale a one-element tensor. Returns (Bh, qh*qw, d). The Bh
 * dimension is processed in chunks so no score tensor exceeds MAX_SCORE_BYTES.
 */
export function relPosAttentionReference(q: Tensor, k: Tensor, v: Tensor, rh: Tensor, rw: Tensor, qh: number, qw: number, scale: Tensor): Tensor {
  const [bh, n, d] = q.shape;
  const nk = k.shape[1];
  if (k.shape[0] !== bh || v.shape[0] !== bh || k.shape[2] !== d || v.shape[1] !== nk) {
    throw new ShapeError(`relPosAttention: q [${q.shape}], k [${k.shape}], v [${v.shape}] do not fit`);
  }
  const chunk = Math.max(1, Math.min(bh, Math.floor(MAX_SCORE_BYTES / (n * nk * 4))));
  const one = (qc: Tensor, kc: Tensor, vc: Tensor) => {
    const bias = decomposedRelPosBias(qc, rh, rw, qh, qw); // (b, Nq, Nk)
    const scaled = mul(qc, scale);
    const scores = matmul(scaled, kc, { transB: true, residual: bias }); // (b, Nq, Nk)
    release(bias, scaled); // under noGrad: at most two (b, Nq, Nk) tensors alive at once
    const probs = softmax(scores, -1);
    release(scores);
    return matmul(probs, vc); // (b, Nq, d)
  };
  if (chunk >= bh) return one(q, k, v);
  const outs: Tensor[] = [];
  for (let start = 0; start < bh; start += chunk) {
    const end = Math.min(bh, start + chunk);
    const part = (t: Tensor) => slice(t, [start, 0, 0], [end, t.shape[1], t.shape[2]]);
    outs.push(q.engine.scope(() => one(part(q), part(k), part(v))));
  }
  return concat(outs, 0); // (Bh, Nq, d)
}

/**
 * 'fused': one flash-style kernel (src/ops/attention.ts), scores never materialised, forward only;
 * 'composed': matmul, softmax and broadcast adds (recorded ops, differentiable; the reference), the
 * scores in chunks of MAX_SCORE_BYTES; 'auto' (the default): composed where the subgroup matmul runs
 * (llvmpipe: there vit_b's forward takes half the time of the fused kernel's, bench:sam-encoder),
 * fused elsewhere (less memory, and the flash layout is what a GPU runs well).
 */
export type SamAttentionImpl = 'auto' | 'fused' | 'composed';

/** The implementation 'auto' stands for on this engine. */
export function resolveAttentionImpl(engine: Engine, impl: SamAttentionImpl): 'fused' | 'composed' {
  if (impl !== 'auto') return impl;
  return subgroupMatmulOn(engine) ? 'composed' : 'fused';
}

/** segment-anything's Attention with use_rel_pos: x (B, H, W, C) -> (B, H, W, C). */
export class SamAttention extends Module {
  /** Which implementation forward uses; 'fused' falls back to 'composed' when a gradient is needed. */
  impl: SamAttentionImpl = 'auto';
  readonly qkv: FrozenLinear;
  readonly proj: FrozenLinear;
  readonly relPosH: Tensor;
  readonly relPosW: Tensor;
  readonly headDim: number;
  private readonly scale: Tensor;
  /** get_rel_pos selection matrices by (q_size, k_size, L); host-built once, kept. */
  private readonly selections = new Map<string, Tensor>();

  /** inputSize: the token grid (window side, or the whole grid for global attention) that sizes the tables. */
  constructor(engine: Engine, readonly dim: number, readonly numHeads: number, readonly inputSize: [number, number]) {
    super(engine);
    if (dim % numHeads !== 0) throw new ShapeError(`SamAttention: ${numHeads} heads do not divide dim ${dim}`);
    this.headDim = Math.floor(dim / numHeads);
    this.qkv = this.child('qkv', new FrozenLinear(engine, dim, 3 * dim));
    this.proj = this.child('proj', new FrozenLinear(engine, dim, dim));
    this.relPosH = this.param('rel_pos_h', engine.zeros([2 * inputSize[0] - 1, this.headDim]));
    this.relPosW = this.param('rel_pos_w', engine.zeros([2 * inputSize[1] - 1, this.headDim]));
    this.scale = engine.keep(engine.tensor([this.headDim ** -0.5], [1]));
  }

  /** get_rel_pos(qSize, kSize, table) -> (qSize, kSize, headDim), interpolating the table if its length differs. */
  relPos(table: Tensor, qSize: number, kSize: number): Tensor {
    const length = table.shape[0];
    const key = `${qSize},${kSize},${length}`;
    let s = this.selections.get(key);
    if (!s) {
      s = this.engine.keep(this.engine.tensor(relPosSelectionMatrix(qSize, kSize, length), [qSize * kSize, length]));
      this.selections.set(key, s);
    }
    return reshape(matmul(s, table), [qSize, kSize, this.headDim]); // (qSize, kSize, d)
  }

  /** x: (B, H, W, C) -> (B, H, W, C); `residual` (same shape) is added in the projection's epilogue. */
  forward(x: Tensor, residual: Tensor | null = null): Tensor {
    return this.engine.scope(() => {
      const [b, h, w, c] = x.shape;
      const n = h * w, heads = this.numHeads, d = this.headDim, bh = b * heads;
      const qkv = this.qkv.forward(x); // (B, H, W, 3 * heads * d): q, k, v, each heads x d
      const rh = this.relPos(this.relPosH, h, h), rw = this.relPos(this.relPosW, w, w); // (h, h, d), (w, w, d)
      let merged: Tensor; // (B, H, W, C), heads side by side
      if (resolveAttentionImpl(this.engine, this.impl) === 'fused' && !needsGrad(qkv, rh, rw)) {
        merged = relPosAttentionPacked(qkv, rh, rw, heads, h, w, this.headDim ** -0.5);
        release(qkv);
      } else {
        const parts = permuteView(qkv, [b, n, 3, heads, d], [2, 0, 3, 1, 4], [3, bh, n, d]); // (3, B*heads, HW, d)
        release(qkv);
        const part = (i: number) => reshape(slice(parts, [i, 0, 0, 0], [i + 1, bh, n, d]), [bh, n, d]); // (B*heads, HW, d)
        const q = part(0), k = part(1), v = part(2);
        release(parts);
        const out = relPosAttentionReference(q, k, v, rh, rw, h, w, this.scale); // (B*heads, HW, d)
        release(q, k, v);
        merged = permuteView(out, [b, heads, n, d], [0, 2, 1, 3], [b, h, w, c]);
        release(out);
      }
      release(rh, rw);
      const projected = this.proj.forward(merged, { residual }); // (B, H, W, C)
      release(merged);
      return projected;
    });
  }

  override dispose(): void {
    super.dispose();
    this.scale.dispose();
    for (const s of this.selections.values()) s.dispose();
    this.selections.clear();
  }
}

/** window_partition: (B, H, W, C), zero-padded to multiples of ws -> (B * nWin, ws, ws, C), with the padded size. */
export function samWindowPartition(x: Tensor, ws: number): { windows: Tensor; paddedH: number; paddedW: number } {
  const [b, h, w, c] = x.shape;
  const padH = (ws - (h % ws)) % ws, padW = (ws - (w % ws)) % ws;
  const padded = padH || padW ? pad(x, [[0, 0], [0, padH], [0, padW]]) : x; // (B, Hp, Wp, C)
  const hp = h + padH, wp = w + padW, nH = hp / ws, nW = wp / ws;
  const windows = permuteView(padded, [b, nH, ws, nW, ws, c], [0, 1, 3, 2, 4, 5], [b * nH * nW, ws, ws, c]); // (B*nWin, ws, ws, C)
  if (padded !== x) release(padded);
  return { windows, paddedH: hp, paddedW: wp };
}

/** window_unpartition: (B * nWin, ws, ws, C) -> (B, H, W, C), the padding cropped. */
export function samWindowUnpartition(windows: Tensor, ws: number, paddedH: number, paddedW: number, h: number, w: number): Tensor {
  const c = windows.shape[3];
  const nH = paddedH / ws, nW = paddedW / ws, b = windows.shape[0] / (nH * nW);
  const image = permuteView(windows, [b, nH, nW, ws, ws, c], [0, 1, 3, 2, 4, 5], [b, paddedH, paddedW, c]); // (B, Hp, Wp, C)
  if (paddedH === h && paddedW === w) return image;
  const cropped = slice(image, [0, 0, 0, 0], [b, h, w, c]); // (B, H, W, C)
  release(image);
  return cropped;
}
