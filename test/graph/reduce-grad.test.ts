import { describe, expect, it } from 'vitest';
import { backward, noGrad } from '../../src/graph/autograd.js';
import { reduceView } from '../../src/kernels/reduce.js';
import { reduceBackwardKernel, reduceBackwardReference } from '../../src/kernels/reduce-backward.js';
import { argmax, max, mean, reduce, sum } from '../../src/ops/reduce.js';
import { expectClose, randomArray, testEngine } from '../helpers/engine.js';
import { checkGradients } from '../helpers/gradcheck.js';

// Tolerances: sum, mean and max are linear in x away from ties, so float64 central differences are
// exact up to round-off (~1e-12 here); the GPU side is dy copied, divided by n in f32, or selected:
// at most an ulp of |dy| <= 1 (measured 1e-8). atol 1e-6 + rtol 1e-6 of the largest gradient.
const TOL = { atol: 1e-6, rtol: 1e-6 };

type Op = 'sum' | 'mean' | 'max';

/** float64 reduction of `shape` along the non-negative `axis` (the kept dim does not change the data). */
function reduce64(op: Op, x: Float64Array, shape: number[], axis: number): Float64Array {
  const { outer, reduce: n, inner } = reduceView(shape, axis);
  const y = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = op === 'max' ? -Infinity : 0;
      for (let r = 0; r < n; r++) {
        const v = x[(o * n + r) * inner + i];
        acc = op === 'max' ? Math.max(acc, v) : acc + v;
      }
      y[o * inner + i] = op === 'mean' ? acc / n : acc;
    }
  }
  return y;
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Distinct values at least 0.05 apart in a scrambled order: max is differentiable there (finite
 * differences step 1e-3 never swap the maximum), and the order differs between rows.
 */
function distinctValues(n: number, seed: number): Float32Array {
  const noise = randomArray(n, seed, 0, 0.01);
  const stride = [37, 41, 43].find((p) => n % p !== 0)!; // coprime to n: a permutation of 0..n-1
  return Float32Array.from({ length: n }, (_, i) => ((i * stride + seed) % n) * 0.05 - n * 0.025 + noise[i]);
}

// [shape, axis]: vectors, rows (inner 1), strided middle axes (inner > 1), negative axes, a row long
// enough for the row kernel's chunks, and a dimension of 1. The backward kernel's three paths: one
// element per invocation (odd sizes), 4 along inner ([2, 3, 8] axis 1, [3, 1, 4]) and 4 along the
// reduced axis of rows ([3, 8] axis -1).
const CASES: [number[], number][] = [
  [[5], 0], [[3, 7], 1], [[3, 7], -2], [[2, 5, 3], 1], [[2, 3, 5], -1], [[4, 70], -1], [[3, 1, 4], 1], [[3, 8], -1], [[2, 3, 8], 1],
];

describe('reduction backward rules against float64 finite differences', () => {
  for (const op of ['sum', 'mean', 'max'] as Op[]) {
    it(`${op}: every axis kind, keepDim both ways`, async () => {
      const engine = await testEngine();
      for (const [shape, axis] of CASES) {
        for (const keepDim of [false, true]) {
          const a = axis < 0 ? axis + shape.length : axis;
          const x = distinctValues(numel(shape), shape.length + a);
          await checkGradients(
            engine, `${op} [${shape}] axis ${axis} keepDim ${keepDim}`, [{ data: x, shape }],
            ([t]) => {
              const y = reduce(op, t, axis, keepDim);
              expect(y.shape).toEqual(keepDim ? shape.map((d, i) => (i === a ? 1 : d)) : shape.filter((_, i) => i !== a));
              return y;
            },
            ([t]) => reduce64(op, t, shape, a), TOL,
          );
        }
      }
    });
  }

  it('max sends the gradient to the first maximum on ties, as PyTorch max(dim) does', async () => {
    const engine = await testEngine();
    const cases: [number[], number[], number, number[]][] = [
      // [x, shape, axis, expected dx for dy = 1]
      [[1, 3, 3, 2, 5, 5, 5, 5], [2, 4], 1, [0, 1, 0, 0, 1, 0, 0, 0]],
      [[1, 4, 1, 4, 0, 4], [3, 2], 0, [1, 1, 0, 0, 0, 0]],
      [[0, 4, 1, 3, 1, 4, 0, 4], [2, 4], 0, [0, 1, 1, 0, 1, 0, 0, 1]], // 4 along inner per invocation
      [[-Infinity, -Infinity, -Infinity, 2, 7, 7], [2, 3], -1, [1, 0, 0, 0, 1, 0]], // all -inf: index 0, as PyTorch
    ];
    for (const [data, shape, axis, expected] of cases) {
      const x = engine.tensor(data, shape);
      x.requiresGrad = true;
      const y = max(x, axis);
      backward(y, engine.fill(y.shape, 1));
      expect(Array.from(await x.grad!.read()), `[${shape}] axis ${axis}`).toEqual(expected);
    }
  });

  it('argmax records nothing: its output is an integer index', async () => {
    const engine = await testEngine();
    const x = engine.tensor([1, 2, 3], [3]);
    x.requiresGrad = true;
    const i = argmax(x, 0);
    expect(i.dtype).toBe('i32');
    expect(i.creator).toBeNull();
    expect(i.requiresGrad).toBe(false);
  });

  it('an empty axis: sum gives the (empty) x a gradient of its shape', async () => {
    const engine = await testEngine();
    const x = engine.zeros([3, 0]);
    x.requiresGrad = true;
    const y = sum(x, 1);
    backward(y, engine.fill([3], 1));
    expect(x.grad!.shape).toEqual([3, 0]);
  });

  it('the backward kernels match the TypeScript reference directly, in all three paths', async () => {
    const engine = await testEngine();
    // [shape, axis]: one element per invocation, 4 along inner, 4 along the reduced axis of rows.
    for (const [shape, axis] of [[[3, 6, 5], 1], [[3, 6, 8], 1], [[3, 8], 1]] as [number[], number][]) {
      const view = reduceView(shape, axis);
      const n = view.outer * view.inner;
      const dy = randomArray(n, 4);
      const indices = Int32Array.from({ length: n }, (_, k) => (k * 7) % view.reduce);
      const dyT = engine.tensor(dy, [n]), iT = engine.tensor(indices, [n], 'i32');
      for (const op of ['sum', 'mean', 'max'] as const) {
        const dx = engine.empty(shape);
        engine.runtime.run(reduceBackwardKernel({ op, view }), [
          { buffer: dyT.buffer }, ...(op === 'max' ? [{ buffer: iT.buffer }] : []), { buffer: dx.buffer, write: true },
        ]);
        // dy / n rounds once in f32, the reference's in float64 then to f32: an ulp apart at most.
        expectClose(await dx.readFloat(), reduceBackwardReference(op, dy, shape, axis, indices), 0, 3e-7, `${op} [${shape}] axis ${axis}`);
      }
    }
  });
});

describe('reductions under autograd: recording and memory', () => {
  it('records nothing under noGrad, and max then saves no argmax', async () => {
    const engine = await testEngine();
    const x = engine.tensor(randomArray(12, 1), [3, 4]);
    x.requiresGrad = true;
    await engine.sync();
    const before = engine.memory().liveTensors;
    const ys = noGrad(() => [sum(x, 0), mean(x, -1, true), max(x, 1)]);
    for (const y of ys) expect(y.creator).toBeNull();
    expect(engine.memory().liveTensors).toBe(before + ys.length);
    for (const y of ys) y.dispose();
  });

  it('frees the saved argmax once backward has run', async () => {
    const engine = await testEngine();
    const x = engine.tensor(randomArray(12, 1), [3, 4]);
    x.requiresGrad = true;
    await engine.sync();
    const before = engine.memory().liveTensors;
    const y = max(x, -1);
    expect(engine.memory().liveTensors).toBe(before + 2); // y and its argmax
    const dy = engine.fill(y.shape, 1);
    backward(y, dy);
    expect(engine.memory().liveTensors).toBe(before + 3); // y, dy and x.grad: the argmax is gone
    for (const t of [y, dy, x.grad!]) t.dispose();
    x.grad = null;
    expect(engine.memory().liveTensors).toBe(before);
  });
});
