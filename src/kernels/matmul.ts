// Batched matmul with either operand transposed and a fused epilogue:
//   out[b] = act(opA(A[b]) @ opB(B[b]) + bias) + residual[b]
// Register-tiled without workgroup memory: each invocation computes a TM x TN block of the output,
// reading A and B straight from storage in 4-deep K steps (vec4 loads along each operand's contiguous
// dimension when it is a multiple of 4). On CPU-backed adapters (lavapipe) the caches do what
// workgroup memory would, without barriers; see bench/matmul for the measured variants.
import { WGSL_MATH_HELPERS } from './elementwise.js';
import { bindingDecls, type KernelSpec } from './kernel.js';

export type Activation = 'none' | 'relu' | 'gelu';

export interface MatmulParams {
  batch: number;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** Batch broadcasting: an operand with batch 1 is shared by every batch entry. */
  batchA: number;
  batchB: number;
  bias: boolean;
  residual: boolean;
  activation: Activation;
}

export interface MatmulTiling {
  /** Output rows and columns per invocation (TN a multiple of 4). */
  TM: number;
  TN: number;
  /** Invocations per workgroup along N and M. */
  WX: number;
  WY: number;
}

export const DEFAULT_TILING: MatmulTiling = { TM: 4, TN: 8, WX: 8, WY: 8 };

const ACTIVATION_CODE: Record<Activation, number> = { none: 0, relu: 1, gelu: 2 };

/** The epilogue's activation on a vec4, chosen by the `dims.activation` uniform (shared with matmul-subgroup.ts). */
export const MATMUL_ACTIVATE_WGSL = `fn activate(v: vec4<f32>) -> vec4<f32> {
  switch (dims.activation) {
    case 1u: { return max(v, vec4<f32>(0.0)); }
    case 2u: { return 0.5 * v * (vec4<f32>(1.0) + vec4<f32>(erf_(v.x * 0.7071067811865476), erf_(v.y * 0.7071067811865476), erf_(v.z * 0.7071067811865476), erf_(v.w * 0.7071067811865476))); }
    default: { return v; }
  }
}`;

/** The uniform block every matmul kernel reads (see matmulUniforms). */
export const MATMUL_DIMS_WGSL = `struct Dims { M: u32, N: u32, K: u32, aBatchStride: u32, bBatchStride: u32, hasBias: u32, hasResidual: u32, activation: u32,
  aOffset: u32, bOffset: u32, cOffset: u32, lda: u32, ldb: u32, ldc: u32, cBatchStride: u32, rowsPerBias: u32 }`;

/** The vec4 kernel needs every operand's contiguous dimension to be a multiple of 4. */
export function matmulVectorizable(p: Pick<MatmulParams, 'M' | 'N' | 'K' | 'transA' | 'transB'>): boolean {
  return (p.transA ? p.M : p.K) % 4 === 0 && (p.transB ? p.K : p.N) % 4 === 0 && p.N % 4 === 0;
}

export function matmulKernel(p: MatmulParams, tiling: MatmulTiling = DEFAULT_TILING): KernelSpec {
  const { M, N, K, transA, transB } = p;
  const { TM, TN, WX, WY } = tiling;
  if (TN % 4 !== 0) throw new Error('matmulKernel: TN must be a multiple of 4');
  const TN4 = TN / 4;
  // Contiguous dimension of each operand and whether vec4 loads along it are aligned.
  // One flag for all three operands keeps the pipeline count small: 4 transposes x {vec4, scalar}.
  const vec = matmulVectorizable(p);
  const aVec = vec, bVec = vec, cVec = vec;
  const decls = [
    { name: 'A', kind: 'read' as const, type: aVec ? 'array<vec4<f32>>' : 'array<f32>' },
    { name: 'B', kind: 'read' as const, type: bVec ? 'array<vec4<f32>>' : 'array<f32>' },
    { name: 'Bias', kind: 'read' as const, type: 'array<f32>' },
    { name: 'R', kind: 'read' as const, type: cVec ? 'array<vec4<f32>>' : 'array<f32>' },
    { name: 'C', kind: 'read_write' as const, type: cVec ? 'array<vec4<f32>>' : 'array<f32>' },
    { name: 'dims', kind: 'uniform' as const, type: 'Dims' },
  ];

  // Scalar element A(m, k) / B(k, n) as flat indices (m, n clamped by the caller so loads stay in bounds).
  const aIndex = (m: string, k: string) => (transA ? `aBase + (${k}) * dims.M + (${m})` : `aBase + (${m}) * dims.K + (${k})`);
  const bIndex = (k: string, n: string) => (transB ? `bBase + (${n}) * dims.K + (${k})` : `bBase + (${k}) * dims.N + (${n})`);
  const scalarA = (m: string, k: string) => (aVec ? `A[(${aIndex(m, k)}) / 4u][(${aIndex(m, k)}) % 4u]` : `A[${aIndex(m, k)}]`);
  const scalarB = (k: string, n: string) => (bVec ? `B[(${bIndex(k, n)}) / 4u][(${bIndex(k, n)}) % 4u]` : `B[${bIndex(k, n)}]`);

  // Loads of one 4-deep K step into registers: a[i] = vec4 over kk of A(row i, k+kk); b[kk][j] = vec4 over 4 columns.
  const loadA: string[] = [];
  for (let i = 0; i < TM; i++) {
    if (!transA && aVec) loadA.push(`let a${i} = A[(aBase + row${i} * dims.K + k) / 4u];`);
    else if (transA && aVec && TM % 4 === 0 && i % 4 === 0) {
      // Four rows at once along M, for each kk; regroup into per-row vectors below.
      for (let kk = 0; kk < 4; kk++) loadA.push(`let at${i}_${kk} = A[(aBase + (k + ${kk}u) * dims.M + row${i}) / 4u];`);
    } else if (!(transA && aVec && TM % 4 === 0)) {
      loadA.push(`let a${i} = vec4<f32>(${[0, 1, 2, 3].map((kk) => scalarA(`row${i}`, `k + ${kk}u`)).join(', ')});`);
    }
  }
  if (transA && aVec && TM % 4 === 0) {
    for (let i = 0; i < TM; i++) {
      const g = i - (i % 4);
      loadA.push(`let a${i} = vec4<f32>(${[0, 1, 2, 3].map((kk) => `at${g}_${kk}[${i % 4}]`).join(', ')});`);
    }
  }
  const loadB: string[] = [];
  if (transB && bVec) {
    // B is (N, K): one vec4 along K per output column, then regrouped into per-kk vectors over 4 columns.
    for (let j = 0; j < TN4; j++) for (let c = 0; c < 4; c++) loadB.push(`let bt${j}_${c} = B[(bBase + col${j}_${c} * dims.K + k) / 4u];`);
    for (let kk = 0; kk < 4; kk++) {
      for (let j = 0; j < TN4; j++) loadB.push(`let b${kk}_${j} = vec4<f32>(${[0, 1, 2, 3].map((c) => `bt${j}_${c}[${kk}]`).join(', ')});`);
    }
  } else {
    for (let kk = 0; kk < 4; kk++) {
      for (let j = 0; j < TN4; j++) {
        if (!transB && bVec) loadB.push(`let b${kk}_${j} = B[(bBase + (k + ${kk}u) * dims.N + col${j}) / 4u];`);
        else loadB.push(`let b${kk}_${j} = vec4<f32>(${[0, 1, 2, 3].map((c) => scalarB(`k + ${kk}u`, `col${j}_${c}`)).join(', ')});`);
      }
    }
  }
  const fma: string[] = [];
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN4; j++) {
      fma.push(`acc${i}_${j} = acc${i}_${j} + a${i}.x * b0_${j} + a${i}.y * b1_${j} + a${i}.z * b2_${j} + a${i}.w * b3_${j};`);
    }
  }
  // K remainder (K % 4 steps), scalar.
  const tail: string[] = [];
  for (let i = 0; i < TM; i++) tail.push(`let ta${i} = ${scalarA(`row${i}`, 'k')};`);
  for (let j = 0; j < TN4; j++) {
    tail.push(`let tb${j} = vec4<f32>(${[0, 1, 2, 3].map((c) => scalarB('k', transB || !bVec ? `col${j}_${c}` : `col${j} + ${c}u`)).join(', ')});`);
  }
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN4; j++) tail.push(`acc${i}_${j} = acc${i}_${j} + ta${i} * tb${j};`);

  const rows = Array.from({ length: TM }, (_, i) => `let row${i} = min(m0 + ${i}u, dims.M - 1u);`);
  const cols: string[] = [];
  for (let j = 0; j < TN4; j++) {
    if (!transB && bVec) cols.push(`let col${j} = min(n0 + ${4 * j}u, dims.N - 4u);`);
    else for (let c = 0; c < 4; c++) cols.push(`let col${j}_${c} = min(n0 + ${4 * j + c}u, dims.N - 1u);`);
  }
  // Unaligned B with transB=false: scalar tail must use per-column clamped indices.
  if (!transB && bVec) for (let j = 0; j < TN4; j++) for (let c = 0; c < 4; c++) cols.push(`let col${j}_${c} = min(n0 + ${4 * j + c}u, dims.N - 1u);`);

  const accDecl: string[] = [];
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN4; j++) accDecl.push(`var acc${i}_${j} = vec4<f32>(0.0);`);

  const store: string[] = [];
  for (let i = 0; i < TM; i++) {
    store.push(`if (m0 + ${i}u < dims.M) {`);
    for (let j = 0; j < TN4; j++) {
      const n = `n0 + ${4 * j}u`;
      store.push(`  { var v = acc${i}_${j};`);
      store.push(`    if (dims.hasBias != 0u) { v = v + vec4<f32>(${[0, 1, 2, 3].map((c) => `Bias[min(${n} + ${c}u, dims.N - 1u)]`).join(', ')}); }`);
      store.push(`    v = activate(v);`);
      const cIndex = `cBase + (m0 + ${i}u) * dims.N + ${n}`;
      if (cVec) {
        store.push(`    if (${n} < dims.N) {`);
        store.push(`      if (dims.hasResidual != 0u) { v = v + R[(${cIndex}) / 4u]; }`);
        store.push(`      C[(${cIndex}) / 4u] = v; }`);
      } else {
        for (let c = 0; c < 4; c++) {
          const comp = 'xyzw'[c];
          store.push(`    if (${n} + ${c}u < dims.N) { C[${cIndex} + ${c}u] = v.${comp} + select(0.0, R[${cIndex} + ${c}u], dims.hasResidual != 0u); }`);
        }
      }
      store.push('  }');
    }
    store.push('}');
  }

  const wgsl = `${MATMUL_DIMS_WGSL}
${bindingDecls(decls)}
${WGSL_MATH_HELPERS}
${MATMUL_ACTIVATE_WGSL}
@compute @workgroup_size(${WX}, ${WY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * ${TN}u;
  let m0 = gid.y * ${TM}u;
  let batch = gid.z;
  if (n0 >= dims.N || m0 >= dims.M) { return; }
  let aBase = batch * dims.aBatchStride;
  let bBase = batch * dims.bBatchStride;
  let cBase = batch * dims.M * dims.N;
  ${rows.join('\n  ')}
  ${cols.join('\n  ')}
  ${accDecl.join('\n  ')}
  for (var k = 0u; k < (dims.K & ~3u); k = k + 4u) {
    ${loadA.join('\n    ')}
    ${loadB.join('\n    ')}
    ${fma.join('\n    ')}
  }
  for (var k = (dims.K & ~3u); k < dims.K; k = k + 1u) {
    ${tail.join('\n    ')}
  }
  ${store.join('\n  ')}
}`;
  return {
    name: 'matmul',
    wgsl,
    workgroupSize: [WX, WY, 1],
    dispatch: [Math.ceil(N / (TN * WX)), Math.ceil(M / (TM * WY)), p.batch],
  };
}

/**
 * Sizes and the epilogue are uniforms, not baked into the WGSL: lavapipe compiles a pipeline at its
 * first dispatch (seconds for an unrolled matmul), so one pipeline per transpose pair and alignment
 * serves every shape. Only what changes the code's structure (transposes, vec4, tiling) is baked in.
 */
export function matmulUniforms(p: MatmulParams, layout: Partial<MatmulLayout> = {}): Uint32Array {
  const l = { ...denseLayout(p), ...layout };
  return new Uint32Array([
    p.M, p.N, p.K, p.batchA === 1 ? 0 : p.M * p.K, p.batchB === 1 ? 0 : p.K * p.N,
    l.rowBias ? 2 : p.bias ? 1 : 0, p.residual ? 1 : 0, ACTIVATION_CODE[p.activation],
    l.aOffset, l.bOffset, l.cOffset, l.lda, l.ldb, l.ldc, l.cBatchStride, l.rowsPerBias,
  ]);
}

/**
 * Where the operands sit in their buffers, in elements (all multiples of 4): offsets of batch entry 0,
 * row strides of A, B and C as stored (A (M, K) or (K, M) with transA, likewise B), C's batch stride,
 * and whether the bias runs along M (one value per output row) instead of N. Only the subgroup
 * kernel reads these (convolutions use them to run on slices of their scratch buffers); matmul.ts
 * assumes the dense layout, which is the default.
 */
export interface MatmulLayout {
  aOffset: number;
  bOffset: number;
  cOffset: number;
  lda: number;
  ldb: number;
  ldc: number;
  cBatchStride: number;
  rowBias: boolean;
  /** With rowBias: output rows per bias entry (row m adds Bias[m / rowsPerBias]). */
  rowsPerBias: number;
}

export function denseLayout(p: MatmulParams): MatmulLayout {
  return {
    aOffset: 0, bOffset: 0, cOffset: 0, lda: p.transA ? p.M : p.K, ldb: p.transB ? p.K : p.N, ldc: p.N, cBatchStride: p.M * p.N, rowBias: false, rowsPerBias: 1,
  };
}

/** Plain reference: float64 accumulation, float32 result. */
export function matmulReference(
  p: MatmulParams, a: ArrayLike<number>, b: ArrayLike<number>, bias?: ArrayLike<number>, residual?: ArrayLike<number>,
): Float32Array {
  const { batch, M, N, K } = p;
  const out = new Float32Array(batch * M * N);
  const gelu = (x: number) => 0.5 * x * (1 + erf64(x / Math.SQRT2));
  for (let bt = 0; bt < batch; bt++) {
    const ao = p.batchA === 1 ? 0 : bt * M * K, bo = p.batchB === 1 ? 0 : bt * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = p.transA ? a[ao + k * M + m] : a[ao + m * K + k];
          const bv = p.transB ? b[bo + n * K + k] : b[bo + k * N + n];
          s += av * bv;
        }
        if (bias) s += bias[n];
        if (p.activation === 'relu') s = Math.max(s, 0);
        else if (p.activation === 'gelu') s = gelu(s);
        const o = bt * M * N + m * N + n;
        if (residual) s += residual[o];
        out[o] = s;
      }
    }
  }
  return out;
}

/** erf to float64 precision (series for small |x|, continued fraction for large). */
export function erf64(x: number): number {
  const z = Math.abs(x);
  let r: number;
  if (z < 2.5) {
    let term = z, sum = z;
    for (let n = 1; n < 60; n++) {
      term *= (-z * z) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc continued fraction (Lentz), converges fast for z >= 2.5.
    let f = z, C = z, D = 0;
    for (let n = 1; n < 200; n++) {
      const an = n / 2;
      D = z + an * D; D = 1 / D;
      C = z + an / C;
      const delta = C * D;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    r = 1 - Math.exp(-z * z) / (f * Math.sqrt(Math.PI));
  }
  return x < 0 ? -r : r;
}
