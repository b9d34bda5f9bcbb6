// Tensor-level elementwise ops: validate, allocate the output, dispatch.
import { ShapeError } from '../errors.js';
import {
  BINARY_OPS, binaryBackwardKernel, binaryKernel, broadcastShape, UNARY_OPS, unaryBackwardKernel, unaryKernel, type BinaryOpName, type UnaryOpName,
} from '../kernels/elementwise.js';
import { record } from '../graph/autograd.js';
import { sumToShape } from './broadcast.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat, assertSameEngine } from './checks.js';

export function unary(op: UnaryOpName, x: Tensor, params: number[] = []): Tensor {
  if (!(op in UNARY_OPS)) throw new ShapeError(`unknown unary op '${op}'`);
  assertFloat(op, x);
  const y = x.engine.empty(x.shape, x.dtype);
  if (x.size > 0) x.engine.runtime.run(unaryKernel({ op, size: x.size, dtype: x.dtype, params }), [{ buffer: x.buffer }, { buffer: y.buffer, write: true }]);
  // Backward reads x and this op's output y (the rules in UNARY_OPS use either).
  return record(y, op, [x], (dy) => {
    const dx = x.engine.empty(x.shape, 'f32');
    x.engine.runtime.run(unaryBackwardKernel({ op, size: x.size, params }), [
      { buffer: x.buffer }, { buffer: y.buffer }, { buffer: dy.buffer }, { buffer: dx.buffer, write: true },
    ]);
    return [dx];
  });
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
  return record(y, op, [a, b], (dy) => {
    // d(a + b) is dy for both: no kernel, only a sum over broadcast dims, and nothing for an operand that needs no gradient.
    if (op === 'add') return [a, b].map((t) => (!t.requiresGrad ? null : t.size === dy.size ? dy : sumToShape(dy.engine.copyAs(dy), t.shape)));
    // Full output-shaped gradients for both operands, then summed over broadcast dimensions.
    const da = a.engine.empty(out, 'f32'), db = a.engine.empty(out, 'f32');
    a.engine.runtime.run(binaryBackwardKernel({ op, aShape: a.shape, bShape: b.shape }), [
      { buffer: a.buffer }, { buffer: b.buffer }, { buffer: dy.buffer }, { buffer: da.buffer, write: true }, { buffer: db.buffer, write: true },
    ]);
    return [sumToShape(da, a.shape), sumToShape(db, b.shape)];
  });
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
