// Data-movement kernels: permute, slice, constant pad and one slab of a concat. Each is one invocation
// per output element with the shapes and strides baked into the WGSL. They move bits, never values:
// every 4-byte dtype is copied as u32 (bit-exact for NaN payloads, and f32/i32/u32 share one pipeline),
// f16 as f16.
import { floatToHalfBits, numel, type DType, type HostArray } from '../tensor/dtype.js';
import { bindingDecls, dispatchLinear, stridesOf, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';

const WORKGROUP = 256;

/** The WGSL element type copies use for a dtype. */
export function copyElementType(dtype: DType): string {
  return dtype === 'f16' ? 'f16' : 'u32';
}

/** A WGSL constant holding `value` stored as `dtype`, in the type copyElementType gives. */
export function fillLiteral(value: number, dtype: DType): string {
  switch (dtype) {
    case 'f32': return `${new Uint32Array(new Float32Array([value]).buffer)[0]}u`;
    case 'i32': return `${(value | 0) >>> 0}u`;
    case 'u32': return `${value >>> 0}u`;
    case 'f16': return `bitcast<vec2<f16>>(${floatToHalfBits(value)}u).x`;
  }
}

/** The shader every copy kernel shares: `body` computes Y[i] for one output index `i < size`. */
export function copyShader(p: { name: string; dtype: DType; inputs: { name: string; type: string }[]; size: number; body: string }): KernelSpec {
  const T = copyElementType(p.dtype);
  const wgsl = `${T === 'f16' ? 'enable f16;\n' : ''}${bindingDecls([
    ...p.inputs.map((b) => ({ name: b.name, kind: 'read' as const, type: b.type })),
    { name: 'Y', kind: 'read_write', type: `array<${T}>` },
  ])}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= ${p.size}u) { return; }
  ${p.body}
}`;
  return { name: p.name, wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(p.size / WORKGROUP)) };
}

/** WGSL for the k-th coordinate of the linear index `i` in `shape` (no modulo needed for k = 0). */
function coordinate(shape: readonly number[], k: number): string {
  const stride = stridesOf(shape)[k];
  const q = stride === 1 ? 'i' : `(i / ${stride}u)`;
  return k === 0 ? q : `(${q} % ${shape[k]}u)`;
}

/** WGSL for sum_k coordinate_k(i) * coefs[k] (+ base), the input offset of output element i. */
function offsetExpression(shape: readonly number[], coefs: readonly number[], base = 0): string {
  const terms = shape.flatMap((d, k) => {
    if (d === 1 || coefs[k] === 0) return [];
    const c = coordinate(shape, k);
    return [coefs[k] === 1 ? c : `${c} * ${coefs[k]}u`];
  });
  if (base !== 0) terms.push(`${base}u`);
  return terms.length ? terms.join(' + ') : '0u';
}

// ---- permute ------------------------------------------------------------------------------------

export function permutedShape(shape: readonly number[], perm: readonly number[]): number[] {
  return perm.map((p) => shape[p]);
}

/**
 * The same permutation on fewer dimensions: size-1 dims are dropped and input dims that stay adjacent
 * and in order in the output are merged, e.g. (B, H, W, C) -> (B, C, H, W) is (B, HW, C) -> (B, C, HW).
 * Returns rank <= 1 when the permutation moves nothing (a plain copy).
 */
export function simplifyPermutation(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  const kept = perm.filter((p) => shape[p] !== 1);
  // Runs of output positions whose input dims are consecutive become one dim.
  const runs: number[][] = [];
  for (const p of kept) {
    const last = runs[runs.length - 1];
    const prevKept = last ? last[last.length - 1] : -2;
    // p follows prevKept in the input once size-1 dims in between are ignored
    const adjacent = last && p > prevKept && shape.slice(prevKept + 1, p).every((d) => d === 1);
    if (adjacent) last.push(p);
    else runs.push([p]);
  }
  const byInputOrder = [...runs].sort((a, b) => a[0] - b[0]);
  return {
    shape: byInputOrder.map((run) => run.reduce((n, p) => n * shape[p], 1)),
    perm: runs.map((run) => byInputOrder.indexOf(run)),
  };
}

/** Y = X.permute(perm) for a shape already simplified (simplifyPermutation). */
export function permuteKernel(p: { shape: readonly number[]; perm: readonly number[]; dtype: DType }): KernelSpec {
  const outShape = permutedShape(p.shape, p.perm);
  const inStrides = stridesOf(p.shape);
  return copyShader({
    name: 'permute', dtype: p.dtype, size: numel(outShape),
    inputs: [{ name: 'X', type: `array<${copyElementType(p.dtype)}>` }],
    body: `Y[i] = X[${offsetExpression(outShape, p.perm.map((d) => inStrides[d]))}];`,
  });
}

// ---- slice --------------------------------------------------------------------------------------

/** A slice resolved against a shape: one start, positive step and length per dim. */
export interface ResolvedSlice { starts: number[]; steps: number[]; shape: number[] }

/**
 * Python slicing semantics for positive steps: negative bounds count from the end, then both bounds
 * are clamped to [0, n]; dims past starts.length are taken whole. Arguments must already be valid.
 */
export function resolveSlice(shape: readonly number[], starts: readonly number[], ends: readonly number[], steps?: readonly number[]): ResolvedSlice {
  const bound = (v: number, n: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
  const out: ResolvedSlice = { starts: [], steps: [], shape: [] };
  shape.forEach((n, k) => {
    const start = k < starts.length ? bound(starts[k], n) : 0;
    const end = k < ends.length ? bound(ends[k], n) : n;
    const step = steps?.[k] ?? 1;
    out.starts.push(start);
    out.steps.push(step);
    out.shape.push(Math.max(0, Math.ceil((end - start) / step)));
  });
  return out;
}

/** The element range [offset, offset + length) a slice reads when it is one contiguous run, else null. */
export function contiguousSliceRange(shape: readonly number[], s: ResolvedSlice): { offset: number; length: number } | null {
  const strides = stridesOf(shape);
  const offset = s.starts.reduce((acc, start, k) => acc + start * strides[k], 0);
  // Contiguous iff every dim after the first partial one is whole and everything before it is a single index.
  let k = 0;
  while (k < shape.length && s.shape[k] === 1) k++;
  if (k < shape.length && s.steps[k] !== 1) return null;
  for (let j = k + 1; j < shape.length; j++) if (s.shape[j] !== shape[j]) return null;
  return { offset, length: numel(s.shape) };
}

export function sliceKernel(p: { inShape: readonly number[]; slice: ResolvedSlice; dtype: DType }): KernelSpec {
  const inStrides = stridesOf(p.inShape);
  const base = p.slice.starts.reduce((acc, start, k) => acc + start * inStrides[k], 0);
  return copyShader({
    name: 'slice', dtype: p.dtype, size: numel(p.slice.shape),
    inputs: [{ name: 'X', type: `array<${copyElementType(p.dtype)}>` }],
    body: `Y[i] = X[${offsetExpression(p.slice.shape, p.slice.steps.map((step, k) => step * inStrides[k]), base)}];`,
  });
}

/**
 * The adjoint of a slice: dX (inShape) holds dY (slice.shape) where the slice read and 0 elsewhere.
 * One invocation per element of dX, so every element is written once and no zeroing pass is needed;
 * steps > 1 leave the elements between the taken ones at 0.
 */
export function sliceBackwardKernel(p: { inShape: readonly number[]; slice: ResolvedSlice; dtype: DType }): KernelSpec {
  const s = p.slice;
  const dyStrides = stridesOf(s.shape);
  const lines: string[] = [];
  const terms: string[] = [];
  const tests: string[] = [];
  p.inShape.forEach((n, k) => {
    if (n === 1) return; // coordinate 0, taken (an empty slice never reaches a kernel)
    const c = coordinate(p.inShape, k);
    if (s.starts[k] === 0 && s.steps[k] === 1 && s.shape[k] === n) {
      lines.push(`let q${k} = ${c};`);
    } else {
      // c - start wraps around below zero, so the one unsigned bound test covers both sides.
      lines.push(`let d${k} = ${c}${s.starts[k] ? ` - ${s.starts[k]}u` : ''};`);
      lines.push(`let q${k} = ${s.steps[k] === 1 ? `d${k}` : `d${k} / ${s.steps[k]}u`};`);
      if (s.steps[k] !== 1) tests.push(`d${k} % ${s.steps[k]}u == 0u`);
      tests.push(`q${k} < ${s.shape[k]}u`);
    }
    if (s.shape[k] !== 1) terms.push(dyStrides[k] === 1 ? `q${k}` : `q${k} * ${dyStrides[k]}u`);
  });
  const last = Math.max(numel(s.shape) - 1, 0);
  return copyShader({
    name: 'slice_backward', dtype: p.dtype, size: numel(p.inShape),
    inputs: [{ name: 'X', type: `array<${copyElementType(p.dtype)}>` }],
    body: `${lines.join('\n  ')}
  let inside = ${tests.length ? tests.join(' && ') : 'true'};
  // The clamp keeps the (discarded) read for an element outside the slice inside dY.
  Y[i] = select(${fillLiteral(0, p.dtype)}, X[min(${terms.length ? terms.join(' + ') : '0u'}, ${last}u)], inside);`,
  });
}

// ---- pad ----------------------------------------------------------------------------------------

export function paddedShape(shape: readonly number[], pads: readonly (readonly [number, number])[]): number[] {
  return shape.map((d, k) => d + (pads[k]?.[0] ?? 0) + (pads[k]?.[1] ?? 0));
}

/** Constant padding; pads[k] = [before, after] (non-negative) for dim k, missing trailing dims unpadded. */
export function padKernel(p: { inShape: readonly number[]; pads: readonly (readonly [number, number])[]; value: number; dtype: DType }): KernelSpec {
  const outShape = paddedShape(p.inShape, p.pads);
  const inStrides = stridesOf(p.inShape);
  const lines: string[] = [];
  const terms: string[] = [];
  const tests: string[] = [];
  outShape.forEach((d, k) => {
    if (d === 1) return;
    const before = p.pads[k]?.[0] ?? 0, after = p.pads[k]?.[1] ?? 0;
    // c - before wraps around below zero, so one unsigned comparison tests both borders.
    lines.push(`let c${k} = ${coordinate(outShape, k)}${before ? ` - ${before}u` : ''};`);
    if (before || after) tests.push(`c${k} < ${p.inShape[k]}u`);
    terms.push(inStrides[k] === 1 ? `c${k}` : `c${k} * ${inStrides[k]}u`);
  });
  const inside = tests.length ? tests.join(' && ') : 'true';
  // The clamp keeps the (discarded) read of a padding element inside X.
  const last = Math.max(numel(p.inShape) - 1, 0);
  return copyShader({
    name: 'pad', dtype: p.dtype, size: numel(outShape),
    inputs: [{ name: 'X', type: `array<${copyElementType(p.dtype)}>` }],
    body: `${lines.join('\n  ')}
  let inside = ${inside};
  Y[i] = select(${fillLiteral(p.value, p.dtype)}, X[min(${terms.length ? terms.join(' + ') : '0u'}, ${last}u)], inside);`,
  });
}

// ---- concat -------------------------------------------------------------------------------------

/**
 * Writes one input of a concat into its slab of Y. Shapes are viewed as (outer, along, inner) around
 * the axis; this input covers [offset, offset + along) of the output's `totalAlong`.
 */
export function concatSlabKernel(p: { outer: number; along: number; inner: number; totalAlong: number; offset: number; dtype: DType }): KernelSpec {
  const slab = p.along * p.inner;
  const dst = p.outer === 1
    ? `i + ${p.offset * p.inner}u`
    : `(i / ${slab}u) * ${p.totalAlong * p.inner}u + i % ${slab}u + ${p.offset * p.inner}u`;
  return copyShader({
    name: 'concat_slab', dtype: p.dtype, size: p.outer * slab,
    inputs: [{ name: 'X', type: `array<${copyElementType(p.dtype)}>` }],
    body: `Y[${dst}] = X[i];`,
  });
}

// ---- plain TypeScript references --------------------------------------------------------------

export function like<T extends HostArray>(x: T, n: number): T {
  return new (x.constructor as new (n: number) => T)(n);
}

/** Calls fn with the coordinates of every element of `shape`, in row-major order. */
export function forEachCoordinate(shape: readonly number[], fn: (coords: number[], linear: number) => void): void {
  const n = numel(shape);
  const coords = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    fn(coords, i);
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++coords[k] < shape[k]) break;
      coords[k] = 0;
    }
  }
}

/** y[c_0, ..., c_r] = x[c at perm^-1], i.e. out dim k is input dim perm[k]. */
export function permuteReference<T extends HostArray>(x: T, shape: readonly number[], perm: readonly number[]): T {
  const outShape = permutedShape(shape, perm);
  const strides = stridesOf(shape);
  const y = like(x, x.length);
  forEachCoordinate(outShape, (c, i) => {
    y[i] = x[c.reduce((acc, ck, k) => acc + ck * strides[perm[k]], 0)];
  });
  return y;
}

export function sliceReference<T extends HostArray>(x: T, shape: readonly number[], s: ResolvedSlice): T {
  const strides = stridesOf(shape);
  const y = like(x, numel(s.shape));
  forEachCoordinate(s.shape, (c, i) => {
    y[i] = x[c.reduce((acc, ck, k) => acc + (s.starts[k] + ck * s.steps[k]) * strides[k], 0)];
  });
  return y;
}

/** The adjoint of sliceReference: dy written where the slice read, zeros elsewhere. */
export function sliceBackwardReference<T extends HostArray>(dy: T, inShape: readonly number[], s: ResolvedSlice): T {
  const strides = stridesOf(inShape);
  const dx = like(dy, numel(inShape));
  forEachCoordinate(s.shape, (c, i) => {
    dx[c.reduce((acc, ck, k) => acc + (s.starts[k] + ck * s.steps[k]) * strides[k], 0)] = dy[i];
  });
  return dx;
}

export function padReference<T extends HostArray>(x: T, shape: readonly number[], pads: readonly (readonly [number, number])[], value: number): T {
  const outShape = paddedShape(shape, pads);
  const strides = stridesOf(shape);
  const y = like(x, numel(outShape));
  forEachCoordinate(outShape, (c, i) => {
    const src = c.map((ck, k) => ck - (pads[k]?.[0] ?? 0));
    const inside = src.every((sk, k) => sk >= 0 && sk < shape[k]);
    y[i] = inside ? x[src.reduce((acc, sk, k) => acc + sk * strides[k], 0)] : value;
  });
  return y;
}

export function concatReference<T extends HostArray>(xs: T[], shapes: readonly (readonly number[])[], axis: number): T {
  const outShape = [...shapes[0]];
  outShape[axis] = shapes.reduce((n, s) => n + s[axis], 0);
  const y = like(xs[0], numel(outShape));
  forEachCoordinate(outShape, (c, i) => {
    let along = c[axis], which = 0;
    while (along >= shapes[which][axis]) along -= shapes[which++][axis];
    const strides = stridesOf(shapes[which]);
    y[i] = xs[which][c.reduce((acc, ck, k) => acc + (k === axis ? along : ck) * strides[k], 0)];
  });
  return y;
}
