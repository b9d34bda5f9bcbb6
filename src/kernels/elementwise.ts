// Elementwise ops from one declarative table: each op is a WGSL expression over f32 values and the
// plain TypeScript function that defines it. Kernels are generated from the table at run time.
import type { DType } from '../tensor/dtype.js';
import { bindingDecls, dispatchLinear, f32Literal, stridesOf, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';

export interface UnaryOpDef {
  /** WGSL expression in `x` (and the op's scalar params `p0`, `p1`). */
  wgsl: string;
  /** dL/dx as a WGSL expression in `x`, the forward output `y`, `dy` and the params. */
  backward: string;
  reference: (x: number, p: number[]) => number;
}

export interface BinaryOpDef {
  /** WGSL expression in `a` and `b`. */
  wgsl: string;
  /** dL/da and dL/db at one output element, in `a`, `b`, `dy`. */
  backwardA: string;
  backwardB: string;
  reference: (a: number, b: number) => number;
}

// Abramowitz & Stegun 7.1.26 has 1.5e-7 absolute error: below f32 resolution near 1, good enough for exact GELU.
const WGSL_ERF = /* wgsl */ `
fn erf_(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
  return select(-y, y, x >= 0.0);
}`;

// tanh(x) = sign(x) (1 - e^{-2|x|}) / (1 + e^{-2|x|}): never overflows, unlike (e^{2x}-1)/(e^{2x}+1).
const WGSL_TANH = /* wgsl */ `
fn tanh_(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}`;

// pow as PyTorch defines it for real inputs: a negative base works with integral exponents.
const WGSL_POW = /* wgsl */ `
fn fromBits_(bits: u32) -> f32 { var b = bits; return bitcast<f32>(b); } // a var: WGSL rejects Inf/NaN constants
fn pow_(a: f32, b: f32) -> f32 {
  if (a > 0.0) { return exp2(b * log2(a)); }
  if (b == 0.0) { return 1.0; }
  if (a == 0.0) { return select(fromBits_(0x7f800000u), 0.0, b > 0.0); }
  if (b != floor(b)) { return fromBits_(0x7fc00000u); }
  let m = exp2(b * log2(-a));
  return select(m, -m, (abs(b) % 2.0) == 1.0);
}`;

export function erfReference(x: number): number {
  // float64 series/continued-fraction free formulation: erf via the complementary error function's
  // Chebyshev fit (Numerical Recipes erfc, relative error < 1.2e-7) is plenty for a float32 reference.
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - r : r - 1;
}

export const UNARY_OPS = {
  neg: { wgsl: '-x', backward: '-dy', reference: (x) => -x },
  exp: { wgsl: 'exp(x)', backward: 'dy * y', reference: (x) => Math.exp(x) },
  log: { wgsl: 'log(x)', backward: 'dy / x', reference: (x) => Math.log(x) },
  sqrt: { wgsl: 'sqrt(x)', backward: 'dy * 0.5 / y', reference: (x) => Math.sqrt(x) },
  rsqrt: { wgsl: 'inverseSqrt(x)', backward: 'dy * -0.5 * y * y * y', reference: (x) => 1 / Math.sqrt(x) },
  abs: { wgsl: 'abs(x)', backward: 'dy * sign(x)', reference: (x) => Math.abs(x) },
  relu: { wgsl: 'max(x, 0.0)', backward: 'select(0.0, dy, x > 0.0)', reference: (x) => Math.max(x, 0) },
  sigmoid: { wgsl: '1.0 / (1.0 + exp(-x))', backward: 'dy * y * (1.0 - y)', reference: (x) => 1 / (1 + Math.exp(-x)) },
  tanh: { wgsl: 'tanh_(x)', backward: 'dy * (1.0 - y * y)', reference: (x) => Math.tanh(x) },
  // d/dx x*Phi(x) = Phi(x) + x*phi(x)
  gelu: {
    wgsl: '0.5 * x * (1.0 + erf_(x * 0.7071067811865476))',
    backward: 'dy * (0.5 * (1.0 + erf_(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(-0.5 * x * x))',
    reference: (x) => 0.5 * x * (1 + erfReference(x / Math.SQRT2)),
  },
  // PyTorch passes the gradient where min <= x <= max.
  clamp: { wgsl: 'clamp(x, p0, p1)', backward: 'select(0.0, dy, x >= p0 && x <= p1)', reference: (x, p) => Math.min(Math.max(x, p[0]), p[1]) },
} satisfies Record<string, UnaryOpDef>;

export const BINARY_OPS = {
  add: { wgsl: 'a + b', backwardA: 'dy', backwardB: 'dy', reference: (a, b) => a + b },
  sub: { wgsl: 'a - b', backwardA: 'dy', backwardB: '-dy', reference: (a, b) => a - b },
  mul: { wgsl: 'a * b', backwardA: 'dy * b', backwardB: 'dy * a', reference: (a, b) => a * b },
  div: { wgsl: 'a / b', backwardA: 'dy / b', backwardB: '-dy * a / (b * b)', reference: (a, b) => a / b },
  // d/db a^b = a^b ln a, defined for a > 0 (elsewhere NaN propagates).
  pow: { wgsl: 'pow_(a, b)', backwardA: 'dy * b * pow_(a, b - 1.0)', backwardB: 'dy * pow_(a, b) * log(a)', reference: (a, b) => Math.pow(a, b) },
} satisfies Record<string, BinaryOpDef>;

export type UnaryOpName = keyof typeof UNARY_OPS;
export type BinaryOpName = keyof typeof BINARY_OPS;

/** WGSL helper functions every elementwise shader may call (unused ones cost nothing). */
export const WGSL_MATH_HELPERS = WGSL_ERF + WGSL_TANH + WGSL_POW;

const WORKGROUP = 256;

function header(dtypes: DType[]): string {
  return dtypes.includes('f16') ? 'enable f16;\n' : '';
}

export function unaryKernel(p: { op: UnaryOpName; size: number; dtype: DType; params?: number[] }): KernelSpec {
  const def: UnaryOpDef = UNARY_OPS[p.op];
  const T = p.dtype;
  const params = (p.params ?? []).map((v, i) => `const p${i}: f32 = ${f32Literal(v)};`).join('\n');
  const wgsl = `${header([T])}${bindingDecls([
    { name: 'X', kind: 'read', type: `array<${T}>` },
    { name: 'Y', kind: 'read_write', type: `array<${T}>` },
  ])}
${WGSL_MATH_HELPERS}
${WGSL_LINEAR_WORKGROUP}
${params}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= ${p.size}u) { return; }
  let x = f32(X[i]);
  Y[i] = ${T}(${def.wgsl});
}`;
  return { name: `unary_${p.op}`, wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(p.size / WORKGROUP)) };
}

/** Broadcasting (NumPy rules): the output shape, or null when the shapes do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Strides of `shape` read through a broadcast to `outShape`: 0 along broadcast dimensions. */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape);
  return outShape.map((d, i) => {
    const j = i - (outShape.length - shape.length);
    return j < 0 || shape[j] === 1 ? 0 : own[j];
  });
}

/** WGSL that turns the output index `i` into an input index, with the shape baked in. */
function indexExpression(strides: number[], outShape: readonly number[], name: string): string {
  const outStrides = stridesOf(outShape);
  const dense = strides.every((s, k) => s === outStrides[k] || outShape[k] === 1);
  if (dense) return `let ${name} = i;`;
  if (strides.every((s) => s === 0)) return `let ${name} = 0u;`;
  const terms = strides
    .map((s, k) => (s === 0 || outShape[k] === 1 ? null : `((i / ${outStrides[k]}u) % ${outShape[k]}u) * ${s}u`))
    .filter((t) => t !== null);
  return `let ${name} = ${terms.join(' + ')};`;
}

export function binaryKernel(p: { op: BinaryOpName; aShape: readonly number[]; bShape: readonly number[]; dtype: DType }): KernelSpec {
  const out = broadcastShape(p.aShape, p.bShape);
  if (!out) throw new Error(`binaryKernel: shapes [${p.aShape}] and [${p.bShape}] do not broadcast`);
  const size = out.reduce((x, y) => x * y, 1);
  const T = p.dtype;
  const def: BinaryOpDef = BINARY_OPS[p.op];
  const wgsl = `${header([T])}${bindingDecls([
    { name: 'A', kind: 'read', type: `array<${T}>` },
    { name: 'B', kind: 'read', type: `array<${T}>` },
    { name: 'Y', kind: 'read_write', type: `array<${T}>` },
  ])}
${WGSL_MATH_HELPERS}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= ${size}u) { return; }
  ${indexExpression(broadcastStrides(p.aShape, out), out, 'ia')}
  ${indexExpression(broadcastStrides(p.bShape, out), out, 'ib')}
  let a = f32(A[ia]);
  let b = f32(B[ib]);
  Y[i] = ${T}(${def.wgsl});
}`;
  return { name: `binary_${p.op}`, wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(size / WORKGROUP)) };
}

// ---- backward kernels -------------------------------------------------------------------------

/** dx = rule(x, y, dy) elementwise; x, y, dy share one shape. */
export function unaryBackwardKernel(p: { op: UnaryOpName; size: number; params?: number[] }): KernelSpec {
  const def: UnaryOpDef = UNARY_OPS[p.op];
  const params = (p.params ?? []).map((v, i) => `const p${i}: f32 = ${f32Literal(v)};`).join('\n');
  const wgsl = `${bindingDecls([
    { name: 'X', kind: 'read', type: 'array<f32>' },
    { name: 'Yf', kind: 'read', type: 'array<f32>' },
    { name: 'DY', kind: 'read', type: 'array<f32>' },
    { name: 'DX', kind: 'read_write', type: 'array<f32>' },
  ])}
${WGSL_MATH_HELPERS}
${WGSL_LINEAR_WORKGROUP}
${params}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= ${p.size}u) { return; }
  let x = X[i];
  let y = Yf[i];
  let dy = DY[i];
  _ = x; _ = y;
  DX[i] = ${def.backward};
}`;
  return { name: `unary_${p.op}_backward`, wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(p.size / WORKGROUP)) };
}

/**
 * The gradients of a binary op at every output element (before summing over broadcast dimensions):
 * DA and DB have the output's shape.
 */
export function binaryBackwardKernel(p: { op: BinaryOpName; aShape: readonly number[]; bShape: readonly number[] }): KernelSpec {
  const out = broadcastShape(p.aShape, p.bShape);
  if (!out) throw new Error(`binaryBackwardKernel: shapes [${p.aShape}] and [${p.bShape}] do not broadcast`);
  const size = out.reduce((x, y) => x * y, 1);
  const def: BinaryOpDef = BINARY_OPS[p.op];
  const wgsl = `${bindingDecls([
    { name: 'A', kind: 'read', type: 'array<f32>' },
    { name: 'B', kind: 'read', type: 'array<f32>' },
    { name: 'DY', kind: 'read', type: 'array<f32>' },
    { name: 'DA', kind: 'read_write', type: 'array<f32>' },
    { name: 'DB', kind: 'read_write', type: 'array<f32>' },
  ])}
${WGSL_MATH_HELPERS}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= ${size}u) { return; }
  ${indexExpression(broadcastStrides(p.aShape, out), out, 'ia')}
  ${indexExpression(broadcastStrides(p.bShape, out), out, 'ib')}
  let a = A[ia];
  let b = B[ib];
  let dy = DY[i];
  _ = a; _ = b;
  DA[i] = ${def.backwardA};
  DB[i] = ${def.backwardB};
}`;
  return { name: `binary_${p.op}_backward`, wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(size / WORKGROUP)) };
}

// ---- plain TypeScript references ------------------------------------------------------------

export function unaryReference(op: UnaryOpName, x: ArrayLike<number>, params: number[] = []): Float32Array {
  const def: UnaryOpDef = UNARY_OPS[op];
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = def.reference(x[i], params);
  return y;
}

export function binaryReference(
  op: BinaryOpName, a: ArrayLike<number>, aShape: readonly number[], b: ArrayLike<number>, bShape: readonly number[],
): Float32Array {
  const out = broadcastShape(aShape, bShape);
  if (!out) throw new Error('shapes do not broadcast');
  const sa = broadcastStrides(aShape, out), sb = broadcastStrides(bShape, out), so = stridesOf(out);
  const size = out.reduce((x, y) => x * y, 1);
  const def: BinaryOpDef = BINARY_OPS[op];
  const y = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let ia = 0, ib = 0;
    for (let k = 0; k < out.length; k++) {
      const c = Math.floor(i / so[k]) % out[k];
      ia += c * sa[k];
      ib += c * sb[k];
    }
    y[i] = def.reference(a[ia], b[ib]);
  }
  return y;
}
