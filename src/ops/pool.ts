// Tensor-level max pooling: F.max_pool2d(x, kernel, stride) on NCHW f32 input (no padding, dilation
// or ceil_mode). When recording, the forward also writes where each maximum was (i32, the output's
// shape) and keeps it until the backward has routed dy through it.
import { ShapeError, UsageError } from '../errors.js';
import { needsGrad, record } from '../graph/autograd.js';
import { maxPool2dBackwardKernel, maxPool2dKernel, maxPool2dOutputSize, type MaxPool2dParams } from '../kernels/pool.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertRank, shapeText } from './checks.js';

type Pair = [number, number];

function positivePair(op: string, name: string, v: number | Pair): Pair {
  const p: Pair = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((d) => Number.isInteger(d) && d >= 1)) throw new UsageError(`${op}: ${name} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  return p;
}

/** x (N, C, H, W) -> (N, C, floor((H - kh) / sh) + 1, floor((W - kw) / sw) + 1); stride defaults to the kernel, as in PyTorch. */
export function maxPool2d(x: Tensor, kernelSize: number | Pair, stride?: number | Pair): Tensor {
  const op = 'maxPool2d';
  assertRank(op, x, 4, 'x (N, C, H, W)');
  if (x.dtype !== 'f32') throw new ShapeError(`${op}: expects f32, got ${x.dtype} ${shapeText(x)}`);
  const kernel = positivePair(op, 'kernelSize', kernelSize);
  const [n, c, height, width] = x.shape;
  if (kernel[0] > height || kernel[1] > width) throw new ShapeError(`${op}: kernel [${kernel}] is larger than the input planes of ${shapeText(x)}`);
  const p: MaxPool2dParams = { planes: n * c, height, width, kernel, stride: positivePair(op, 'stride', stride ?? kernel) };
  const [ho, wo] = maxPool2dOutputSize(p);
  const engine = x.engine;
  const y = engine.empty([n, c, ho, wo]);
  const indices = engine.empty(y.shape, 'i32');
  if (y.size > 0) engine.runtime.run(maxPool2dKernel(p), [{ buffer: x.buffer }, { buffer: y.buffer, write: true }, { buffer: indices.buffer, write: true }]);
  if (!needsGrad(x)) {
    indices.dispose();
    return y;
  }
  return record(y, op, [x], (dy) => {
    const dx = engine.empty(x.shape);
    if (dx.size > 0) engine.runtime.run(maxPool2dBackwardKernel(p), [{ buffer: dy.buffer }, { buffer: indices.buffer }, { buffer: dx.buffer, write: true }]);
    return [dx];
  }, [indices]);
}
