// Tensor-level reductions over one axis (PyTorch semantics: negative axes, keepDim defaults to false).
import { ShapeError } from '../errors.js';
import { reduceKernel, reduceView, rowLayoutFor, type ReduceOp } from '../kernels/reduce.js';
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
  const outDtype = op === 'argmax' ? 'i32' : x.dtype;
  const view = reduceView(x.shape, a);
  if (view.reduce === 0) {
    if (op === 'max' || op === 'argmax') {
      throw new ShapeError(`${op}: axis ${axis} of ${shapeText(x)} is empty, and an empty axis has no ${op === 'max' ? 'maximum' : 'argmax'}`);
    }
    return x.engine.fill(outShape, op === 'sum' ? 0 : NaN, outDtype); // PyTorch: an empty sum is 0, an empty mean NaN
  }
  const y = x.engine.empty(outShape, outDtype);
  if (y.size > 0) {
    const kernel = reduceKernel({ op, view, dtype: x.dtype, layout: rowLayoutFor(x.engine.report.isSoftware) });
    x.engine.runtime.run(kernel, [{ buffer: x.buffer }, { buffer: y.buffer, write: true }]);
  }
  return y;
}

export const sum = (x: Tensor, axis: number, keepDim = false) => reduce('sum', x, axis, keepDim);
export const mean = (x: Tensor, axis: number, keepDim = false) => reduce('mean', x, axis, keepDim);
export const max = (x: Tensor, axis: number, keepDim = false) => reduce('max', x, axis, keepDim);
/** Index of the maximum along `axis` as i32; ties go to the first index, as PyTorch does on CPU. */
export const argmax = (x: Tensor, axis: number, keepDim = false) => reduce('argmax', x, axis, keepDim);
