import { describe, expect, it } from 'vitest';
import { backward } from '../../src/graph/autograd.js';
import { bilinearAdjointRanges, referenceTaps, resizeBilinearBackwardReference } from '../../src/kernels/resize.js';
import { resizeBilinear } from '../../src/ops/resize.js';
import { expectClose, randomArray, testEngine } from '../helpers/engine.js';
import { checkGradients } from '../helpers/gradcheck.js';

// The op is linear, so float64 central differences are exact up to double rounding; the GPU sums
// at most a few dozen f32 products per pixel, so its error is a few f32 ulps of the largest gradient.
const FD = { atol: 1e-5, rtol: 1e-5 };
// Against PyTorch's f32 scatter (the TypeScript reference): the same products summed in another
// order, an ulp or two on gradients of order 1.
const ATOL = 2e-6, RTOL = 2e-6;

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** F.interpolate(bilinear) in float64, with PyTorch's f32 taps and weights (the op is linear in x). */
function resize64(shape: readonly number[], outH: number, outW: number, alignCorners: boolean) {
  const [N, C, H, W] = shape;
  const rows = referenceTaps(H, outH, alignCorners), cols = referenceTaps(W, outW, alignCorners);
  return ([x]: Float64Array[]) => {
    const y = new Float64Array(N * C * outH * outW);
    let i = 0;
    for (let plane = 0; plane < N * C; plane++) {
      const at = (r: number, c: number) => x[plane * H * W + r * W + c];
      for (const r of rows) for (const c of cols) {
        y[i++] = r.w0 * (c.w0 * at(r.i0, c.i0) + c.w1 * at(r.i0, c.i1)) + r.w1 * (c.w0 * at(r.i1, c.i0) + c.w1 * at(r.i1, c.i1));
      }
    }
    return y;
  };
}

const CASES: [number[], [number, number]][] = [
  [[1, 2, 5, 7], [9, 4]], // up in H, down in W, odd sizes
  [[2, 1, 4, 3], [8, 7]], // upsampling
  [[1, 1, 6, 8], [3, 4]], // 2x downsampling
  [[1, 1, 17, 19], [3, 4]], // large odd downsampling: many inputs touch no output
  [[1, 1, 1, 1], [3, 4]], // a single source pixel takes every weight
  [[1, 2, 5, 6], [1, 1]], // a single output pixel
  [[1, 1, 4, 5], [4, 11]], // H kept (identity taps), W resized
  [[1, 1, 10, 3], [7, 3]], // W kept, H resized
  [[1, 2, 4, 4], [4, 4]], // same size: the identity
];

describe('resizeBilinear backward', () => {
  for (const alignCorners of [false, true]) {
    it(`matches float64 finite differences, align_corners ${alignCorners}`, async () => {
      const engine = await testEngine();
      for (const [shape, out] of CASES) {
        await checkGradients(engine, `[${shape}] -> ${out} ac=${alignCorners}`, [{ data: randomArray(prod(shape), prod(shape)), shape }],
          ([x]) => resizeBilinear(x, out, { alignCorners }), resize64(shape, out[0], out[1], alignCorners), FD);
      }
    });

    it(`matches PyTorch's f32 scatter, align_corners ${alignCorners}`, async () => {
      const engine = await testEngine();
      for (const [shape, out] of CASES) {
        const dyData = randomArray(shape[0] * shape[1] * out[0] * out[1], 11, -2, 2);
        const dx = await engine.scopeAsync(async () => {
          const x = engine.tensor(randomArray(prod(shape), 1), shape);
          x.requiresGrad = true;
          const y = resizeBilinear(x, out, { alignCorners });
          backward(y, engine.tensor(dyData, y.shape));
          const g = await x.grad!.readFloat();
          x.grad!.dispose();
          return g;
        });
        expectClose(dx, resizeBilinearBackwardReference(dyData, shape, out[0], out[1], alignCorners), ATOL, RTOL, `[${shape}] -> ${out}`);
      }
    });
  }

  it('matches values PyTorch 2.13 computed (interpolate(...).backward(dy))', async () => {
    // x = zeros(1,1,3,5) requiring grad; dy = arange(8).reshape(1,1,4,2) - 3.5; dx printed with float64 repr.
    const engine = await testEngine();
    const dyData = Float32Array.from({ length: 8 }, (_, i) => i - 3.5);
    for (const [alignCorners, expected] of PYTORCH_3x5_TO_4x2) {
      const dx = await engine.scopeAsync(async () => {
        const x = engine.zeros([1, 1, 3, 5]);
        x.requiresGrad = true;
        backward(resizeBilinear(x, [4, 2], { alignCorners }), engine.tensor(dyData, [1, 1, 4, 2]));
        const g = await x.grad!.readFloat();
        x.grad!.dispose();
        return g;
      });
      expectClose(dx, expected, 1e-6, 1e-6, `align_corners ${alignCorners}`);
    }
  });

  it('adjoint ranges cover exactly the outputs whose taps reach each input', () => {
    for (const [inSize, outSize] of [[5, 9], [7, 4], [19, 4], [1, 3], [6, 1], [64, 256], [256, 64]]) {
      for (const alignCorners of [false, true]) {
        const taps = referenceTaps(inSize, outSize, alignCorners);
        const { first, count } = bilinearAdjointRanges(inSize, outSize, alignCorners);
        for (let r = 0; r < inSize; r++) {
          const touching = taps.flatMap((t, o) => (t.i0 === r || t.i1 === r ? [o] : []));
          const run = Array.from({ length: count[r] }, (_, k) => first[r] + k);
          expect(run, `${inSize} -> ${outSize} ac=${alignCorners} r=${r}`).toEqual(touching);
        }
        // The table is sized for at most 2 * outSize weights per axis.
        expect(count.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2 * outSize);
      }
    }
  });

  it('SAM-sized mask upsampling (1, 2, 64, 64) -> 256 x 256 agrees with the scatter reference', async () => {
    const engine = await testEngine();
    const shape = [1, 2, 64, 64];
    const dyData = randomArray(2 * 256 * 256, 3);
    const dx = await engine.scopeAsync(async () => {
      const x = engine.tensor(randomArray(prod(shape), 2), shape);
      x.requiresGrad = true;
      backward(resizeBilinear(x, [256, 256]), engine.tensor(dyData, [1, 2, 256, 256]));
      const g = await x.grad!.readFloat();
      x.grad!.dispose();
      return g;
    });
    expectClose(dx, resizeBilinearBackwardReference(dyData, shape, 256, 256, false), ATOL, RTOL, '64 -> 256');
  });

  it('gives an f32 gradient for an f16 input', async () => {
    const engine = await testEngine();
    if (!engine.hasF16) return;
    await engine.scopeAsync(async () => {
      const x = engine.tensor(randomArray(12, 1), [1, 1, 3, 4], 'f16');
      x.requiresGrad = true;
      backward(resizeBilinear(x, [5, 2]), engine.fill([1, 1, 5, 2], 1));
      expect(x.grad!.dtype).toBe('f32');
      expectClose(await x.grad!.readFloat(), resizeBilinearBackwardReference(new Float32Array(10).fill(1), [1, 1, 3, 4], 5, 2, false), ATOL, RTOL, 'f16');
      x.grad!.dispose();
    });
  });

  it('a forward + backward under engine.scope leaves live tensors at their level', async () => {
    const engine = await testEngine();
    const x = engine.tensor(randomArray(2 * 3 * 5 * 7, 4), [2, 3, 5, 7]);
    x.requiresGrad = true;
    const step = () => engine.scope(() => {
      const y = resizeBilinear(resizeBilinear(x, [9, 4], { alignCorners: true }), [6, 6]);
      backward(y, engine.fill(y.shape, 1));
    });
    step();
    await engine.sync();
    const { liveTensors, liveBytes } = engine.memory();
    for (let i = 0; i < 3; i++) step();
    await engine.sync();
    expect(engine.memory().liveTensors).toBe(liveTensors);
    expect(engine.memory().liveBytes).toBe(liveBytes);
    x.grad!.dispose();
    x.dispose();
  });
});

// x.grad from F.interpolate(x, size=(4, 2), mode='bilinear', align_corners=...).backward(dy), torch 2.13 CPU.
const PYTORCH_3x5_TO_4x2: [boolean, number[]][] = [
  [false, [-1.015625, -3.046875, 0, -2.015625, -0.671875, -0.15625, -0.46875, 0, 0.46875, 0.15625, 0.671875, 2.015625, 0, 3.046875, 1.015625]],
  [true, [-4, 0, 0, 0, -2.6666667461395264, -0.6666666865348816, 0, 0, 0, 0.6666666269302368, 2.6666667461395264, 0, 0, 0, 4]],
];
