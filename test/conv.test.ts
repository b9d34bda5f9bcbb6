import { describe, expect, it } from 'vitest';
import { compareScaled, CONV2D_CASES, CONV_RTOL, CONV_TRANSPOSE2D_CASES, caseText, runConvCase } from '../src/check/conv.js';
import { ShapeError, UsageError } from '../src/errors.js';
import { conv2dKernel, conv2dReference, type Conv2dGeometry } from '../src/kernels/conv2d.js';
import { convTranspose2dKernel, convTranspose2dReference, type ConvTranspose2dGeometry } from '../src/kernels/conv-transpose2d.js';
import { conv2d, convTranspose2d } from '../src/ops/conv.js';
import { loadGoldenCases, type GoldenCase } from './golden.js';
import { randomArray, testEngine } from './helpers/engine.js';

// Tolerance (CONV_RTOL = 1e-5): relative to each output's sum of |x w| (+ |bias|), the scale a float32
// accumulation error is proportional to; a relative tolerance on the output itself would fail wherever
// terms cancel, and an absolute one would not scale with K. See src/check/conv.ts.

/** Fails with the worst element, in units of the tolerance. */
function expectWithinScale(actual: ArrayLike<number>, expected: ArrayLike<number>, scale: ArrayLike<number>, label: string): void {
  const cmp = compareScaled(actual, expected, scale);
  if (!cmp.passed) {
    let worst = 0, ratio = 0;
    for (let i = 0; i < actual.length; i++) {
      const r = Math.abs(actual[i] - expected[i]) / (CONV_RTOL * scale[i]);
      if (!(r <= ratio)) { ratio = r; worst = i; }
    }
    throw new Error(`${label}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (${ratio.toFixed(1)}x the tolerance)`);
  }
}

const abs = (a: Float32Array) => a.map(Math.abs);

describe('conv2d against the TypeScript reference', () => {
  for (const c of CONV2D_CASES) {
    it(caseText(c), async () => {
      const engine = await testEngine();
      const r = await runConvCase(engine, 'conv2d', c);
      expectWithinScale(r.actual, r.expected, r.scale, caseText(c));
    });
  }
});

describe('convTranspose2d against the TypeScript reference', () => {
  for (const c of CONV_TRANSPOSE2D_CASES) {
    it(caseText(c), async () => {
      const engine = await testEngine();
      const r = await runConvCase(engine, 'convTranspose2d', c);
      expectWithinScale(r.actual, r.expected, r.scale, caseText(c));
    });
  }

  it('uses the non-overlapping fast path exactly when kernel == stride, no padding, dilation 1', () => {
    const g = (o: Partial<ConvTranspose2dGeometry>): ConvTranspose2dGeometry & { dtype: 'f32'; hasBias: boolean } => ({
      xShape: [1, 256, 64, 64], wShape: [256, 64, 2, 2], stride: [2, 2], padding: [0, 0], outputPadding: [0, 0], dilation: [1, 1], groups: 1,
      dtype: 'f32', hasBias: true, ...o,
    });
    expect(convTranspose2dKernel(g({})).name).toBe('conv_transpose2d_nonoverlapping');
    expect(convTranspose2dKernel(g({ padding: [1, 1] })).name).toBe('conv_transpose2d');
    expect(convTranspose2dKernel(g({ stride: [2, 1] })).name).toBe('conv_transpose2d');
  });
});

/** The reference restricted to output channels [from, to): the weight's rows for those channels. */
function conv2dChannelSlice(x: Float32Array, w: Float32Array, b: Float32Array, g: Conv2dGeometry, from: number, to: number) {
  const per = w.length / g.wShape[0];
  const sub = { ...g, wShape: [to - from, ...g.wShape.slice(1)], groups: 1 };
  const ws = w.subarray(from * per, to * per), bs = b.subarray(from, to);
  return { expected: conv2dReference(x, ws, bs, sub), scale: conv2dReference(abs(x), abs(ws), abs(bs), sub) };
}

/** Output channels [from, to) of a full-size GPU result laid out (1, Cout, Ho, Wo). */
const channels = (y: Float32Array, plane: number, from: number, to: number) => y.subarray(from * plane, to * plane);

describe('SAM-sized convolutions (first and last output channels against the reference)', () => {
  const samShapes: [string, Conv2dGeometry][] = [
    ['patch embedding 16x16/16, 3 -> 768 at 1024x1024', { xShape: [1, 3, 1024, 1024], wShape: [768, 3, 16, 16], stride: [16, 16], padding: [0, 0], dilation: [1, 1], groups: 1 }],
    ['neck 3x3 p1, 256 -> 256 at 64x64', { xShape: [1, 256, 64, 64], wShape: [256, 256, 3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 }],
  ];
  for (const [label, g] of samShapes) {
    it(label, async () => {
      const engine = await testEngine();
      const cout = g.wShape[0];
      const x = randomArray(g.xShape.reduce((a, b) => a * b), 11), w = randomArray(g.wShape.reduce((a, b) => a * b), 12), b = randomArray(cout, 13);
      const y = conv2d(engine.tensor(x, g.xShape), engine.tensor(w, g.wShape), engine.tensor(b, [cout]), { stride: g.stride, padding: g.padding });
      expect(y.shape).toEqual([1, cout, 64, 64]);
      const out = await y.readFloat();
      for (const [from, to] of [[0, 3], [cout - 3, cout]]) {
        const r = conv2dChannelSlice(x, w, b, g, from, to);
        expectWithinScale(channels(out, 64 * 64, from, to), r.expected, r.scale, `${label} channels ${from}..${to}`);
      }
    });
  }

  it('mask decoder upscaling 2x2/2, 256 -> 64 at 64x64', async () => {
    const engine = await testEngine();
    const g: ConvTranspose2dGeometry = { xShape: [1, 256, 64, 64], wShape: [256, 64, 2, 2], stride: [2, 2], padding: [0, 0], outputPadding: [0, 0], dilation: [1, 1], groups: 1 };
    const x = randomArray(256 * 64 * 64, 21), w = randomArray(256 * 64 * 4, 22), b = randomArray(64, 23);
    const out = await convTranspose2d(engine.tensor(x, g.xShape), engine.tensor(w, g.wShape), engine.tensor(b, [64]), { stride: 2 }).readFloat();
    // Output channels 60..63 only: the weight's (Cin, 4 of Cout, 2, 2) slice.
    const ws = new Float32Array(256 * 4 * 4);
    for (let ci = 0; ci < 256; ci++) ws.set(w.subarray((ci * 64 + 60) * 4, (ci * 64 + 64) * 4), ci * 16);
    const sub = { ...g, wShape: [256, 4, 2, 2] };
    const bs = b.subarray(60, 64);
    expectWithinScale(channels(out, 128 * 128, 60, 64), convTranspose2dReference(x, ws, bs, sub), convTranspose2dReference(abs(x), abs(ws), abs(bs), sub), 'upscaling');
  });
});

describe('f16 storage', () => {
  it('conv2d and convTranspose2d accumulate in f32 and round once', async () => {
    const engine = await testEngine();
    if (!engine.hasF16) return;
    const x = randomArray(2 * 6 * 7 * 9, 31), w = randomArray(8 * 6 * 9, 32);
    const g: Conv2dGeometry = { xShape: [2, 6, 7, 9], wShape: [8, 6, 3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
    // The reference sees the f16-rounded operands, so only the output rounding (2^-11 relative) remains.
    const xh = await engine.tensor(x, g.xShape, 'f16').readFloat(), wh = await engine.tensor(w, g.wShape, 'f16').readFloat();
    const y = await conv2d(engine.tensor(x, g.xShape, 'f16'), engine.tensor(w, g.wShape, 'f16'), null, { padding: 1 }).readFloat();
    const expected = conv2dReference(xh, wh, null, g), scale = conv2dReference(abs(xh), abs(wh), null, g);
    for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - expected[i])).toBeLessThanOrEqual(Math.abs(expected[i]) / 2048 + 1e-5 * scale[i]);
    const t = convTranspose2d(engine.tensor(x.subarray(0, 6 * 7 * 9), [1, 6, 7, 9], 'f16'), engine.tensor(w.subarray(0, 6 * 4 * 4), [6, 4, 2, 2], 'f16'), null, { stride: 2 });
    expect(t.shape).toEqual([1, 4, 14, 18]);
    expect(t.dtype).toBe('f16');
  });
});

describe('conv ops against PyTorch goldens', () => {
  const pair = (v: unknown) => v as [number, number];
  const check = async (c: GoldenCase, y: Float32Array, reference: typeof conv2dReference, g: Conv2dGeometry) => {
    const { x, w, b } = c.inputs;
    const scale = reference(abs(x.data as Float32Array), abs(w.data as Float32Array), b ? abs(b.data as Float32Array) : null, g as never);
    expectWithinScale(y, c.outputs.out.data, scale, c.name);
  };

  it('conv2d', async () => {
    const engine = await testEngine();
    const cases = loadGoldenCases('conv2d');
    expect(cases.length).toBeGreaterThanOrEqual(10);
    for (const c of cases) {
      const { x, w, b } = c.inputs;
      const opts = { stride: pair(c.params.stride), padding: pair(c.params.padding), dilation: pair(c.params.dilation), groups: c.params.groups as number };
      const y = conv2d(engine.tensor(x.data as Float32Array, x.shape), engine.tensor(w.data as Float32Array, w.shape), b ? engine.tensor(b.data as Float32Array, b.shape) : null, opts);
      expect(y.shape, c.name).toEqual(c.outputs.out.shape);
      await check(c, await y.readFloat(), conv2dReference, { xShape: x.shape, wShape: w.shape, ...opts });
    }
  });

  it('conv_transpose2d', async () => {
    const engine = await testEngine();
    const cases = loadGoldenCases('conv_transpose2d');
    expect(cases.length).toBeGreaterThanOrEqual(5);
    for (const c of cases) {
      const { x, w, b } = c.inputs;
      const opts = {
        stride: pair(c.params.stride), padding: pair(c.params.padding), outputPadding: pair(c.params.output_padding),
        dilation: pair(c.params.dilation), groups: c.params.groups as number,
      };
      const y = convTranspose2d(engine.tensor(x.data as Float32Array, x.shape), engine.tensor(w.data as Float32Array, w.shape), b ? engine.tensor(b.data as Float32Array, b.shape) : null, opts);
      expect(y.shape, c.name).toEqual(c.outputs.out.shape);
      await check(c, await y.readFloat(), convTranspose2dReference as unknown as typeof conv2dReference, { xShape: x.shape, wShape: w.shape, ...opts } as Conv2dGeometry);
    }
  });
});

describe('bad input raises ShapeError naming the op and the shapes', () => {
  it('conv2d', async () => {
    const engine = await testEngine();
    const x = engine.zeros([2, 5, 10, 9]);
    expect(() => conv2d(x, engine.zeros([6, 4, 3, 3]), null)).toThrow(ShapeError);
    expect(() => conv2d(x, engine.zeros([6, 4, 3, 3]), null)).toThrow('conv2d: input has 5 channels but weight expects 4 with groups 1 (input [2, 5, 10, 9], weight [6, 4, 3, 3])');
    expect(() => conv2d(x, engine.zeros([6, 5, 3, 3]), null, { groups: 2 })).toThrow('conv2d: groups 2 must divide the 5 input and 6 output channels (input [2, 5, 10, 9], weight [6, 5, 3, 3])');
    expect(() => conv2d(engine.zeros([1, 4, 8, 8]), engine.zeros([5, 2, 3, 3]), null, { groups: 2 })).toThrow('groups 2 must divide the 4 input and 5 output channels');
    expect(() => conv2d(engine.zeros([1, 2, 3, 3]), engine.zeros([4, 2, 5, 5]), null)).toThrow(
      'conv2d: the kernel spans 5x5 (dilation [1, 1]) but the padded input is 3x3 (padding [0, 0]), so the output would be -1x-1 (input [1, 2, 3, 3], weight [4, 2, 5, 5])');
    expect(() => conv2d(engine.zeros([1, 2, 3, 3]), engine.zeros([4, 2, 3, 3]), null, { dilation: 2 })).toThrow(ShapeError);
    expect(() => conv2d(x, engine.zeros([6, 5, 3, 3]), engine.zeros([5]))).toThrow('conv2d: bias must have shape [6], got [5]');
    expect(() => conv2d(engine.zeros([5, 10, 9]), engine.zeros([6, 5, 3, 3]), null)).toThrow('conv2d: input must have rank 4, got [5, 10, 9]');
    expect(() => conv2d(x, engine.zeros([6, 5, 3, 3]), null, { stride: 0 })).toThrow(UsageError);
    expect(() => conv2d(x, engine.zeros([6, 5, 3, 3]), null, { padding: [1, -1] })).toThrow(UsageError);
  });

  it('convTranspose2d', async () => {
    const engine = await testEngine();
    const x = engine.zeros([1, 4, 6, 6]);
    expect(() => convTranspose2d(x, engine.zeros([3, 2, 2, 2]), null, { stride: 2 })).toThrow(
      'convTranspose2d: input has 4 channels but weight expects 3 with groups 1 (input [1, 4, 6, 6], weight [3, 2, 2, 2])');
    expect(() => convTranspose2d(x, engine.zeros([4, 2, 2, 2]), null, { groups: 3 })).toThrow('convTranspose2d: groups 3 must divide the 4 input and 6 output channels');
    expect(() => convTranspose2d(x, engine.zeros([4, 2, 2, 2]), null, { padding: 4 })).toThrow(ShapeError);
    expect(() => convTranspose2d(x, engine.zeros([4, 2, 2, 2]), null, { stride: 2, outputPadding: 2 })).toThrow(UsageError);
    expect(() => convTranspose2d(x, engine.zeros([4, 2, 2, 2]), engine.zeros([4]))).toThrow('convTranspose2d: bias must have shape [2], got [4]');
  });
});

describe('kernel specs', () => {
  it('bake the geometry into the WGSL, so different shapes never share a pipeline', () => {
    const g = (h: number): Conv2dGeometry & { dtype: 'f32'; hasBias: boolean } => ({
      xShape: [1, 8, h, 16], wShape: [8, 8, 3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1, dtype: 'f32', hasBias: false,
    });
    expect(conv2dKernel(g(16)).wgsl).not.toBe(conv2dKernel(g(17)).wgsl);
    expect(conv2dKernel(g(16)).wgsl).not.toContain('var<workgroup>');
  });

  it('route one-input-channel-per-group convolutions to the depthwise kernel', () => {
    const g = (wShape: number[], groups: number): Conv2dGeometry & { dtype: 'f32'; hasBias: boolean } => ({
      xShape: [1, 8, 16, 16], wShape, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups, dtype: 'f32', hasBias: true,
    });
    expect(conv2dKernel(g([8, 1, 3, 3], 8)).name).toBe('conv2d_depthwise');
    expect(conv2dKernel(g([16, 1, 3, 3], 8)).name).toBe('conv2d_depthwise');
    expect(conv2dKernel(g([8, 2, 3, 3], 4)).name).toBe('conv2d');
  });
});
