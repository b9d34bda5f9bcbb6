import { describe, expect, it } from 'vitest';
import { backward } from '../../src/graph/autograd.js';
import {
  concatReference, padReference, paddedShape, permuteReference, permutedShape, resolveSlice, sliceBackwardReference, sliceReference,
} from '../../src/kernels/copy.js';
import { gatherBackwardReference, gatherReference } from '../../src/kernels/gather.js';
import { concat, gather, pad, permute, permuteView, reshape, slice } from '../../src/ops/copy.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import type { Engine } from '../../src/engine.js';
import { randomArray, testEngine } from '../helpers/engine.js';
import { checkGradients } from '../helpers/gradcheck.js';

// Data movement is exact, so the only error in the finite differences is double rounding; gather's
// sums of a few f32 values add an ulp. The tolerance is far below any wrong element (order 1).
const FD = { atol: 1e-6, rtol: 1e-6 };

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/**
 * The kernels' references build their outputs with their input's constructor, so Float64Array data
 * stays float64 through them (the finite differences need the unrounded perturbation).
 */
const in64 = (fn: (x: Float32Array) => Float32Array) => (x: Float64Array) => fn(x as unknown as Float32Array) as unknown as Float64Array;

/** Runs op on a fresh leaf x, backpropagates dy, and returns x's gradient (everything else freed). */
async function gradientOf(engine: Engine, xData: Float32Array, shape: number[], op: (x: Tensor) => Tensor, dy: (n: number) => Float32Array): Promise<Float32Array> {
  return engine.scopeAsync(async () => {
    const x = engine.tensor(xData, shape);
    x.requiresGrad = true;
    const y = op(x);
    backward(y, engine.tensor(dy(y.size), y.shape));
    expect(x.grad!.shape).toEqual(shape);
    const g = await x.grad!.readFloat();
    x.grad!.dispose();
    return g;
  });
}

const dyOf = (n: number) => randomArray(n, 99, -2, 2);

describe('reshape backward', () => {
  it('is dy with the input shape', async () => {
    const engine = await testEngine();
    const shape = [2, 3, 4];
    await checkGradients(engine, 'reshape', [{ data: randomArray(24, 1), shape }], ([x]) => reshape(x, [4, -1]), ([x]) => x, FD);
    expect(await gradientOf(engine, randomArray(24, 1), shape, (x) => reshape(x, [6, 4]), dyOf)).toEqual(dyOf(24));
  });
});

describe('permute backward', () => {
  const cases: [number[], number[]][] = [
    [[2, 3, 4], [2, 0, 1]],
    [[2, 3, 4, 5], [0, -2, -1, 1]], // (B, C, H, W) -> (B, H, W, C), negative entries
    [[2, 1, 3], [2, 1, 0]], // a size-1 dim
    [[3, 4], [0, 1]], // the identity: a plain copy both ways
  ];
  for (const [shape, perm] of cases) {
    it(`[${shape}] by [${perm}]`, async () => {
      const engine = await testEngine();
      const p = perm.map((d) => (d < 0 ? d + shape.length : d));
      await checkGradients(engine, `permute ${perm}`, [{ data: randomArray(prod(shape), 2), shape }],
        ([x]) => permute(x, perm), ([x]) => in64((v) => permuteReference(v, shape, p))(x), FD);
      // The inverse permutation of dy, exactly.
      const inverse = p.map((_, k) => p.indexOf(k));
      const dy = dyOf(prod(shape));
      expect(await gradientOf(engine, randomArray(prod(shape), 2), shape, (x) => permute(x, perm), () => dy))
        .toEqual(permuteReference(dy, permutedShape(shape, p), inverse));
    });
  }
});

describe('permuteView (reshape, permute, reshape in one op)', () => {
  // Attention's head split (B, N, heads*d) -> (B, heads, N, d) and merge back, on odd sizes.
  const cases: [number[], number[], number[], number[] | undefined][] = [
    [[2, 5, 6], [2, 5, 3, 2], [0, 2, 1, 3], undefined],
    [[2, 3, 5, 2], [2, 3, 5, 2], [0, 2, 1, 3], [2, 5, 6]],
    [[3, 4, 5], [3, 20], [1, 0], [20, 3, 1]],
  ];
  for (const [shape, view, perm, outShape] of cases) {
    it(`[${shape}] as [${view}] by [${perm}]${outShape ? ` to [${outShape}]` : ''}`, async () => {
      const engine = await testEngine();
      const x = randomArray(prod(shape), 3);
      const y = await engine.scopeAsync(async () => {
        const t = permuteView(engine.tensor(x, shape), view, perm, outShape);
        expect(t.shape).toEqual(outShape ?? permutedShape(view, perm));
        return t.readFloat();
      });
      expect(y).toEqual(permuteReference(x, view, perm));
      await checkGradients(engine, `permuteView ${perm}`, [{ data: randomArray(prod(shape), 2), shape }],
        ([t]) => permuteView(t, view, perm, outShape), ([t]) => in64((v) => permuteReference(v, view, perm))(t), FD);
    });
  }
  it('refuses views and output shapes of another size, and non-permutations', async () => {
    const engine = await testEngine();
    const t = engine.zeros([2, 6]);
    expect(() => permuteView(t, [2, 5], [1, 0])).toThrow('permuteView: view [2, 5] does not hold the 12 elements');
    expect(() => permuteView(t, [2, 3, 2], [0, 0, 1])).toThrow('is not a permutation');
    expect(() => permuteView(t, [2, 3, 2], [0, 2, 1], [13])).toThrow('output shape [13]');
    t.dispose();
  });
});

describe('slice backward', () => {
  const cases: [number[], number[], number[], number[] | undefined][] = [
    [[5, 6], [1, -5], [-1, Infinity], [2, 3]], // steps on both dims, negative bounds
    [[3, 4, 5], [-2, 0, 1], [3, -1, -1], [1, 2, 1]], // negative bounds, a step in the middle
    [[4, 5], [1], [3], undefined], // one contiguous run (a buffer copy forward)
    [[2, 7, 3], [0, -100, 0], [2, 100, 3], [1, 4, 2]], // clamped bounds, steps past the end
    [[6, 1, 4], [-4, 0, 3], [Infinity, 1, 4], [3, 1, 1]], // a size-1 dim, a single column
  ];
  for (const [shape, starts, ends, steps] of cases) {
    it(`[${shape}] [${starts}]:[${ends}]:[${steps ?? 1}]`, async () => {
      const engine = await testEngine();
      const s = resolveSlice(shape, starts, ends, steps);
      await checkGradients(engine, 'slice', [{ data: randomArray(prod(shape), 3), shape }],
        ([x]) => slice(x, starts, ends, steps), ([x]) => in64((v) => sliceReference(v, shape, s))(x), FD);
      const dy = dyOf(prod(s.shape));
      expect(await gradientOf(engine, randomArray(prod(shape), 3), shape, (x) => slice(x, starts, ends, steps), () => dy))
        .toEqual(sliceBackwardReference(dy, shape, s));
    });
  }

  it('by hand: rows 0 and 2, columns 1 and 3 of a 3 x 4', async () => {
    const engine = await testEngine();
    const dx = await gradientOf(engine, new Float32Array(12), [3, 4], (x) => slice(x, [0, 1], [3, 4], [2, 2]), () => Float32Array.from([1, 2, 3, 4]));
    expect(Array.from(dx)).toEqual([0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4]);
  });

  it('an empty slice gives a zero gradient', async () => {
    const engine = await testEngine();
    const dx = await gradientOf(engine, randomArray(12, 4), [3, 4], (x) => {
      // A later op that reads the empty slice and something else, so the loss is non-empty.
      const empty = slice(x, [2], [1]);
      expect(empty.shape).toEqual([0, 4]);
      return concat([empty, slice(x, [0], [1])], 0);
    }, () => Float32Array.from([1, 2, 3, 4]));
    expect(Array.from(dx)).toEqual([1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe('pad backward', () => {
  it('takes the interior of dy (a nonzero pad value has no gradient)', async () => {
    const engine = await testEngine();
    const shape = [2, 3, 4];
    const pads: [number, number][] = [[1, 0], [0, 2], [1, 1]];
    await checkGradients(engine, 'pad', [{ data: randomArray(prod(shape), 5), shape }],
      ([x]) => pad(x, pads, 1.5), ([x]) => in64((v) => padReference(v, shape, pads, 1.5))(x), FD);
    const outShape = paddedShape(shape, pads);
    const dy = dyOf(prod(outShape));
    expect(await gradientOf(engine, randomArray(prod(shape), 5), shape, (x) => pad(x, pads, 1.5), () => dy))
      .toEqual(sliceReference(dy, outShape, resolveSlice(outShape, [1, 0, 1], [3, 3, 5])));
  });

  it('pads only the leading dims listed', async () => {
    const engine = await testEngine();
    // (3, 2) padded on dim 0 only: dx is rows 2..4 of dy.
    const dx = await gradientOf(engine, randomArray(6, 6), [3, 2], (x) => pad(x, [[2, 1]], -7), (n) => Float32Array.from({ length: n }, (_, i) => i));
    expect(Array.from(dx)).toEqual([4, 5, 6, 7, 8, 9]);
  });
});

describe('concat backward', () => {
  it('three inputs along a middle axis: each gets its slab', async () => {
    const engine = await testEngine();
    const shapes = [[2, 1, 3], [2, 3, 3], [2, 2, 3]];
    await checkGradients(engine, 'concat axis 1', shapes.map((shape, k) => ({ data: randomArray(prod(shape), 10 + k), shape })),
      (ts) => concat(ts, 1), (xs) => concatReference(xs as unknown as Float32Array[], shapes, 1) as unknown as Float64Array, FD);
    // Again along axis -2 with the middle input left out of the gradient.
    await checkGradients(engine, 'concat axis -2, one input without grad', shapes.map((shape, k) => ({ data: randomArray(prod(shape), 10 + k), shape, noGrad: k === 1 })),
      (ts) => concat(ts, -2), (xs) => concatReference(xs as unknown as Float32Array[], shapes, 1) as unknown as Float64Array, FD);
  });

  it('along axis 0 (buffer copies both ways) with exact slabs', async () => {
    const engine = await testEngine();
    const shapes = [[1, 4], [2, 4], [3, 4]];
    await checkGradients(engine, 'concat axis 0', shapes.map((shape, k) => ({ data: randomArray(prod(shape), 20 + k), shape })),
      (ts) => concat(ts, 0), (xs) => concatReference(xs as unknown as Float32Array[], shapes, 0) as unknown as Float64Array, FD);
    const grads = await engine.scopeAsync(async () => {
      const ts = shapes.map((s) => { const t = engine.zeros(s); t.requiresGrad = true; return t; });
      backward(concat(ts, 0), engine.tensor(Float32Array.from({ length: 24 }, (_, i) => i), [6, 4]));
      return Promise.all(ts.map(async (t) => { const g = Array.from(await t.grad!.readFloat()); t.grad!.dispose(); return g; }));
    });
    const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
    expect(grads).toEqual([range(0, 4), range(4, 12), range(12, 24)]);
  });

  it('the same tensor twice accumulates both slabs', async () => {
    const engine = await testEngine();
    const dx = await gradientOf(engine, randomArray(4, 7), [2, 2], (x) => concat([x, x], 1), (n) => Float32Array.from({ length: n }, (_, i) => i));
    // dy (2, 4) = [[0 1 2 3] [4 5 6 7]]: dx = dy[:, :2] + dy[:, 2:]
    expect(Array.from(dx)).toEqual([2, 4, 10, 12]);
  });
});

describe('gather backward', () => {
  const vocab = 5, dim = 3;

  it('sums the dy rows of repeated indices (host indices)', async () => {
    const engine = await testEngine();
    const indices = [1, 3, 1, 1, 0, 3];
    await checkGradients(engine, 'gather', [{ data: randomArray(vocab * dim, 8), shape: [vocab, dim] }],
      ([t]) => gather(t, indices, [2, 3]), ([t]) => in64((v) => gatherReference(v, vocab, dim, indices))(t), FD);
    const dy = dyOf(indices.length * dim);
    expect(await gradientOf(engine, randomArray(vocab * dim, 8), [vocab, dim], (t) => gather(t, indices), () => dy))
      .toEqual(gatherBackwardReference(dy, vocab, dim, indices));
  });

  it('by hand: row 2 used twice, rows 0, 3, 4 unused', async () => {
    const engine = await testEngine();
    const dx = await gradientOf(engine, new Float32Array(vocab * 2), [vocab, 2], (t) => gather(t, [2, 1, 2]), () => Float32Array.from([1, 2, 3, 4, 5, 6]));
    expect(Array.from(dx)).toEqual([0, 0, 3, 4, 6, 8, 0, 0, 0, 0]);
  });

  for (const indexDtype of ['i32', 'u32'] as const) {
    it(`index tensors (${indexDtype}) with out-of-range entries contribute nothing for them`, async () => {
      const engine = await testEngine();
      const indices = indexDtype === 'i32' ? Int32Array.from([-1, 2, 7, 2, 4, 5]) : Uint32Array.from([0xffffffff, 2, 7, 2, 4, 5]);
      const valid = Array.from(indices, (v) => (v >= vocab ? -1 : v));
      await checkGradients(engine, `gather ${indexDtype}`, [{ data: randomArray(vocab * dim, 9), shape: [vocab, dim] }],
        ([t]) => gather(t, engine.tensor(indices, [3, 2], indexDtype)), ([t]) => in64((v) => gatherReference(v, vocab, dim, valid))(t), FD);
      const dy = dyOf(indices.length * dim);
      expect(await gradientOf(engine, randomArray(vocab * dim, 9), [vocab, dim], (t) => gather(t, engine.tensor(indices, [6], indexDtype)), () => dy))
        .toEqual(gatherBackwardReference(dy, vocab, dim, valid));
    });
  }
});

describe('memory', () => {
  it('a forward + backward through every copy op under engine.scope leaves live tensors at their level', async () => {
    const engine = await testEngine();
    const x = engine.tensor(randomArray(2 * 3 * 4, 1), [2, 3, 4]);
    const table = engine.tensor(randomArray(6 * 4, 2), [6, 4]);
    x.requiresGrad = true;
    table.requiresGrad = true;
    const step = () => engine.scope(() => {
      const p = permute(x, [0, 2, 1]); // (2, 4, 3)
      const s = slice(p, [0, 1], [2, 4], [1, 2]); // (2, 2, 3)
      const padded = pad(s, [[0, 0], [1, 1]], 0.5); // (2, 4, 3)
      const c = concat([padded, p, padded], 2); // (2, 4, 9)
      const r = reshape(c, [8, 9]); // (8, 9)
      const g = gather(table, [0, 5, 5, 1, 2, 3, 0, 0]); // (8, 4)
      const y = concat([r, g], 1); // (8, 13)
      backward(y, engine.fill(y.shape, 1));
    });
    step();
    await engine.sync();
    const { liveTensors, liveBytes } = engine.memory();
    for (let i = 0; i < 3; i++) step();
    await engine.sync();
    expect(engine.memory().liveTensors).toBe(liveTensors);
    expect(engine.memory().liveBytes).toBe(liveBytes);
    // The gradients accumulated over the 4 steps: gather's row 0 was used three times per step.
    const dTable = await table.grad!.readFloat();
    expect(Array.from(dTable.subarray(0, 4))).toEqual([12, 12, 12, 12]);
    for (const t of [x.grad!, table.grad!, x, table]) t.dispose();
  });
});
