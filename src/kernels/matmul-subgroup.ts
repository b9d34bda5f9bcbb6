// The matmul of matmul.ts (same params, uniforms, bindings and epilogue) for CPU-backed adapters with
// 8- or 4-wide subgroups: Mesa's llvmpipe (lavapipe, 8 lanes), where a workgroup is one CPU thread running
// its invocations as SIMD lanes, and SwiftShader (4 lanes, the WebGPU adapter of Chromium without a GPU).
//
// Why a separate kernel: llvmpipe (Mesa 25.0) turns every storage-buffer load whose address is not a
// compile-time constant into a loop over the 8 lanes with a mask test and a bounds check per lane
// (GALLIVM_DEBUG=asm shows about 10 instructions per lane and component), while an 8-wide multiply-add
// is 3 instructions. Workgroup memory is a similar per-lane loop. So what counts is how many values
// each lane loads per multiply-add. Here one workgroup is one subgroup of L lanes (8 on lavapipe); they
// share TM output rows and each lane owns 4 adjacent columns (one vec4). Per 4-deep K step, each lane
// loads one vec4 of A per L rows (lane l: row l of the group) and subgroupBroadcast hands every A value
// to all lanes (an extract and a broadcast: 2 instructions for the whole subgroup), and 4 vec4s of B. A
// lane thus loads (TM / L + 4) vec4s for 16 TM multiply-adds, against TM + 4 for 16 TM in matmul.ts.
// Measured on lavapipe, 1024^3 on 2 shared cores: 17-26 GFLOP/s for TM = 16-32 against 4-5 for matmul.ts.
// SwiftShader's JIT makes such loads even dearer (docs/kernels.md); with 4 lanes, 1024^3 in headless
// Chromium: 5.5 GFLOP/s against 1.7-2.0 for matmul.ts.
//
// Requirements (checked by subgroupMatmulSupported): subgroups of exactly `lanes` invocations, and vec4
// loads along every operand's contiguous dimension: K % 4 == 0, N % 4 == 0 and, for transA, M % 4 == 0;
// offsets and row strides of a MatmulLayout (matmulUniforms) must be multiples of 4 as well.
import { WGSL_MATH_HELPERS } from './elementwise.js';
import { bindingDecls, dispatchLinear, MAX_WORKGROUPS_PER_DIM, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import { MATMUL_ACTIVATE_WGSL, MATMUL_DIMS_WGSL, type MatmulParams } from './matmul.js';

/** Lanes per workgroup on lavapipe, the subgroup size the conv kernels built on this one rely on. */
export const SUBGROUP_LANES = 8;

/** Subgroup sizes the kernel is written for (one workgroup is one subgroup). */
export const SUBGROUP_MATMUL_LANES: readonly number[] = [4, 8];

/** Output rows per workgroup (a multiple of the lanes). 16-32 measured best on lavapipe; 16 compiles fastest. */
export const SUBGROUP_MATMUL_ROWS = 16;

export function subgroupMatmulSupported(p: Pick<MatmulParams, 'M' | 'N' | 'K' | 'transA' | 'batch'>): boolean {
  return p.K % 4 === 0 && p.N % 4 === 0 && (!p.transA || p.M % 4 === 0) && p.batch <= MAX_WORKGROUPS_PER_DIM;
}

export function subgroupMatmulKernel(p: MatmulParams, rows: number = SUBGROUP_MATMUL_ROWS, lanes: number = SUBGROUP_LANES): KernelSpec {
  if (!subgroupMatmulSupported(p)) throw new Error('subgroupMatmulKernel: needs K, N (and M for transA) multiples of 4');
  if (!SUBGROUP_MATMUL_LANES.includes(lanes)) throw new Error(`subgroupMatmulKernel: ${lanes}-lane subgroups are not supported (${SUBGROUP_MATMUL_LANES.join(' or ')})`);
  if (rows % lanes !== 0) throw new Error(`subgroupMatmulKernel: rows must be a multiple of ${lanes}`);
  const { transA, transB } = p;
  const L = lanes, TM = rows, G = TM / L;
  // transA: a lane loads 4 adjacent rows (a vec4 along M) at one depth; CH such chunks cover a group of L rows.
  const CH = L / 4;
  const I = Array.from({ length: TM }, (_, i) => i), Gs = Array.from({ length: G }, (_, g) => g), KK = [0, 1, 2, 3];
  const comp = (c: number) => 'xyzw'[c];

  // A: one vec4 per lane per group of L rows and 4-deep K step, and where row i, depth kk sits in it.
  //   !transA (M, K): lane l holds row l, k..k+3.
  //   transA (K, M): lane l holds depth l / CH, rows 4 (l % CH)..+3 (8 lanes: depth l / 2; 4 lanes: depth l).
  const loadA = Gs.map((g) => transA
    ? `let av${g} = A[aBase + (k4 * 4u + lid / ${CH}u) * lda4 + aCol${g}];`
    : `let av${g} = A[aBase + aRow${g} * lda4 + k4];`);
  const aSetup = Gs.map((g) => transA
    // Chunks start at multiples of 4 and M % 4 == 0: a clamped chunk lies wholly past M, and its rows are never stored.
    ? `let aCol${g} = min(m0 + ${g * L}u + (lid % ${CH}u) * 4u, dims.M - 4u) / 4u;`
    : `let aRow${g} = min(m0 + ${g * L}u + lid, dims.M - 1u);`);
  const aValue = (i: number, kk: number) => {
    const g = Math.floor(i / L), r = i % L;
    return transA ? `subgroupBroadcast(av${g}.${comp(r % 4)}, ${kk * CH + Math.floor(r / 4)}u)` : `subgroupBroadcast(av${g}.${comp(kk)}, ${r}u)`;
  };
  // B: the lane's 4 columns at depths k..k+3, as b0..b3 (vec4 over the columns).
  //   !transB (K, N): one vec4 per depth.  transB (N, K): one vec4 along K per column, regrouped.
  const loadB = transB
    ? [...KK.map((c) => `let bt${c} = B[bBase + bCol${c} * ldb4 + k4];`),
      ...KK.map((kk) => `let b${kk} = vec4<f32>(${KK.map((c) => `bt${c}.${comp(kk)}`).join(', ')});`)]
    : KK.map((kk) => `let b${kk} = B[bBase + (k4 * 4u + ${kk}u) * ldb4 + col];`);
  const bSetup = transB ? KK.map((c) => `let bCol${c} = min(n + ${c}u, dims.N - 1u);`) : [];

  const fma = I.map((i) => `acc${i} += ${KK.map((kk) => `${aValue(i, kk)} * b${kk}`).join(' + ')};`);
  const store = I.map((i) => `if (m0 + ${i}u < dims.M) {
    var v = acc${i} + bias;
    if (dims.hasBias == 2u) { v = v + vec4<f32>(Bias[(m0 + ${i}u) / dims.rowsPerBias]); }
    v = activate(v);
    let o = cBase + (m0 + ${i}u) * ldc4 + col;
    if (dims.hasResidual != 0u) { v = v + R[o]; }
    C[o] = v;
  }`);

  const wgsl = `enable subgroups;
${MATMUL_DIMS_WGSL}
${bindingDecls([
    { name: 'A', kind: 'read', type: 'array<vec4<f32>>' },
    { name: 'B', kind: 'read', type: 'array<vec4<f32>>' },
    { name: 'Bias', kind: 'read', type: 'array<f32>' },
    { name: 'R', kind: 'read', type: 'array<vec4<f32>>' },
    { name: 'C', kind: 'read_write', type: 'array<vec4<f32>>' },
    { name: 'dims', kind: 'uniform', type: 'Dims' },
  ])}
${WGSL_MATH_HELPERS}
${MATMUL_ACTIVATE_WGSL}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${L})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let N4 = dims.N / 4u;
  let K4 = dims.K / 4u;
  let lda4 = dims.lda / 4u;
  let ldb4 = dims.ldb / 4u;
  let ldc4 = dims.ldc / 4u;
  let columnTiles = (N4 + ${L - 1}u) / ${L}u;
  let tile = linearWorkgroup(wid, nwg);
  if (tile >= columnTiles * ((dims.M + ${TM - 1}u) / ${TM}u)) { return; }
  let m0 = (tile / columnTiles) * ${TM}u;
  // This lane's vec4 column (clamped: loads stay in bounds, stores are masked).
  let n4 = (tile % columnTiles) * ${L}u + lid;
  let col = min(n4, N4 - 1u);
  let n = col * 4u;
  let batch = wid.z;
  let aBase = (dims.aOffset + batch * dims.aBatchStride) / 4u;
  let bBase = (dims.bOffset + batch * dims.bBatchStride) / 4u;
  let cBase = (dims.cOffset + batch * dims.cBatchStride) / 4u;
  ${aSetup.join('\n  ')}
  ${bSetup.join('\n  ')}
  ${I.map((i) => `var acc${i} = vec4<f32>(0.0);`).join(' ')}
  for (var k4 = 0u; k4 < K4; k4++) {
    ${loadA.join('\n    ')}
    ${loadB.join('\n    ')}
    ${fma.join('\n    ')}
  }
  if (n4 >= N4) { return; }
  var bias = vec4<f32>(0.0);
  if (dims.hasBias == 1u) { bias = vec4<f32>(Bias[n], Bias[n + 1u], Bias[n + 2u], Bias[n + 3u]); }
  ${store.join('\n  ')}
}`;
  const tiles = Math.ceil(p.N / 4 / L) * Math.ceil(p.M / TM);
  const [x, y] = dispatchLinear(tiles);
  return { name: 'matmul_subgroup', wgsl, workgroupSize: [L, 1, 1], dispatch: [x, y, p.batch] };
}
