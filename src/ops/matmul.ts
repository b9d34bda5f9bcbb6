// matmul with fused epilogue: act(opA(a) @ opB(b) + bias) + residual.
import { ShapeError } from '../errors.js';
import { DEFAULT_TILING, matmulKernel, matmulUniforms, type Activation, type MatmulParams } from '../kernels/matmul.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertSameEngine, shapeText } from './checks.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** (N,), added to every row. */
  bias?: Tensor | null;
  activation?: Activation;
  /** Same shape as the output, added after the activation. */
  residual?: Tensor | null;
}

/**
 * a: (..., M, K) or (..., K, M) with transA; b: (K, N) or (N, K) with transB, or with the same
 * leading dimensions as a (each may also be 1 there, shared across the batch). Output (..., M, N).
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false, bias = null, residual = null, activation = 'none' } = options;
  const op = 'matmul';
  assertSameEngine(op, a, b, ...(bias ? [bias] : []), ...(residual ? [residual] : []));
  for (const t of [a, b, bias, residual]) {
    if (t && t.dtype !== 'f32') throw new ShapeError(`${op}: expects f32 tensors, got ${t.dtype} ${shapeText(t)}`);
  }
  if (a.rank < 2 || b.rank < 2) throw new ShapeError(`${op}: operands need rank >= 2, got ${shapeText(a)} and ${shapeText(b)}`);
  const [aRows, aCols] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const M = transA ? aCols : aRows, K = transA ? aRows : aCols;
  const Kb = transB ? bCols : bRows, N = transB ? bRows : bCols;
  if (K !== Kb) {
    throw new ShapeError(`${op}: inner dimensions differ: ${shapeText(a)}${transA ? 'ᵀ' : ''} @ ${shapeText(b)}${transB ? 'ᵀ' : ''} (${K} vs ${Kb})`);
  }
  const aLead = a.shape.slice(0, -2), bLead = b.shape.slice(0, -2);
  const aBatch = aLead.reduce((x, y) => x * y, 1), bBatch = bLead.reduce((x, y) => x * y, 1);
  let lead: readonly number[];
  if (bLead.length === 0 || bBatch === 1) lead = aLead;
  else if (aLead.length === 0 || aBatch === 1) lead = bLead;
  else if (aLead.length === bLead.length && aLead.every((d, i) => d === bLead[i])) lead = aLead;
  else throw new ShapeError(`${op}: batch dimensions of ${shapeText(a)} and ${shapeText(b)} do not match`);
  const batch = lead.reduce((x, y) => x * y, 1);
  const outShape = [...lead, M, N];
  if (bias && (bias.rank !== 1 || bias.shape[0] !== N)) throw new ShapeError(`${op}: bias must have shape [${N}], got ${shapeText(bias)}`);
  if (residual && (residual.size !== batch * M * N || residual.shape.at(-1) !== N)) {
    throw new ShapeError(`${op}: residual must have the output's shape [${outShape.join(', ')}], got ${shapeText(residual)}`);
  }
  const out = a.engine.empty(outShape, 'f32');
  if (out.size === 0) return out;
  // A batch of A against one shared B is a single taller matmul.
  const fold = bBatch === 1 && !transA && aBatch === batch;
  const params: MatmulParams = {
    batch: fold ? 1 : batch, M: fold ? batch * M : M, N, K, transA, transB,
    batchA: fold ? 1 : aBatch, batchB: bBatch, bias: !!bias, residual: !!residual, activation,
  };
  if (K === 0) throw new ShapeError(`${op}: inner dimension is 0 (${shapeText(a)} @ ${shapeText(b)})`);
  const placeholder = a.engine.placeholderBuffer;
  a.engine.runtime.run(matmulKernel(params, DEFAULT_TILING), [
    { buffer: a.buffer }, { buffer: b.buffer },
    { buffer: bias?.buffer ?? placeholder }, { buffer: residual?.buffer ?? placeholder },
    { buffer: out.buffer, write: true },
  ], matmulUniforms(params));
  return out;
}
