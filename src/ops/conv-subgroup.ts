// conv2d and its stride-1 input gradient on the direct subgroup kernel (src/kernels/conv-subgroup.ts),
// for software adapters with 8-wide subgroups (lavapipe). Both read the weights as stored.
import type { Engine } from '../engine.js';
import { conv2dOutputShape, type Conv2dGeometry } from '../kernels/conv2d.js';
import { subgroupConvKernel, subgroupConvSupported, type SubgroupConvParams } from '../kernels/conv-subgroup.js';
import { subgroupWeightGradKernel, weightGradTiles } from '../kernels/conv-weight-grad-subgroup.js';
import { reduceKernel, reduceView, rowLayoutFor } from '../kernels/reduce.js';
import type { Tensor } from '../tensor/tensor.js';
import { subgroupMatmulOn } from './matmul.js';

let enabled = true;

/** Benchmarks switch the direct kernel off to time the path it replaces (im2col + GEMM, or the blocked kernels). */
export function setSubgroupConv(on: boolean): void {
  enabled = on;
}

/** Whether conv2d's forward takes the direct subgroup kernel: lavapipe-like adapter, f32, no groups, output planes a multiple of 4. */
export function convSubgroupEligible(engine: Engine, g: Conv2dGeometry, dtype: string): boolean {
  const [, , ho, wo] = conv2dOutputShape(g);
  return enabled && dtype === 'f32' && g.groups === 1 && subgroupConvSupported({ outHeight: ho, outWidth: wo }) && subgroupMatmulOn(engine);
}

/** The input gradient on it: stride 1 (dx's grid is y's grid read backwards) and x's planes a multiple of 4 as well. */
export function convInputGradSubgroupEligible(engine: Engine, g: Conv2dGeometry, dtype: string): boolean {
  return convSubgroupEligible(engine, g, dtype) && g.stride[0] === 1 && g.stride[1] === 1 && subgroupConvSupported({ outHeight: g.xShape[2], outWidth: g.xShape[3] });
}

function run(engine: Engine, p: SubgroupConvParams, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor): void {
  const spec = subgroupConvKernel(p);
  engine.runtime.run(spec, [{ buffer: x.buffer }, { buffer: w.buffer }, ...(bias ? [{ buffer: bias.buffer }] : []), { buffer: y.buffer, write: true }], spec.uniforms);
}

/** y (N, Cout, Ho, Wo) = conv2d(x, w) + bias, written into y. */
export function conv2dSubgroup(x: Tensor, w: Tensor, bias: Tensor | null, g: Conv2dGeometry, y: Tensor): void {
  const [batch, cin, h, wd] = g.xShape;
  const [cout, , kh, kw] = g.wShape;
  const [, , ho, wo] = conv2dOutputShape(g);
  run(x.engine, {
    batch, channels: cin, height: h, width: wd, rows: cout, outHeight: ho, outWidth: wo, kernel: [kh, kw], stride: g.stride,
    offset: [-g.padding[0], -g.padding[1]], step: g.dilation, rowStride: cin * kh * kw, channelStride: kh * kw, bias: bias !== null,
  }, x, w, bias, y);
}

/** dx (N, Cin, H, W) of a stride-1 conv2d: dx[b, ci, iy, ix] = sum over co, ky, kx of w[co, ci, ky, kx] dy[b, co, iy + pad - ky dil, ix + pad - kx dil]. */
export function conv2dInputGradSubgroup(dy: Tensor, w: Tensor, g: Conv2dGeometry): Tensor {
  const [batch, cin, h, wd] = g.xShape;
  const [cout, , kh, kw] = g.wShape;
  const [, , ho, wo] = conv2dOutputShape(g);
  const dx = dy.engine.empty(g.xShape, 'f32');
  run(dy.engine, {
    batch, channels: cout, height: ho, width: wo, rows: cin, outHeight: h, outWidth: wd, kernel: [kh, kw], stride: [1, 1],
    offset: g.padding, step: [-g.dilation[0], -g.dilation[1]], rowStride: kh * kw, channelStride: cin * kh * kw, bias: false,
  }, dy, w, null, dx);
  return dx;
}

/** Workgroups the weight gradient aims for: enough for both CPU threads to stay busy to the end. */
const WEIGHT_GRAD_WORKGROUPS = 64;

/** dW (Cout, Cin, kh, kw) of conv2d from x and dy: split-K partial sums, then one reduce over the splits. */
export function conv2dWeightGradSubgroup(x: Tensor, dy: Tensor, g: Conv2dGeometry): Tensor {
  const engine = x.engine;
  const [batch, cin, h, wd] = g.xShape;
  const [cout, , kh, kw] = g.wShape;
  const [, , ho, wo] = conv2dOutputShape(g);
  const base = { batch, channels: cin, height: h, width: wd, rows: cout, outHeight: ho, outWidth: wo, kernel: [kh, kw] as [number, number], stride: g.stride, offset: [-g.padding[0], -g.padding[1]] as [number, number], step: g.dilation };
  const size = cout * cin * kh * kw;
  // Splits of at least 4 output rows each, and the partial sums within a 64 MiB scratch.
  const splits = Math.max(1, Math.min(Math.ceil(WEIGHT_GRAD_WORKGROUPS / weightGradTiles(base)), Math.floor((batch * ho) / 4), Math.floor((64 << 20) / 4 / size)));
  const partial = engine.empty(splits > 1 ? [splits, size] : g.wShape, 'f32');
  engine.runtime.run(subgroupWeightGradKernel({ ...base, splits }), [{ buffer: x.buffer }, { buffer: dy.buffer }, { buffer: partial.buffer, write: true }]);
  if (splits === 1) return partial;
  const dw = engine.empty(g.wShape, 'f32');
  engine.runtime.run(reduceKernel({ op: 'sum', view: reduceView([splits, size], 0), dtype: 'f32', layout: rowLayoutFor(engine.report.isSoftware) }), [
    { buffer: partial.buffer }, { buffer: dw.buffer, write: true },
  ]);
  partial.dispose();
  return dw;
}
