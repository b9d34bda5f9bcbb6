// Tensor-level reductions over one axis (PyTorch semantics: negative axes, keepDim defaults to false).
// Backward: sum and mean broadcast dy back over the axis; max sends it to the argmax the forward
// saves (the first maximum on ties, as PyTorch's max(dim)); argmax has no gradient.
import { ShapeError } from '../errors.js';
import { needsGrad, record } from '../graph/autograd.js';
import { reduceBackwardKernel, type ReduceBackwardOp } from '../kernels/reduce-backward.js';
import { reduceKernel, reduceView, rowLayoutFor, type ReduceOp, type ReduceView } from '../kernels/reduce.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat, shapeText } from './checks.js';

/** The shape left after reducing `axis`: the axis removed, or kept as 1. */
export function reducedShape(shape: readonly number[], axis: number, keepDim: boolean): number[] {
  if (shape.length === 0) return [];
  return keepDim ? shape.map((d, i) => (i === axis ? 1 : d)) : shape.filter((_, i) => i !== axis);
}

/** Resolves a possibly negative axis of x; the error names the op and x's shape. */
export function axisOf(op: string, x: Tensor, axis: number): number {
  const rank = Math.max(x.rank, 1); // a scalar takes axis 0 or -1, as in PyTorch
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ShapeError(`${op}: axis ${axis} is out of range for x ${shapeText(x)} (rank ${x.rank})`);
  return a;
}

export function reduce(op: ReduceOp, x: Tensor, axis: number, keepDim = false): Tensor {
  assertFloat(op, x);
  const a = axisOf(op, x, axis);
  const outShape = reducedShape(x.shape, a, keepDim);
  const view = reduceView(x.shape, a);
  if (view.reduce === 0) {
    if (op === 'max' || op === 'argmax') {
      throw new ShapeError(`${op}: axis ${axis} of ${shapeText(x)} is empty, and an empty axis has no ${op === 'max' ? 'maximum' : 'argmax'}`);
    }
    // PyTorch: an empty sum is 0, an empty mean NaN; x has no elements, so neither has its gradient.
    const y = x.engine.fill(outShape, op === 'sum' ? 0 : NaN, x.dtype);
    return record(y, op, [x], () => [x.engine.empty(x.shape, 'f32')]);
  }
  const layout = rowLayoutFor(x.engine.report.isSoftware);
  const run = (kind: ReduceOp, out: Tensor) => {
    if (out.size > 0) x.engine.runtime.run(reduceKernel({ op: kind, view, dtype: x.dtype, layout }), [{ buffer: x.buffer }, { buffer: out.buffer, write: true }]);
    return out;
  };
  if (op === 'argmax') return run('argmax', x.engine.empty(outShape, 'i32')); // integer output: no gradient
  const y = run(op, x.engine.empty(outShape, x.dtype));
  // max's backward needs where each maximum was: saved now, freed once backward has used it.
  const argmaxIndices = op === 'max' && needsGrad(x) ? run('argmax', x.engine.empty(outShape, 'i32')) : null;
  return record(y, op, [x], (dy) => [reduceBackward(op, view, x, dy, argmaxIndices)], argmaxIndices ? [argmaxIndices] : []);
}

/** dx (f32, x's shape) from dy (f32, the reduced shape). */
function reduceBackward(op: ReduceBackwardOp, view: ReduceView, x: Tensor, dy: Tensor, argmaxIndices: Tensor | null): Tensor {
  const dx = x.engine.empty(x.shape, 'f32');
  if (dx.size > 0) {
    x.engine.runtime.run(reduceBackwardKernel({ op, view }), [
      { buffer: dy.buffer }, ...(argmaxIndices ? [{ buffer: argmaxIndices.buffer }] : []), { buffer: dx.buffer, write: true },
    ]);
  }
  return dx;
}

export const sum = (x: Tensor, axis: number, keepDim = false) => reduce('sum', x, axis, keepDim);
export const mean = (x: Tensor, axis: number, keepDim = false) => reduce('mean', x, axis, keepDim);
export const max = (x: Tensor, axis: number, keepDim = false) => reduce('max', x, axis, keepDim);
/** Index of the maximum along `axis` as i32; ties go to the first index, as PyTorch does on CPU. */
export const argmax = (x: Tensor, axis: number, keepDim = false) => reduce('argmax', x, axis, keepDim);
