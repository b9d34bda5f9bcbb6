// Layer normalisation over the last axis in the subgroup layout, for CPU adapters with a fixed
// subgroup size (SwiftShader: 4 lanes, lavapipe: 8), as softmax-subgroup.ts does for softmax: the S
// lanes of one subgroup share a row, lane l taking loads l, l + S, l + 2S, ... (vec4 where the
// length allows), subgroupAdd combines the lanes.
//
// Why this layout (measured in headless Chromium on SwiftShader, (4096, 768), interleaved with a plain
// vec4 copy at 5.8-6.0 ms): on SwiftShader every storage load whose address is not a compile-time
// constant costs about as much as the copy's load (see softmax-subgroup.ts and docs/kernels.md), so
// the count of loads per element decides the speed. The invocation layout (layernorm.ts) reads each
// row twice and the weight and bias once per 4 rows: 2.5 loads and a store per element, 12.4 ms.
// Here the row is read once and held by its lanes (48 vec4 per lane for 768), and each lane holds the
// weight and bias columns it uses for every row the subgroup walks (ROWS_PER_SUBGROUP_MAX rows), so
// loads fall to 1 and a little per element: 9.2-9.4 ms; 4096 x 1280: 19.0 -> 15.9 ms (copy 9.3-10 ms).
// The op takes it only up to LAYERNORM_SUBGROUP_MAX_LANES lanes (SwiftShader): on lavapipe (8 lanes) it ran within 10% of
// the invocation layout (6.4 vs 7.0 ms, 10.4 vs 11.1 ms) while LLVM took 4-12x longer to compile it
// (5.5 s vs 1.3 s at 768, 18.7 s vs 1.6 s at 1280), which every new shape pays on first use.
// Values are held in private arrays indexed by constants (the loops over a lane's loads are unrolled
// here), which the shader compilers keep in registers or spill slots; a dynamic index would turn them
// into per-lane memory accesses. Rows longer than HELD_LOADS loads per lane take the invocation
// layout instead (a longer row held per lane was slower on SwiftShader in softmax's case).
// Statistics: two passes over the held values (mean, then mean squared deviation), as PyTorch does.
//
// Which lanes form a subgroup is the implementation's choice; the row comes from the subgroup_id
// builtin (WGSL language feature 'subgroup_id'). Callers check that the adapter's subgroups are
// exactly `lanes` wide; the workgroup is SUBGROUPS_PER_WORKGROUP whole subgroups.
import type { DType } from '../tensor/dtype.js';
import { dispatchLinear, f32Literal, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import { sizedLayerNormBindings } from './layernorm-bindings.js';
import type { LayerNormParams } from './layernorm.js';
import { wgslHeader } from './reduce.js';

/** The widest subgroups the op takes this layout at (see above); the kernel itself runs at any size. */
export const LAYERNORM_SUBGROUP_MAX_LANES = 4;
/** Most loads per lane whose values a lane holds (per array: the row, the weight, the bias). */
const HELD_LOADS = 80;
/** Rows one subgroup normalises in turn, sharing its weight and bias loads. */
const ROWS_PER_SUBGROUP_MAX = 32;
/** Fewer rows per subgroup while that would leave fewer subgroups than this (spread over CPU threads). */
const MIN_SUBGROUPS = 128;
const SUBGROUPS_PER_WORKGROUP = 4;

export type SubgroupLayerNormParams = Omit<LayerNormParams, 'plan' | 'subgroupLanes'> & {
  /** The adapter's subgroup size (fixed), a power of two from 1 to 64. */
  lanes: number;
};

function vecOf(length: number): 1 | 4 {
  return length % 4 === 0 ? 4 : 1;
}

/** Whether a row of `length` fits the held layout at `lanes` lanes (else: layernorm.ts's layouts). */
export function layerNormSubgroupFits(length: number, lanes: number): boolean {
  return length > 0 && Math.ceil(length / vecOf(length) / lanes) <= HELD_LOADS;
}

export function layerNormSubgroupKernel(p: SubgroupLayerNormParams): KernelSpec {
  const { rows, length, dtype: T, paramDtype: P, lanes: S } = p;
  if (!(S >= 1 && S <= 64 && (S & (S - 1)) === 0)) throw new Error(`layerNormSubgroupKernel: subgroup size ${S} is not a power of two from 1 to 64`);
  if (!layerNormSubgroupFits(length, S)) throw new Error(`layerNormSubgroupKernel: rows of ${length} need more than ${HELD_LOADS} loads per lane at ${S} lanes`);
  const vec = vecOf(length);
  const units = length / vec; // loads per row
  const V = (t: DType | 'f32') => (vec === 4 ? `vec4<${t}>` : t);
  const F = V('f32');
  const perLane = Math.ceil(units / S); // loads of the busiest lane
  const fullLoads = Math.floor(units / S); // loads every lane has
  const rowsPerSubgroup = Math.max(1, Math.min(ROWS_PER_SUBGROUP_MAX, Math.ceil(rows / MIN_SUBGROUPS)));
  const workgroup = SUBGROUPS_PER_WORKGROUP * S;
  const decls = sizedLayerNormBindings(p, units, vec);
  const ks = Array.from({ length: perLane }, (_, k) => k);
  const hsum = (v: string) => (vec === 4 ? `dot(${v}, vec4<f32>(1.0))` : v);
  // Load k of this lane is element lane + k * S of the row (in vec units); the last may lie past the
  // row for some lanes: they hold 0 and store nothing.
  const inRow = (k: number) => `lane + ${k * S}u < ${units}u`;
  const guarded = (k: number, statement: string) => (k < fullLoads ? `{ ${statement} }` : `if (${inRow(k)}) { ${statement} }`);
  const wgsl = `enable subgroups;
${wgslHeader(T, P)}${decls}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${workgroup})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_id) sid: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let firstRow = (linearWorkgroup(wid, nwg) * ${SUBGROUPS_PER_WORKGROUP}u + sid) * ${rowsPerSubgroup}u;
  let endRow = min(firstRow + ${rowsPerSubgroup}u, ${rows}u);
  var weights: array<${F}, ${perLane}>;
  var biases: array<${F}, ${perLane}>;
  var values: array<${F}, ${perLane}>;
  ${ks.map((k) => guarded(k, `weights[${k}] = ${F}(W[lane + ${k * S}u]); biases[${k}] = ${F}(B[lane + ${k * S}u]);`)).join('\n  ')}
  for (var row = firstRow; row < endRow; row++) {
    let base = row * ${units}u + lane;
    var sum = ${F}(0.0);
    ${ks.map((k) => guarded(k, `values[${k}] = ${F}(X[base + ${k * S}u]); sum += values[${k}];`)).join('\n    ')}
    let mean = subgroupAdd(${hsum('sum')}) / ${length}.0;
    var squares = ${F}(0.0);
    ${ks.map((k) => guarded(k, `let d = values[${k}] - mean; squares += d * d;`)).join('\n    ')}
    let rstd = inverseSqrt(subgroupAdd(${hsum('squares')}) / ${length}.0 + ${f32Literal(p.eps)});
    ${ks.map((k) => guarded(k, `Y[base + ${k * S}u] = ${V(T)}((values[${k}] - mean) * rstd * weights[${k}] + biases[${k}]);`)).join('\n    ')}
    ${p.saveStats ? 'if (lane == 0u) { Mean[row] = mean; Rstd[row] = rstd; }' : ''}
  }
}`;
  const rowsPerWorkgroup = SUBGROUPS_PER_WORKGROUP * rowsPerSubgroup;
  return {
    name: p.saveStats ? 'layernorm_subgroup_stats' : 'layernorm_subgroup', wgsl, workgroupSize: [workgroup, 1, 1],
    dispatch: dispatchLinear(Math.ceil(rows / rowsPerWorkgroup)),
  };
}
