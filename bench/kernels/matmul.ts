// matmul cases: square sizes, and the two big projections of SAM's ViT-B blocks on 64x64 tokens
// (qkv: 4096x768 @ 768x2304, mlp.lin1: 4096x768 @ 768x3072).
import type { Engine } from '../../src/engine.js';
import { matmul } from '../../src/ops/matmul.js';
import { compareValues, sampleIndices, seededArray, type TimingPlan } from './measure.js';
import type { BenchCase, CheckResult, Prepared, Tf } from './types.js';

export interface MatmulShape { M: number; K: number; N: number; label?: string }

export const MATMUL_SHAPES: MatmulShape[] = [
  { M: 256, K: 256, N: 256 },
  { M: 512, K: 512, N: 512 },
  { M: 1024, K: 1024, N: 1024 },
  { M: 2048, K: 2048, N: 2048 },
  { M: 4096, K: 768, N: 2304, label: 'SAM vit_b qkv' },
  { M: 4096, K: 768, N: 3072, label: 'SAM vit_b mlp.lin1' },
];

export const QUICK_MATMUL_SHAPES: MatmulShape[] = [MATMUL_SHAPES[0], MATMUL_SHAPES[2]];

export function matmulCaseName(s: MatmulShape): string {
  return `matmul ${s.M}x${s.K}x${s.N}`;
}

/** The case the matmul targets are judged on. */
export const TARGET_MATMUL: MatmulShape = MATMUL_SHAPES[2];

/**
 * Fewer runs as the work grows: 2048^3 and the SAM shapes take seconds per run on lavapipe. The
 * target case gets more runs: its ratio to tfjs sits near the 2x target and the machine is shared.
 */
function plansFor(s: MatmulShape, flops: number): { ours: TimingPlan; tfjs: TimingPlan } {
  if (s === TARGET_MATMUL) return { ours: { warmup: 1, iterations: 9, budgetMs: 15000 }, tfjs: { warmup: 1, iterations: 9, budgetMs: 15000 } };
  if (flops < 0.5e9) return { ours: { warmup: 2, iterations: 10, budgetMs: 4000 }, tfjs: { warmup: 2, iterations: 10, budgetMs: 4000 } };
  if (flops < 3e9) return { ours: { warmup: 1, iterations: 5, budgetMs: 8000 }, tfjs: { warmup: 1, iterations: 5, budgetMs: 8000 } };
  return { ours: { warmup: 0, iterations: 3, budgetMs: 8000 }, tfjs: { warmup: 0, iterations: 2, budgetMs: 8000 } };
}

export function matmulCases(quick: boolean): BenchCase[] {
  return (quick ? QUICK_MATMUL_SHAPES : MATMUL_SHAPES).map((s, i) => {
    const flops = 2 * s.M * s.N * s.K;
    return {
      family: 'matmul', name: matmulCaseName(s), params: { ...s }, unit: 'GFLOP/s', work: flops,
      ...plansFor(s, flops),
      prepare: (engine, tf) => prepareMatmul(engine, tf, s, 1000 + i),
    } satisfies BenchCase;
  });
}

function prepareMatmul(engine: Engine, tf: Tf | null, s: MatmulShape, seed: number): Prepared {
  const { M, K, N } = s;
  const aHost = seededArray(M * K, seed);
  const bHost = seededArray(K * N, seed + 1);
  const a = engine.tensor(aHost, [M, K]);
  const b = engine.tensor(bHost, [K, N]);
  const ta = tf?.tensor2d(aHost, [M, K]);
  const tb = tf?.tensor2d(bHost, [K, N]);
  // Sampled output elements, computed in float64: 24 rows x 24 columns spread over the output.
  const rows = sampleIndices(M, 24, seed + 2), cols = sampleIndices(N, 24, seed + 3);
  const indices: number[] = [], expected: number[] = [];
  for (const m of rows) {
    for (const n of cols) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += aHost[m * K + k] * bHost[k * N + n];
      indices.push(m * N + n);
      expected.push(acc);
    }
  }
  // Inputs are uniform in [-1, 1): f32 rounding of a K-term dot product stays far below 2e-6 K.
  const atol = 2e-6 * K, rtol = 0;
  const against = (what: string) => `${what} at ${indices.length} sampled elements vs float64 CPU reference`;
  return {
    runOurs: () => matmul(a, b),
    runTfjs: tf && ta && tb ? () => tf.matMul(ta, tb) : null,
    checkOurs: (out) => ({ ...compareValues(out, expected, atol, rtol, indices), against: against('ours'), atol, rtol }),
    checkTfjs: (tfjsOut, oursOut): CheckResult[] => [
      { ...compareValues(tfjsOut, expected, atol, rtol, indices), against: against('tfjs'), atol, rtol },
      { ...compareValues(tfjsOut, oursOut, 2 * atol, rtol), against: 'tfjs vs ours, every element', atol: 2 * atol, rtol },
    ],
    dispose: () => {
      a.dispose();
      b.dispose();
      ta?.dispose();
      tb?.dispose();
    },
  };
}
