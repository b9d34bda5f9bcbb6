// Shared by the subgroup matmul tests at 8 lanes (test/matmul-subgroup.test.ts, lavapipe) and 4 lanes
// (test/swiftshader.test.ts): run the kernel on given operands and check shapes against the reference.
import type { Engine } from '../../src/engine.js';
import { matmulReference, matmulUniforms, type MatmulParams } from '../../src/kernels/matmul.js';
import { SUBGROUP_LANES, SUBGROUP_MATMUL_ROWS, subgroupMatmulKernel } from '../../src/kernels/matmul-subgroup.js';
import { expectClose, randomArray } from './engine.js';

/** Operands scaled so outputs are O(1): f32 accumulation over K <= 260 terms stays within 1e-5 of float64. */
export const SUBGROUP_MATMUL_TOLERANCE = { atol: 2e-5, rtol: 1e-5 };

/** Multiples of 4 (the kernel's requirement) but not of its workgroup tile: [batch, M, N, K]. */
export const SUBGROUP_MATMUL_SHAPES: [number, number, number, number][] = [[1, 4, 4, 4], [1, 20, 36, 12], [3, 44, 4, 8], [2, 8, 100, 132], [1, 132, 260, 68]];

export function matmulParams(batch: number, M: number, N: number, K: number, extra: Partial<MatmulParams> = {}): MatmulParams {
  return { batch, M, N, K, transA: false, transB: false, batchA: batch, batchB: batch, bias: false, residual: false, activation: 'none', ...extra };
}

/** The subgroup kernel's output for operands a (batchA, M, K or K, M) and b (batchB, K, N or N, K). */
export async function runSubgroupMatmul(
  engine: Engine, p: MatmulParams, a: Float32Array, b: Float32Array, rows = SUBGROUP_MATMUL_ROWS, lanes = SUBGROUP_LANES,
): Promise<Float32Array> {
  const { M, N, K } = p;
  const ta = engine.tensor(a, p.transA ? [p.batchA, K, M] : [p.batchA, M, K]);
  const tb = engine.tensor(b, p.transB ? [p.batchB, N, K] : [p.batchB, K, N]);
  const y = engine.empty([p.batch, M, N]);
  const ph = engine.placeholderBuffer;
  engine.runtime.run(subgroupMatmulKernel(p, rows, lanes), [
    { buffer: ta.buffer }, { buffer: tb.buffer }, { buffer: ph }, { buffer: ph }, { buffer: y.buffer, write: true },
  ], matmulUniforms(p));
  return y.readFloat();
}

/** Every shape of SUBGROUP_MATMUL_SHAPES with these transposes, against the float64 reference. */
export async function expectSubgroupMatmulShapes(engine: Engine, transA: boolean, transB: boolean, lanes = SUBGROUP_LANES): Promise<void> {
  for (const [batch, M, N, K] of SUBGROUP_MATMUL_SHAPES) {
    const s = K ** -0.25;
    const a = randomArray(batch * M * K, M + K, -s, s), b = randomArray(batch * K * N, N + K + 1, -s, s);
    const p = matmulParams(batch, M, N, K, { transA, transB });
    const { atol, rtol } = SUBGROUP_MATMUL_TOLERANCE;
    expectClose(await runSubgroupMatmul(engine, p, a, b, SUBGROUP_MATMUL_ROWS, lanes), matmulReference(p, a, b), atol, rtol, `${lanes} lanes [${batch},${M},${N},${K}]`);
  }
}
