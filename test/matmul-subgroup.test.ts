// The subgroup matmul (src/kernels/matmul-subgroup.ts) against the float64 TypeScript reference, on
// shapes that are multiples of 4 (its requirement) but not of its 16-row, 32-column workgroup tile.
import { describe, expect, it } from 'vitest';
import { matmulReference, type Activation } from '../src/kernels/matmul.js';
import { subgroupMatmulSupported } from '../src/kernels/matmul-subgroup.js';
import { matmul } from '../src/ops/matmul.js';
import { expectClose, randomArray, testEngine } from './helpers/engine.js';
import {
  expectSubgroupMatmulShapes, matmulParams as params, runSubgroupMatmul, SUBGROUP_MATMUL_TOLERANCE,
} from './helpers/subgroup-matmul.js';

const { atol: ATOL, rtol: RTOL } = SUBGROUP_MATMUL_TOLERANCE;

async function subgroupsOfEight(): Promise<boolean> {
  const engine = await testEngine();
  const info = engine.device.adapterInfo as GPUAdapterInfo | undefined;
  return engine.device.features.has('subgroups') && info?.subgroupMinSize === 8 && info?.subgroupMaxSize === 8;
}

describe('subgroup matmul against the TypeScript reference', () => {
  it('says which shapes it takes', () => {
    expect(subgroupMatmulSupported(params(1, 5, 8, 12))).toBe(true);
    expect(subgroupMatmulSupported(params(1, 5, 8, 12, { transA: true }))).toBe(false);
    expect(subgroupMatmulSupported(params(1, 8, 6, 12))).toBe(false);
    expect(subgroupMatmulSupported(params(1, 8, 8, 10))).toBe(false);
  });

  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`transA=${transA} transB=${transB}`, async (ctx) => {
        if (!(await subgroupsOfEight())) ctx.skip();
        await expectSubgroupMatmulShapes(await testEngine(), transA, transB);
      });
    }
  }

  for (const rows of [8, 24]) {
    it(`${rows}-row tiles, a shared operand on either side`, async (ctx) => {
      if (!(await subgroupsOfEight())) ctx.skip();
      const engine = await testEngine();
      const [batch, M, N, K] = [3, 28, 40, 20];
      for (const [batchA, batchB] of [[1, batch], [batch, 1]]) {
        const a = randomArray(batchA * M * K, 5), b = randomArray(batchB * K * N, 6);
        const p = params(batch, M, N, K, { batchA, batchB });
        expectClose(await runSubgroupMatmul(engine, p, a, b, rows), matmulReference(p, a, b), ATOL, RTOL, `batchA=${batchA} batchB=${batchB}`);
      }
    });
  }

  for (const activation of ['none', 'relu', 'gelu'] as Activation[]) {
    it(`through matmul(): bias + ${activation} + residual`, async () => {
      // Whichever kernel the engine picks, the op must match the reference.
      const engine = await testEngine();
      const [batch, M, N, K] = [2, 36, 44, 24];
      const a = randomArray(batch * M * K, 1), b = randomArray(K * N, 2), bias = randomArray(N, 3), res = randomArray(batch * M * N, 4);
      const y = matmul(engine.tensor(a, [batch, M, K]), engine.tensor(b, [N, K]), {
        transB: true, bias: engine.tensor(bias, [N]), residual: engine.tensor(res, [batch, M, N]), activation,
      });
      const p = params(batch, M, N, K, { transB: true, batchB: 1, bias: true, residual: true, activation });
      expectClose(await y.readFloat(), matmulReference(p, a, b, bias, res), ATOL, RTOL, activation);
    });
  }
});
