// Tensor-level elementwise ops: validate, allocate the output, dispatch.
import { ShapeError } from '../errors.js';
import { BINARY_OPS, binaryKernel, broadcastShape, UNARY_OPS, unaryKernel, type BinaryOpName, type UnaryOpName } from '../kernels/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat, assertSameEngine } from './checks.js';

export function unary(op: UnaryOpName, x: Tensor, params: number[] = []): Tensor {
  if (!(op in UNARY_OPS)) throw new ShapeError(`unknown unary op '${op}'`);
  assertFloat(op, x);
  const y = x.engine.empty(x.shape, x.dtype);
  if (x.size > 0) x.engine.runtime.run(unaryKernel({ op, size: x.size, dtype: x.dtype, params }), [{ buffer: x.buffer }, { buffer: y.buffer, write: true }]);
  return y;
}

export function binary(op: BinaryOpName, a: Tensor, b: Tensor): Tensor {
  if (!(op in BINARY_OPS)) throw new ShapeError(`unknown binary op '${op}'`);
  assertSameEngine(op, a, b);
  assertFloat(op, a, b);
  if (a.dtype !== b.dtype) throw new ShapeError(`${op}: dtypes differ (${a.dtype} and ${b.dtype})`);
  const out = broadcastShape(a.shape, b.shape);
  if (!out) throw new ShapeError(`${op}: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] do not broadcast`);
  const y = a.engine.empty(out, a.dtype);
  if (y.size > 0) {
    a.engine.runtime.run(binaryKernel({ op, aShape: a.shape, bShape: b.shape, dtype: a.dtype }), [
      { buffer: a.buffer }, { buffer: b.buffer }, { buffer: y.buffer, write: true },
    ]);
  }
  return y;
}

export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const abs = (x: Tensor) => unary('abs', x);
export const relu = (x: Tensor) => unary('relu', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const gelu = (x: Tensor) => unary('gelu', x);
export const clamp = (x: Tensor, min: number, max: number) => unary('clamp', x, [min, max]);

export const add = (a: Tensor, b: Tensor) => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor) => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor) => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor) => binary('div', a, b);
export const pow = (a: Tensor, b: Tensor) => binary('pow', a, b);
