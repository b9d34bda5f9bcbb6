import { describe, expect, it } from 'vitest';
import { matmulKernel, matmulReference, matmulUniforms, type Activation, type MatmulParams, type MatmulTiling } from '../src/kernels/matmul.js';
import { matmul } from '../src/ops/matmul.js';
import { LimitError, ShapeError } from '../src/errors.js';
import { expectClose, randomArray, testEngine } from './helpers/engine.js';
import { loadGoldenCases } from './golden.js';

// Operands are scaled so outputs are O(1); f32 accumulation over K <= 1024 terms stays within
// 1e-5 absolute of a float64 reference, GELU's erf approximation adds < 1e-6.
const ATOL = 2e-5, RTOL = 1e-5;

function params(batch: number, M: number, N: number, K: number, extra: Partial<MatmulParams> = {}): MatmulParams {
  return { batch, M, N, K, transA: false, transB: false, batchA: batch, batchB: batch, bias: false, residual: false, activation: 'none', ...extra };
}

describe('matmul against the TypeScript reference', () => {
  const shapes: [number, number, number, number][] = [[1, 1, 1, 1], [1, 5, 3, 7], [2, 33, 65, 17], [1, 64, 64, 64], [3, 70, 36, 129], [1, 130, 257, 33]];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`transA=${transA} transB=${transB}`, async () => {
        const engine = await testEngine();
        for (const [batch, M, N, K] of shapes) {
          const s = K ** -0.25;
          const a = randomArray(batch * M * K, M + K, -s, s), b = randomArray(batch * K * N, N + K, -s, s);
          const p = params(batch, M, N, K, { transA, transB });
          const y = matmul(engine.tensor(a, transA ? [batch, K, M] : [batch, M, K]), engine.tensor(b, transB ? [batch, N, K] : [batch, K, N]), { transA, transB });
          expect(y.shape).toEqual([batch, M, N]);
          expectClose(await y.readFloat(), matmulReference(p, a, b), ATOL, RTOL, `[${batch},${M},${N},${K}]`);
        }
      });
    }
  }

  for (const activation of ['none', 'relu', 'gelu'] as Activation[]) {
    it(`epilogue: bias + ${activation} + residual`, async () => {
      const engine = await testEngine();
      const [batch, M, N, K] = [2, 19, 22, 13];
      const a = randomArray(batch * M * K, 1), b = randomArray(batch * K * N, 2), bias = randomArray(N, 3), res = randomArray(batch * M * N, 4);
      const y = matmul(engine.tensor(a, [batch, M, K]), engine.tensor(b, [batch, K, N]), {
        bias: engine.tensor(bias, [N]), residual: engine.tensor(res, [batch, M, N]), activation,
      });
      const p = params(batch, M, N, K, { bias: true, residual: true, activation });
      expectClose(await y.readFloat(), matmulReference(p, a, b, bias, res), ATOL, RTOL, activation);
    });
  }

  it('shares a rank-2 B across a batch of A (folded into one taller matmul)', async () => {
    const engine = await testEngine();
    const a = randomArray(3 * 5 * 8, 7), b = randomArray(8 * 12, 8);
    const y = matmul(engine.tensor(a, [3, 5, 8]), engine.tensor(b, [8, 12]));
    expect(y.shape).toEqual([3, 5, 12]);
    expectClose(await y.readFloat(), matmulReference({ ...params(3, 5, 12, 8), batchB: 1 }, a, b), ATOL, RTOL);
  });

  it('every tiling computes the same product', async () => {
    const engine = await testEngine();
    const [M, N, K] = [37, 45, 21];
    const a = randomArray(M * K, 1), b = randomArray(K * N, 2);
    const ta = engine.tensor(a, [M, K]), tb = engine.tensor(b, [K, N]);
    const expected = matmulReference(params(1, M, N, K), a, b);
    const tilings: MatmulTiling[] = [{ TM: 1, TN: 4, WX: 4, WY: 4 }, { TM: 8, TN: 8, WX: 8, WY: 8 }, { TM: 4, TN: 16, WX: 16, WY: 4 }, { TM: 3, TN: 12, WX: 2, WY: 8 }];
    for (const tiling of tilings) {
      const out = engine.empty([M, N]);
      const bindings = [{ buffer: ta.buffer }, { buffer: tb.buffer }, { buffer: engine.placeholderBuffer }, { buffer: engine.placeholderBuffer }, { buffer: out.buffer, write: true }];
      engine.runtime.run(matmulKernel(params(1, M, N, K), tiling), bindings, matmulUniforms(params(1, M, N, K)));
      expectClose(await out.readFloat(), expected, ATOL, RTOL, JSON.stringify(tiling));
    }
  });
});

describe('matmul against PyTorch goldens', () => {
  it('all cases', async () => {
    const engine = await testEngine();
    const cases = loadGoldenCases('matmul');
    expect(cases.length).toBeGreaterThanOrEqual(12);
    for (const c of cases) {
      const p = c.params as unknown as MatmulParams;
      const { a, b, bias, residual } = c.inputs;
      const y = matmul(engine.tensor(a.data as Float32Array, a.shape), engine.tensor(b.data as Float32Array, b.shape), {
        transA: p.transA, transB: p.transB, activation: p.activation,
        bias: bias ? engine.tensor(bias.data as Float32Array, bias.shape) : null,
        residual: residual ? engine.tensor(residual.data as Float32Array, residual.shape) : null,
      });
      expect(y.shape).toEqual(c.outputs.out.shape);
      expectClose(await y.readFloat(), c.outputs.out.data, ATOL, RTOL, c.name);
      y.dispose();
    }
  });
});

describe('matmul bad input', () => {
  it('names the op and the shapes on an inner-dimension mismatch', async () => {
    const engine = await testEngine();
    expect(() => matmul(engine.zeros([2, 3]), engine.zeros([4, 5]))).toThrow(ShapeError);
    expect(() => matmul(engine.zeros([2, 3]), engine.zeros([4, 5]))).toThrow('matmul: inner dimensions differ: [2, 3] @ [4, 5]');
    expect(() => matmul(engine.zeros([2, 3]), engine.zeros([3, 5]), { bias: engine.zeros([4]) })).toThrow('bias must have shape [5]');
  });
  it('refuses an operand larger than the storage binding limit with a clear message', async () => {
    const engine = await testEngine();
    const limit = engine.device.limits.maxStorageBufferBindingSize;
    const rows = Math.floor(limit / 4 / 1024) + 1; // just over the limit
    const big = engine.empty([rows, 1024]);
    expect(() => matmul(big, engine.zeros([1024, 4]))).toThrow(LimitError);
    expect(() => matmul(big, engine.zeros([1024, 4]))).toThrow(/maxStorageBufferBindingSize/);
  });
  it('refuses a disposed tensor', async () => {
    const engine = await testEngine();
    const a = engine.zeros([2, 2]);
    a.dispose();
    expect(() => matmul(a, engine.zeros([2, 2]))).toThrow(/used after dispose/);
  });
});
