// Layer normalisation, PyTorch F.layer_norm semantics (biased variance):
//   y = (x - mean) * rstd * weight + bias,   rstd = 1 / sqrt(var + eps).
// layerNorm normalises the last axis (rows walked in a RowLayout, see reduce.ts); layerNorm2d
// normalises the channels of NCHW input at each pixel, as segment-anything's LayerNorm2d does.
// Both can also write mean and rstd (f32, one per normalised vector) for the backward pass to reuse,
// as llm.c's layernorm_forward does.
// Statistics: the workgroup layout and layerNorm2d take two passes (mean, then the mean squared
// deviation from it). The invocation layout (CPU adapters) takes one pass over sums shifted by an
// estimate of the mean, which stays accurate when |mean| >> std (see layerNormRowsKernel).
// CPU adapters with a fixed subgroup size take the subgroup layout (layernorm-subgroup.ts) for rows
// it can hold, and the invocation layout for longer ones.
import type { DType } from '../tensor/dtype.js';
import { bindingDecls, dispatchLinear, f32Literal, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import { sizedLayerNormBindings } from './layernorm-bindings.js';
import { layerNormSubgroupFits, layerNormSubgroupKernel } from './layernorm-subgroup.js';
import {
  planRow, rowDispatch, wgslHeader, wgslHorizontal, wgslRowCombine, wgslRowCombiners, wgslRowLeader, wgslRowLoop, wgslRowStart, wgslSum,
  WGSL_MAIN_BUILTINS, type RowPlan, type RowPlanOptions,
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
  /** The adapter's fixed subgroup size where the subgroup layout applies (layernorm-subgroup.ts). */
  subgroupLanes?: number;
}

export function layerNormKernel(p: LayerNormParams): KernelSpec {
  const { rows, length, dtype: T, paramDtype: P } = p;
  if (p.subgroupLanes && layerNormSubgroupFits(length, p.subgroupLanes)) {
    return layerNormSubgroupKernel({ rows, length, eps: p.eps, dtype: T, paramDtype: P, saveStats: p.saveStats, lanes: p.subgroupLanes });
  }
  const plan = planRow(length, p.plan);
  if (plan.layout === 'invocation') return layerNormRowsKernel(p, plan);
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

/** Rows each invocation normalises in the invocation layout: they share each weight and bias load. */
const ROWS_PER_INVOCATION = 4;
/** Values at the start of a row whose mean is the shift of the one-pass statistics. */
const SHIFT_VALUES = 32;

/**
 * The invocation layout (CPU adapters): each invocation normalises ROWS_PER_INVOCATION rows, reading
 * each row twice (statistics, then the write) and each weight and bias element once for all its rows.
 * On SwiftShader every load whose address differs between invocations is a per-lane gather, so the
 * count of loads per element decides the speed: the two-pass statistics plus per-row weight and bias
 * loads made 5 loads and a store per element, 34% of a plain copy's bandwidth; this makes 2.5 (on a
 * (4096, 768) row set, measured 55-80% of the copy in headless Chromium).
 * One-pass statistics: with d = x - K for a shift K, mean = K + sum(d) / n and
 * var = sum(d^2) / n - (sum(d) / n)^2. The subtraction loses about (mean - K)^2 / var ulps of var, so
 * K is the mean of the row's first k = SHIFT_VALUES values: a subset's mean lies within
 * sqrt(var * (n - k) / k) of the whole mean, so the loss is at most (n - k) / k ulps whatever the data
 * (23 for n = 768, 127 for n = 4096: under 1e-5 relative), and about 1 for data without structure.
 * Arrays are declared with their sizes (sizedLayerNormBindings).
 */
function layerNormRowsKernel(p: LayerNormParams, plan: RowPlan): KernelSpec {
  const { rows, length, dtype: T, paramDtype: P } = p;
  const R = ROWS_PER_INVOCATION;
  const { vec, units, workgroup } = plan;
  const V = (t: DType | 'f32') => (vec === 4 ? `vec4<${t}>` : t);
  const F = V('f32');
  const decls = sizedLayerNormBindings(p, units, vec);
  const hsum = (v: string) => wgslHorizontal(plan, 'sum', v);
  const rs = Array.from({ length: R }, (_, r) => r);
  const shiftLoads = Math.min(units, SHIFT_VALUES / vec);
  const shiftCount = shiftLoads * vec;
  const load = (r: number, i: string) => `${F}(X[base${r} + ${i}])`;
  // Rows past the last one (when rows is not a multiple of R) compute the last row's statistics again
  // and write nothing.
  const wgsl = `${wgslHeader(T, P)}${decls}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${workgroup})
fn main(${WGSL_MAIN_BUILTINS}) {
  let row0 = (linearWorkgroup(wid, nwg) * ${workgroup}u + lid) * ${R}u;
  if (row0 >= ${rows}u) { return; }
  let count = min(${R}u, ${rows}u - row0);
  ${rs.map((r) => `let base${r} = min(row0 + ${r}u, ${rows - 1}u) * ${units}u;`).join('\n  ')}
  ${rs.map((r) => `var first${r} = ${F}(0.0);`).join(' ')}
  for (var i = 0u; i < ${shiftLoads}u; i++) { ${rs.map((r) => `first${r} += ${load(r, 'i')};`).join(' ')} }
  ${rs.map((r) => `let shift${r} = ${hsum(`first${r}`)} / ${shiftCount}.0;`).join('\n  ')}
  ${rs.map((r) => `var sum${r} = ${F}(0.0); var squares${r} = ${F}(0.0);`).join('\n  ')}
  for (var i = 0u; i < ${units}u; i++) {
    ${rs.map((r) => `{ let d = ${load(r, 'i')} - shift${r}; sum${r} += d; squares${r} += d * d; }`).join('\n    ')}
  }
  ${rs.map((r) => `let shiftedMean${r} = ${hsum(`sum${r}`)} / ${length}.0;
  let mean${r} = shift${r} + shiftedMean${r};
  let rstd${r} = inverseSqrt(max(${hsum(`squares${r}`)} / ${length}.0 - shiftedMean${r} * shiftedMean${r}, 0.0) + ${f32Literal(p.eps)});`).join('\n  ')}
  for (var i = 0u; i < ${units}u; i++) {
    let w = ${F}(W[i]);
    let b = ${F}(B[i]);
    ${rs.map((r) => `${r ? `if (${r}u < count) ` : ''}{ Y[base${r} + i] = ${V(T)}((${load(r, 'i')} - mean${r}) * rstd${r} * w + b); }`).join('\n    ')}
  }
  ${p.saveStats ? rs.map((r) => `${r ? `if (${r}u < count) ` : ''}{ Mean[row0 + ${r}u] = mean${r}; Rstd[row0 + ${r}u] = rstd${r}; }`).join('\n  ') : ''}
}`;
  return {
    name: p.saveStats ? 'layernorm_stats' : 'layernorm', wgsl, workgroupSize: [workgroup, 1, 1],
    dispatch: dispatchLinear(Math.ceil(rows / (workgroup * R))),
  };
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
