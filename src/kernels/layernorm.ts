// Layer normalisation, PyTorch F.layer_norm semantics (biased variance):
//   y = (x - mean) * rstd * weight + bias,   rstd = 1 / sqrt(var + eps).
// layerNorm normalises the last axis (rows walked in a RowLayout, see reduce.ts); layerNorm2d
// normalises the channels of NCHW input at each pixel, as segment-anything's LayerNorm2d does.
// Both take two passes for the statistics (mean, then the mean squared deviation from it), which
// stays accurate when |mean| >> std, and can also write mean and rstd (f32, one per normalised
// vector) for the backward pass to reuse, as llm.c's layernorm_forward does.
import type { DType } from '../tensor/dtype.js';
import { bindingDecls, dispatchLinear, f32Literal, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import {
  planRow, rowDispatch, wgslHeader, wgslHorizontal, wgslRowCombine, wgslRowCombiners, wgslRowLeader, wgslRowLoop, wgslRowStart, wgslSum,
  WGSL_MAIN_BUILTINS, type RowPlanOptions,
} from './reduce.js';

export interface LayerNormParams {
  rows: number;
  /** The normalised (last) dimension. */
  length: number;
  eps: number;
  dtype: DType;
  /** dtype of weight and bias (they may be stored wider than x). */
  paramDtype: DType;
  /** Also write Mean and Rstd (bindings 4 and 5), one f32 per row. */
  saveStats: boolean;
  plan?: RowPlanOptions;
}

export function layerNormKernel(p: LayerNormParams): KernelSpec {
  const { rows, length, dtype: T, paramDtype: P } = p;
  const plan = planRow(length, p.plan);
  const vec = (t: DType) => (plan.vec === 4 ? `vec4<${t}>` : t);
  const F = vec('f32');
  const load = (i: string) => `${F}(X[base + ${i}])`;
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type: `array<${vec(T)}>` },
    { name: 'W', kind: 'read', type: `array<${vec(P)}>` },
    { name: 'B', kind: 'read', type: `array<${vec(P)}>` },
    { name: 'Y', kind: 'read_write', type: `array<${vec(T)}>` },
    ...(p.saveStats ? [{ name: 'Mean', kind: 'read_write' as const, type: 'array<f32>' }, { name: 'Rstd', kind: 'read_write' as const, type: 'array<f32>' }] : []),
  ]);
  const cache = plan.inRegisters ? `var cached: array<${F}, ${plan.perInvocation}>;` : '';
  const value = (i: string, k: number | null) => (k === null ? load(i) : `cached[${k}]`);
  const wgsl = `${wgslHeader(T, P)}${decls}
${WGSL_LINEAR_WORKGROUP}
${wgslRowCombiners(plan, { workgroupSum: wgslSum })}
@compute @workgroup_size(${plan.workgroup})
fn main(${WGSL_MAIN_BUILTINS}) {
  ${wgslRowStart(plan, rows)}
  ${cache}
  var localSum = ${F}(0.0);
  ${wgslRowLoop(plan, (i, k) => (k === null ? `localSum += ${load(i)};` : `cached[${k}] = ${load(i)}; localSum += cached[${k}];`))}
  let mean = ${wgslRowCombine(plan, 'workgroupSum', wgslHorizontal(plan, 'sum', 'localSum'))} / ${length}.0;
  var localSquares = ${F}(0.0);
  ${wgslRowLoop(plan, (i, k) => `let d = ${value(i, k)} - mean; localSquares += d * d;`)}
  let variance = ${wgslRowCombine(plan, 'workgroupSum', wgslHorizontal(plan, 'sum', 'localSquares'))} / ${length}.0;
  let rstd = inverseSqrt(variance + ${f32Literal(p.eps)});
  ${wgslRowLoop(plan, (i, k) => `Y[base + ${i}] = ${vec(T)}((${value(i, k)} - mean) * rstd * ${F}(W[${i}]) + ${F}(B[${i}]));`)}
  ${p.saveStats ? `if (${wgslRowLeader(plan)}) { Mean[row] = mean; Rstd[row] = rstd; }` : ''}
}`;
  return { name: p.saveStats ? 'layernorm_stats' : 'layernorm', wgsl, workgroupSize: [plan.workgroup, 1, 1], dispatch: rowDispatch(plan, rows) };
}

export interface LayerNorm2dParams {
  batch: number;
  channels: number;
  /** H * W. */
  pixels: number;
  eps: number;
  dtype: DType;
  paramDtype: DType;
  /** Also write Mean and Rstd (bindings 4 and 5), f32 of shape (N, H, W). */
  saveStats: boolean;
}

/**
 * How LayerNorm2d kernels (forward and backward) walk NCHW data: one invocation per (n, group of
 * `vec` pixels), `units` groups per channel plane, `workgroup` invocations per workgroup. The
 * backward must read Mean and Rstd in exactly the layout the forward wrote them.
 */
export function layerNorm2dLayout(batch: number, channels: number, pixels: number) {
  const vec = pixels % 4 === 0 ? 4 : 1;
  const units = pixels / vec; // pixel groups per channel plane
  const workgroup = 64;
  const total = batch * units;
  // The WGSL prologue: g is the (n, pixel group); channel c of it sits at base + c * units.
  const prologue = `let g = linearWorkgroup(wid, nwg) * ${workgroup}u + lid; // (n, pixel group)
  if (g >= ${total}u) { return; }
  let base = (g / ${units}u) * ${channels * units}u + g % ${units}u; // channel c at base + c * ${units}`;
  return { vec, units, workgroup, prologue, dispatch: dispatchLinear(Math.ceil(total / workgroup)) };
}

/**
 * NCHW input, statistics over C at each (n, h, w): one invocation per (n, group of pixels) loops over
 * the channels, three passes (mean, variance, write). Neighbouring invocations read neighbouring
 * pixels of the same channel, so loads are coalesced; vec4 over 4 pixels when H * W is a multiple of 4.
 */
export function layerNorm2dKernel(p: LayerNorm2dParams): KernelSpec {
  const { batch, channels: C, dtype: T, paramDtype: P } = p;
  const { vec, units, workgroup: wg, prologue, dispatch } = layerNorm2dLayout(batch, C, p.pixels);
  const V = (t: string) => (vec === 4 ? `vec4<${t}>` : t);
  const F = V('f32');
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type: `array<${V(T)}>` },
    { name: 'W', kind: 'read', type: `array<${P}>` },
    { name: 'B', kind: 'read', type: `array<${P}>` },
    { name: 'Y', kind: 'read_write', type: `array<${V(T)}>` },
    ...(p.saveStats ? [{ name: 'Mean', kind: 'read_write' as const, type: `array<${F}>` }, { name: 'Rstd', kind: 'read_write' as const, type: `array<${F}>` }] : []),
  ]);
  const wgsl = `${wgslHeader(T, P)}${decls}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${wg})
fn main(${WGSL_MAIN_BUILTINS}) {
  ${prologue}
  var sum = ${F}(0.0);
  for (var c = 0u; c < ${C}u; c++) { sum += ${F}(X[base + c * ${units}u]); }
  let mean = sum / ${C}.0;
  var squares = ${F}(0.0);
  for (var c = 0u; c < ${C}u; c++) { let d = ${F}(X[base + c * ${units}u]) - mean; squares += d * d; }
  let rstd = inverseSqrt(squares / ${C}.0 + ${f32Literal(p.eps)});
  for (var c = 0u; c < ${C}u; c++) {
    let i = base + c * ${units}u;
    Y[i] = ${V(T)}((${F}(X[i]) - mean) * rstd * f32(W[c]) + f32(B[c]));
  }
  ${p.saveStats ? 'Mean[g] = mean; Rstd[g] = rstd;' : ''}
}`;
  return {
    name: p.saveStats ? 'layernorm2d_stats' : 'layernorm2d', wgsl, workgroupSize: [wg, 1, 1], dispatch,
  };
}

// ---- plain TypeScript references (float64 arithmetic) -----------------------------------------

export interface LayerNormReference {
  out: Float32Array;
  /** One per normalised vector. */
  mean: Float32Array;
  rstd: Float32Array;
}

/** F.layer_norm over the last axis (rows of `length`). */
export function layerNormReference(
  x: ArrayLike<number>, length: number, weight: ArrayLike<number>, bias: ArrayLike<number>, eps: number,
): LayerNormReference {
  const rows = x.length / length;
  return normalizeStrided(x, rows, length, (r, j) => r * length + j, weight, bias, eps);
}

/** segment-anything's LayerNorm2d on NCHW input: normalises over C at each (n, h, w). */
export function layerNorm2dReference(
  x: ArrayLike<number>, shape: readonly number[], weight: ArrayLike<number>, bias: ArrayLike<number>, eps: number,
): LayerNormReference {
  const [n, c, h, w] = shape;
  const pixels = h * w;
  // vector v = (batch, pixel); its element j is channel j
  return normalizeStrided(x, n * pixels, c, (v, j) => (Math.floor(v / pixels) * c + j) * pixels + (v % pixels), weight, bias, eps);
}

/** Normalises `vectors` vectors of `length` elements; element j of vector v is x[at(v, j)] and uses weight[j], bias[j]. */
function normalizeStrided(
  x: ArrayLike<number>, vectors: number, length: number, at: (v: number, j: number) => number,
  weight: ArrayLike<number>, bias: ArrayLike<number>, eps: number,
): LayerNormReference {
  const out = new Float32Array(x.length), mean = new Float32Array(vectors), rstd = new Float32Array(vectors);
  for (let v = 0; v < vectors; v++) {
    let s = 0;
    for (let j = 0; j < length; j++) s += x[at(v, j)];
    const m = s / length;
    let sq = 0;
    for (let j = 0; j < length; j++) sq += (x[at(v, j)] - m) ** 2;
    const r = 1 / Math.sqrt(sq / length + eps);
    for (let j = 0; j < length; j++) out[at(v, j)] = (x[at(v, j)] - m) * r * weight[j] + bias[j];
    mean[v] = m;
    rstd[v] = r;
  }
  return { out, mean, rstd };
}
