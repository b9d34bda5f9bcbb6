// matmul with fused epilogue: act(opA(a) @ opB(b) + bias) + residual, and its backward.
import { ShapeError } from '../errors.js';
import { needsGrad, record } from '../graph/autograd.js';
import type { KernelSpec } from '../kernels/kernel.js';
import { DEFAULT_TILING, matmulKernel, matmulUniforms, type Activation, type MatmulParams } from '../kernels/matmul.js';
import { SUBGROUP_LANES, SUBGROUP_MATMUL_LANES, subgroupMatmulKernel, subgroupMatmulSupported } from '../kernels/matmul-subgroup.js';
import type { Engine } from '../engine.js';
import { numel } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { sumToShape } from './broadcast.js';
import { assertSameEngine, shapeText } from './checks.js';
import { add, unary } from './elementwise.js';
import { reduce } from './reduce.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** (N,), added to every row. */
  bias?: Tensor | null;
  activation?: Activation;
  /** Same shape as the output, added after the activation. */
  residual?: Tensor | null;
}

interface Plan {
  params: MatmulParams;
  outShape: number[];
  /** Batch dimensions of the output, and of each operand (a shared operand has batch 1). */
  batch: number;
  aBatch: number;
  bBatch: number;
}

function plan(a: Tensor, b: Tensor, transA: boolean, transB: boolean, bias: Tensor | null, residual: Tensor | null, activation: Activation): Plan {
  const op = 'matmul';
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
  if (K === 0) throw new ShapeError(`${op}: inner dimension is 0 (${shapeText(a)} @ ${shapeText(b)})`);
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
  // A batch of A against one shared B is a single taller matmul.
  const fold = bBatch === 1 && !transA && aBatch === batch;
  const params: MatmulParams = {
    batch: fold ? 1 : batch, M: fold ? batch * M : M, N, K, transA, transB,
    batchA: fold ? 1 : aBatch, batchB: bBatch, bias: !!bias, residual: !!residual, activation,
  };
  return { params, outShape, batch, aBatch, bBatch };
}

/** Per engine: the subgroup size the subgroup matmul runs at (4 or 8), or null where it does not. */
const subgroupEngines = new WeakMap<Engine, number | null>();

/**
 * The subgroup matmul's lane count where it pays and is correct: software adapters (lavapipe, where it
 * is 4-5x faster, and SwiftShader, about 3x; on a discrete GPU it would be a slow 8-lane workgroup) whose
 * subgroups have one fixed size the kernel is written for (one workgroup is one subgroup). Otherwise null.
 */
export function subgroupMatmulLanes(engine: Engine): number | null {
  let lanes = subgroupEngines.get(engine);
  if (lanes === undefined) {
    const size = engine.report.subgroupSize;
    lanes = engine.report.isSoftware && size !== undefined && SUBGROUP_MATMUL_LANES.includes(size) ? size : null;
    subgroupEngines.set(engine, lanes);
  }
  return lanes;
}

/**
 * Whether the 8-lane (lavapipe) paths apply: the direct subgroup conv kernels (written for 8 lanes) and
 * SAM's composed attention, measured faster only there. conv as GEMM follows subgroupMatmulLanes.
 */
export function subgroupMatmulOn(engine: Engine): boolean {
  return subgroupMatmulLanes(engine) === SUBGROUP_LANES;
}

/** Turns the subgroup paths (subgroup matmul, conv as GEMM) off or back on for one engine: benchmarks compare both. */
export function setSubgroupMatmul(engine: Engine, enabled: boolean): void {
  subgroupEngines.delete(engine);
  if (!enabled) subgroupEngines.set(engine, null);
}

/**
 * The kernel for these params on this engine: bindings (A, B, Bias, R, C) and uniforms
 * (matmulUniforms) are the same for both, so callers need not know which one runs.
 */
export function matmulKernelFor(engine: Engine, p: MatmulParams): KernelSpec {
  const lanes = subgroupMatmulLanes(engine);
  return lanes !== null && subgroupMatmulSupported(p) ? subgroupMatmulKernel(p, undefined, lanes) : matmulKernel(p, DEFAULT_TILING);
}

function dispatch(a: Tensor, b: Tensor, bias: Tensor | null, residual: Tensor | null, p: Plan): Tensor {
  const out = a.engine.empty(p.outShape, 'f32');
  if (out.size === 0) return out;
  const placeholder = a.engine.placeholderBuffer;
  a.engine.runtime.run(matmulKernelFor(a.engine, p.params), [
    { buffer: a.buffer }, { buffer: b.buffer },
    { buffer: bias?.buffer ?? placeholder }, { buffer: residual?.buffer ?? placeholder },
    { buffer: out.buffer, write: true },
  ], matmulUniforms(p.params));
  return out;
}

/**
 * a: (..., M, K) or (..., K, M) with transA; b: (K, N) or (N, K) with transB, or with the same
 * leading dimensions as a (each may also be 1 there, shared across the batch). Output (..., M, N).
 *
 * Without autograd the whole epilogue is fused into one kernel. When a gradient is needed, the
 * activation and residual run as their own recorded ops, so the pre-activation is kept for backward.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false, bias = null, residual = null, activation = 'none' } = options;
  assertSameEngine('matmul', a, b, ...(bias ? [bias] : []), ...(residual ? [residual] : []));
  if (!needsGrad(a, b, bias, residual)) {
    return dispatch(a, b, bias, residual, plan(a, b, transA, transB, bias, residual, activation));
  }
  const p = plan(a, b, transA, transB, bias, null, 'none');
  const z = record(dispatch(a, b, bias, null, p), 'matmul', bias ? [a, b, bias] : [a, b], (dz) => matmulBackward(a, b, bias, dz, transA, transB, p));
  const h = activation === 'none' ? z : unary(activation, z);
  return residual ? add(h, residual) : h;
}

/** Gradients of z = opA(a) @ opB(b) + bias with respect to a, b and bias. */
function matmulBackward(a: Tensor, b: Tensor, bias: Tensor | null, dz: Tensor, transA: boolean, transB: boolean, p: Plan): (Tensor | null)[] {
  // dz viewed with the output's batch: (batch, M, N).
  const grads: (Tensor | null)[] = [];
  // dA: !transA: dz @ opB(B)ᵀ -> (M, K); transA: opB(B) @ dzᵀ -> (K, M).
  const aGrad = a.requiresGrad
    ? transA
      ? raw(b, dz, { transA: transB, transB: true }, p.bBatch, p.batch)
      : raw(dz, b, { transA: false, transB: !transB }, p.batch, p.bBatch)
    : null;
  grads.push(aGrad && toOperandShape(aGrad, a.shape));
  // dB: !transB: opA(A)ᵀ @ dz -> (K, N); transB: dzᵀ @ opA(A) -> (N, K).
  const bGrad = b.requiresGrad
    ? transB
      ? raw(dz, a, { transA: true, transB: transA }, p.batch, p.aBatch)
      : raw(a, dz, { transA: !transA, transB: false }, p.aBatch, p.batch)
    : null;
  grads.push(bGrad && toOperandShape(bGrad, b.shape));
  if (bias) grads.push(bias.requiresGrad ? sumToShape(dz.engine.copyAs(dz), [dz.shape.at(-1)!]) : null);
  return grads;
}

/** Plain matmul of 3-D views (batch, rows, cols) of x and y, each with its own batch count (1 = shared). */
function raw(x: Tensor, y: Tensor, t: { transA: boolean; transB: boolean }, xBatch: number, yBatch: number): Tensor {
  const [xr, xc] = x.shape.slice(-2), [yr, yc] = y.shape.slice(-2);
  const M = t.transA ? xc : xr, K = t.transA ? xr : xc, N = t.transB ? yr : yc;
  const batch = Math.max(xBatch, yBatch);
  const params: MatmulParams = { batch, M, N, K, ...t, batchA: xBatch, batchB: yBatch, bias: false, residual: false, activation: 'none' };
  const out = x.engine.empty([batch, M, N], 'f32');
  const placeholder = x.engine.placeholderBuffer;
  x.engine.runtime.run(matmulKernelFor(x.engine, params), [
    { buffer: x.buffer }, { buffer: y.buffer }, { buffer: placeholder }, { buffer: placeholder }, { buffer: out.buffer, write: true },
  ], matmulUniforms(params));
  return out;
}

/**
 * A (batch, r, c) gradient in the operand's own shape: as is when the operand was batched, summed
 * over the batch when it was shared. Takes ownership of g.
 */
function toOperandShape(g: Tensor, operandShape: readonly number[]): Tensor {
  const summed = g.size === numel(operandShape) ? g : reduce('sum', g, 0, false);
  if (summed !== g) g.dispose();
  const out = summed.engine.copyAs(summed, operandShape);
  summed.dispose();
  return out;
}
