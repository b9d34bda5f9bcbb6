import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { backward, noGrad } from '../../src/graph/autograd.js';
import type { KernelSpec } from '../../src/kernels/kernel.js';
import {
  channelElement, layerNorm2dParamsBackwardKernel, layerNormBackwardKernel, layerNormBackwardReference, rowElement,
} from '../../src/kernels/layernorm-backward.js';
import { layerNorm2dReference, layerNormReference } from '../../src/kernels/layernorm.js';
import type { RowPlanOptions } from '../../src/kernels/reduce.js';
import { softmaxBackwardKernel, softmaxBackwardReference, softmaxReference } from '../../src/kernels/softmax.js';
import { layerNorm, layerNorm2d, layerNorm2dWithStats, layerNormWithStats } from '../../src/ops/layernorm.js';
import { softmax } from '../../src/ops/softmax.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { expectClose, randomArray, testEngine } from '../helpers/engine.js';
import { checkGradients } from '../helpers/gradcheck.js';

// Tolerances (|gpu - fd| <= atol + rtol * max|fd|, finite-difference step h = 1e-3). Central
// differences of the float64 definitions err by h^2/6 * |third derivative| ~ 1e-7 here, so what is
// left is the GPU's f32 rounding:
// - softmax: y and the row dot product sum(dy * y) round in f32 (~1e-7 of the gradients' O(0.1)
//   scale); measured at most 4.4e-8. atol 2e-7 + rtol 2e-6 (~4e-7 at these scales: ~10x margin).
// - layerNorm / layerNorm2d: xhat = (x - mean) * rstd loses the digits of x that mean cancels (an
//   ulp of |x|: 2e-6 for the rows offset by 20), then two row means and, for dweight / dbias, sums
//   of up to ~30 terms of size ~1, all in f32. Measured at most 2.3e-6 (offset rows), 7e-7 otherwise,
//   on gradients up to ~6. atol 2e-6 + rtol 1e-5 (~3e-5 at these scales: ~10x margin), while a
//   wrong or missing term moves gradients by ~0.1.
const SOFTMAX_TOL = { atol: 2e-7, rtol: 2e-6 };
const NORM_TOL = { atol: 2e-6, rtol: 1e-5 };

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

// ---- float64 definitions for finite differences --------------------------------------------------

function softmax64(x: Float64Array, length: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += length) {
    let m = -Infinity;
    for (let j = 0; j < length; j++) m = Math.max(m, x[base + j]);
    let s = 0;
    for (let j = 0; j < length; j++) s += Math.exp(x[base + j] - m);
    for (let j = 0; j < length; j++) y[base + j] = Math.exp(x[base + j] - m) / s;
  }
  return y;
}

/** Layernorm of `vectors` vectors of `length`, element j of vector v at x[at(v, j)] (biased variance). */
function layerNorm64(
  x: Float64Array, w: Float64Array, b: Float64Array, eps: number, vectors: number, length: number, at: (v: number, j: number) => number,
): Float64Array {
  const y = new Float64Array(x.length);
  for (let v = 0; v < vectors; v++) {
    let s = 0;
    for (let j = 0; j < length; j++) s += x[at(v, j)];
    const m = s / length;
    let sq = 0;
    for (let j = 0; j < length; j++) sq += (x[at(v, j)] - m) ** 2;
    const r = 1 / Math.sqrt(sq / length + eps);
    for (let j = 0; j < length; j++) y[at(v, j)] = (x[at(v, j)] - m) * r * w[j] + b[j];
  }
  return y;
}

function run(engine: Engine, spec: KernelSpec, inputs: Tensor[], outputs: Tensor[]): void {
  engine.runtime.run(spec, [...inputs.map((t) => ({ buffer: t.buffer })), ...outputs.map((t) => ({ buffer: t.buffer, write: true }))]);
}

// ---- softmax -----------------------------------------------------------------------------------

describe('softmax backward against float64 finite differences', () => {
  it('odd and vec4 rows, several leading dims', async () => {
    const engine = await testEngine();
    for (const shape of [[3, 7], [2, 3, 8], [13], [4, 33]]) {
      const length = shape[shape.length - 1];
      await checkGradients(engine, `softmax [${shape}]`, [{ data: randomArray(numel(shape), length, -3, 3), shape }],
        ([x]) => softmax(x, -1), ([x]) => softmax64(x, length), SOFTMAX_TOL);
    }
  });

  it('rows with large values (|x| up to 60: saturated rows, gradients near 0 but for the top entries)', async () => {
    const engine = await testEngine();
    for (const shape of [[4, 9], [3, 12]]) {
      const length = shape[1];
      const x = randomArray(numel(shape), 5, -60, 60);
      x[0] = 40; x[1] = 40.5; // two near-equal leaders in row 0: a non-trivial saturated gradient
      await checkGradients(engine, `softmax large [${shape}]`, [{ data: x, shape }],
        ([t]) => softmax(t), ([t]) => softmax64(t, length), SOFTMAX_TOL);
    }
  });

  // The adapter here picks the invocation layout; the GPU layouts are checked against the reference directly.
  const plans: [string, RowPlanOptions, [number, number]][] = [
    ['workgroup, registers', { layout: 'workgroup' }, [5, 36]],
    ['workgroup, re-read', { layout: 'workgroup', workgroup: 32, maxRegisterLoads: 0 }, [3, 77]],
  ];
  for (const [label, plan, [rows, length]] of plans) {
    it(`${label} layout kernel matches the reference`, async () => {
      const engine = await testEngine();
      const y = softmaxReference(randomArray(rows * length, 2, -4, 4), length);
      const dy = randomArray(rows * length, 3);
      const dx = engine.empty([rows, length]);
      run(engine, softmaxBackwardKernel({ rows, length, dtype: 'f32', plan }), [engine.tensor(y, [rows, length]), engine.tensor(dy, [rows, length])], [dx]);
      expectClose(await dx.readFloat(), softmaxBackwardReference(y, dy, length), 1e-7, 1e-5, `softmax backward ${label}`);
    });
  }
});

// ---- layerNorm ---------------------------------------------------------------------------------

describe('layerNorm backward (dx, dweight, dbias) against float64 finite differences', () => {
  // Row lengths 8 and 36 (vec4) and 13, 5 (scalar); one with |mean| >> std.
  const cases: { shape: number[]; offset: number; eps: number }[] = [
    { shape: [3, 5, 8], offset: 0, eps: 1e-5 },
    { shape: [7, 13], offset: 0, eps: 1e-5 },
    { shape: [4, 36], offset: 0, eps: 1e-6 },
    { shape: [6, 5], offset: 20, eps: 1e-5 },
  ];
  for (const { shape, offset, eps } of cases) {
    it(`[${shape}]${offset ? `, x offset by ${offset}` : ''}`, async () => {
      const engine = await testEngine();
      const length = shape[shape.length - 1], rows = numel(shape) / length;
      const x = randomArray(numel(shape), length, offset - 2, offset + 2);
      const w = randomArray(length, 2, -1.5, 1.5), b = randomArray(length, 3, -1, 1);
      await checkGradients(engine, `layerNorm [${shape}]`,
        [{ data: x, shape }, { data: w, shape: [length] }, { data: b, shape: [length] }],
        ([xt, wt, bt]) => layerNorm(xt, wt, bt, eps),
        ([x64, w64, b64]) => layerNorm64(x64, w64, b64, eps, rows, length, rowElement(length)), NORM_TOL);
    });
  }

  it('a gradient for weight and bias only (x a constant)', async () => {
    const engine = await testEngine();
    const shape = [5, 6];
    await checkGradients(engine, 'layerNorm params only',
      [{ data: randomArray(30, 1, -2, 2), shape, noGrad: true }, { data: randomArray(6, 2), shape: [6] }, { data: randomArray(6, 3), shape: [6] }],
      ([xt, wt, bt]) => layerNorm(xt, wt, bt),
      ([x64, w64, b64]) => layerNorm64(x64, w64, b64, 1e-5, 5, 6, rowElement(6)), NORM_TOL);
  });

  const plans: [string, RowPlanOptions, [number, number]][] = [
    ['workgroup, registers', { layout: 'workgroup' }, [5, 36]],
    ['workgroup, re-read', { layout: 'workgroup', workgroup: 32, maxRegisterLoads: 0 }, [3, 77]],
  ];
  for (const [label, plan, [rows, length]] of plans) {
    it(`${label} layout dx kernel matches the reference`, async () => {
      const engine = await testEngine();
      const x = randomArray(rows * length, 4, -2, 2), w = randomArray(length, 5), dy = randomArray(rows * length, 6);
      const { mean, rstd } = layerNormReference(x, length, w, new Float32Array(length), 1e-5);
      const dx = engine.empty([rows, length]);
      run(engine, layerNormBackwardKernel({ rows, length, dtype: 'f32', paramDtype: 'f32', plan }), [
        engine.tensor(x, [rows, length]), engine.tensor(w, [length]), engine.tensor(dy, [rows, length]), engine.tensor(mean, [rows]), engine.tensor(rstd, [rows]),
      ], [dx]);
      const expected = layerNormBackwardReference(x, w, dy, mean, rstd, rows, length, rowElement(length));
      expectClose(await dx.readFloat(), expected.dx, 1e-5, 1e-4, `layerNorm backward ${label}`);
    });
  }
});

// ---- layerNorm2d -------------------------------------------------------------------------------

describe('layerNorm2d backward (dx, dweight, dbias) against float64 finite differences', () => {
  // H * W = 9 (scalar loads), 8 (vec4 over pixels), 5 with one image.
  for (const shape of [[2, 5, 3, 3], [2, 3, 2, 4], [1, 7, 1, 5]]) {
    it(`[${shape}]`, async () => {
      const engine = await testEngine();
      const [n, c, h, w] = shape, pixels = h * w;
      const x = randomArray(numel(shape), c, -2, 2);
      const wt = randomArray(c, 2, -1.5, 1.5), bt = randomArray(c, 3, -1, 1);
      await checkGradients(engine, `layerNorm2d [${shape}]`,
        [{ data: x, shape }, { data: wt, shape: [c] }, { data: bt, shape: [c] }],
        ([xs, ws, bs]) => layerNorm2d(xs, ws, bs),
        ([x64, w64, b64]) => layerNorm64(x64, w64, b64, 1e-6, n * pixels, c, channelElement(c, pixels)), NORM_TOL);
    });
  }

  it('workgroup layout dweight/dbias kernel matches the reference', async () => {
    const engine = await testEngine();
    for (const shape of [[2, 3, 4, 4], [3, 2, 3, 3]]) {
      const [n, c, h, w] = shape, pixels = h * w;
      const x = randomArray(numel(shape), 7, -2, 2), dy = randomArray(numel(shape), 8);
      const { mean, rstd } = layerNorm2dReference(x, shape, new Float32Array(c).fill(1), new Float32Array(c), 1e-6);
      const dweight = engine.empty([c]), dbias = engine.empty([c]);
      run(engine, layerNorm2dParamsBackwardKernel({ batch: n, channels: c, pixels, dtype: 'f32', plan: { layout: 'workgroup' } }), [
        engine.tensor(x, shape), engine.tensor(dy, shape), engine.tensor(mean, [n, h, w]), engine.tensor(rstd, [n, h, w]),
      ], [dweight, dbias]);
      const expected = layerNormBackwardReference(x, new Float32Array(c).fill(1), dy, mean, rstd, n * pixels, c, channelElement(c, pixels));
      expectClose(await dweight.readFloat(), expected.dweight, 1e-5, 1e-5, `dweight [${shape}]`);
      expectClose(await dbias.readFloat(), expected.dbias, 1e-5, 1e-5, `dbias [${shape}]`);
    }
  });
});

// ---- f16 inputs --------------------------------------------------------------------------------

describe('f16 inputs: f32 gradients close to those of the same values in f32', () => {
  it('softmax, layerNorm (vec4 and odd rows) and layerNorm2d', async () => {
    const engine = await testEngine();
    if (!engine.hasF16) return;
    const exactInF16 = (a: Float32Array) => a.map((v) => Math.round(v * 256) / 256);
    const cases: [string, number[], (x: Tensor, w: Tensor, b: Tensor) => Tensor][] = [
      ['softmax', [3, 8], (x) => softmax(x)],
      ['layerNorm', [3, 8], (x, w, b) => layerNorm(x, w, b)],
      ['layerNorm odd', [3, 7], (x, w, b) => layerNorm(x, w, b)],
      ['layerNorm2d', [2, 3, 2, 2], (x, w, b) => layerNorm2d(x, w, b)],
    ];
    for (const [name, shape, op] of cases) {
      const c = name === 'layerNorm2d' ? shape[1] : shape[shape.length - 1];
      const data = [exactInF16(randomArray(numel(shape), 1, -2, 2)), exactInF16(randomArray(c, 2)), exactInF16(randomArray(c, 3))];
      const dy = randomArray(numel(shape), 4);
      const gradsIn = async (dtype: 'f16' | 'f32') => {
        const [x, w, b] = [engine.tensor(data[0], shape, dtype), engine.tensor(data[1], [c], dtype), engine.tensor(data[2], [c], dtype)];
        for (const t of [x, w, b]) t.requiresGrad = true;
        backward(op(x, w, b), engine.tensor(dy, shape));
        const used = name === 'softmax' ? [x] : [x, w, b];
        for (const t of used) expect(t.grad!.dtype).toBe('f32');
        return Promise.all(used.map((t) => t.grad!.readFloat()));
      };
      const [half, full] = [await gradsIn('f16'), await gradsIn('f32')];
      // The forward's output (softmax's y, read by its backward) rounds to f16: ~5e-4 relative.
      half.forEach((g, k) => expectClose(g, full[k], 2e-3, 2e-3, `${name} f16 input ${k}`));
    }
  });
});

// ---- recording and memory ----------------------------------------------------------------------

describe('normalisation ops under autograd: recording and memory', () => {
  async function params(engine: Engine, length: number) {
    const w = engine.tensor(randomArray(length, 1), [length]), b = engine.tensor(randomArray(length, 2), [length]);
    w.requiresGrad = true;
    b.requiresGrad = true;
    await engine.sync();
    return [w, b];
  }

  it('records nothing under noGrad and saves no statistics', async () => {
    const engine = await testEngine();
    const x = engine.tensor(randomArray(2 * 3 * 4 * 4, 1), [2, 3, 4, 4]);
    x.requiresGrad = true;
    const [w, b] = await params(engine, 3);
    const [w4, b4] = await params(engine, 4);
    const before = engine.memory().liveTensors;
    const ys = noGrad(() => [softmax(x), layerNorm(x, w4, b4), layerNorm2d(x, w, b)]);
    for (const y of ys) expect(y.creator).toBeNull();
    expect(engine.memory().liveTensors).toBe(before + ys.length);
    for (const y of ys) y.dispose();
  });

  const ops: [string, number[], (x: Tensor, w: Tensor, b: Tensor) => Tensor, number][] = [
    ['softmax', [3, 5], (x) => softmax(x), 0],
    ['layerNorm', [3, 5], (x, w, b) => layerNorm(x, w, b), 2],
    ['layerNorm2d', [2, 5, 2, 2], (x, w, b) => layerNorm2d(x, w, b), 2],
  ];
  for (const [name, shape, op, saved] of ops) {
    it(`${name}: the saved statistics are freed once backward has run`, async () => {
      const engine = await testEngine();
      const x = engine.tensor(randomArray(numel(shape), 1), shape);
      x.requiresGrad = true;
      const [w, b] = await params(engine, shape[1]);
      const before = engine.memory().liveTensors;
      const y = op(x, w, b);
      expect(y.creator).not.toBeNull();
      expect(engine.memory().liveTensors).toBe(before + 1 + saved); // y, and mean and rstd for the layernorms
      const dy = engine.fill(y.shape, 1);
      backward(y, dy);
      const grads = [x, w, b].map((t) => t.grad).filter((g): g is Tensor => g !== null);
      expect(grads.length).toBe(name === 'softmax' ? 1 : 3);
      expect(engine.memory().liveTensors).toBe(before + 2 + grads.length); // y, dy and the grads: the stats are gone
      for (const t of [y, dy, ...grads]) t.dispose();
      for (const t of [x, w, b]) t.grad = null;
      expect(engine.memory().liveTensors).toBe(before);
    });
  }

  it('the WithStats variants record too, and leave the statistics to the caller', async () => {
    const engine = await testEngine();
    const x = engine.tensor(randomArray(2 * 3 * 2 * 2, 1), [2, 3, 2, 2]);
    x.requiresGrad = true;
    const [w, b] = await params(engine, 3);
    const [w2, b2] = await params(engine, 2);
    for (const r of [layerNorm2dWithStats(x, w, b), layerNormWithStats(x, w2, b2)]) {
      backward(r.out, engine.fill(r.out.shape, 1));
      expect(r.mean.disposed || r.rstd.disposed).toBe(false);
      expect(x.grad).not.toBeNull();
    }
  });
});
