// Softmax over the last axis, numerically stable: y = exp(x - max(x)) / sum(exp(x - max(x))).
// Three passes over each row (max, sum of exponentials, write), walked in a RowLayout (see reduce.ts);
// in the workgroup layout the row stays in registers between passes where it fits, else each pass
// reads it again (the invocation layout always reads again: a whole row does not fit in registers).
// Backward, from the forward's output y: dx = y * (dy - sum(dy * y)) row-wise, two passes per row.
import type { DType } from '../tensor/dtype.js';
import { bindingDecls, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import {
  planRow, rowDispatch, wgslHeader, wgslHorizontal, wgslMax, wgslRowCombine, wgslRowCombiners, wgslRowLoop, wgslRowStart, wgslSum,
  WGSL_LOWEST_F32, WGSL_MAIN_BUILTINS, type RowPlanOptions,
} from './reduce.js';

export function softmaxKernel(p: { rows: number; length: number; dtype: DType; plan?: RowPlanOptions }): KernelSpec {
  const { rows, length, dtype: T } = p;
  const plan = planRow(length, p.plan);
  const V = plan.vec === 4 ? `vec4<${T}>` : T;
  const F = plan.vec === 4 ? 'vec4<f32>' : 'f32';
  const load = (i: string) => `${F}(X[base + ${i}])`;
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type: `array<${V}>` },
    { name: 'Y', kind: 'read_write', type: `array<${V}>` },
  ]);
  const cache = plan.inRegisters ? `var cached: array<${F}, ${plan.perInvocation}>;` : '';
  const wgsl = `${wgslHeader(T)}${decls}
${WGSL_LINEAR_WORKGROUP}
${wgslRowCombiners(plan, { workgroupMax: wgslMax, workgroupSum: wgslSum })}
@compute @workgroup_size(${plan.workgroup})
fn main(${WGSL_MAIN_BUILTINS}) {
  ${wgslRowStart(plan, rows)}
  ${cache}
  var localMax = ${F}(${WGSL_LOWEST_F32});
  ${wgslRowLoop(plan, (i, k) => (k === null ? `localMax = max(localMax, ${load(i)});` : `cached[${k}] = ${load(i)}; localMax = max(localMax, cached[${k}]);`))}
  let rowMax = ${wgslRowCombine(plan, 'workgroupMax', wgslHorizontal(plan, 'max', 'localMax'))};
  var localSum = ${F}(0.0);
  ${wgslRowLoop(plan, (i, k) => (k === null ? `localSum += exp(${load(i)} - rowMax);` : `cached[${k}] = exp(cached[${k}] - rowMax); localSum += cached[${k}];`))}
  let inverseSum = 1.0 / ${wgslRowCombine(plan, 'workgroupSum', wgslHorizontal(plan, 'sum', 'localSum'))};
  ${wgslRowLoop(plan, (i, k) => `Y[base + ${i}] = ${V}(${k === null ? `exp(${load(i)} - rowMax)` : `cached[${k}]`} * inverseSum);`)}
}`;
  return { name: 'softmax', wgsl, workgroupSize: [plan.workgroup, 1, 1], dispatch: rowDispatch(plan, rows) };
}

/**
 * dx (f32) from y (the forward's output, dtype `dtype`) and dy (f32), walking rows in the same RowPlan
 * as the forward. Bindings: Y, DY, DX.
 */
export function softmaxBackwardKernel(p: { rows: number; length: number; dtype: DType; plan?: RowPlanOptions }): KernelSpec {
  const { rows, length, dtype: T } = p;
  const plan = planRow(length, p.plan);
  const V = (t: string) => (plan.vec === 4 ? `vec4<${t}>` : t);
  const F = V('f32');
  const decls = bindingDecls([
    { name: 'Y', kind: 'read', type: `array<${V(T)}>` },
    { name: 'DY', kind: 'read', type: `array<${F}>` },
    { name: 'DX', kind: 'read_write', type: `array<${F}>` },
  ]);
  const cache = plan.inRegisters ? `var cachedY: array<${F}, ${plan.perInvocation}>;\n  var cachedDy: array<${F}, ${plan.perInvocation}>;` : '';
  const wgsl = `${wgslHeader(T)}${decls}
${WGSL_LINEAR_WORKGROUP}
${wgslRowCombiners(plan, { workgroupSum: wgslSum })}
@compute @workgroup_size(${plan.workgroup})
fn main(${WGSL_MAIN_BUILTINS}) {
  ${wgslRowStart(plan, rows)}
  ${cache}
  var localDot = ${F}(0.0);
  ${wgslRowLoop(plan, (i, k) => (k === null
    ? `localDot += ${F}(Y[base + ${i}]) * DY[base + ${i}];`
    : `cachedY[${k}] = ${F}(Y[base + ${i}]); cachedDy[${k}] = DY[base + ${i}]; localDot += cachedY[${k}] * cachedDy[${k}];`))}
  let dot = ${wgslRowCombine(plan, 'workgroupSum', wgslHorizontal(plan, 'sum', 'localDot'))};
  ${wgslRowLoop(plan, (i, k) => (k === null
    ? `DX[base + ${i}] = ${F}(Y[base + ${i}]) * (DY[base + ${i}] - dot);`
    : `DX[base + ${i}] = cachedY[${k}] * (cachedDy[${k}] - dot);`))}
}`;
  return { name: 'softmax_backward', wgsl, workgroupSize: [plan.workgroup, 1, 1], dispatch: rowDispatch(plan, rows) };
}

// ---- plain TypeScript reference (float64 arithmetic) ------------------------------------------

/** Softmax over the last axis of a row-major tensor with rows of `length`. */
export function softmaxReference(x: ArrayLike<number>, length: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += length) {
    let m = -Infinity;
    for (let j = 0; j < length; j++) m = Math.max(m, x[base + j]);
    let s = 0;
    for (let j = 0; j < length; j++) s += Math.exp(x[base + j] - m);
    for (let j = 0; j < length; j++) y[base + j] = Math.exp(x[base + j] - m) / s;
  }
  return y;
}

/** dx = y * (dy - sum(dy * y)) over rows of `length`, given the forward's output y. */
export function softmaxBackwardReference(y: ArrayLike<number>, dy: ArrayLike<number>, length: number): Float32Array {
  const dx = new Float32Array(y.length);
  for (let base = 0; base < y.length; base += length) {
    let dot = 0;
    for (let j = 0; j < length; j++) dot += dy[base + j] * y[base + j];
    for (let j = 0; j < length; j++) dx[base + j] = y[base + j] * (dy[base + j] - dot);
  }
  return dx;
}
