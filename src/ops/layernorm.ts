// Tensor-level layer normalisation: layerNorm over the last axis (F.layer_norm) and layerNorm2d over
// the channels of NCHW input (segment-anything's LayerNorm2d). The *WithStats variants also return
// the per-vector mean and rstd (f32) that the backward pass reuses: when recording, layerNorm and
// layerNorm2d run that variant and keep the stats only until their backward has run.
import type { AdapterReport } from '../device/device.js';
import { ShapeError } from '../errors.js';
import { needsGrad, record } from '../graph/autograd.js';
import type { KernelSpec } from '../kernels/kernel.js';
import {
  layerNorm2dBackwardKernel, layerNorm2dParamsBackwardKernel, layerNormBackwardKernel, layerNormParamsBackwardKernel,
} from '../kernels/layernorm-backward.js';
import { layerNorm2dKernel, layerNormKernel } from '../kernels/layernorm.js';
import { LAYERNORM_SUBGROUP_MAX_LANES } from '../kernels/layernorm-subgroup.js';
import { rowLayoutFor } from '../kernels/reduce.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat, assertRank, assertSameEngine, shapeText } from './checks.js';
import { rowSubgroupLanes } from './row-subgroup.js';

export interface LayerNormResult {
  out: Tensor;
  /** f32, one per normalised vector: x.shape without the normalised axis. */
  mean: Tensor;
  rstd: Tensor;
}

function checkParams(op: string, x: Tensor, weight: Tensor, bias: Tensor, dim: number, what: string): void {
  assertSameEngine(op, x, weight, bias);
  assertFloat(op, x, weight, bias);
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t.rank !== 1 || t.shape[0] !== dim) {
      throw new ShapeError(`${op}: ${name} ${shapeText(t)} does not match ${what} of x ${shapeText(x)} (expected [${dim}])`);
    }
  }
  if (weight.dtype !== bias.dtype) throw new ShapeError(`${op}: weight and bias dtypes differ (${weight.dtype} and ${bias.dtype})`);
}

/** Runs a layernorm kernel into fresh tensors; stats of an empty normalised dimension are NaN, as in PyTorch. */
function normalize(
  x: Tensor, weight: Tensor, bias: Tensor, statsShape: number[], dim: number, saveStats: boolean,
  kernel: () => KernelSpec,
): LayerNormResult | Tensor {
  const engine = x.engine;
  const out = engine.empty(x.shape, x.dtype);
  const stats = saveStats
    ? (dim === 0 ? [engine.fill(statsShape, NaN), engine.fill(statsShape, NaN)] : [engine.empty(statsShape), engine.empty(statsShape)])
    : [];
  if (out.size > 0) {
    engine.runtime.run(kernel(), [
      { buffer: x.buffer }, { buffer: weight.buffer }, { buffer: bias.buffer }, { buffer: out.buffer, write: true },
      ...stats.map((t) => ({ buffer: t.buffer, write: true })),
    ]);
  }
  return saveStats ? { out, mean: stats[0], rstd: stats[1] } : out;
}

function layerNormImpl(x: Tensor, weight: Tensor, bias: Tensor, eps: number, saveStats: boolean): LayerNormResult | Tensor {
  const op = saveStats ? 'layerNormWithStats' : 'layerNorm';
  if (x.rank < 1) throw new ShapeError(`${op}: x must have at least one dimension, got ${shapeText(x)}`);
  const length = x.shape[x.rank - 1];
  checkParams(op, x, weight, bias, length, 'the normalised (last) dimension');
  const rows = x.size / Math.max(length, 1);
  return normalize(x, weight, bias, x.shape.slice(0, -1), length, saveStats, () => layerNormKernel({
    rows, length, eps, dtype: x.dtype, paramDtype: weight.dtype, saveStats, plan: { layout: rowLayoutFor(x.engine.report.isSoftware) },
    subgroupLanes: layerNormSubgroupLanes(x.engine.report),
  }));
}

/** The subgroup size layerNorm's subgroup layout runs at on this adapter, or undefined where it keeps the others (layernorm-subgroup.ts). */
export function layerNormSubgroupLanes(report: AdapterReport): number | undefined {
  const lanes = rowSubgroupLanes(report);
  return lanes !== undefined && lanes <= LAYERNORM_SUBGROUP_MAX_LANES ? lanes : undefined;
}

/** [dx, dweight, dbias] of layerNorm (f32), from the forward's mean and rstd. */
function layerNormBackward(x: Tensor, weight: Tensor, { mean, rstd }: LayerNormResult, dy: Tensor): Tensor[] {
  const engine = x.engine;
  const length = weight.size;
  const rows = x.size / Math.max(length, 1);
  const dx = engine.empty(x.shape, 'f32');
  if (rows === 0 || length === 0) return [dx, engine.zeros(weight.shape), engine.zeros(weight.shape)]; // nothing to sum over
  const dweight = engine.empty(weight.shape, 'f32'), dbias = engine.empty(weight.shape, 'f32');
  const stats = [{ buffer: mean.buffer }, { buffer: rstd.buffer }];
  engine.runtime.run(layerNormBackwardKernel({ rows, length, dtype: x.dtype, paramDtype: weight.dtype, plan: { layout: rowLayoutFor(engine.report.isSoftware) } }), [
    { buffer: x.buffer }, { buffer: weight.buffer }, { buffer: dy.buffer }, ...stats, { buffer: dx.buffer, write: true },
  ]);
  engine.runtime.run(layerNormParamsBackwardKernel({ rows, length, dtype: x.dtype }), [
    { buffer: x.buffer }, { buffer: dy.buffer }, ...stats, { buffer: dweight.buffer, write: true }, { buffer: dbias.buffer, write: true },
  ]);
  return [dx, dweight, dbias];
}

/** Records a layernorm's node: the stats are the node's own (freed after backward) unless the caller asked for them. */
function recordLayerNorm(
  op: string, x: Tensor, weight: Tensor, bias: Tensor, result: LayerNormResult, statsOwned: boolean,
  backwardFn: (x: Tensor, weight: Tensor, stats: LayerNormResult, dy: Tensor) => Tensor[],
): Tensor {
  return record(result.out, op, [x, weight, bias], (dy) => backwardFn(x, weight, result, dy), statsOwned ? [result.mean, result.rstd] : []);
}

/** F.layer_norm(x, [C], weight, bias, eps) over the last axis C (biased variance). */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-5): Tensor {
  if (!needsGrad(x, weight, bias)) return layerNormImpl(x, weight, bias, eps, false) as Tensor;
  const result = layerNormImpl(x, weight, bias, eps, true) as LayerNormResult;
  return recordLayerNorm('layerNorm', x, weight, bias, result, true, layerNormBackward);
}

/** layerNorm, also returning mean and rstd = 1 / sqrt(var + eps) of each row, shape x.shape[:-1] (the caller's to free). */
export function layerNormWithStats(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-5): LayerNormResult {
  const result = layerNormImpl(x, weight, bias, eps, true) as LayerNormResult;
  recordLayerNorm('layerNormWithStats', x, weight, bias, result, false, layerNormBackward);
  return result;
}

function layerNorm2dImpl(x: Tensor, weight: Tensor, bias: Tensor, eps: number, saveStats: boolean): LayerNormResult | Tensor {
  const op = saveStats ? 'layerNorm2dWithStats' : 'layerNorm2d';
  assertRank(op, x, 4, 'x (N, C, H, W)');
  const [batch, channels, h, w] = x.shape;
  checkParams(op, x, weight, bias, channels, 'the channel dimension (1)');
  return normalize(x, weight, bias, [batch, h, w], channels, saveStats, () => layerNorm2dKernel({
    batch, channels, pixels: h * w, eps, dtype: x.dtype, paramDtype: weight.dtype, saveStats,
  }));
}

/** [dx, dweight, dbias] of layerNorm2d (f32), from the forward's mean and rstd. */
function layerNorm2dBackward(x: Tensor, weight: Tensor, { mean, rstd }: LayerNormResult, dy: Tensor): Tensor[] {
  const engine = x.engine;
  const [batch, channels, h, w] = x.shape;
  const dx = engine.empty(x.shape, 'f32');
  if (x.size === 0) return [dx, engine.zeros(weight.shape), engine.zeros(weight.shape)]; // nothing to sum over
  const dweight = engine.empty(weight.shape, 'f32'), dbias = engine.empty(weight.shape, 'f32');
  const p = { batch, channels, pixels: h * w, dtype: x.dtype };
  const stats = [{ buffer: mean.buffer }, { buffer: rstd.buffer }];
  engine.runtime.run(layerNorm2dBackwardKernel({ ...p, paramDtype: weight.dtype }), [
    { buffer: x.buffer }, { buffer: weight.buffer }, { buffer: dy.buffer }, ...stats, { buffer: dx.buffer, write: true },
  ]);
  engine.runtime.run(layerNorm2dParamsBackwardKernel({ ...p, plan: { layout: rowLayoutFor(engine.report.isSoftware) } }), [
    { buffer: x.buffer }, { buffer: dy.buffer }, ...stats, { buffer: dweight.buffer, write: true }, { buffer: dbias.buffer, write: true },
  ]);
  return [dx, dweight, dbias];
}

/** segment-anything's LayerNorm2d: NCHW input normalised over C at each (n, h, w); eps defaults to SAM's 1e-6. */
export function layerNorm2d(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-6): Tensor {
  if (!needsGrad(x, weight, bias)) return layerNorm2dImpl(x, weight, bias, eps, false) as Tensor;
  const result = layerNorm2dImpl(x, weight, bias, eps, true) as LayerNormResult;
  return recordLayerNorm('layerNorm2d', x, weight, bias, result, true, layerNorm2dBackward);
}

/** layerNorm2d, also returning mean and rstd of each (n, h, w), shape (N, H, W) (the caller's to free). */
export function layerNorm2dWithStats(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-6): LayerNormResult {
  const result = layerNorm2dImpl(x, weight, bias, eps, true) as LayerNormResult;
  recordLayerNorm('layerNorm2dWithStats', x, weight, bias, result, false, layerNorm2dBackward);
  return result;
}
