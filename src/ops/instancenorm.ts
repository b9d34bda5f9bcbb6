// Tensor-level instance normalisation: F.instance_norm on NCHW input without running statistics
// (InstanceNorm2d's default), optionally affine. When recording, the forward also writes each
// plane's mean and rstd, kept until the backward has used them.
import { ShapeError } from '../errors.js';
import { needsGrad, record } from '../graph/autograd.js';
import { instanceNormBackwardKernel } from '../kernels/instancenorm-backward.js';
import { instanceNormKernel } from '../kernels/instancenorm.js';
import { rowLayoutFor } from '../kernels/reduce.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertRank, assertSameEngine, shapeText } from './checks.js';
import { sum } from './reduce.js';

export interface InstanceNormOptions {
  /** Per-channel scale (C), with bias: InstanceNorm2d(affine=True). */
  weight?: Tensor | null;
  bias?: Tensor | null;
  eps?: number;
}

function checkF32(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'f32') throw new ShapeError(`${op}: expects f32 tensors, got ${t.dtype} ${shapeText(t)}`);
}

/** F.instance_norm(x, weight=..., bias=..., eps=...) for x (N, C, H, W): statistics over H, W of each (n, c). */
export function instanceNorm2d(x: Tensor, { weight = null, bias = null, eps = 1e-5 }: InstanceNormOptions = {}): Tensor {
  const op = 'instanceNorm2d';
  assertRank(op, x, 4, 'x (N, C, H, W)');
  const [batch, channels, h, w] = x.shape;
  const pixels = h * w;
  const affine = weight !== null || bias !== null;
  if (affine && (!weight || !bias)) throw new ShapeError(`${op}: weight and bias go together (affine), got only one`);
  const params = affine ? [weight!, bias!] : [];
  assertSameEngine(op, x, ...params);
  checkF32(op, x, ...params);
  for (const t of params) {
    if (t.rank !== 1 || t.shape[0] !== channels) throw new ShapeError(`${op}: weight and bias must be [${channels}] for x ${shapeText(x)}, got ${shapeText(t)}`);
  }
  if (pixels === 0) throw new ShapeError(`${op}: x ${shapeText(x)} has empty planes, which have no statistics`);
  const engine = x.engine;
  const grad = needsGrad(x, ...params);
  const out = engine.empty(x.shape);
  const stats = grad ? [engine.empty([batch, channels]), engine.empty([batch, channels])] : [];
  const plan = { layout: rowLayoutFor(engine.report.isSoftware) };
  if (out.size > 0) {
    engine.runtime.run(instanceNormKernel({ batch, channels, pixels, eps, affine, saveStats: grad, plan }), [
      { buffer: x.buffer }, ...params.map((t) => ({ buffer: t.buffer })), { buffer: out.buffer, write: true },
      ...stats.map((t) => ({ buffer: t.buffer, write: true })),
    ]);
  }
  if (!grad) return out;
  const [mean, rstd] = stats;
  return record(out, op, [x, ...params], (dy) => {
    const dx = engine.empty(x.shape);
    if (x.size === 0) return [dx, ...params.map((t) => engine.zeros(t.shape))];
    const planeSums = affine ? [engine.empty([batch, channels]), engine.empty([batch, channels])] : [];
    engine.runtime.run(instanceNormBackwardKernel({ batch, channels, pixels, affine, plan }), [
      { buffer: x.buffer }, ...(affine ? [{ buffer: weight!.buffer }] : []), { buffer: dy.buffer },
      { buffer: mean.buffer }, { buffer: rstd.buffer }, { buffer: dx.buffer, write: true },
      ...planeSums.map((t) => ({ buffer: t.buffer, write: true })),
    ]);
    if (!affine) return [dx];
    const [dweight, dbias] = planeSums.map((t) => sum(t, 0)); // (N, C) -> (C)
    for (const t of planeSums) t.dispose();
    return [dx, dweight, dbias];
  }, stats);
}
