// Backward of layernorm.ts, llm.c's layernorm_backward math, reusing the forward's mean and rstd.
// Per normalised vector (a row for layerNorm, the channels at one pixel for layerNorm2d), with
// xhat = (x - mean) * rstd and dnorm = dy * weight:
//   dx = rstd * (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat))
// and over all vectors:
//   dweight = sum(dy * xhat),   dbias = sum(dy).
// dx runs in the forward's walk (rows in a RowLayout; for NCHW one invocation per pixel group over
// C). The parameter gradients are reductions across vectors, done without atomics: layerNorm sums
// columns (one invocation per column, looping over rows, so neighbouring invocations read
// neighbouring addresses); layerNorm2d sums each channel's (N, H * W) values, which are contiguous
// planes, as a row reduction in the RowLayout. Inputs keep their dtypes; every gradient is f32.
import type { DType } from '../tensor/dtype.js';
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import {
  planRow, rowDispatch, wgslHeader, wgslHorizontal, wgslRowCombine, wgslRowCombiners, wgslRowLeader, wgslRowLoop, wgslRowStart, wgslSum,
  WGSL_MAIN_BUILTINS, type RowPlanOptions,
} from './reduce.js';
import { layerNorm2dLayout } from './layernorm.js';

/** Sums over many terms run in chunks of this many, each chunk added to a running total (see reduce.ts). */
const SUM_CHUNK = 64;

export interface LayerNormBackwardParams {
  rows: number;
  length: number;
  dtype: DType;
  paramDtype: DType;
  plan?: RowPlanOptions;
}

/** dx for layerNorm over the last axis. Bindings: X, W, DY, Mean, Rstd, DX. */
export function layerNormBackwardKernel(p: LayerNormBackwardParams): KernelSpec {
  const { rows, length, dtype: T, paramDtype: P } = p;
  const plan = planRow(length, p.plan);
  const V = (t: string) => (plan.vec === 4 ? `vec4<${t}>` : t);
  const F = V('f32');
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type: `array<${V(T)}>` },
    { name: 'W', kind: 'read', type: `array<${V(P)}>` },
    { name: 'DY', kind: 'read', type: `array<${F}>` },
    { name: 'Mean', kind: 'read', type: 'array<f32>' },
    { name: 'Rstd', kind: 'read', type: 'array<f32>' },
    { name: 'DX', kind: 'read_write', type: `array<${F}>` },
  ]);
  const compute = (i: string) => `let xhat = (${F}(X[base + ${i}]) - mean) * rstd; let dnorm = DY[base + ${i}] * ${F}(W[${i}]);`;
  const cache = plan.inRegisters ? `var cachedXhat: array<${F}, ${plan.perInvocation}>;\n  var cachedDnorm: array<${F}, ${plan.perInvocation}>;` : '';
  const wgsl = `${wgslHeader(T, P)}${decls}
${WGSL_LINEAR_WORKGROUP}
${wgslRowCombiners(plan, { workgroupSum: wgslSum })}
@compute @workgroup_size(${plan.workgroup})
fn main(${WGSL_MAIN_BUILTINS}) {
  ${wgslRowStart(plan, rows)}
  let mean = Mean[row];
  let rstd = Rstd[row];
  ${cache}
  var localDnorm = ${F}(0.0);
  var localDot = ${F}(0.0);
  ${wgslRowLoop(plan, (i, k) => `${compute(i)} localDnorm += dnorm; localDot += dnorm * xhat;${k === null ? '' : ` cachedXhat[${k}] = xhat; cachedDnorm[${k}] = dnorm;`}`)}
  let meanDnorm = ${wgslRowCombine(plan, 'workgroupSum', wgslHorizontal(plan, 'sum', 'localDnorm'))} / ${length}.0;
  let meanDot = ${wgslRowCombine(plan, 'workgroupSum', wgslHorizontal(plan, 'sum', 'localDot'))} / ${length}.0;
  ${wgslRowLoop(plan, (i, k) => (k === null
    ? `${compute(i)} DX[base + ${i}] = rstd * (dnorm - meanDnorm - xhat * meanDot);`
    : `DX[base + ${i}] = rstd * (cachedDnorm[${k}] - meanDnorm - cachedXhat[${k}] * meanDot);`))}
}`;
  return { name: 'layernorm_backward', wgsl, workgroupSize: [plan.workgroup, 1, 1], dispatch: rowDispatch(plan, rows) };
}

const COLUMN_WORKGROUP = 64;

/** dweight and dbias for layerNorm: one invocation per column sums over the rows. Bindings: X, DY, Mean, Rstd, DW, DB. */
export function layerNormParamsBackwardKernel(p: { rows: number; length: number; dtype: DType }): KernelSpec {
  const { rows, length, dtype: T } = p;
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type: `array<${T}>` },
    { name: 'DY', kind: 'read', type: 'array<f32>' },
    { name: 'Mean', kind: 'read', type: 'array<f32>' },
    { name: 'Rstd', kind: 'read', type: 'array<f32>' },
    { name: 'DW', kind: 'read_write', type: 'array<f32>' },
    { name: 'DB', kind: 'read_write', type: 'array<f32>' },
  ]);
  const wgsl = `${wgslHeader(T)}${decls}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${COLUMN_WORKGROUP})
fn main(${WGSL_MAIN_BUILTINS}) {
  let j = linearWorkgroup(wid, nwg) * ${COLUMN_WORKGROUP}u + lid;
  if (j >= ${length}u) { return; }
  var dw = 0.0;
  var db = 0.0;
  for (var start = 0u; start < ${rows}u; start += ${SUM_CHUNK}u) {
    var partialW = 0.0;
    var partialB = 0.0;
    for (var r = start; r < min(start + ${SUM_CHUNK}u, ${rows}u); r++) {
      let e = r * ${length}u + j;
      let dy = DY[e];
      partialW += dy * (f32(X[e]) - Mean[r]) * Rstd[r];
      partialB += dy;
    }
    dw += partialW;
    db += partialB;
  }
  DW[j] = dw;
  DB[j] = db;
}`;
  return { name: 'layernorm_params_backward', wgsl, workgroupSize: [COLUMN_WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(length / COLUMN_WORKGROUP)) };
}

export interface LayerNorm2dBackwardParams {
  batch: number;
  channels: number;
  /** H * W. */
  pixels: number;
  dtype: DType;
  paramDtype: DType;
}

/**
 * dx for layerNorm2d (NCHW): one invocation per (n, group of pixels) loops over the channels, as the
 * forward does (vec4 over 4 pixels when H * W is a multiple of 4). Bindings: X, W, DY, Mean, Rstd, DX.
 */
export function layerNorm2dBackwardKernel(p: LayerNorm2dBackwardParams): KernelSpec {
  const { batch, channels: C, dtype: T, paramDtype: P } = p;
  const { vec, units, workgroup: wg, prologue, dispatch } = layerNorm2dLayout(batch, C, p.pixels);
  const V = (t: string) => (vec === 4 ? `vec4<${t}>` : t);
  const F = V('f32');
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type: `array<${V(T)}>` },
    { name: 'W', kind: 'read', type: `array<${P}>` },
    { name: 'DY', kind: 'read', type: `array<${F}>` },
    { name: 'Mean', kind: 'read', type: `array<${F}>` },
    { name: 'Rstd', kind: 'read', type: `array<${F}>` },
    { name: 'DX', kind: 'read_write', type: `array<${F}>` },
  ]);
  const compute = `let e = base + c * ${units}u; let xhat = (${F}(X[e]) - mean) * rstd; let dnorm = DY[e] * f32(W[c]);`;
  const wgsl = `${wgslHeader(T, P)}${decls}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${wg})
fn main(${WGSL_MAIN_BUILTINS}) {
  ${prologue}
  let mean = Mean[g];
  let rstd = Rstd[g];
  var sumDnorm = ${F}(0.0);
  var sumDot = ${F}(0.0);
  for (var c = 0u; c < ${C}u; c++) { ${compute} sumDnorm += dnorm; sumDot += dnorm * xhat; }
  let meanDnorm = sumDnorm / ${C}.0;
  let meanDot = sumDot / ${C}.0;
  for (var c = 0u; c < ${C}u; c++) { ${compute} DX[e] = rstd * (dnorm - meanDnorm - xhat * meanDot); }
}`;
  return { name: 'layernorm2d_backward', wgsl, workgroupSize: [wg, 1, 1], dispatch };
}

/**
 * dweight and dbias for layerNorm2d: channel c's values form N contiguous planes of H * W, so each
 * channel is reduced as a row in the RowLayout (a workgroup per channel on GPUs, an invocation per
 * channel on CPU adapters), plane by plane. Bindings: X, DY, Mean, Rstd, DW, DB.
 */
export function layerNorm2dParamsBackwardKernel(p: { batch: number; channels: number; pixels: number; dtype: DType; plan?: RowPlanOptions }): KernelSpec {
  const { batch, channels: C, pixels, dtype: T } = p;
  // One pass: nothing to keep in registers. vec4 exactly when the forward's Mean and Rstd are vec4.
  const plan = planRow(pixels, { ...p.plan, maxRegisterLoads: 0 });
  const F = plan.vec === 4 ? 'vec4<f32>' : 'f32';
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type: `array<${plan.vec === 4 ? `vec4<${T}>` : T}>` },
    { name: 'DY', kind: 'read', type: `array<${F}>` },
    { name: 'Mean', kind: 'read', type: `array<${F}>` },
    { name: 'Rstd', kind: 'read', type: `array<${F}>` },
    { name: 'DW', kind: 'read_write', type: 'array<f32>' },
    { name: 'DB', kind: 'read_write', type: 'array<f32>' },
  ]);
  const wgsl = `${wgslHeader(T)}${decls}
${WGSL_LINEAR_WORKGROUP}
${wgslRowCombiners(plan, { workgroupSum: wgslSum })}
@compute @workgroup_size(${plan.workgroup})
fn main(${WGSL_MAIN_BUILTINS}) {
  ${wgslRowStart(plan, C)} // row = channel; base = its plane in image 0
  var localW = ${F}(0.0);
  var localB = ${F}(0.0);
  for (var n = 0u; n < ${batch}u; n++) {
    let plane = base + n * ${C * plan.units}u;
    let stats = n * ${plan.units}u;
    // A per-plane partial keeps the rounding error growing with the plane, not with N * H * W.
    var planeW = ${F}(0.0);
    var planeB = ${F}(0.0);
    ${wgslRowLoop(plan, (i) => `let dy = DY[plane + ${i}]; planeW += dy * (${F}(X[plane + ${i}]) - Mean[stats + ${i}]) * Rstd[stats + ${i}]; planeB += dy;`)}
    localW += planeW;
    localB += planeB;
  }
  let dw = ${wgslRowCombine(plan, 'workgroupSum', wgslHorizontal(plan, 'sum', 'localW'))};
  let db = ${wgslRowCombine(plan, 'workgroupSum', wgslHorizontal(plan, 'sum', 'localB'))};
  if (${wgslRowLeader(plan)}) { DW[row] = dw; DB[row] = db; }
}`;
  return { name: 'layernorm2d_params_backward', wgsl, workgroupSize: [plan.workgroup, 1, 1], dispatch: rowDispatch(plan, C) };
}

// ---- plain TypeScript reference (float64 arithmetic) ------------------------------------------

export interface LayerNormBackwardReference {
  dx: Float32Array;
  dweight: Float32Array;
  dbias: Float32Array;
}

/**
 * Gradients of a layernorm whose element j of vector v is x[at(v, j)] (see layerNormReference and
 * layerNorm2dReference in layernorm.ts for the two layouts); mean and rstd as the forward saved them.
 */
export function layerNormBackwardReference(
  x: ArrayLike<number>, weight: ArrayLike<number>, dy: ArrayLike<number>, mean: ArrayLike<number>, rstd: ArrayLike<number>,
  vectors: number, length: number, at: (v: number, j: number) => number,
): LayerNormBackwardReference {
  const dx = new Float32Array(x.length), dweight = new Float32Array(length), dbias = new Float32Array(length);
  const dw = new Float64Array(length), db = new Float64Array(length);
  for (let v = 0; v < vectors; v++) {
    const xhat = (j: number) => (x[at(v, j)] - mean[v]) * rstd[v];
    let sumDnorm = 0, sumDot = 0;
    for (let j = 0; j < length; j++) {
      const dnorm = dy[at(v, j)] * weight[j];
      sumDnorm += dnorm;
      sumDot += dnorm * xhat(j);
      dw[j] += dy[at(v, j)] * xhat(j);
      db[j] += dy[at(v, j)];
    }
    for (let j = 0; j < length; j++) {
      dx[at(v, j)] = rstd[v] * (dy[at(v, j)] * weight[j] - sumDnorm / length - xhat(j) * (sumDot / length));
    }
  }
  dweight.set(dw);
  dbias.set(db);
  return { dx, dweight, dbias };
}

/** Element j of row v of a (rows, length) layerNorm input. */
export const rowElement = (length: number) => (v: number, j: number) => v * length + j;

/** Element j (a channel) of vector v = (n, pixel) of an NCHW layerNorm2d input. */
export const channelElement = (channels: number, pixels: number) => (v: number, j: number) =>
  (Math.floor(v / pixels) * channels + j) * pixels + (v % pixels);
