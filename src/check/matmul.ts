import { matmulReference, type Activation, type MatmulParams } from '../kernels/matmul.js';
import { matmul } from '../ops/matmul.js';
import { compareArrays, seededUniform } from './compare.js';
import type { KernelCheck } from './registry.js';

// Operands scaled by K^-1/4 keep outputs O(1); f32 accumulation error then stays near 1e-6 * sqrt(K).
const ATOL = 2e-5, RTOL = 1e-5;

const CASES: [number, number, number, number, boolean, boolean, Activation][] = [
  [1, 64, 64, 64, false, false, 'none'],
  [2, 33, 65, 17, false, true, 'gelu'],
  [1, 70, 36, 129, true, false, 'relu'],
  [3, 13, 20, 31, true, true, 'none'],
  [1, 256, 256, 256, false, false, 'gelu'],
];

export const matmulChecks: KernelCheck[] = CASES.map(([batch, M, N, K, transA, transB, activation]) => ({
  kernel: 'matmul',
  case: `${batch}x[${M}x${K}]${transA ? 'ᵀ' : ''}@[${K}x${N}]${transB ? 'ᵀ' : ''} +bias ${activation} +residual`,
  tolerance: `atol ${ATOL} + rtol ${RTOL}`,
  async run(engine) {
    const s = K ** -0.25;
    const a = seededUniform(batch * M * K, M, -s, s), b = seededUniform(batch * K * N, N, -s, s);
    const bias = seededUniform(N, 3), residual = seededUniform(batch * M * N, 4);
    const p: MatmulParams = { batch, M, N, K, transA, transB, batchA: batch, batchB: batch, bias: true, residual: true, activation };
    const y = await matmul(engine.tensor(a, transA ? [batch, K, M] : [batch, M, K]), engine.tensor(b, transB ? [batch, N, K] : [batch, K, N]), {
      transA, transB, activation, bias: engine.tensor(bias, [N]), residual: engine.tensor(residual, [batch, M, N]),
    }).readFloat();
    return compareArrays(y, matmulReference(p, a, b, bias, residual), ATOL, RTOL);
  },
}));
