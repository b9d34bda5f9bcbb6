import { describe, expect, it } from 'vitest';
import { LimitError, ShapeError } from '../src/errors.js';
import { bilinearSourceCoordinates, resizeBilinearReference } from '../src/kernels/resize.js';
import { resizeBilinear } from '../src/ops/resize.js';
import { expectClose, randomArray, testEngine } from './helpers/engine.js';
import { loadGoldenCases } from './golden.js';

// Against the reference: both compute the same f32 operations in the same order, and lavapipe neither
// fuses nor reorders them, so the results agree exactly here; 1e-6 leaves room for a GPU that
// contracts the weighted sums into fmas (an ulp or two on values in [-1, 1]).
const ATOL = 1e-6, RTOL = 1e-6;
// Against PyTorch: for outputs with outH + outW <= 128 PyTorch takes its channels-last path, which
// sums four products h_i * w_j * x instead of interpolating rows then columns: measured 2.4e-7
// (one ulp) on inputs in [-2, 2]; 1e-6 bounds it.
const GOLDEN_ATOL = 1e-6, GOLDEN_RTOL = 1e-6;

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

describe('resizeBilinear against the TypeScript reference', () => {
  const cases: [number[], [number, number]][] = [
    [[1, 3, 7, 9], [13, 5]], // up in H, down in W
    [[2, 2, 16, 16], [64, 64]], // 4x up (SAM's mask upsampling, scaled down)
    [[1, 1, 33, 31], [8, 9]], // odd downsampling
    [[1, 1, 1, 1], [3, 4]], // a single source pixel
    [[1, 2, 5, 6], [1, 1]], // a single output pixel
    [[3, 1, 4, 5], [4, 11]], // H kept, W resized
    [[1, 1, 10, 3], [7, 3]], // W kept, H resized
  ];
  for (const alignCorners of [false, true]) {
    it(`align_corners ${alignCorners}`, async () => {
      const engine = await testEngine();
      for (const [shape, out] of cases) {
        const x = randomArray(prod(shape), prod(shape) + 1);
        const y = resizeBilinear(engine.tensor(x, shape), out, { alignCorners });
        expect(y.shape).toEqual([shape[0], shape[1], ...out]);
        expectClose(await y.readFloat(), resizeBilinearReference(x, shape, out[0], out[1], alignCorners), ATOL, RTOL, `[${shape}] -> ${out}`);
      }
    });
  }

  it('covers outputs past 65535 workgroups (SAM-sized mask upsampling)', async () => {
    const engine = await testEngine();
    // (1, 17, 256, 256) -> 1024 x 1024: 17.8M outputs, more than 65535 workgroups of 256.
    const planes = 17, plane = 256 * 256, outPlane = 1024 * 1024;
    const x = randomArray(planes * plane, 5, -20, 20);
    const y = await resizeBilinear(engine.tensor(x, [1, planes, 256, 256]), [1024, 1024]).readFloat();
    for (const p of [0, planes - 1]) {
      const expected = resizeBilinearReference(x.subarray(p * plane, (p + 1) * plane), [1, 1, 256, 256], 1024, 1024, false);
      expectClose(y.subarray(p * outPlane, (p + 1) * outPlane), expected, ATOL, RTOL, `plane ${p}`);
    }
  });

  it('stores f16 results when given f16', async () => {
    const engine = await testEngine();
    if (!engine.hasF16) return;
    const shape = [1, 2, 6, 7];
    const x = randomArray(prod(shape), 3).map((v) => Math.round(v * 64) / 64); // exact in f16
    const y = resizeBilinear(engine.tensor(x, shape, 'f16'), [9, 4]);
    expect(y.dtype).toBe('f16');
    // Inputs are exact in f16, so only the final rounding to f16 differs: half an ulp at |y| < 1.
    expectClose(await y.readFloat(), resizeBilinearReference(x, shape, 9, 4, false), 2.5e-4, 0, 'f16');
  });
});

describe('resizeBilinear follows PyTorch', () => {
  it('matches F.interpolate goldens', async () => {
    const engine = await testEngine();
    const cases = loadGoldenCases('resize');
    expect(cases.length).toBeGreaterThanOrEqual(6);
    for (const c of cases) {
      const { x } = c.inputs;
      const y = resizeBilinear(engine.tensor(x.data as Float32Array, x.shape), [c.params.outH as number, c.params.outW as number], {
        alignCorners: c.params.align_corners as boolean,
      });
      expect(y.shape).toEqual(c.outputs.out.shape);
      expectClose(await y.readFloat(), c.outputs.out.data, GOLDEN_ATOL, GOLDEN_RTOL, c.name);
    }
  });

  it('resizing to the same size is the identity', async () => {
    const engine = await testEngine();
    const shape = [2, 3, 5, 7];
    const x = randomArray(prod(shape), 11, -100, 100);
    for (const alignCorners of [false, true]) {
      const y = await resizeBilinear(engine.tensor(x, shape), [5, 7], { alignCorners }).readFloat();
      expect(Array.from(y)).toEqual(Array.from(x));
      // The reference takes PyTorch's weights (1 and 0) rather than a copy, and agrees.
      expect(Array.from(resizeBilinearReference(x, shape, 5, 7, alignCorners))).toEqual(Array.from(x));
    }
  });

  it('computes source coordinates like PyTorch', () => {
    // Upsampling 2 -> 4 without align_corners: (o + 0.5) / 2 - 0.5, the first clamped to 0.
    expect(Array.from(bilinearSourceCoordinates(2, 4, false))).toEqual([0, 0.25, 0.75, 1.25]);
    // align_corners maps corners onto corners: o * (in - 1) / (out - 1).
    expect(Array.from(bilinearSourceCoordinates(3, 5, true))).toEqual([0, 0.5, 1, 1.5, 2]);
    // One output pixel with align_corners reads the first input pixel (scale 0).
    expect(Array.from(bilinearSourceCoordinates(7, 1, true))).toEqual([0]);
    // 9 -> 5: scale = f32(1.8); PyTorch's fused scale * 4.5 - 0.5 rounds to f32(7.6), where rounding
    // the product first would give 7.5999994.
    expect(bilinearSourceCoordinates(9, 5, false)[4]).toBe(Math.fround(7.6));
  });

  it('replicates the border row and column when upsampling', async () => {
    const engine = await testEngine();
    // 2x2 -> 4x4: corners 1 2 / 3 4; the outer half pixels repeat the border (no extrapolation).
    const y = await resizeBilinear(engine.tensor(new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2]), [4, 4]).readFloat();
    expect(Array.from(y)).toEqual([1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
  });
});

describe('resizeBilinear rejects bad input', () => {
  it('raises ShapeError naming the op and the shape', async () => {
    const engine = await testEngine();
    const x = engine.zeros([1, 1, 4, 4]);
    expect(() => resizeBilinear(engine.zeros([1, 4, 4]), [8, 8])).toThrow(ShapeError);
    expect(() => resizeBilinear(engine.zeros([1, 4, 4]), [8, 8])).toThrow('resizeBilinear: input (N, C, H, W) must have rank 4, got [1, 4, 4]');
    expect(() => resizeBilinear(x, [7.5, 8])).toThrow('resizeBilinear: output size must be two positive integers [outH, outW], got [7.5, 8] for input [1, 1, 4, 4]');
    expect(() => resizeBilinear(x, [0, 8])).toThrow(ShapeError);
    expect(() => resizeBilinear(x, [8] as unknown as [number, number])).toThrow(ShapeError);
    expect(() => resizeBilinear(engine.zeros([1, 1, 4, 4], 'i32'), [8, 8])).toThrow('resizeBilinear: expects a float tensor, got i32 [1, 1, 4, 4]');
    expect(() => resizeBilinear(engine.zeros([1, 1, 0, 4]), [8, 8])).toThrow(ShapeError);
  });

  it('raises LimitError when the coordinate table outgrows a uniform buffer', async () => {
    const engine = await testEngine();
    const tooWide = engine.device.limits.maxUniformBufferBindingSize / 4;
    expect(() => resizeBilinear(engine.zeros([1, 1, 2, 2]), [1, tooWide])).toThrow(LimitError);
  });
});
