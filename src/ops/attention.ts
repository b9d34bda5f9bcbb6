// Fused attention with decomposed relative-position bias (SAM's ViT): one kernel, no score matrix.
// Forward only: when a gradient is needed, compose matmul/softmax instead (relPosAttentionReference
// in src/models/sam/attention.ts computes the same thing from recorded ops).
import { ShapeError, UsageError } from '../errors.js';
import { needsGrad } from '../graph/autograd.js';
import { flashAttentionKernel, packedFlashAttentionKernel, relPosTermsKernel } from '../kernels/flash-attention.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertRank, assertSameEngine, shapeText } from './checks.js';

/**
 * softmax(q kᵀ * scale + relH[..., ky] + relW[..., kx]) v with keys on a kh x kw grid (key j = ky * kw + kx).
 * q (B, N, d); k and v (B, kh*kw, d); relH (B, N, kh); relW (B, N, kw) -> (B, N, d). All f32.
 */
export function relPosAttention(q: Tensor, k: Tensor, v: Tensor, relH: Tensor, relW: Tensor, scale: number): Tensor {
  const op = 'relPosAttention';
  assertSameEngine(op, q, k, v, relH, relW);
  for (const [t, what] of [[q, 'q'], [k, 'k'], [v, 'v'], [relH, 'relH'], [relW, 'relW']] as const) {
    assertRank(op, t, 3, what);
    if (t.dtype !== 'f32') throw new ShapeError(`${op}: ${what} must be f32, got ${t.dtype} ${shapeText(t)}`);
  }
  const [b, n, d] = q.shape;
  const kh = relH.shape[2], kw = relW.shape[2];
  const fits = k.shape[0] === b && v.shape[0] === b && k.shape[1] === kh * kw && v.shape[1] === kh * kw && k.shape[2] === d && v.shape[2] === d
    && relH.shape[0] === b && relH.shape[1] === n && relW.shape[0] === b && relW.shape[1] === n;
  if (!fits) {
    throw new ShapeError(`${op}: q ${shapeText(q)}, k ${shapeText(k)}, v ${shapeText(v)}, relH ${shapeText(relH)}, relW ${shapeText(relW)}: expected k, v (B, kh*kw, d), relH (B, N, kh), relW (B, N, kw)`);
  }
  if (needsGrad(q, k, v, relH, relW)) throw new UsageError(`${op}: forward only (no backward rule); run it under noGrad or compose matmul and softmax`);
  if (!Number.isFinite(scale)) throw new ShapeError(`${op}: scale ${scale} must be finite`);
  const out = q.engine.empty([b, n, d], 'f32');
  if (out.size === 0) return out;
  q.engine.runtime.run(flashAttentionKernel({ batch: b, n, kh, kw, d, scale }), [
    { buffer: q.buffer }, { buffer: k.buffer }, { buffer: v.buffer }, { buffer: relH.buffer }, { buffer: relW.buffer },
    { buffer: out.buffer, write: true },
  ]);
  return out;
}

/**
 * SAM's self-attention read straight from the qkv projection: qkv (B, qh, qw, 3*heads*d) as the Linear
 * writes it (q, k, v, each heads x d, per token), rh (qh, qh, d) and rw (qw, qw, d) from get_rel_pos;
 * returns (B, qh, qw, heads*d), heads side by side, which the output projection reads as is. Two
 * dispatches: the bias terms q·Rh and q·Rw (B*heads, N, qh + qw) straight from qkv, then the attention;
 * no copy of q, k or v is made.
 */
export function relPosAttentionPacked(qkv: Tensor, rh: Tensor, rw: Tensor, heads: number, qh: number, qw: number, scale: number): Tensor {
  const op = 'relPosAttentionPacked';
  assertSameEngine(op, qkv, rh, rw);
  for (const [t, what, rank] of [[qkv, 'qkv', 4], [rh, 'rh', 3], [rw, 'rw', 3]] as const) {
    assertRank(op, t, rank, what);
    if (t.dtype !== 'f32') throw new ShapeError(`${op}: ${what} must be f32, got ${t.dtype} ${shapeText(t)}`);
  }
  const [b, gh, gw, width] = qkv.shape;
  const d = rh.shape[2];
  const fits = Number.isInteger(heads) && heads > 0 && gh === qh && gw === qw && width === 3 * heads * d
    && rh.shape[0] === qh && rh.shape[1] === qh && rw.shape[0] === qw && rw.shape[1] === qw && rw.shape[2] === d;
  if (!fits) {
    throw new ShapeError(`${op}: qkv ${shapeText(qkv)}, rh ${shapeText(rh)}, rw ${shapeText(rw)} with ${heads} heads on a ${qh}x${qw} grid: expected qkv (B, ${qh}, ${qw}, 3*heads*d), rh (${qh}, ${qh}, d), rw (${qw}, ${qw}, d)`);
  }
  if (needsGrad(qkv, rh, rw)) throw new UsageError(`${op}: forward only (no backward rule); run it under noGrad or compose matmul and softmax`);
  if (!Number.isFinite(scale)) throw new ShapeError(`${op}: scale ${scale} must be finite`);
  const engine = qkv.engine;
  const out = engine.empty([b, qh, qw, heads * d], 'f32');
  if (out.size === 0) return out;
  const n = qh * qw;
  const relH = engine.empty([b * heads, n, qh], 'f32'), relW = engine.empty([b * heads, n, qw], 'f32');
  try {
    engine.runtime.run(relPosTermsKernel({ batch: b, heads, qh, qw, d }), [
      { buffer: qkv.buffer }, { buffer: rh.buffer }, { buffer: rw.buffer }, { buffer: relH.buffer, write: true }, { buffer: relW.buffer, write: true },
    ]);
    engine.runtime.run(packedFlashAttentionKernel({ batch: b, heads, qh, qw, d, scale }), [
      { buffer: qkv.buffer }, { buffer: relH.buffer }, { buffer: relW.buffer }, { buffer: out.buffer, write: true },
    ]);
  } finally {
    relH.dispose();
    relW.dispose();
  }
  return out;
}
