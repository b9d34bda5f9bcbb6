import { describe, expect, it } from 'vitest';
import { erf64 } from '../../src/kernels/matmul.js';
import type { Activation } from '../../src/kernels/matmul.js';
import { matmul } from '../../src/ops/matmul.js';
import { randomArray, testEngine } from '../helpers/engine.js';
import { checkGradients } from '../helpers/gradcheck.js';

/** float64 act(opA(a) @ opB(b) + bias) + residual, with batch broadcasting of a shared operand. */
function reference(batch: number, M: number, N: number, K: number, o: { transA: boolean; transB: boolean; sharedA: boolean; sharedB: boolean; activation: Activation; bias: boolean; residual: boolean }) {
  return (xs: Float64Array[]) => {
    const [a, b] = xs;
    let k = 2;
    const bias = o.bias ? xs[k++] : null, res = o.residual ? xs[k++] : null;
    const out = new Float64Array(batch * M * N);
    for (let bt = 0; bt < batch; bt++) {
      const ao = o.sharedA ? 0 : bt * M * K, bo = o.sharedB ? 0 : bt * K * N;
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
        let s = 0;
        for (let kk = 0; kk < K; kk++) s += (o.transA ? a[ao + kk * M + m] : a[ao + m * K + kk]) * (o.transB ? b[bo + n * K + kk] : b[bo + kk * N + n]);
        if (bias) s += bias[n];
        if (o.activation === 'relu') s = Math.max(s, 0);
        if (o.activation === 'gelu') s = 0.5 * s * (1 + erf64(s / Math.SQRT2));
        const i = bt * M * N + m * N + n;
        out[i] = s + (res ? res[i] : 0);
      }
    }
    return out;
  };
}

describe('matmul backward against float64 finite differences', () => {
  const [batch, M, N, K] = [2, 5, 6, 7];
  for (const transA of [false, true]) for (const transB of [false, true]) {
    it(`transA=${transA} transB=${transB}, batched`, async () => {
      const engine = await testEngine();
      const o = { transA, transB, sharedA: false, sharedB: false, activation: 'none' as Activation, bias: false, residual: false };
      await checkGradients(engine, `tA=${transA} tB=${transB}`, [
        { data: randomArray(batch * M * K, 1), shape: transA ? [batch, K, M] : [batch, M, K] },
        { data: randomArray(batch * K * N, 2), shape: transB ? [batch, N, K] : [batch, K, N] },
      ], ([a, b]) => matmul(a, b, { transA, transB }), reference(batch, M, N, K, o));
    });
  }

  it('shared B (rank 2) across a batched A: dB sums over the batch', async () => {
    const engine = await testEngine();
    const o = { transA: false, transB: true, sharedA: false, sharedB: true, activation: 'none' as Activation, bias: false, residual: false };
    await checkGradients(engine, 'shared B', [
      { data: randomArray(batch * M * K, 3), shape: [batch, M, K] },
      { data: randomArray(N * K, 4), shape: [N, K] },
    ], ([a, b]) => matmul(a, b, { transB: true }), reference(batch, M, N, K, o));
  });

  it('shared A (rank 2) across a batched B', async () => {
    const engine = await testEngine();
    const o = { transA: true, transB: false, sharedA: true, sharedB: false, activation: 'none' as Activation, bias: false, residual: false };
    await checkGradients(engine, 'shared A', [
      { data: randomArray(M * K, 5), shape: [K, M] },
      { data: randomArray(batch * K * N, 6), shape: [batch, K, N] },
    ], ([a, b]) => matmul(a, b, { transA: true }), reference(batch, M, N, K, o));
  });

  for (const activation of ['relu', 'gelu'] as Activation[]) {
    it(`bias + ${activation} + residual epilogue`, async () => {
      const engine = await testEngine();
      const o = { transA: false, transB: false, sharedA: false, sharedB: true, activation, bias: true, residual: true };
      await checkGradients(engine, activation, [
        { data: randomArray(batch * M * K, 7), shape: [batch, M, K] },
        { data: randomArray(K * N, 8), shape: [K, N] },
        { data: randomArray(N, 9), shape: [N] },
        { data: randomArray(batch * M * N, 10), shape: [batch, M, N] },
      ], ([a, b, bias, res]) => matmul(a, b, { bias, residual: res, activation }), reference(batch, M, N, K, o));
    });
  }

  it('a recorded forward equals the fused no-grad forward', async () => {
    const engine = await testEngine();
    const a = engine.tensor(randomArray(M * K, 11), [M, K]), b = engine.tensor(randomArray(K * N, 12), [K, N]);
    const bias = engine.tensor(randomArray(N, 13), [N]);
    const fused = await matmul(a, b, { bias, activation: 'gelu' }).readFloat();
    b.requiresGrad = true;
    const recorded = await matmul(a, b, { bias, activation: 'gelu' }).readFloat();
    expect(Array.from(recorded)).toEqual(Array.from(fused));
  });
});
