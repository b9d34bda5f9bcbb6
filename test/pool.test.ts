// MaxPool2d and LeakyReLU (the UNet baseline's pooling and activation): kernels against their
// TypeScript references, gradients against float64 finite differences.
import { describe, expect, it } from 'vitest';
import { ShapeError, UsageError } from '../src/errors.js';
import { backward } from '../src/graph/autograd.js';
import { leakyReluReference } from '../src/kernels/leaky-relu.js';
import { maxPool2dBackwardReference, maxPool2dOutputSize, maxPool2dReference } from '../src/kernels/pool.js';
import { leakyRelu } from '../src/ops/leaky-relu.js';
import { maxPool2d } from '../src/ops/pool.js';
import { expectClose, randomArray, testEngine } from './helpers/engine.js';
import { checkGradients } from './helpers/gradcheck.js';

// Max pooling moves values without arithmetic: forward and backward must be exact (the backward's
// sums over overlapping windows are of at most 4 terms here, in the same order as the reference's
// float64 sum rounded once: 1e-6 relative). Gradient checks: max pooling and LeakyReLU are
// piecewise linear, so central differences are exact away from ties and kinks (inputs are distinct
// and away from 0 by more than h = 1e-3): atol 1e-5 + rtol 1e-5.
const GRAD_TOL = { atol: 1e-5, rtol: 1e-5 };

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Distinct values (a shuffled ramp), so no window has a tie and no finite-difference step reorders a window. */
function distinct(n: number, seed: number): Float32Array {
  const r = randomArray(n, seed, 0, 1);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => r[a] - r[b]);
  const x = new Float32Array(n);
  order.forEach((at, rank) => { x[at] = (rank - n / 2) * 0.01; });
  return x;
}

function maxPool64(x: Float64Array, shape: number[], k: [number, number], s: [number, number]): Float64Array {
  const [n, c, H, W] = shape;
  const [ho, wo] = maxPool2dOutputSize({ height: H, width: W, kernel: k, stride: s });
  const y = new Float64Array(n * c * ho * wo);
  for (let p = 0; p < n * c; p++) {
    for (let oh = 0; oh < ho; oh++) {
      for (let ow = 0; ow < wo; ow++) {
        let m = -Infinity;
        for (let dh = 0; dh < k[0]; dh++) for (let dw = 0; dw < k[1]; dw++) m = Math.max(m, x[p * H * W + (oh * s[0] + dh) * W + ow * s[1] + dw]);
        y[(p * ho + oh) * wo + ow] = m;
      }
    }
  }
  return y;
}

// [shape, kernel, stride]: the UNet's 2x2/2, odd sizes (a row and column no window covers),
// overlapping windows (3x3 stride 2), and a non-square kernel.
const CASES: [number[], [number, number], [number, number]][] = [
  [[2, 3, 8, 8], [2, 2], [2, 2]],
  [[1, 2, 7, 5], [2, 2], [2, 2]],
  [[2, 2, 9, 7], [3, 3], [2, 2]],
  [[1, 3, 6, 9], [2, 3], [1, 2]],
];

describe('maxPool2d', () => {
  it('forward and backward match the references exactly, with windows that overlap or leave rows out', async () => {
    const engine = await testEngine();
    for (const [shape, k, s] of CASES) {
      const xh = randomArray(numel(shape), shape[2] + shape[3], -2, 2);
      const x = engine.tensor(xh, shape);
      x.requiresGrad = true;
      const y = maxPool2d(x, k, s);
      const ref = maxPool2dReference(xh, shape, k, s);
      const outSize = maxPool2dOutputSize({ height: shape[2], width: shape[3], kernel: k, stride: s });
      expect(y.shape).toEqual([shape[0], shape[1], ...outSize]);
      expect(await y.readFloat()).toEqual(ref.out);
      const dyh = randomArray(y.size, 5, -1, 1);
      backward(y, engine.tensor(dyh, y.shape));
      expectClose(await x.grad!.readFloat(), maxPool2dBackwardReference(dyh, ref.indices, shape, outSize), 0, 1e-6, `maxPool2d dx [${shape}] k${k} s${s}`);
      x.grad!.dispose();
      x.dispose();
    }
  });

  it('sends the gradient of a tied window to its first maximum in row-major order, as PyTorch', async () => {
    const engine = await testEngine();
    // One 2x2 window of equal values, one whose two maxima sit in the second row.
    const x = engine.tensor([1, 1, 0, 3, 1, 1, 2, 3], [1, 1, 2, 4]);
    x.requiresGrad = true;
    const y = maxPool2d(x, 2);
    expect(await y.readFloat()).toEqual(new Float32Array([1, 3]));
    backward(y, engine.tensor([10, 20], [1, 1, 1, 2]));
    expect(await x.grad!.readFloat()).toEqual(new Float32Array([10, 0, 0, 20, 0, 0, 0, 0]));
  });

  it('gradients match float64 finite differences', async () => {
    const engine = await testEngine();
    for (const [shape, k, s] of CASES) {
      await checkGradients(engine, `maxPool2d [${shape}] k${k} s${s}`, [{ data: distinct(numel(shape), 3), shape }],
        ([x]) => maxPool2d(x, k, s), ([x]) => maxPool64(x, shape, k, s), GRAD_TOL);
    }
  });

  it('refuses bad kernels, strides, ranks and dtypes', async () => {
    const engine = await testEngine();
    const x = engine.zeros([1, 1, 4, 4]);
    expect(() => maxPool2d(x, 0)).toThrow(UsageError);
    expect(() => maxPool2d(x, 2, [2, 0])).toThrow(UsageError);
    expect(() => maxPool2d(x, 5)).toThrow('larger than the input planes');
    expect(() => maxPool2d(engine.zeros([4, 4]), 2)).toThrow(ShapeError);
    expect(() => maxPool2d(engine.zeros([1, 1, 4, 4], 'i32'), 2)).toThrow(ShapeError);
  });
});

describe('leakyRelu', () => {
  it('matches the reference (slope 0.01 and 0.2, vec4 and odd sizes), exactly', async () => {
    const engine = await testEngine();
    for (const [n, slope] of [[1024, 0.01], [37, 0.2]] as const) {
      const xh = randomArray(n, n, -3, 3);
      xh[0] = 0;
      const y = await leakyRelu(engine.tensor(xh, [n]), slope).readFloat();
      // f32 slope times f32 x is exact in float64, so one rounding gives the GPU's f32 product.
      expect(y).toEqual(Float32Array.from(xh, (v) => leakyReluReference(v, Math.fround(slope))));
    }
  });

  it('gradients match float64 finite differences (away from the kink)', async () => {
    const engine = await testEngine();
    for (const [shape, slope] of [[[2, 3, 4, 4], 0.01], [[5, 7], 0.3]] as const) {
      const x = randomArray(numel([...shape]), 8, 0.01, 2);
      for (let i = 0; i < x.length; i += 2) x[i] = -x[i];
      await checkGradients(engine, `leakyRelu [${shape}] ${slope}`, [{ data: x, shape: [...shape] }],
        ([t]) => leakyRelu(t, slope), ([t]) => t.map((v) => leakyReluReference(v, slope)), GRAD_TOL);
    }
  });

  it('passes slope * dy at x == 0, as PyTorch', async () => {
    const engine = await testEngine();
    const x = engine.tensor([0, -1, 2, 0], [4]);
    x.requiresGrad = true;
    backward(leakyRelu(x, 0.5), engine.tensor([1, 1, 1, 4], [4]));
    expect(await x.grad!.readFloat()).toEqual(new Float32Array([0.5, 0.5, 1, 2]));
  });
});
