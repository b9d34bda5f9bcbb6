// Tensor-level data movement: permute, slice, pad, concat, gather, reshape. Tensors are contiguous
// with no views, so each returns a new tensor; moves that are one contiguous run of bytes become a
// buffer copy instead of a dispatch. Each backward is data movement too (the gradient of a move is
// the reverse move), except gather's, which sums the rows of repeated indices.
import { DataError, ShapeError } from '../errors.js';
import { record } from '../graph/autograd.js';
import {
  concatSlabKernel, contiguousSliceRange, padKernel, paddedShape, permuteKernel, permutedShape, resolveSlice,
  simplifyPermutation, sliceBackwardKernel, sliceKernel, type ResolvedSlice,
} from '../kernels/copy.js';
import { gatherBackwardKernel, gatherKernel } from '../kernels/gather.js';
import type { KernelSpec } from '../kernels/kernel.js';
import { BYTES_PER_ELEMENT, numel } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertRank, assertSameEngine, normalizeAxis, shapeText } from './checks.js';

function dispatch(spec: KernelSpec, inputs: Tensor[], out: Tensor): void {
  out.engine.runtime.run(spec, [...inputs.map((t) => ({ buffer: t.buffer })), { buffer: out.buffer, write: true }]);
}

/**
 * Copies `count` elements of x starting at element `from` into y at element `to` with a buffer copy,
 * when the byte range is 4-byte aligned as WebGPU requires (always, for 4-byte dtypes). Returns false
 * when it is not, so the caller dispatches a kernel instead.
 */
function copyRange(x: Tensor, from: number, y: Tensor, to: number, count: number): boolean {
  const bytes = BYTES_PER_ELEMENT[x.dtype];
  if ((from * bytes) % 4 || (to * bytes) % 4 || (count * bytes) % 4) return false;
  if (count > 0) x.engine.runtime.copy(x.buffer, from * bytes, y.buffer, to * bytes, count * bytes);
  return true;
}


function isIntegerList(v: readonly number[]): boolean {
  return v.every((d) => Number.isInteger(d));
}

/**
 * The same data with another shape; one dimension may be -1 (inferred). Always a copy: the Tensor
 * class has no views, and the result is owned (and disposed) independently of x.
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const op = 'reshape';
  const inferred = shape.filter((d) => d === -1).length;
  if (!isIntegerList(shape) || shape.some((d) => d < -1) || inferred > 1) {
    throw new ShapeError(`${op}: shape [${shape.join(', ')}] must be non-negative integers with at most one -1 (input ${shapeText(x)})`);
  }
  const known = numel(shape.filter((d) => d !== -1));
  let resolved = [...shape];
  if (inferred) {
    if (known === 0 || x.size % known !== 0) {
      throw new ShapeError(`${op}: cannot infer the -1 in [${shape.join(', ')}] for input ${shapeText(x)} (${x.size} elements)`);
    }
    resolved = shape.map((d) => (d === -1 ? x.size / known : d));
  }
  if (numel(resolved) !== x.size) {
    throw new ShapeError(`${op}: input ${shapeText(x)} has ${x.size} elements, shape [${shape.join(', ')}] holds ${numel(resolved)}`);
  }
  // dy has y's shape and x's element count: the gradient is dy's data with x's shape.
  return record(x.engine.copyAs(x, resolved), op, [x], (dy) => [dy.engine.copyAs(dy, x.shape)]);
}

/** x.permute(perm): output dim k is input dim perm[k] (negative entries count from the end). */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const op = 'permute';
  const normalized = perm.map((p) => (p < 0 ? p + x.rank : p));
  const valid = perm.length === x.rank && isIntegerList(normalized)
    && [...normalized].sort((a, b) => a - b).every((p, k) => p === k);
  if (!valid) throw new ShapeError(`${op}: [${perm.join(', ')}] is not a permutation of the ${x.rank} dims of ${shapeText(x)}`);
  // dy is laid out as x.permute(perm); permuting it by the inverse brings dim perm[k] back to place.
  const inverse = new Array<number>(normalized.length);
  normalized.forEach((p, k) => { inverse[p] = k; });
  return record(permuted(x, normalized), op, [x], (dy) => [permuted(dy, inverse)]);
}

/**
 * reshape(x, viewShape).permute(perm), then (optionally) reshaped to outShape, as one dispatch and one
 * recorded node: no intermediate copy for the reshapes (which copy in this engine) and nothing extra
 * kept alive for backward. Attention's head split and merge are this.
 */
export function permuteView(x: Tensor, viewShape: readonly number[], perm: readonly number[], outShape?: readonly number[]): Tensor {
  const op = 'permuteView';
  if (!isIntegerList(viewShape) || viewShape.some((d) => d < 0) || numel(viewShape) !== x.size) {
    throw new ShapeError(`${op}: view [${viewShape.join(', ')}] does not hold the ${x.size} elements of ${shapeText(x)}`);
  }
  const valid = perm.length === viewShape.length && isIntegerList(perm) && [...perm].sort((a, b) => a - b).every((p, k) => p === k);
  if (!valid) throw new ShapeError(`${op}: [${perm.join(', ')}] is not a permutation of the ${viewShape.length} dims of the view [${viewShape.join(', ')}]`);
  const permutedView = permutedShape(viewShape, perm);
  const finalShape = outShape ?? permutedView;
  if (!isIntegerList(finalShape) || numel(finalShape) !== x.size) {
    throw new ShapeError(`${op}: output shape [${finalShape.join(', ')}] does not hold the ${x.size} elements of ${shapeText(x)}`);
  }
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, k) => { inverse[p] = k; });
  return record(permutedInto(x, viewShape, perm, finalShape), op, [x], (dy) => [permutedInto(dy, permutedView, inverse, x.shape)]);
}

/** The data of x read as viewShape, permuted by perm, in a new tensor of outShape (same size). */
function permutedInto(x: Tensor, viewShape: readonly number[], perm: readonly number[], outShape: readonly number[]): Tensor {
  const simple = simplifyPermutation(viewShape, perm);
  if (simple.perm.length <= 1) return x.engine.copyAs(x, outShape);
  const y = x.engine.empty(outShape, x.dtype);
  if (y.size > 0) dispatch(permuteKernel({ shape: simple.shape, perm: simple.perm, dtype: x.dtype }), [x], y);
  return y;
}

/** x.permute(perm) for a validated, non-negative perm. */
function permuted(x: Tensor, perm: readonly number[]): Tensor {
  const outShape = permutedShape(x.shape, perm);
  const simple = simplifyPermutation(x.shape, perm);
  if (simple.perm.length <= 1) return x.engine.copyAs(x, outShape);
  const y = x.engine.empty(outShape, x.dtype);
  dispatch(permuteKernel({ shape: simple.shape, perm: simple.perm, dtype: x.dtype }), [x], y);
  return y;
}

/**
 * Python slicing x[starts[0]:ends[0]:steps[0], ...] for positive steps: negative bounds count from
 * the end and out-of-range bounds are clamped, so a slice is never an error, at worst empty. Dims past
 * starts.length are taken whole; ±Infinity bounds mean "from the very start / to the very end".
 */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[], steps?: readonly number[]): Tensor {
  const op = 'slice';
  const args = `starts [${starts.join(', ')}], ends [${ends.join(', ')}]${steps ? `, steps [${steps.join(', ')}]` : ''}`;
  const bound = (v: number) => Number.isInteger(v) || v === Infinity || v === -Infinity;
  if (starts.length !== ends.length || (steps && steps.length !== starts.length) || starts.length > x.rank) {
    throw new ShapeError(`${op}: ${args} must have equal lengths of at most the rank of ${shapeText(x)}`);
  }
  if (!starts.every(bound) || !ends.every(bound)) throw new ShapeError(`${op}: bounds must be integers (${args}, input ${shapeText(x)})`);
  if (steps && !steps.every((s) => Number.isInteger(s) && s > 0)) {
    throw new ShapeError(`${op}: steps must be positive integers (${args}, input ${shapeText(x)})`);
  }
  const s = resolveSlice(x.shape, starts, ends, steps);
  return record(sliced(x, s), op, [x], (dy) => [unsliced(dy, x.shape, s)]);
}

/** The elements of x that a resolved slice takes. */
function sliced(x: Tensor, s: ResolvedSlice): Tensor {
  const y = x.engine.empty(s.shape, x.dtype);
  if (y.size === 0) return y;
  const range = contiguousSliceRange(x.shape, s);
  if (range && copyRange(x, range.offset, y, 0, range.length)) return y;
  dispatch(sliceKernel({ inShape: x.shape, slice: s, dtype: x.dtype }), [x], y);
  return y;
}

/** The adjoint of sliced: dy placed where the slice read, in zeros of inShape. */
function unsliced(dy: Tensor, inShape: readonly number[], s: ResolvedSlice): Tensor {
  if (dy.size === 0) return dy.engine.zeros(inShape, dy.dtype);
  const dx = dy.engine.empty(inShape, dy.dtype);
  dispatch(sliceBackwardKernel({ inShape, slice: s, dtype: dy.dtype }), [dy], dx);
  return dx;
}

/** The slice taking [offsets[k], offsets[k] + shape[k]) of every dim, step 1. */
function boxSlice(offsets: readonly number[], shape: readonly number[]): ResolvedSlice {
  return { starts: [...offsets], steps: shape.map(() => 1), shape: [...shape] };
}

/**
 * Constant padding: pads[k] = [before, after] for dim k, from the first dim (unlike F.pad, which
 * lists the last dim first); dims past pads.length are not padded. Negative pads (cropping) are
 * refused: use slice.
 */
export function pad(x: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  const op = 'pad';
  const text = `[${pads.map((p) => `[${p.join(', ')}]`).join(', ')}]`;
  if (pads.length > x.rank || !pads.every((p) => p.length === 2 && p.every((v) => Number.isInteger(v) && v >= 0))) {
    throw new ShapeError(`${op}: pads ${text} must be one [before, after] pair of non-negative integers per leading dim of ${shapeText(x)} (crop with slice)`);
  }
  if (x.dtype === 'i32' || x.dtype === 'u32') {
    const ok = Number.isInteger(value) && (x.dtype === 'i32' ? value >= -(2 ** 31) && value < 2 ** 31 : value >= 0 && value < 2 ** 32);
    if (!ok) throw new ShapeError(`${op}: value ${value} does not fit a ${x.dtype} tensor ${shapeText(x)}`);
  }
  const outShape = paddedShape(x.shape, pads);
  let y: Tensor;
  if (x.size === 0) {
    y = x.engine.fill(outShape, value, x.dtype);
  } else {
    y = x.engine.empty(outShape, x.dtype);
    dispatch(padKernel({ inShape: x.shape, pads, value, dtype: x.dtype }), [x], y);
  }
  // The padding is a constant: only the interior, where x was copied, has a gradient.
  const interior = boxSlice(x.shape.map((_, k) => pads[k]?.[0] ?? 0), x.shape);
  return record(y, op, [x], (dy) => [sliced(dy, interior)]);
}

/** torch.cat(tensors, axis): one dispatch (or buffer copy) per input, each writing its own slab. */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  const op = 'concat';
  if (tensors.length === 0) throw new ShapeError(`${op}: needs at least one tensor`);
  const first = tensors[0];
  assertSameEngine(op, ...tensors);
  const a = normalizeAxis(op, axis, first.rank);
  for (const t of tensors) {
    if (t.dtype !== first.dtype) throw new ShapeError(`${op}: dtypes differ (${first.dtype} ${shapeText(first)} and ${t.dtype} ${shapeText(t)})`);
    if (t.rank !== first.rank || t.shape.some((d, k) => k !== a && d !== first.shape[k])) {
      throw new ShapeError(`${op}: shapes ${shapeText(first)} and ${shapeText(t)} differ outside axis ${axis}`);
    }
  }
  const outShape = [...first.shape];
  outShape[a] = tensors.reduce((n, t) => n + t.shape[a], 0);
  const y = first.engine.empty(outShape, first.dtype);
  const outer = numel(first.shape.slice(0, a)), inner = numel(first.shape.slice(a + 1));
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    const along = t.shape[a];
    if (t.size > 0 && !(outer === 1 && copyRange(t, 0, y, offset * inner, t.size))) {
      dispatch(concatSlabKernel({ outer, along, inner, totalAlong: outShape[a], offset, dtype: t.dtype }), [t], y);
    }
    offsets.push(offset);
    offset += along;
  }
  // Each input's gradient is its slab of dy.
  return record(y, op, [...tensors], (dy) => tensors.map((t, j) => {
    if (!t.requiresGrad) return null;
    return sliced(dy, boxSlice(t.shape.map((_, k) => (k === a ? offsets[j] : 0)), t.shape));
  }));
}

/**
 * Embedding lookup: table (V, D), indices of any shape (i32 or u32) -> (...indices.shape, D).
 * An index outside [0, V) yields a row of zeros (the shader guards every read; see kernels/gather.ts).
 * Indices given as host data are checked here and raise DataError instead.
 */
export function gather(table: Tensor, indices: Tensor | Int32Array | readonly number[], indexShape?: readonly number[]): Tensor {
  const op = 'gather';
  assertRank(op, table, 2, 'table (V, D)');
  const [vocab, dim] = table.shape;
  let idx: Tensor;
  if (Array.isArray(indices) || indices instanceof Int32Array) {
    const host = Int32Array.from(indices as ArrayLike<number>);
    const bad = host.findIndex((v, i) => v < 0 || v >= vocab || v !== (indices as ArrayLike<number>)[i]);
    if (bad >= 0) throw new DataError(`${op}: index ${(indices as ArrayLike<number>)[bad]} at position ${bad} is outside table ${shapeText(table)} (valid 0..${vocab - 1})`);
    idx = table.engine.tensor(host, indexShape ?? [host.length], 'i32');
  } else {
    idx = indices as Tensor;
    if (indexShape) throw new ShapeError(`${op}: indexShape is only for host indices; the index tensor has shape ${shapeText(idx)}`);
    assertSameEngine(op, table, idx);
    if (idx.dtype !== 'i32' && idx.dtype !== 'u32') throw new ShapeError(`${op}: indices must be i32 or u32, got ${idx.dtype} ${shapeText(idx)}`);
  }
  // Indices uploaded here belong to this op: the backward reads them, then they go back to the pool
  // (right away when nothing is recorded; a later write to that buffer is queued after this dispatch).
  const owned = idx !== indices ? [idx] : [];
  const indexDtype = idx.dtype as 'i32' | 'u32';
  try {
    if (vocab === 0 && idx.size * dim > 0) throw new ShapeError(`${op}: table ${shapeText(table)} is empty`);
    const y = table.engine.empty([...idx.shape, dim], table.dtype);
    if (y.size > 0) dispatch(gatherKernel({ vocab, dim, count: idx.size, dtype: table.dtype, indexDtype }), [table, idx], y);
    // The indices get no gradient; a caller's index tensor must live until backward has run.
    return record(y, op, [table], (dy) => {
      if (dy.size === 0 || table.size === 0) return [table.engine.zeros(table.shape)];
      const dTable = table.engine.empty(table.shape, 'f32');
      dispatch(gatherBackwardKernel({ vocab, dim, count: idx.size, indexDtype }), [dy, idx], dTable);
      return [dTable];
    }, owned);
  } catch (err) {
    for (const t of owned) t.dispose();
    throw err;
  }
}
