import { describe, expect, it } from 'vitest';
import { DataError, ShapeError } from '../src/errors.js';
import {
  concatReference, padReference, permuteReference, resolveSlice, simplifyPermutation, sliceReference,
} from '../src/kernels/copy.js';
import { gatherReference } from '../src/kernels/gather.js';
import { concat, gather, pad, permute, reshape, slice } from '../src/ops/copy.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { randomArray, testEngine } from './helpers/engine.js';
import { loadGoldenCases, type GoldenTensor } from './golden.js';

// Every op here moves bits without arithmetic, so every comparison is exact equality.

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const values = (t: Tensor) => t.read().then((d) => Array.from(d));
const ints = (n: number, seed: number) => Int32Array.from(randomArray(n, seed, -1e6, 1e6), Math.round);

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, k) => [...p.slice(0, k), n - 1, ...p.slice(k)]));
}

async function goldenInput(t: GoldenTensor) {
  return (await testEngine()).tensor(t.data, t.shape);
}

describe('permute', () => {
  it('every permutation of ranks 1 to 5 matches the reference', async () => {
    const engine = await testEngine();
    for (const shape of [[3], [3, 5], [2, 3, 5], [2, 3, 5, 7], [2, 3, 1, 5, 4]]) {
      const x = randomArray(prod(shape), shape.length);
      const xt = engine.tensor(x, shape);
      for (const perm of permutations(shape.length)) {
        const y = permute(xt, perm);
        expect(y.shape).toEqual(perm.map((p) => shape[p]));
        expect(await values(y), `[${shape}] by [${perm}]`).toEqual(Array.from(permuteReference(x, shape, perm)));
        y.dispose();
      }
    }
  });

  it('handles rank 6, i32 data and negative dims', async () => {
    const engine = await testEngine();
    const shape = [2, 3, 2, 5, 1, 3];
    const x = ints(prod(shape), 6);
    for (const perm of [[5, 4, 3, 2, 1, 0], [1, 3, 5, 0, 2, 4], [0, 2, 4, 1, 3, 5]]) {
      const y = permute(engine.tensor(x, shape), perm);
      expect(y.dtype).toBe('i32');
      expect(await values(y), `[${perm}]`).toEqual(Array.from(permuteReference(x, shape, perm)));
    }
    const x2 = randomArray(24, 2);
    expect(await values(permute(engine.tensor(x2, [2, 3, 4]), [-1, 0, -2]))).toEqual(Array.from(permuteReference(x2, [2, 3, 4], [2, 0, 1])));
  });

  it('merges dims that stay together before building the kernel', () => {
    // (B, H, W, C) -> (B, C, H, W): H and W travel together.
    expect(simplifyPermutation([2, 4, 5, 3], [0, 3, 1, 2])).toEqual({ shape: [2, 20, 3], perm: [0, 2, 1] });
    // Size-1 dims vanish, and what is left may be no move at all.
    expect(simplifyPermutation([1, 4, 1, 5], [2, 1, 0, 3])).toEqual({ shape: [20], perm: [0] });
    expect(simplifyPermutation([3, 1, 4], [1, 2, 0])).toEqual({ shape: [3, 4], perm: [1, 0] });
    expect(simplifyPermutation([1, 1], [1, 0])).toEqual({ shape: [], perm: [] });
  });

  it('transposes past 65535 workgroups', async () => {
    const engine = await testEngine();
    // 16.8M elements: more than 65535 workgroups of 256, so the dispatch spreads over y.
    const shape = [2, 4096, 2050];
    const x = randomArray(prod(shape), 9);
    const y = await permute(engine.tensor(x, shape), [0, 2, 1]).readFloat();
    const expected = permuteReference(x, shape, [0, 2, 1]);
    let mismatches = 0;
    for (let i = 0; i < y.length; i++) if (y[i] !== expected[i]) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('matches PyTorch goldens', async () => {
    for (const c of loadGoldenCases('permute')) {
      const y = permute(await goldenInput(c.inputs.x), c.params.perm as number[]);
      expect(y.shape, c.name).toEqual(c.outputs.out.shape);
      expect(await values(y), c.name).toEqual(Array.from(c.outputs.out.data));
    }
  });

  it('rejects anything but a permutation of the dims', async () => {
    const x = (await testEngine()).zeros([2, 3, 4]);
    expect(() => permute(x, [0, 1])).toThrow('permute: [0, 1] is not a permutation of the 3 dims of [2, 3, 4]');
    expect(() => permute(x, [0, 1, 1])).toThrow(ShapeError);
    expect(() => permute(x, [0, 1, 3])).toThrow(ShapeError);
    expect(() => permute(x, [0, 1, -4])).toThrow(ShapeError);
    expect(() => permute(x, [0, 1, 2.5])).toThrow(ShapeError);
  });
});

describe('slice', () => {
  it('follows Python slicing on one dim (negative and out-of-range bounds, steps)', async () => {
    const engine = await testEngine();
    const x = ints(11, 1);
    const xt = engine.tensor(x, [11]);
    const bounds = [-20, -11, -5, -1, 0, 3, 10, 11, 30];
    for (const step of [1, 3]) {
      for (const start of bounds) {
        for (const end of bounds) {
          // Array.prototype.slice has Python's semantics for step 1; the step then keeps every step-th.
          const expected = Array.from(x).slice(start, end).filter((_, k) => k % step === 0);
          const y = slice(xt, [start], [end], [step]);
          expect(y.shape).toEqual([expected.length]);
          if (expected.length) expect(await values(y), `${start}:${end}:${step}`).toEqual(expected);
          y.dispose();
        }
      }
    }
    expect(await values(slice(xt, [-Infinity], [Infinity], [4]))).toEqual([x[0], x[4], x[8]]);
  });

  it('matches the reference on several dims, by buffer copy or by kernel', async () => {
    const engine = await testEngine();
    const shape = [4, 5, 6, 7];
    const x = randomArray(prod(shape), 4);
    const xt = engine.tensor(x, shape);
    const cases: [number[], number[], number[] | undefined][] = [
      [[1], [3], undefined], // whole rows: one contiguous range
      [[2, 1, 3], [3, 4, 4], undefined], // single index in leading dims, then whole: contiguous
      [[0, 1, 0, 2], [4, 5, 6, -1], undefined],
      [[-3, 0, 1, 0], [100, 5, 6, 7], [2, 2, 3, 3]],
      [[0, 0, 0, 6], [4, 5, 6, 7], [1, 1, 1, 1]], // last column only
    ];
    for (const [starts, ends, steps] of cases) {
      const y = slice(xt, starts, ends, steps);
      const expected = sliceReference(x, shape, resolveSlice(shape, starts, ends, steps));
      expect(y.shape).toEqual(resolveSlice(shape, starts, ends, steps).shape);
      expect(await values(y), `${starts}:${ends}:${steps}`).toEqual(Array.from(expected));
    }
  });

  it('slices f16 at odd offsets (where a buffer copy cannot)', async () => {
    const engine = await testEngine();
    if (!engine.hasF16) return;
    const x = Float32Array.from({ length: 15 }, (_, i) => i - 7);
    expect(await values(slice(engine.tensor(x, [15], 'f16'), [3], [8]))).toEqual([-4, -3, -2, -1, 0]);
    expect(await values(slice(engine.tensor(x, [3, 5], 'f16'), [1, 1], [3, 4]))).toEqual([-1, 0, 1, 4, 5, 6]);
  });

  it('matches PyTorch goldens', async () => {
    for (const c of loadGoldenCases('slice')) {
      const y = slice(await goldenInput(c.inputs.x), c.params.starts as number[], c.params.ends as number[], c.params.steps as number[]);
      expect(y.shape, c.name).toEqual(c.outputs.out.shape);
      expect(await values(y), c.name).toEqual(Array.from(c.outputs.out.data));
    }
  });

  it('rejects malformed bounds', async () => {
    const x = (await testEngine()).zeros([4, 5]);
    expect(() => slice(x, [0], [2], [0])).toThrow('slice: steps must be positive integers (starts [0], ends [2], steps [0], input [4, 5])');
    expect(() => slice(x, [0], [2], [-1])).toThrow(ShapeError);
    expect(() => slice(x, [0, 0], [2])).toThrow(ShapeError);
    expect(() => slice(x, [0, 0, 0], [1, 1, 1])).toThrow(ShapeError);
    expect(() => slice(x, [0.5], [2])).toThrow(ShapeError);
  });
});

describe('pad', () => {
  it('matches the reference for f32 and i32', async () => {
    const engine = await testEngine();
    const cases: [number[], [number, number][], number][] = [
      [[5], [[2, 3]], 0],
      [[3, 4], [[1, 0], [0, 2]], -1.5],
      [[2, 3, 4], [[0, 0], [1, 2], [3, 0]], 7],
      [[1, 3, 7, 6], [[0, 0], [0, 0], [0, 7], [0, 8]], 0], // SAM's pad to a multiple of the window
      [[2, 1, 3, 2, 2], [[1, 1], [2, 0], [0, 0], [0, 1], [1, 1]], 2],
      [[3, 4], [[1, 1]], 9], // trailing dims unpadded
    ];
    for (const [shape, pads, value] of cases) {
      const x = randomArray(prod(shape), shape.length);
      const y = pad(engine.tensor(x, shape), pads, value);
      expect(y.shape).toEqual(shape.map((d, k) => d + (pads[k]?.[0] ?? 0) + (pads[k]?.[1] ?? 0)));
      expect(await values(y), `[${shape}] ${JSON.stringify(pads)}`).toEqual(Array.from(padReference(x, shape, pads, value)));
    }
    const xi = ints(12, 3);
    expect(await values(pad(engine.tensor(xi, [3, 4]), [[1, 0], [2, 1]], -5))).toEqual(Array.from(padReference(xi, [3, 4], [[1, 0], [2, 1]], -5)));
  });

  it('pads empty tensors and f16 tensors', async () => {
    const engine = await testEngine();
    expect(await values(pad(engine.zeros([0, 2]), [[1, 1], [0, 1]], 3))).toEqual([3, 3, 3, 3, 3, 3]);
    if (engine.hasF16) {
      const y = pad(engine.tensor(new Float32Array([1, 2, 3]), [3], 'f16'), [[2, 1]], -0.5);
      expect(await values(y)).toEqual([-0.5, -0.5, 1, 2, 3, -0.5]);
    }
  });

  it('matches PyTorch goldens', async () => {
    for (const c of loadGoldenCases('pad')) {
      const y = pad(await goldenInput(c.inputs.x), c.params.pads as [number, number][], c.params.value as number);
      expect(y.shape, c.name).toEqual(c.outputs.out.shape);
      expect(await values(y), c.name).toEqual(Array.from(c.outputs.out.data));
    }
  });

  it('rejects negative pads and values the dtype cannot hold', async () => {
    const engine = await testEngine();
    const x = engine.zeros([2, 3]);
    expect(() => pad(x, [[0, 0], [-1, 0]])).toThrow(
      'pad: pads [[0, 0], [-1, 0]] must be one [before, after] pair of non-negative integers per leading dim of [2, 3] (crop with slice)',
    );
    expect(() => pad(x, [[0, 0], [0, 0], [1, 1]])).toThrow(ShapeError);
    expect(() => pad(x, [[0.5, 0]])).toThrow(ShapeError);
    expect(() => pad(engine.zeros([2], 'i32'), [[1, 1]], 0.5)).toThrow('pad: value 0.5 does not fit a i32 tensor [2]');
  });
});

describe('concat', () => {
  it('matches the reference along every axis, negative axes included', async () => {
    const engine = await testEngine();
    const base = [3, 4, 5];
    for (let axis = -3; axis < 3; axis++) {
      const a = (axis + 3) % 3;
      const shapes = [2, 1, 3].map((n) => base.map((d, k) => (k === a ? n : d)));
      const xs = shapes.map((s, i) => randomArray(prod(s), 10 * i + a));
      const y = concat(xs.map((x, i) => engine.tensor(x, shapes[i])), axis);
      expect(y.shape).toEqual(base.map((d, k) => (k === a ? 6 : d)));
      expect(await values(y), `axis ${axis}`).toEqual(Array.from(concatReference(xs, shapes, a)));
    }
  });

  it('takes 20 inputs (more than the 16 storage buffers a stage may bind), repeats and empty ones', async () => {
    const engine = await testEngine();
    const xs = Array.from({ length: 20 }, (_, i) => ints(2 * (i % 3) * 3, i));
    const shapes = xs.map((x) => [2, x.length / 2 / 3, 3]); // some have 0 along the axis
    const ts = xs.map((x, i) => engine.tensor(x, shapes[i]));
    expect(await values(concat(ts, 1))).toEqual(Array.from(concatReference(xs, shapes, 1)));
    const one = engine.tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    expect(await values(concat([one, one], 1))).toEqual([1, 2, 1, 2, 3, 4, 3, 4]);
    expect(await values(concat([one], 0))).toEqual([1, 2, 3, 4]);
  });

  it('concatenates f16 slabs at odd offsets', async () => {
    const engine = await testEngine();
    if (!engine.hasF16) return;
    const a = engine.tensor(new Float32Array([1, 2, 3]), [3], 'f16');
    const b = engine.tensor(new Float32Array([4, 5]), [2], 'f16');
    expect(await values(concat([a, b, a], 0))).toEqual([1, 2, 3, 4, 5, 1, 2, 3]);
  });

  it('matches PyTorch goldens', async () => {
    for (const c of loadGoldenCases('concat')) {
      const inputs = await Promise.all(Object.keys(c.inputs).sort().map((k) => goldenInput(c.inputs[k])));
      const y = concat(inputs, c.params.axis as number);
      expect(y.shape, c.name).toEqual(c.outputs.out.shape);
      expect(await values(y), c.name).toEqual(Array.from(c.outputs.out.data));
    }
  });

  it('names the op and both shapes when shapes do not fit', async () => {
    const engine = await testEngine();
    const a = engine.zeros([2, 3]);
    expect(() => concat([a, engine.zeros([3, 4])], 1)).toThrow('concat: shapes [2, 3] and [3, 4] differ outside axis 1');
    expect(() => concat([a, engine.zeros([2, 3, 1])], 0)).toThrow('concat: shapes [2, 3] and [2, 3, 1] differ outside axis 0');
    expect(() => concat([a, a], 2)).toThrow('concat: axis 2 is out of range for rank 2');
    expect(() => concat([a, a], -3)).toThrow(ShapeError);
    expect(() => concat([a, engine.zeros([2, 3], 'i32')], 0)).toThrow('concat: dtypes differ (f32 [2, 3] and i32 [2, 3])');
    expect(() => concat([], 0)).toThrow(ShapeError);
  });
});

describe('gather', () => {
  it('matches the reference; out-of-range GPU indices give zero rows', async () => {
    const engine = await testEngine();
    const [vocab, dim] = [13, 7];
    const table = randomArray(vocab * dim, 1);
    const tt = engine.tensor(table, [vocab, dim]);
    const indices = new Int32Array([0, 12, 5, -1, 13, 1000, -2147483648, 2147483647, 3, 3, 7, 0]);
    for (const shape of [[12], [3, 4], [2, 3, 2]]) {
      const y = gather(tt, engine.tensor(indices, shape));
      expect(y.shape).toEqual([...shape, dim]);
      expect(await values(y)).toEqual(Array.from(gatherReference(table, vocab, dim, indices)));
    }
    const rows = await gather(tt, engine.tensor(indices, [12])).readFloat();
    expect(rows.subarray(3 * dim, 8 * dim).every((v) => v === 0)).toBe(true);
    // u32 indices past 2^31 are out of range too.
    const u = new Uint32Array([2, 0xffffffff, 12]);
    expect(await values(gather(tt, engine.tensor(u, [3], 'u32')))).toEqual(Array.from(gatherReference(table, vocab, dim, [2, -1, 12])));
  });

  it('checks host indices before uploading them', async () => {
    const engine = await testEngine();
    const table = randomArray(4 * 3, 2);
    const tt = engine.tensor(table, [4, 3]);
    expect(await values(gather(tt, [3, 0, 3]))).toEqual(Array.from(gatherReference(table, 4, 3, [3, 0, 3])));
    const y = gather(tt, new Int32Array([1, 2, 3, 0]), [2, 2]);
    expect(y.shape).toEqual([2, 2, 3]);
    expect(() => gather(tt, [0, 4])).toThrow(DataError);
    expect(() => gather(tt, [0, 4])).toThrow('gather: index 4 at position 1 is outside table [4, 3] (valid 0..3)');
    expect(() => gather(tt, [-1])).toThrow(DataError);
    expect(() => gather(tt, [1.5])).toThrow(DataError);
  });

  it('matches PyTorch goldens', async () => {
    for (const c of loadGoldenCases('gather')) {
      const y = gather(await goldenInput(c.inputs.table), await goldenInput(c.inputs.indices));
      expect(y.shape, c.name).toEqual(c.outputs.out.shape);
      expect(await values(y), c.name).toEqual(Array.from(c.outputs.out.data));
    }
  });

  it('rejects a table that is not 2-D and float indices', async () => {
    const engine = await testEngine();
    expect(() => gather(engine.zeros([5]), engine.zeros([2], 'i32'))).toThrow('gather: table (V, D) must have rank 2, got [5]');
    expect(() => gather(engine.zeros([5, 2]), engine.zeros([2]))).toThrow('gather: indices must be i32 or u32, got f32 [2]');
  });
});

describe('reshape', () => {
  it('copies the data under a new shape, inferring one -1', async () => {
    const engine = await testEngine();
    const x = engine.tensor(randomArray(24, 1), [2, 3, 4]);
    const expected = await values(x);
    const y = reshape(x, [4, -1]);
    expect(y.shape).toEqual([4, 6]);
    x.dispose(); // the result owns its own buffer
    expect(await values(y)).toEqual(expected);
    expect(reshape(engine.zeros([0, 3]), [-1, 3]).shape).toEqual([0, 3]);
    expect(reshape(engine.zeros([3], 'i32'), [1, 3, 1]).dtype).toBe('i32');
  });

  it('rejects sizes that do not match', async () => {
    const x = (await testEngine()).zeros([2, 3]);
    expect(() => reshape(x, [4, 2])).toThrow('reshape: input [2, 3] has 6 elements, shape [4, 2] holds 8');
    expect(() => reshape(x, [-1, -1])).toThrow(ShapeError);
    expect(() => reshape(x, [4, -1])).toThrow('reshape: cannot infer the -1 in [4, -1] for input [2, 3] (6 elements)');
    expect(() => reshape(x, [2.5, 2])).toThrow(ShapeError);
  });
});
