import { describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine.js';
import { ShapeError } from '../src/errors.js';
import { REDUCE_OPS, reduceReference, reduceRowsKernel, reduceStridedKernel, reduceView, type ReduceOp, type RowLayout } from '../src/kernels/reduce.js';
import { argmax, max, mean, reduce, sum } from '../src/ops/reduce.js';
import { expectClose, randomArray, testEngine } from './helpers/engine.js';
import { loadGoldenCases } from './golden.js';

// Tolerances. Sums accumulate in f32 (pairwise through the workgroup tree, in chunks of 64 along
// loops), so their error scales with the sum of |x|, not with the result (which may cancel to ~0):
// |err| <= 1e-5 * sum|x| over the reduced axis (for mean, divided by n). max and argmax are exact.
const SUM_RTOL = 1e-5;

function expectReduction(op: ReduceOp, actual: ArrayLike<number>, x: Float32Array, shape: number[], axis: number, label: string): void {
  const a = axis < 0 ? axis + shape.length : axis;
  const expected = reduceReference(op, x, shape, a);
  if (op === 'max' || op === 'argmax') {
    expect(Array.from(actual), label).toEqual(Array.from(expected));
    return;
  }
  const scale = reduceReference(op, x.map(Math.abs), shape, a);
  for (let i = 0; i < expected.length; i++) {
    const bound = SUM_RTOL * scale[i] + 1e-7;
    if (!(Math.abs(actual[i] - expected[i]) <= bound)) {
      throw new Error(`${label}: output ${i} is ${actual[i]}, expected ${expected[i]} (bound ${bound.toExponential(2)} = ${SUM_RTOL} x sum|x|)`);
    }
  }
}

/** Runs a reduction kernel directly, to test a layout the adapter would not pick. */
async function runKernel(engine: Engine, spec: ReturnType<typeof reduceRowsKernel>, x: Float32Array, shape: number[], outputs: number, op: ReduceOp) {
  const input = engine.tensor(x, shape);
  const out = engine.empty([outputs], op === 'argmax' ? 'i32' : 'f32');
  engine.runtime.run(spec, [{ buffer: input.buffer }, { buffer: out.buffer, write: true }]);
  return out.read();
}

const CASES: [number[], number][] = [
  [[3, 17, 5], 1], [[4, 1000], -1], [[7, 3], 0], [[2, 3, 4, 5], 2], [[7, 3], -1], [[6, 40], 1], [[5, 33], -1], [[1000], 0],
];

describe('reductions against the TypeScript reference', () => {
  for (const op of REDUCE_OPS) {
    it(`${op} on several shapes and axes`, async () => {
      const engine = await testEngine();
      for (const [shape, axis] of CASES) {
        const n = shape.reduce((a, b) => a * b, 1);
        const x = randomArray(n, n + axis, -4, 4);
        const y = reduce(op, engine.tensor(x, shape), axis);
        const a = axis < 0 ? axis + shape.length : axis;
        expect(y.shape).toEqual(shape.filter((_, i) => i !== a));
        expect(y.dtype).toBe(op === 'argmax' ? 'i32' : 'f32');
        expectReduction(op, await y.read(), x, shape, axis, `${op} [${shape}] axis ${axis}`);
      }
    });
  }

  it('sums a (2, 70000) tensor along its long rows, and along axis 0 of its transpose', async () => {
    const engine = await testEngine();
    const x = randomArray(140000, 7, -1, 3); // an offset mean makes the sums large
    expectReduction('sum', await sum(engine.tensor(x, [2, 70000]), 1).read(), x, [2, 70000], 1, 'sum [2, 70000] axis 1');
    expectReduction('mean', await mean(engine.tensor(x, [70000, 2]), 0).read(), x, [70000, 2], 0, 'mean [70000, 2] axis 0');
  });

  it('keepDim keeps the reduced axis as 1', async () => {
    const engine = await testEngine();
    const x = randomArray(60, 3);
    const t = engine.tensor(x, [3, 4, 5]);
    expect(sum(t, 1, true).shape).toEqual([3, 1, 5]);
    expect(argmax(t, -1, true).shape).toEqual([3, 4, 1]);
    expect(max(t, 0, false).shape).toEqual([4, 5]);
    expectReduction('mean', await mean(t, 2, true).read(), x, [3, 4, 5], 2, 'mean keepDim');
  });

  it('reduces a scalar to itself', async () => {
    const engine = await testEngine();
    const y = sum(engine.tensor([2.5], []), 0);
    expect(y.shape).toEqual([]);
    expect(Array.from(await y.read())).toEqual([2.5]);
  });

  it('follows PyTorch on empty axes: sum 0, mean NaN, max and argmax refuse', async () => {
    const engine = await testEngine();
    const t = engine.zeros([3, 0]);
    expect(Array.from(await sum(t, 1).read())).toEqual([0, 0, 0]);
    expect(Array.from(await mean(t, 1).read()).every(Number.isNaN)).toBe(true);
    expect(() => max(t, 1)).toThrow('max: axis 1 of [3, 0] is empty');
    expect(() => argmax(t, -1)).toThrow(ShapeError);
  });

  it('names the op and the shape when the axis is out of range', async () => {
    const engine = await testEngine();
    const t = engine.zeros([2, 3]);
    expect(() => sum(t, 2)).toThrow(ShapeError);
    expect(() => sum(t, 2)).toThrow('sum: axis 2 is out of range for x [2, 3] (rank 2)');
    expect(() => argmax(t, -3)).toThrow('argmax: axis -3 is out of range for x [2, 3]');
    expect(() => mean(engine.zeros([4], 'i32'), 0)).toThrow('mean: expects a float tensor, got i32 [4]');
  });

  it('reduces f16 tensors, accumulating in f32', async () => {
    const engine = await testEngine();
    if (!engine.hasF16) return;
    const x = randomArray(4 * 300, 11, -2, 2).map((v) => Math.round(v * 64) / 64); // exact in f16
    const y = sum(engine.tensor(x, [4, 300], 'f16'), 1);
    expect(y.dtype).toBe('f16');
    const expected = reduceReference('sum', x, [4, 300], 1);
    expectClose(await y.readFloat(), expected, 0, 1e-3, 'f16 sum'); // the f16 result rounds to 11 bits
  });
});

describe('both row layouts (workgroup tree for GPUs, invocation per row for CPUs)', () => {
  const layouts: RowLayout[] = ['workgroup', 'invocation'];
  for (const layout of layouts) {
    it(`${layout} layout: every op on vec4 rows, odd rows and rows longer than the workgroup`, async () => {
      const engine = await testEngine();
      for (const [rows, length] of [[4, 1000], [3, 33], [2, 70000], [5, 256]]) {
        const x = randomArray(rows * length, length, -4, 4);
        for (const op of REDUCE_OPS) {
          if (length === 70000 && op !== 'sum') continue;
          const y = await runKernel(engine, reduceRowsKernel({ op, rows, length, dtype: 'f32', layout }), x, [rows, length], rows, op);
          expectReduction(op, y, x, [rows, length], 1, `${layout} ${op} [${rows}, ${length}]`);
        }
      }
    });

    it(`${layout} layout: argmax ties go to the first index, even across invocations`, async () => {
      const engine = await testEngine();
      const length = 600;
      const rows: number[][] = [
        new Array(length).fill(1), // all equal: index 0
        Array.from({ length }, (_, i) => (i === 5 || i === 300 || i === 599 ? 9 : 0)),
        Array.from({ length }, (_, i) => (i === 300 || i === 44 ? 9 : -1)),
        Array.from({ length }, (_, i) => (i < 100 ? -Infinity : i === 450 || i === 451 ? -3 : -5)),
        new Array(length).fill(-Infinity), // PyTorch answers 0
      ];
      const x = new Float32Array(rows.flat());
      const y = await runKernel(engine, reduceRowsKernel({ op: 'argmax', rows: rows.length, length, dtype: 'f32', layout }), x, [rows.length, length], rows.length, 'argmax');
      expect(Array.from(y)).toEqual([0, 5, 44, 450, 0]);
    });
  }

  it('the strided kernel keeps the first of tied maxima too', async () => {
    const engine = await testEngine();
    const x = new Float32Array([1, 7, 3, 7, 7, 3, 2, 7, 3]); // (3, 3) reduced along axis 0
    const spec = reduceStridedKernel({ op: 'argmax', view: reduceView([3, 3], 0), dtype: 'f32' });
    expect(Array.from(await runKernel(engine, spec, x, [3, 3], 3, 'argmax'))).toEqual([1, 0, 0]);
  });
});

describe('reductions against PyTorch goldens', () => {
  it('reduce', async () => {
    const engine = await testEngine();
    const cases = loadGoldenCases('reduce');
    expect(cases.length).toBeGreaterThanOrEqual(16);
    for (const c of cases) {
      const op = c.params.fn as ReduceOp;
      const axis = c.params.axis as number;
      const x = c.inputs.x;
      const y = await reduce(op, engine.tensor(x.data as Float32Array, x.shape), axis, c.params.keepdim as boolean).read();
      const expected = c.outputs.out.data;
      if (op === 'max' || op === 'argmax') {
        expect(Array.from(y), c.name).toEqual(Array.from(expected));
      } else {
        // PyTorch's own f32 summation order differs from ours: compare both with 1e-5 x sum|x|.
        const a = axis < 0 ? axis + x.shape.length : axis;
        const scale = reduceReference(op, (x.data as Float32Array).map(Math.abs), x.shape, a);
        for (let i = 0; i < expected.length; i++) expect(Math.abs(y[i] - expected[i]), `${c.name}[${i}]`).toBeLessThanOrEqual(SUM_RTOL * scale[i] + 1e-7);
      }
    }
  });
});
