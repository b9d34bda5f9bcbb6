// Optimizer updates and gradient-norm clipping, in place on parameter and state buffers.
// Everything that varies (tensor size, lr, bias corrections, hyperparameters) is a uniform, so each
// kernel is one pipeline for every parameter tensor and every step. The formulas are PyTorch's
// for-loop implementations (torch/optim/sgd.py _single_tensor_sgd, adam.py _single_tensor_adam),
// operation for operation, so that f32 results agree to rounding.
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';

const WORKGROUP = 256;

function elementwiseMain(body: string): string {
  return `${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= U.size) { return; }
${body}
}`;
}

const elementwiseDispatch = (size: number): [number, number, number] => dispatchLinear(Math.ceil(size / WORKGROUP));

// ---- SGD ----------------------------------------------------------------------------------------

/** Uniform of the SGD kernels, f32 fields after the size. */
export interface SgdUniforms {
  size: number;
  lr: number;
  weightDecay: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  /** The first step of this parameter: the momentum buffer starts as a copy of the gradient. */
  first: boolean;
}

export function sgdUniforms(u: SgdUniforms): Uint32Array {
  const data = new ArrayBuffer(32);
  new Uint32Array(data, 0, 1)[0] = u.size;
  new Float32Array(data, 4, 4).set([u.lr, u.weightDecay, u.momentum, 1 - u.dampening]);
  new Uint32Array(data, 20, 2).set([u.nesterov ? 1 : 0, u.first ? 1 : 0]);
  return new Uint32Array(data);
}

const SGD_STRUCT = 'struct SgdParams { size: u32, lr: f32, weightDecay: f32, momentum: f32, oneMinusDampening: f32, nesterov: u32, first: u32, pad: u32 }';

/**
 * Bindings: grad (read), param (read_write), [momentum buffer (read_write)], uniform SgdParams.
 *   g = grad + weightDecay * param
 *   buf = first ? g : momentum * buf + (1 - dampening) * g;  g = nesterov ? g + momentum * buf : buf
 *   param -= lr * g
 */
export function sgdKernel(p: { momentum: boolean; size: number }): KernelSpec {
  const decls = [
    { name: 'G', kind: 'read' as const, type: 'array<f32>' },
    { name: 'P', kind: 'read_write' as const, type: 'array<f32>' },
    ...(p.momentum ? [{ name: 'Buf', kind: 'read_write' as const, type: 'array<f32>' }] : []),
    { name: 'U', kind: 'uniform' as const, type: 'SgdParams' },
  ];
  const momentumBody = p.momentum
    ? `  var buf = g;
  if (U.first == 0u) { buf = Buf[i] * U.momentum + U.oneMinusDampening * g; }
  Buf[i] = buf;
  if (U.nesterov != 0u) { g = g + U.momentum * buf; } else { g = buf; }`
    : '';
  const wgsl = `${SGD_STRUCT}
${bindingDecls(decls)}
${elementwiseMain(`  let param = P[i];
  var g = G[i] + U.weightDecay * param;
${momentumBody}
  P[i] = param + (-U.lr) * g;`)}`;
  return { name: p.momentum ? 'sgd_momentum' : 'sgd', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: elementwiseDispatch(p.size) };
}

// ---- Adam / AdamW -------------------------------------------------------------------------------

export interface AdamUniforms {
  size: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW: param *= 1 - lr * weightDecay before the update; Adam: grad += weightDecay * param. */
  decoupled: boolean;
  /** This parameter's step count, starting at 1. */
  step: number;
}

const ADAM_STRUCT = 'struct AdamParams { size: u32, decay: f32, l2: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, biasCorrection2Sqrt: f32, negStepSize: f32, eps: f32 }';

/**
 * AdamParams' bytes. The scalars are computed as PyTorch computes them, in Python floats (float64),
 * and rounded to f32 once: bias corrections 1 - beta^step, step size lr / bc1, sqrt(bc2).
 */
export function adamUniforms(u: AdamUniforms): Float32Array {
  const biasCorrection1 = 1 - u.beta1 ** u.step;
  const biasCorrection2 = 1 - u.beta2 ** u.step;
  const out = new Float32Array(12);
  new Uint32Array(out.buffer, 0, 1)[0] = u.size;
  out.set([
    u.decoupled ? 1 - u.lr * u.weightDecay : 1, // decay
    u.decoupled ? 0 : u.weightDecay, // l2
    1 - u.beta1,
    u.beta2,
    1 - u.beta2,
    Math.sqrt(biasCorrection2),
    -(u.lr / biasCorrection1),
    u.eps,
  ], 1);
  return out;
}

/**
 * Bindings: grad (read), param, exp_avg, exp_avg_sq (read_write), uniform AdamParams.
 *   param *= decay;  g = grad + l2 * param
 *   m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
 *   param += -(lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
 */
export function adamKernel(size: number): KernelSpec {
  const wgsl = `${ADAM_STRUCT}
${bindingDecls([
    { name: 'G', kind: 'read', type: 'array<f32>' },
    { name: 'P', kind: 'read_write', type: 'array<f32>' },
    { name: 'M', kind: 'read_write', type: 'array<f32>' },
    { name: 'V', kind: 'read_write', type: 'array<f32>' },
    { name: 'U', kind: 'uniform', type: 'AdamParams' },
  ])}
${elementwiseMain(`  let param = P[i] * U.decay;
  let g = G[i] + U.l2 * param;
  let m = M[i] + U.oneMinusBeta1 * (g - M[i]); // torch.lerp with weight < 0.5
  let v = V[i] * U.beta2 + U.oneMinusBeta2 * g * g;
  M[i] = m;
  V[i] = v;
  let denom = sqrt(v) / U.biasCorrection2Sqrt + U.eps;
  P[i] = param + U.negStepSize * m / denom;`)}`;
  return { name: 'adam', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: elementwiseDispatch(size) };
}

// ---- gradient-norm clipping ---------------------------------------------------------------------

/** Workgroups of the sum-of-squares pass for a tensor of `size` elements (up to 64, ~4096 elements each). */
export function sumSquaresGroups(size: number): number {
  return Math.max(1, Math.min(64, Math.ceil(size / (WORKGROUP * 16))));
}

/**
 * Bindings: X (read), Partials (read_write), uniform {size, slot}. Workgroup w writes the sum of
 * squares of its strided share of X to Partials[slot + w]; one tensor per dispatch.
 */
export function sumSquaresKernel(size: number): KernelSpec {
  const wgsl = `struct SumSqParams { size: u32, slot: u32 }
${bindingDecls([
    { name: 'X', kind: 'read', type: 'array<f32>' },
    { name: 'Partials', kind: 'read_write', type: 'array<f32>' },
    { name: 'U', kind: 'uniform', type: 'SumSqParams' },
  ])}
var<workgroup> red: array<f32, ${WORKGROUP}>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = wid.x * ${WORKGROUP}u + lid; i < U.size; i += nwg.x * ${WORKGROUP}u) {
    let x = X[i];
    s += x * x;
  }
  red[lid] = s;
  workgroupBarrier();
  for (var h = ${WORKGROUP / 2}u; h > 0u; h >>= 1u) {
    if (lid < h) { red[lid] += red[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) { Partials[U.slot + wid.x] = red[0]; }
}`;
  return { name: 'sum_squares', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: [sumSquaresGroups(size), 1, 1] };
}

/**
 * Bindings: Partials (read), Norm (1) and Factor (1) written, uniform {count, maxNorm}.
 * Norm = sqrt(sum of partials); Factor = min(maxNorm / (Norm + 1e-6), 1), as clip_grad_norm_.
 */
export function clipFactorKernel(): KernelSpec {
  const wgsl = `struct ClipParams { count: u32, maxNorm: f32 }
${bindingDecls([
    { name: 'Partials', kind: 'read', type: 'array<f32>' },
    { name: 'Norm', kind: 'read_write', type: 'array<f32>' },
    { name: 'Factor', kind: 'read_write', type: 'array<f32>' },
    { name: 'U', kind: 'uniform', type: 'ClipParams' },
  ])}
var<workgroup> red: array<f32, ${WORKGROUP}>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < U.count; i += ${WORKGROUP}u) { s += Partials[i]; }
  red[lid] = s;
  workgroupBarrier();
  for (var h = ${WORKGROUP / 2}u; h > 0u; h >>= 1u) {
    if (lid < h) { red[lid] += red[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let norm = sqrt(red[0]);
    Norm[0] = norm;
    Factor[0] = min(U.maxNorm / (norm + 1e-6), 1.0);
  }
}`;
  return { name: 'clip_factor', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: [1, 1, 1] };
}

/** Bindings: X (read_write), Factor (read, 1 value), uniform {size}. X *= Factor[0]. */
export function scaleByFactorKernel(size: number): KernelSpec {
  const wgsl = `struct ScaleParams { size: u32 }
${bindingDecls([
    { name: 'X', kind: 'read_write', type: 'array<f32>' },
    { name: 'Factor', kind: 'read', type: 'array<f32>' },
    { name: 'U', kind: 'uniform', type: 'ScaleParams' },
  ])}
${elementwiseMain('  X[i] = X[i] * Factor[0];')}`;
  return { name: 'scale_by_factor', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: elementwiseDispatch(size) };
}

// ---- plain TypeScript references (f32 arithmetic, step by step as the kernels) ---------------------

const f = Math.fround;

/** One SGD step on host arrays; returns nothing, updates param and buf in place. */
export function sgdReference(param: Float32Array, grad: Float32Array, buf: Float32Array | null, u: Omit<SgdUniforms, 'size'>): void {
  for (let i = 0; i < param.length; i++) {
    let g = f(grad[i] + f(f(u.weightDecay) * param[i]));
    if (buf) {
      buf[i] = u.first ? g : f(f(buf[i] * f(u.momentum)) + f(f(1 - u.dampening) * g));
      g = u.nesterov ? f(g + f(f(u.momentum) * buf[i])) : buf[i];
    }
    param[i] = f(param[i] - f(f(u.lr) * g));
  }
}

/** One Adam/AdamW step on host arrays, updating param, m and v in place. */
export function adamReference(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, u: Omit<AdamUniforms, 'size'>): void {
  const k = adamUniforms({ ...u, size: param.length });
  const [decay, l2, oneMinusBeta1, beta2, oneMinusBeta2, bc2Sqrt, negStepSize, eps] = k.subarray(1, 9);
  for (let i = 0; i < param.length; i++) {
    const p = f(param[i] * decay);
    const g = f(grad[i] + f(l2 * p));
    m[i] = f(m[i] + f(oneMinusBeta1 * f(g - m[i])));
    v[i] = f(f(v[i] * beta2) + f(f(oneMinusBeta2 * g) * g));
    const denom = f(f(Math.sqrt(v[i]) / bc2Sqrt) + eps);
    param[i] = f(p + f(f(negStepSize * m[i]) / denom));
  }
}

/** clip_grad_norm_ on host arrays: returns the total norm; scales the arrays in place. */
export function clipGradNormReference(grads: Float32Array[], maxNorm: number): number {
  let total = 0;
  for (const g of grads) for (const x of g) total += x * x;
  const norm = Math.sqrt(total);
  const factor = Math.min(maxNorm / (norm + 1e-6), 1);
  for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = f(g[i] * factor);
  return norm;
}
