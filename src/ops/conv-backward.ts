// Backward rules of conv2d and convTranspose2d (src/ops/conv.ts records them). Each input gradient is
// the other convolution applied to dy, on the forward kernels; the weight gradient is one correlation
// kernel for both ops; the bias gradient a per-channel sum. See src/kernels/conv-backward.ts.
import type { Engine } from '../engine.js';
import { UsageError } from '../errors.js';
import {
  channelSumKernel, conv2dInputGradGeometry, conv2dWeightGradGeometry, convTranspose2dInputGradGeometry, convTranspose2dWeightGradGeometry,
  weightGradKernel, type WeightGradGeometry,
} from '../kernels/conv-backward.js';
import { conv2dKernel, conv2dOutputShape, type Conv2dGeometry } from '../kernels/conv2d.js';
import { convTranspose2dKernel, convTranspose2dOutputShape, isNonOverlappingTranspose, type ConvTranspose2dGeometry } from '../kernels/conv-transpose2d.js';
import { permuteKernel, simplifyPermutation } from '../kernels/copy.js';
import { matmulUniforms, type MatmulParams } from '../kernels/matmul.js';
import { reduceKernel, reduceView, rowLayoutFor } from '../kernels/reduce.js';
import type { Tensor } from '../tensor/tensor.js';
import { conv2dInputGradGemm, conv2dWeightGradGemm, convGemmEligible, convInputGradGemmEligible } from './conv-gemm.js';
import { conv2dInputGradSubgroup, conv2dWeightGradSubgroup, convInputGradSubgroupEligible, convSubgroupEligible } from './conv-subgroup.js';
import { slice } from './copy.js';
import { matmulKernelFor } from './matmul.js';

/** Gradients of y = conv2d(x, w, bias) for dy (N, Cout, Ho, Wo): [dx, dw, dbias], null where not required. */
export function conv2dBackward(x: Tensor, w: Tensor, bias: Tensor | null, dy: Tensor, g: Conv2dGeometry): (Tensor | null)[] {
  requireF32('conv2d', x);
  const engine = x.engine;
  let dx: Tensor | null = null;
  if (x.requiresGrad && x.size > 0 && convInputGradSubgroupEligible(engine, g, x.dtype)) {
    dx = conv2dInputGradSubgroup(dy, w, g);
  } else if (x.requiresGrad && x.size > 0 && convInputGradGemmEligible(engine, g, x.dtype)) {
    dx = conv2dInputGradGemm(dy, w, g);
  } else if (x.requiresGrad) {
    dx = engine.empty(x.shape, 'f32');
    if (dx.size > 0) {
      const spec = convTranspose2dKernel({ ...conv2dInputGradGeometry(g), dtype: 'f32', hasBias: false });
      engine.runtime.run(spec, [{ buffer: dy.buffer }, { buffer: w.buffer }, { buffer: dx.buffer, write: true }], spec.uniforms);
    }
  }
  const dw = !w.requiresGrad ? null
    : x.size > 0 && convSubgroupEligible(engine, g, x.dtype) && subgroupWeightGradPays(engine, g, x.dtype) ? conv2dWeightGradSubgroup(x, dy, g)
      : x.size > 0 && convGemmEligible(engine, g, x.dtype) ? conv2dWeightGradGemm(x, dy, g)
      : weightGrad(dy, x, w.shape, conv2dWeightGradGeometry(g));
  return [dx, dw, ...(bias ? [bias.requiresGrad ? biasGrad(dy, conv2dOutputShape(g)) : null] : [])];
}

/** Gradients of y = convTranspose2d(x, w, bias) for dy (N, Cout, Ho, Wo): [dx, dw, dbias], null where not required. */
export function convTranspose2dBackward(x: Tensor, w: Tensor, bias: Tensor | null, dy: Tensor, g: ConvTranspose2dGeometry): (Tensor | null)[] {
  requireF32('convTranspose2d', x);
  const engine = x.engine;
  let dx: Tensor | null = null;
  if (x.requiresGrad) {
    const { geometry, crop } = convTranspose2dInputGradGeometry(g);
    // (N, Cin, H', W'), H' >= H: equal to x's shape unless outputPadding >= stride.
    const full = engine.empty(crop ? conv2dOutputShape(geometry) : x.shape, 'f32');
    if (full.size > 0) {
      const spec = conv2dKernel({ ...geometry, dtype: 'f32', hasBias: false });
      engine.runtime.run(spec, [{ buffer: dy.buffer }, { buffer: w.buffer }, { buffer: full.buffer, write: true }], spec.uniforms);
    }
    if (crop) {
      dx = slice(full, [0, 0, 0, 0], x.shape); // (N, Cin, H, W)
      full.dispose();
    } else {
      dx = full;
    }
  }
  const dw = !w.requiresGrad ? null
    : isNonOverlappingTranspose(g) && g.groups === 1 && x.size > 0 ? tiledTransposeWeightGrad(x, dy, w.shape)
      : weightGrad(x, dy, w.shape, convTranspose2dWeightGradGeometry(g));
  return [dx, dw, ...(bias ? [bias.requiresGrad ? biasGrad(dy, convTranspose2dOutputShape(g)) : null] : [])];
}

/**
 * The direct subgroup weight gradient beat the blocked correlation kernel below 32 channels (UNet B4:
 * 3->16 x1.5-2.2, 16->16 x1.3-1.8 at 128x128) and im2col + GEMM on small planes, where its split-K keeps
 * both threads busy (256->256 at 8x8: x2.0-2.6), but lost to im2col + GEMM on larger planes
 * (32->32 at 64x64 x0.55, 64->64 at 256x256 x0.7): it reads X once per tap and output pixel.
 */
function subgroupWeightGradPays(engine: Engine, g: Conv2dGeometry, dtype: string): boolean {
  const [, , ho, wo] = conv2dOutputShape(g);
  return !convGemmEligible(engine, g, dtype) || ho * wo <= 64;
}

/** Gradients are f32 only, and the backward kernels read the saved operands as f32. */
function requireF32(op: string, x: Tensor): void {
  if (x.dtype !== 'f32') throw new UsageError(`${op} backward: gradients need f32 operands, got ${x.dtype} (run f16 convolutions under noGrad)`);
}

/** The weight gradient (wShape) from r and t as weightGradKernel reads them; zeros when the batch is empty. */
function weightGrad(r: Tensor, t: Tensor, wShape: readonly number[], g: WeightGradGeometry): Tensor {
  if (r.size === 0 || t.size === 0) return r.engine.zeros(wShape, 'f32');
  const dw = r.engine.empty(wShape, 'f32');
  r.engine.runtime.run(weightGradKernel(g), [{ buffer: r.buffer }, { buffer: t.buffer }, { buffer: dw.buffer, write: true }]);
  return dw;
}

/**
 * convTranspose2d's weight gradient when the kernel tiles the output (kernel = stride, no padding,
 * dilation or groups; SAM's 2x2 upscaling): dW[c, (o, ky, kx)] = sum over b, pixels p of
 * x[b, c, p] * dy[b, o, py * kh + ky, px * kw + kx]. dy is rearranged space-to-depth to
 * (N, H*W, Cout*kh*kw), so each image's share is one plain matmul x[b] (Cin, HW) @ that (HW, Cout*kh*kw),
 * and the N per-image products are summed. The correlation kernel (weightGrad) does the same sums with
 * strided, divergent loads: on lavapipe, (16, 256, 64, 64) -> 64 channels measured 5.6-8.9 s there
 * against 2.0-2.8 s here (permute about 0.2 s of it), under load on a shared 2-core machine.
 */
function tiledTransposeWeightGrad(x: Tensor, dy: Tensor, wShape: readonly number[]): Tensor {
  const engine = x.engine;
  const [batch, cin, h, w] = x.shape;
  const [, cout, kh, kw] = wShape;
  const cols = cout * kh * kw, pixels = h * w;
  // (N, Cout, H, kh, W, kw) -> (N, H, W, Cout, kh, kw)
  const simple = simplifyPermutation([batch, cout, h, kh, w, kw], [0, 2, 4, 1, 3, 5]);
  const dyTiles = engine.empty([batch, pixels, cols], 'f32');
  engine.runtime.run(permuteKernel({ shape: simple.shape, perm: simple.perm, dtype: 'f32' }), [{ buffer: dy.buffer }, { buffer: dyTiles.buffer, write: true }]);
  const p: MatmulParams = {
    batch, M: cin, N: cols, K: pixels, transA: false, transB: false, batchA: batch, batchB: batch, bias: false, residual: false, activation: 'none',
  };
  const perImage = engine.empty([batch, cin, cols], 'f32');
  const placeholder = engine.placeholderBuffer;
  engine.runtime.run(matmulKernelFor(engine, p), [
    { buffer: x.buffer }, { buffer: dyTiles.buffer }, { buffer: placeholder }, { buffer: placeholder }, { buffer: perImage.buffer, write: true },
  ], matmulUniforms(p));
  dyTiles.dispose();
  const dw = engine.empty(wShape, 'f32');
  const layout = rowLayoutFor(engine.report.isSoftware);
  engine.runtime.run(reduceKernel({ op: 'sum', view: reduceView([batch, cin * cols], 0), dtype: 'f32', layout }), [
    { buffer: perImage.buffer }, { buffer: dw.buffer, write: true },
  ]);
  perImage.dispose();
  return dw;
}

/** dbias[c] = sum of dy over N, Ho, Wo; yShape (N, C, Ho, Wo) from the geometry (dy may arrive with another shape of that size). */
function biasGrad(dy: Tensor, yShape: readonly number[]): Tensor {
  const [batch, channels, ho, wo] = yShape;
  if (dy.size === 0) return dy.engine.zeros([channels], 'f32');
  const db = dy.engine.empty([channels], 'f32');
  dy.engine.runtime.run(channelSumKernel({ batch, channels, pixels: ho * wo }), [{ buffer: dy.buffer }, { buffer: db.buffer, write: true }]);
  return db;
}
