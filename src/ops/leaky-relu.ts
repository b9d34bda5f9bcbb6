// Tensor-level LeakyReLU (F.leaky_relu, default negative_slope 0.01 as torch.nn.LeakyReLU).
import { ShapeError } from '../errors.js';
import { record } from '../graph/autograd.js';
import { leakyReluBackwardKernel, leakyReluKernel } from '../kernels/leaky-relu.js';
import type { Tensor } from '../tensor/tensor.js';
import { shapeText } from './checks.js';

export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  const op = 'leakyRelu';
  if (x.dtype !== 'f32') throw new ShapeError(`${op}: expects f32, got ${x.dtype} ${shapeText(x)}`);
  if (!Number.isFinite(negativeSlope)) throw new ShapeError(`${op}: negative slope must be finite, got ${negativeSlope}`);
  const engine = x.engine;
  const p = { size: x.size, slope: negativeSlope };
  const y = engine.empty(x.shape);
  if (y.size > 0) engine.runtime.run(leakyReluKernel(p), [{ buffer: x.buffer }, { buffer: y.buffer, write: true }]);
  return record(y, op, [x], (dy) => {
    const dx = engine.empty(x.shape);
    if (dx.size > 0) engine.runtime.run(leakyReluBackwardKernel(p), [{ buffer: x.buffer }, { buffer: dy.buffer }, { buffer: dx.buffer, write: true }]);
    return [dx];
  });
}
