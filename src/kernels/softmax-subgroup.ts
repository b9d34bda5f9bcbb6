// Softmax over the last axis in the subgroup layout, for CPU adapters with a fixed subgroup size
// (SwiftShader: 4 lanes, lavapipe: 8): the S lanes of one subgroup share a row, lane l taking loads
// l, l + S, l + 2S, ... (vec4 loads where the length allows), and subgroupMax / subgroupAdd combine
// the lanes. No barriers and no workgroup memory, both of which cost far more than the work on these
// adapters (a workgroup-per-row kernel with two barriers ran at 20% of a copy on SwiftShader).
//
// Why not one invocation per row (softmax.ts, invocation layout): each invocation then holds its whole
// row, 49 vec4 for SAM's 196-key windows, which spills; sharing a row among S lanes holds 13 (S = 4).
// Measured in headless Chromium on SwiftShader, (58800, 196): 49-51 ms per call -> 40-42 ms, against
// 21 ms for a plain vec4 copy of the same bytes; (4096, 4096): 74 ms -> 64 ms, copy 31 ms. On lavapipe
// (58800, 196): 38 ms -> 21 ms (copy 29 ms); (4096, 4096) unchanged (33 ms, copy 41 ms).
//
// What limits it on SwiftShader: its JIT (Subzero) turns every storage load whose address is not a
// compile-time constant into 4 scalar loads per vector component, each behind a branch on its lane's
// mask, the vector assembled through the stack (read off the JIT's code under perf). That is about
// 1 ns per float on this 2-core machine whatever the access pattern (lane-consecutive scalars, vec4,
// mat4x4 and texture fetches all measured alike), against about 1.7 ns per float for the whole plain
// copy. A row that does not fit in registers must be read twice, so long rows cost 2 loads, 1 store
// and 2 exps per element: 45-55% of the copy, depending on which of its two speeds the copy runs at.
//
// What each choice is for (all measured on SwiftShader, where every value a lane keeps past a
// reduction also costs a spill):
// - max as select(a, b, b > a): WGSL's max() lowers to a NaN-aware maximum there, 10% of the kernel.
// - Rows of at most REGISTER_LOADS loads per lane are read once and kept in registers (1 load and
//   1 exp per element). Longer rows take an online pass (running max; the running sum is rescaled by
//   exp(old - new max) once per ONLINE_STEP loads) and a write pass: 2 loads and 2 exps per element.
//   Keeping part of a long row in registers, a private array or workgroup memory was slower, as were
//   larger online steps, unrolled write loops, a hand-written exp2 and branches that skip work (the
//   adapter runs both sides of a branch whose condition it cannot see at compile time).
// - exp(x - m) as exp2((x - m) * log2(e)), as in softmax.ts (same rounding argument).
//
// Which lanes form a subgroup is the implementation's choice; the row comes from the subgroup_id
// builtin (WGSL language feature 'subgroup_id'), so nothing assumes consecutive invocation indices.
// Callers check that the adapter's subgroups are exactly `lanes` wide (subgroupMinSize ==
// subgroupMaxSize); the workgroup is a whole number of subgroups.
import type { DType } from '../tensor/dtype.js';
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import { wgslHeader, WGSL_LOWEST_F32 } from './reduce.js';

/** Loads per lane kept in registers; rows needing more take the online pass. */
const REGISTER_LOADS = 16;
/** Loads per lane in one step of the online pass (one rescale of the running sum per step). */
const ONLINE_STEP = 4;
/** Invocations per workgroup: 256 / lanes rows per workgroup. */
const WORKGROUP_INVOCATIONS = 256;
const LOG2E = '1.4426950408889634';

export interface SubgroupSoftmaxParams {
  rows: number;
  length: number;
  dtype: DType;
  /** The adapter's subgroup size (fixed), a power of two from 1 to WORKGROUP_INVOCATIONS. */
  lanes: number;
}

export function softmaxSubgroupKernel(p: SubgroupSoftmaxParams): KernelSpec {
  const { rows, length, dtype: T, lanes: S } = p;
  if (!(S >= 1 && S <= WORKGROUP_INVOCATIONS && (S & (S - 1)) === 0)) {
    throw new Error(`softmaxSubgroupKernel: subgroup size ${S} is not a power of two from 1 to ${WORKGROUP_INVOCATIONS}`);
  }
  const vec = length % 4 === 0 ? 4 : 1;
  const units = length / vec; // loads per row
  const V = vec === 4 ? `vec4<${T}>` : T;
  const F = vec === 4 ? 'vec4<f32>' : 'f32';
  const rowsPerWorkgroup = WORKGROUP_INVOCATIONS / S;
  const perLane = Math.ceil(units / S); // loads of the busiest lane
  const fullLoads = Math.floor(units / S); // loads every lane has
  const count = rows * units;
  const type = count > 0 ? `array<${V}, ${count}>` : `array<${V}>`;
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type },
    { name: 'Y', kind: 'read_write', type },
  ]);

  const ks = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
  // `out = max(out, v)` as a select (see above); a chain of updates, since select repeats its operand.
  const maxChain = (out: string, values: string[]) =>
    `var ${out} = ${values[0]};${values.slice(1).map((v) => ` ${out} = select(${out}, ${v}, ${v} > ${out});`).join('')}`;
  const horizontalMax = (v: string) => (vec === 4
    ? `select(select(${v}.x, ${v}.y, ${v}.y > ${v}.x), select(${v}.z, ${v}.w, ${v}.w > ${v}.z), select(${v}.z, ${v}.w, ${v}.w > ${v}.z) > select(${v}.x, ${v}.y, ${v}.y > ${v}.x))`
    : v);
  const horizontalSum = (v: string) => (vec === 4 ? `dot(${v}, vec4<f32>(1.0))` : v);
  const expShifted = (v: string, max: string) => `exp2((${v} - ${max}) * ${LOG2E})`;
  // Load k of this lane is element lane + k * S of the row (in vec units); `at` takes k as WGSL.
  const at = (k: string) => `${F}(X[base + (${k}) * ${S}u])`;
  const inRow = (k: number) => `lane + ${k * S}u < ${units}u`;
  // A load every lane has, or one only some lanes have: the others take the lowest value (no effect on
  // the max) and their exponential is replaced by 0 (termOf).
  const load = (name: string, k: number) => (k < fullLoads
    ? `let ${name} = ${at(`${k}u`)};`
    : `var ${name} = ${F}(${WGSL_LOWEST_F32}); if (${inRow(k)}) { ${name} = ${at(`${k}u`)}; }`);
  const termOf = (k: number, exp: string) => (k < fullLoads ? exp : `select(${F}(0.0), ${exp}, ${inRow(k)})`);
  const store = (k: number, value: string) => `${k < fullLoads ? '' : `if (${inRow(k)}) `}{ Y[base + ${k * S}u] = ${V}(${value}); }`;

  let body: string;
  if (perLane <= REGISTER_LOADS) {
    const K = ks(perLane);
    body = `${K.map((k) => load(`v${k}`, k)).join('\n  ')}
  ${maxChain('laneMax', K.map((k) => `v${k}`))}
  let rowMax = subgroupMax(${horizontalMax('laneMax')});
  ${K.map((k) => `let e${k} = ${termOf(k, expShifted(`v${k}`, 'rowMax'))};`).join('\n  ')}
  let inverseSum = 1.0 / subgroupAdd(${horizontalSum(K.map((k) => `e${k}`).join(' + '))});
  if (live) {
    ${K.map((k) => store(k, `e${k} * inverseSum`)).join('\n    ')}
  }`;
  } else {
    // Online pass over the loads every lane has (uniform loop), then the rest with guards.
    const steps = Math.floor(fullLoads / ONLINE_STEP) * ONLINE_STEP;
    const step = (first: string | number, size: number) => {
      const K = ks(size);
      const loads = K.map((t) => (typeof first === 'number' ? load(`v${t}`, first + t) : `let v${t} = ${at(`${first} + ${t}u`)};`));
      return `${loads.join(' ')}
    ${maxChain('stepMax4', K.map((t) => `v${t}`))}
    let stepHorizontal = ${horizontalMax('stepMax4')};
    let stepMax = select(runningMax, stepHorizontal, stepHorizontal > runningMax);
    runningSum = runningSum * ${expShifted('runningMax', 'stepMax')} + ${K.map((t) => {
      const term = expShifted(`v${t}`, 'stepMax');
      return typeof first === 'number' ? termOf(first + t, term) : term;
    }).join(' + ')};
    runningMax = stepMax;`;
    };
    const rest = perLane - steps;
    body = `var runningMax = ${WGSL_LOWEST_F32};
  var runningSum = ${F}(0.0);
  for (var j = 0u; j < ${steps}u; j += ${ONLINE_STEP}u) {
    ${step('j', ONLINE_STEP)}
  }
  ${rest > 0 ? `{\n    ${step(steps, rest)}\n  }` : ''}
  let rowMax = subgroupMax(runningMax);
  let inverseSum = 1.0 / subgroupAdd(${horizontalSum('runningSum')} * ${expShifted('runningMax', 'rowMax')});
  if (live) {
    for (var j = 0u; j < ${fullLoads}u; j++) { let i = base + j * ${S}u; Y[i] = ${V}(${expShifted(`${F}(X[i])`, 'rowMax')} * inverseSum); }
    ${perLane > fullLoads ? store(fullLoads, `${expShifted(at(`${fullLoads}u`), 'rowMax')} * inverseSum`) : ''}
  }`;
  }

  const wgsl = `enable subgroups;
${wgslHeader(T)}${decls}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${WORKGROUP_INVOCATIONS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_id) sid: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let row = linearWorkgroup(wid, nwg) * ${rowsPerWorkgroup}u + sid;
  // Subgroups past the last row work on the last row (the subgroup operations need every lane) and store nothing.
  let live = row < ${rows}u;
  let base = min(row, ${Math.max(rows, 1) - 1}u) * ${units}u + lane;
  ${body}
}`;
  return { name: 'softmax_subgroup', wgsl, workgroupSize: [WORKGROUP_INVOCATIONS, 1, 1], dispatch: dispatchLinear(Math.ceil(rows / rowsPerWorkgroup)) };
}
