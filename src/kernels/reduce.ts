// Reductions over one axis: sum, mean, max, argmax. The tensor is viewed as (outer, reduce, inner).
// With inner == 1 every row is contiguous and goes to the row kernel (see RowLayout: one workgroup
// per row with strided vec4 loads and a shared-memory tree on GPUs, one invocation per row on CPU
// adapters); with inner > 1 one invocation per output loops over the reduced axis, and neighbouring
// invocations read neighbouring addresses. Sums accumulate in f32: pairwise through the tree, in
// chunks along loops. This file also holds the row-walking helpers softmax and layernorm share.
import type { DType } from '../tensor/dtype.js';
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';

export type ReduceOp = 'sum' | 'mean' | 'max' | 'argmax';

export const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'mean', 'max', 'argmax'];

/** The (outer, reduce, inner) view of `shape` reduced along `axis` (already non-negative). */
export interface ReduceView {
  outer: number;
  reduce: number;
  inner: number;
}

export function reduceView(shape: readonly number[], axis: number): ReduceView {
  const prod = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
  return { outer: prod(shape.slice(0, axis)), reduce: shape[axis] ?? 1, inner: prod(shape.slice(axis + 1)) };
}

/** The lowest finite f32: the identity for max (WGSL constants cannot be infinite). */
export const WGSL_LOWEST_F32 = '-0x1.fffffep+127f';

/** Rows shorter than this go to the one-invocation-per-output kernel: a workgroup would sit mostly idle. */
export const MIN_ROW_FOR_WORKGROUP = 32;

const STRIDED_WORKGROUP = 256;
/** Sums over the reduced axis run in chunks of this many terms, each chunk added to a running total:
 * the rounding error grows with (n / CHUNK + CHUNK) instead of n. */
const SUM_CHUNK = 64;

export function wgslHeader(...dtypes: DType[]): string {
  return dtypes.includes('f16') ? 'enable f16;\n' : '';
}

/**
 * WGSL for `fn <name>(lid: u32, value: f32) -> f32`: combines one value per invocation across a
 * workgroup of `size` invocations (a power of two) with a shared-memory tree, and returns the result
 * to every invocation. Pairwise, so sums keep their accuracy. Call it from uniform control flow.
 */
export function wgslWorkgroupReduce(name: string, size: number, combine: (a: string, b: string) => string): string {
  if (size & (size - 1)) throw new Error(`wgslWorkgroupReduce: workgroup size ${size} is not a power of two`);
  const s = `${name}Scratch`;
  return /* wgsl */ `
var<workgroup> ${s}: array<f32, ${size}>;
fn ${name}(lid: u32, value: f32) -> f32 {
  ${s}[lid] = value;
  workgroupBarrier();
  for (var stride = ${size / 2}u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { ${s}[lid] = ${combine(`${s}[lid]`, `${s}[lid + stride]`)}; }
    workgroupBarrier();
  }
  let result = ${s}[0];
  workgroupBarrier(); // the scratch may be reused by the next call
  return result;
}`;
}

export const wgslSum = (a: string, b: string) => `${a} + ${b}`;
export const wgslMax = (a: string, b: string) => `max(${a}, ${b})`;

/** The largest power of two <= n (n >= 1). */
function floorPow2(n: number): number {
  return 2 ** Math.floor(Math.log2(Math.max(1, n)));
}

/**
 * How a kernel walks contiguous rows (reductions with inner == 1, softmax, layernorm).
 * - 'workgroup': one workgroup per row; each invocation takes a strided share of the row, then a
 *   shared-memory tree combines the shares. What a GPU wants: coalesced loads, many lanes per row.
 * - 'invocation': one invocation per row, looping over it; no barriers, no shared memory. What a CPU
 *   adapter wants: lavapipe runs the invocations of a workgroup as coroutines that switch at every
 *   barrier. Measured there on a (4096, 768) f32 softmax: 256-wide workgroups per row 240 ms, 32-wide
 *   37 ms, one invocation per row 9-14 ms (60-80% of a vec4 copy's bandwidth, the copy 6-8 ms).
 */
export type RowLayout = 'workgroup' | 'invocation';

/** The layout the row kernels use on an adapter (see RowLayout). */
export function rowLayoutFor(isSoftwareAdapter: boolean): RowLayout {
  return isSoftwareAdapter ? 'invocation' : 'workgroup';
}

/**
 * How one row is covered: `vec`-wide loads, `units` loads per row. In the workgroup layout each
 * invocation makes `perInvocation` loads and, where that is few enough, keeps them in registers
 * between passes instead of reading the row again.
 */
export interface RowPlan {
  layout: RowLayout;
  vec: 1 | 4;
  units: number;
  workgroup: number;
  perInvocation: number;
  inRegisters: boolean;
}

export interface RowPlanOptions {
  layout?: RowLayout;
  /** Invocations per workgroup (a power of two). Workgroup layout: by default enough for about 4 loads each, 32 to 256. */
  workgroup?: number;
  /** Workgroup layout: the most loads one invocation keeps in registers; longer rows are re-read in each pass. */
  maxRegisterLoads?: number;
  /** vec4 loads when the row length is a multiple of 4 (default true). */
  vectorize?: boolean;
}

/** Invocations per workgroup in the invocation layout: each one is a row, and lavapipe's SIMD lanes are 8 wide. */
const ROWS_PER_WORKGROUP = 16;

export function planRow(length: number, options: RowPlanOptions = {}): RowPlan {
  const layout = options.layout ?? 'workgroup';
  const vec = options.vectorize !== false && length % 4 === 0 ? 4 : 1;
  const units = length / vec;
  if (layout === 'invocation') {
    return { layout, vec, units, workgroup: options.workgroup ?? ROWS_PER_WORKGROUP, perInvocation: units, inRegisters: false };
  }
  const workgroup = options.workgroup ?? Math.min(256, Math.max(32, floorPow2(units / 4)));
  if (workgroup & (workgroup - 1)) throw new Error(`planRow: workgroup size ${workgroup} is not a power of two`);
  const perInvocation = Math.ceil(units / workgroup);
  return { layout, vec, units, workgroup, perInvocation, inRegisters: perInvocation <= (options.maxRegisterLoads ?? 8) };
}

/** WGSL statements that set `row` (returning when past the last row) and `base`, the row's first load. */
export function wgslRowStart(plan: RowPlan, rows: number): string {
  const row = plan.layout === 'workgroup' ? 'linearWorkgroup(wid, nwg)' : `linearWorkgroup(wid, nwg) * ${plan.workgroup}u + lid`;
  // Uniform in the workgroup layout (workgroup_id is uniform), so the barriers after it stay legal.
  return `let row = ${row};
  if (row >= ${rows}u) { return; }
  let base = row * ${plan.units}u;`;
}

export function rowDispatch(plan: RowPlan, rows: number): [number, number, number] {
  return dispatchLinear(plan.layout === 'workgroup' ? rows : Math.ceil(rows / plan.workgroup));
}

/**
 * WGSL that runs `body(i, k)` for each load `i` (an index in vec units within the row) an invocation
 * owns: unrolled with register slot k when the row is held in registers, a loop (k = null) otherwise.
 */
export function wgslRowLoop(plan: RowPlan, body: (i: string, k: number | null) => string): string {
  if (plan.layout === 'invocation') return `for (var i = 0u; i < ${plan.units}u; i++) { ${body('i', null)} }`;
  if (!plan.inRegisters) return `for (var i = lid; i < ${plan.units}u; i += ${plan.workgroup}u) { ${body('i', null)} }`;
  const lines: string[] = [];
  for (let k = 0; k < plan.perInvocation; k++) {
    const full = (k + 1) * plan.workgroup <= plan.units;
    lines.push(`{ let i = lid + ${k * plan.workgroup}u; ${full ? '' : `if (i < ${plan.units}u) `}{ ${body('i', k)} } }`);
  }
  return lines.join('\n  ');
}

/** Declarations of the workgroup-wide combine functions a row kernel calls through wgslRowCombine. */
export function wgslRowCombiners(plan: RowPlan, combiners: Record<string, (a: string, b: string) => string>): string {
  if (plan.layout === 'invocation') return '';
  return Object.entries(combiners).map(([name, combine]) => wgslWorkgroupReduce(name, plan.workgroup, combine)).join('\n');
}

/** The whole row's combination of each invocation's `value` (in the invocation layout, the value itself). */
export function wgslRowCombine(plan: RowPlan, combiner: string, value: string): string {
  return plan.layout === 'invocation' ? value : `${combiner}(lid, ${value})`;
}

/** WGSL guard for work one invocation per row does once (writing per-row statistics). */
export function wgslRowLeader(plan: RowPlan): string {
  return plan.layout === 'invocation' ? 'true' : 'lid == 0u';
}

/** Horizontal sum / max of a vec-wide f32 value held in the variable `v`. */
export function wgslHorizontal(plan: RowPlan, kind: 'sum' | 'max', v: string): string {
  if (plan.vec === 1) return v;
  return kind === 'sum' ? `((${v}.x + ${v}.y) + (${v}.z + ${v}.w))` : `max(max(${v}.x, ${v}.y), max(${v}.z, ${v}.w))`;
}

export const WGSL_MAIN_BUILTINS =
  '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';

/** Reduces `rows` contiguous rows of `length` elements, one output each, in either RowLayout. */
export function reduceRowsKernel(p: { op: ReduceOp; rows: number; length: number; dtype: DType; layout?: RowLayout; workgroup?: number }): KernelSpec {
  const { op, rows, length, dtype: T } = p;
  // A single pass over the row: nothing to keep in registers. argmax tracks indices, so loads stay scalar.
  const plan = planRow(length, { layout: p.layout, workgroup: p.workgroup, maxRegisterLoads: 0, vectorize: op !== 'argmax' });
  const OUT = op === 'argmax' ? 'i32' : T;
  const X = plan.vec === 4 ? `vec4<${T}>` : T;
  const F = plan.vec === 4 ? 'vec4<f32>' : 'f32';
  const wg = plan.workgroup;
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type: `array<${X}>` },
    { name: 'Y', kind: 'read_write', type: `array<${OUT}>` },
  ]);
  let helpers = '';
  let body: string;
  if (op === 'argmax' && plan.layout === 'invocation') {
    body = /* wgsl */ `
  var bestValue = f32(X[base]);
  var bestIndex = 0u;
  for (var i = 1u; i < ${length}u; i++) {
    let v = f32(X[base + i]);
    if (v > bestValue) { bestValue = v; bestIndex = i; } // strict: ties keep the first index, as PyTorch does
  }
  Y[row] = i32(bestIndex);`;
  } else if (op === 'argmax') {
    // Ties go to the lower index: each invocation walks its indices upwards keeping the first maximum,
    // and the tree keeps the lower index of equal values.
    helpers = /* wgsl */ `
var<workgroup> bestValues: array<f32, ${wg}>;
var<workgroup> bestIndices: array<u32, ${wg}>;`;
    body = /* wgsl */ `
  var bestValue = ${WGSL_LOWEST_F32};
  var bestIndex = ${length}u; // none yet
  for (var i = lid; i < ${length}u; i += ${wg}u) {
    let v = f32(X[base + i]);
    if (v > bestValue || bestIndex == ${length}u) { bestValue = v; bestIndex = i; }
  }
  bestValues[lid] = bestValue;
  bestIndices[lid] = bestIndex;
  workgroupBarrier();
  for (var stride = ${wg / 2}u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let v = bestValues[lid + stride];
      let j = bestIndices[lid + stride];
      // j == ${length} (an invocation with no elements) never wins; -inf loses to any index that has one.
      if (j != ${length}u && (bestIndices[lid] == ${length}u || v > bestValues[lid] || (v == bestValues[lid] && j < bestIndices[lid]))) {
        bestValues[lid] = v;
        bestIndices[lid] = j;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { Y[row] = i32(bestIndices[0]); }`;
  } else {
    const isMax = op === 'max';
    helpers = wgslRowCombiners(plan, { workgroupCombine: isMax ? wgslMax : wgslSum });
    const load = (i: string) => `${F}(X[base + ${i}])`;
    const accumulate = isMax
      ? wgslRowLoop(plan, (i) => `acc = max(acc, ${load(i)});`)
      : plan.layout === 'invocation'
        // One invocation walks the whole row: sum it in chunks so rounding error grows with n / CHUNK + CHUNK, not n.
        ? `for (var start = 0u; start < ${plan.units}u; start += ${SUM_CHUNK}u) {
    var partial = ${F}(0.0);
    for (var i = start; i < min(start + ${SUM_CHUNK}u, ${plan.units}u); i++) { partial += ${load('i')}; }
    acc += partial;
  }`
        : wgslRowLoop(plan, (i) => `acc += ${load(i)};`);
    body = /* wgsl */ `
  var acc = ${F}(${isMax ? WGSL_LOWEST_F32 : '0.0'});
  ${accumulate}
  let total = ${wgslRowCombine(plan, 'workgroupCombine', wgslHorizontal(plan, isMax ? 'max' : 'sum', 'acc'))};
  if (${wgslRowLeader(plan)}) { Y[row] = ${OUT}(${op === 'mean' ? `total / ${length}.0` : 'total'}); }`;
  }
  const wgsl = `${wgslHeader(T)}${decls}
${WGSL_LINEAR_WORKGROUP}
${helpers}
@compute @workgroup_size(${wg})
fn main(${WGSL_MAIN_BUILTINS}) {
  ${wgslRowStart(plan, rows)}
${body}
}`;
  return { name: `reduce_rows_${op}`, wgsl, workgroupSize: [wg, 1, 1], dispatch: rowDispatch(plan, rows) };
}

/** One invocation per (outer, inner) output, looping over the reduced axis (stride `inner`). */
export function reduceStridedKernel(p: { op: ReduceOp; view: ReduceView; dtype: DType }): KernelSpec {
  const { op, dtype: T } = p;
  const { outer, reduce, inner } = p.view;
  const outputs = outer * inner;
  const OUT = op === 'argmax' ? 'i32' : T;
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type: `array<${T}>` },
    { name: 'Y', kind: 'read_write', type: `array<${OUT}>` },
  ]);
  const at = (r: string) => `f32(X[base + (${r}) * ${inner}u])`;
  let body: string;
  if (op === 'argmax') {
    body = /* wgsl */ `
  var bestValue = ${WGSL_LOWEST_F32};
  var bestIndex = 0u;
  for (var r = 0u; r < ${reduce}u; r++) {
    let v = ${at('r')};
    if (v > bestValue) { bestValue = v; bestIndex = r; }
  }
  Y[o] = i32(bestIndex);`;
  } else if (op === 'max') {
    body = /* wgsl */ `
  var best = ${WGSL_LOWEST_F32};
  for (var r = 0u; r < ${reduce}u; r++) { best = max(best, ${at('r')}); }
  Y[o] = ${OUT}(best);`;
  } else {
    body = /* wgsl */ `
  var total = 0.0;
  for (var start = 0u; start < ${reduce}u; start += ${SUM_CHUNK}u) {
    var partial = 0.0;
    for (var r = start; r < min(start + ${SUM_CHUNK}u, ${reduce}u); r++) { partial += ${at('r')}; }
    total += partial;
  }
  Y[o] = ${OUT}(${op === 'mean' ? `total / ${reduce}.0` : 'total'});`;
  }
  const wgsl = `${wgslHeader(T)}${decls}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${STRIDED_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = linearWorkgroup(wid, nwg) * ${STRIDED_WORKGROUP}u + lid;
  if (o >= ${outputs}u) { return; }
  let base = (o / ${inner}u) * ${reduce * inner}u + o % ${inner}u;
${body}
}`;
  return {
    name: `reduce_strided_${op}`, wgsl, workgroupSize: [STRIDED_WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(outputs / STRIDED_WORKGROUP)),
  };
}

/** The kernel for a reduction of `view` (reduce >= 1): contiguous rows go to the row kernel in `layout`. */
export function reduceKernel(p: { op: ReduceOp; view: ReduceView; dtype: DType; layout: RowLayout }): KernelSpec {
  const { outer, reduce, inner } = p.view;
  const rowsFitLayout = p.layout === 'invocation' || reduce >= MIN_ROW_FOR_WORKGROUP;
  if (inner === 1 && rowsFitLayout) return reduceRowsKernel({ op: p.op, rows: outer, length: reduce, dtype: p.dtype, layout: p.layout });
  return reduceStridedKernel(p);
}

// ---- plain TypeScript references (float64 arithmetic) -----------------------------------------

/** The reduction of `x` (shape `shape`) along `axis` (non-negative); argmax ties go to the lower index. */
export function reduceReference(op: ReduceOp, x: ArrayLike<number>, shape: readonly number[], axis: number): Float32Array | Int32Array {
  const { outer, reduce, inner } = reduceView(shape, axis);
  const out = op === 'argmax' ? new Int32Array(outer * inner) : new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (r: number) => x[(o * reduce + r) * inner + i];
      let result: number;
      if (op === 'sum' || op === 'mean') {
        let s = 0;
        for (let r = 0; r < reduce; r++) s += at(r);
        result = op === 'mean' ? s / reduce : s;
      } else {
        let best = -Infinity, bestIndex = 0;
        for (let r = 0; r < reduce; r++) {
          if (at(r) > best) { best = at(r); bestIndex = r; }
        }
        result = op === 'max' ? best : bestIndex;
      }
      out[o * inner + i] = result;
    }
  }
  return out;
}
