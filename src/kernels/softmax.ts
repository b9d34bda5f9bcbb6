// Softmax over the last axis, numerically stable: y = exp(x - max(x)) / sum(exp(x - max(x))).
// Workgroup layout (GPUs, see reduce.ts): three passes over each row (max, sum of exponentials,
// write); the row stays in registers between passes where it fits, else each pass reads it again.
// Invocation layout (CPU adapters): see softmaxRowsKernel; short rows are read once, long rows twice.
// Subgroup layout (CPU adapters with a fixed subgroup size, `subgroupLanes`): softmax-subgroup.ts.
// Backward, from the forward's output y: dx = y * (dy - sum(dy * y)) row-wise, two passes per row.
import type { DType } from '../tensor/dtype.js';
import { bindingDecls, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import { softmaxSubgroupKernel } from './softmax-subgroup.js';
import {
  planRow, rowDispatch, wgslHeader, wgslHorizontal, wgslMax, wgslRowCombine, wgslRowCombiners, wgslRowLoop, wgslRowStart, wgslSum,
  WGSL_LOWEST_F32, WGSL_MAIN_BUILTINS, type RowPlan, type RowPlanOptions,
} from './reduce.js';

export function softmaxKernel(p: { rows: number; length: number; dtype: DType; plan?: RowPlanOptions; subgroupLanes?: number }): KernelSpec {
  const { rows, length, dtype: T } = p;
  if (p.subgroupLanes) return softmaxSubgroupKernel({ rows, length, dtype: T, lanes: p.subgroupLanes });
  const plan = planRow(length, p.plan);
  if (plan.layout === 'invocation') return softmaxRowsKernel(rows, length, T, plan);
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

/** Rows of at most this many loads are held in registers (unrolled) in the invocation layout. */
const REGISTER_ROW_LOADS = 64;
/** Loads per step of the online max-and-sum pass: one rescale of the running sum per step. */
const ONLINE_STEP = 4;
const LOG2E = '1.4426950408889634';

/**
 * The invocation layout (CPU adapters): one invocation per row, no barriers. On SwiftShader every
 * load or store whose address differs between invocations is a per-lane gather or scatter and exp is
 * not cheap, so the counts per element decide the speed: the three-pass kernel (3 loads, 2 exps)
 * reached 35-45% of a plain copy's bandwidth. Here:
 * - a row of at most REGISTER_ROW_LOADS loads is read once into registers (unrolled: 1 load, 1 exp);
 * - a longer row takes an online pass (running max; the running sum is rescaled by exp(old - new max)
 *   once per ONLINE_STEP loads) and a write pass: 2 loads, 2 exps.
 * exp(x - m) is computed as exp2((x - m) * log2(e)): cheaper than exp on SwiftShader. The product
 * rounds at |x - m| * 2^-24 relative (x * log2(e) - m * log2(e) in one fma would round at |x| * 2^-24,
 * 1.6e-5 for |x| = 200 where fma is not fused); 1e-6 at |x - m| = 10, where outputs are < 5e-5 of the largest.
 * Arrays are declared with their sizes: the kernel is specialised to the shape anyway, and bounds
 * checks against a constant are cheaper than against the bound buffer's length (runtime-sized arrays).
 */
function softmaxRowsKernel(rows: number, length: number, T: DType, plan: RowPlan): KernelSpec {
  const { vec, units, workgroup } = plan;
  const V = vec === 4 ? `vec4<${T}>` : T;
  const F = vec === 4 ? 'vec4<f32>' : 'f32';
  const count = rows * units;
  const type = count > 0 ? `array<${V}, ${count}>` : `array<${V}>`;
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type },
    { name: 'Y', kind: 'read_write', type },
  ]);
  const hmax = (v: string) => wgslHorizontal(plan, 'max', v);
  const hsum = (v: string) => wgslHorizontal(plan, 'sum', v);
  const expShifted = (v: string, max: string) => `exp2((${v} - ${max}) * ${LOG2E})`; // exp(v - max)
  const ks = (n: number) => Array.from({ length: n }, (_, k) => k);
  let body: string;
  if (units <= REGISTER_ROW_LOADS) {
    body = `${ks(units).map((k) => `let v${k} = ${F}(X[base + ${k}u]);`).join('\n  ')}
  let rowMax = ${hmax(ks(units).map((k) => `v${k}`).reduce((a, b) => `max(${a}, ${b})`))};
  ${ks(units).map((k) => `let e${k} = ${expShifted(`v${k}`, 'rowMax')};`).join('\n  ')}
  let total = ${ks(units).map((k) => `e${k}`).join(' + ')};
  let inverseSum = 1.0 / ${hsum('total')};
  ${ks(units).map((k) => `Y[base + ${k}u] = ${V}(e${k} * inverseSum);`).join('\n  ')}`;
  } else {
    // One step: the max of `size` loads from `start`, the running sum rescaled to it, their exps added.
    const step = (start: string, size: number) => `${ks(size).map((k) => `let v${k} = ${F}(X[base + ${start} + ${k}u]);`).join(' ')}
    let stepMax = max(runningMax, ${hmax(ks(size).map((k) => `v${k}`).reduce((a, b) => `max(${a}, ${b})`))});
    runningSum = runningSum * ${expShifted('runningMax', 'stepMax')} + ${ks(size).map((k) => expShifted(`v${k}`, 'stepMax')).join(' + ')};
    runningMax = stepMax;`;
    const full = Math.floor(units / ONLINE_STEP) * ONLINE_STEP, rest = units - full;
    body = `var runningMax = ${WGSL_LOWEST_F32};
  var runningSum = ${F}(0.0);
  for (var i = 0u; i < ${full}u; i += ${ONLINE_STEP}u) {
    ${step('i', ONLINE_STEP)}
  }
  ${rest ? `{ ${step(`${full}u`, rest)} }` : ''}
  let inverseSum = 1.0 / ${hsum('runningSum')};
  for (var i = 0u; i < ${units}u; i++) { Y[base + i] = ${V}(${expShifted(`${F}(X[base + i])`, 'runningMax')} * inverseSum); }`;
  }
  const wgsl = `${wgslHeader(T)}${decls}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${workgroup})
fn main(${WGSL_MAIN_BUILTINS}) {
  ${wgslRowStart(plan, rows)}
  ${body}
}`;
  return { name: 'softmax', wgsl, workgroupSize: [workgroup, 1, 1], dispatch: rowDispatch(plan, rows) };
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
