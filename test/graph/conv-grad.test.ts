// conv2d / convTranspose2d backward: against float64 finite differences of the ops' definitions (small
// shapes), and the GPU kernels against the float64 TypeScript backward references (shapes that leave
// partial register tiles and reduction tails).
import { describe, expect, it } from 'vitest';
import { compareScaled } from '../../src/check/conv.js';
import {
  conv2dBackwardReference, conv2dInputGradGeometry, convTranspose2dBackwardReference, convTranspose2dInputGradGeometry,
  type ConvGradients,
} from '../../src/kernels/conv-backward.js';
import { conv2dOutputShape, type Conv2dGeometry, type Pair } from '../../src/kernels/conv2d.js';
import { convTranspose2dKernel, convTranspose2dOutputShape, type ConvTranspose2dGeometry } from '../../src/kernels/conv-transpose2d.js';
import { backward } from '../../src/graph/autograd.js';
import { conv2d, convTranspose2d } from '../../src/ops/conv.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { randomArray, testEngine } from '../helpers/engine.js';
import { checkGradients } from '../helpers/gradcheck.js';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

// ---- float64 forward definitions, differentiated numerically by checkGradients --------------------

function conv2d64(g: Conv2dGeometry, hasBias: boolean) {
  return ([x, w, bias]: Float64Array[]) => {
    const [batch, cin, h, wd] = g.xShape, [cout, cinG, kh, kw] = g.wShape, [, , ho, wo] = conv2dOutputShape(g);
    const coutG = cout / g.groups;
    const y = new Float64Array(batch * cout * ho * wo);
    for (let b = 0; b < batch; b++) for (let co = 0; co < cout; co++) for (let oy = 0; oy < ho; oy++) for (let ox = 0; ox < wo; ox++) {
      let s = hasBias ? bias[co] : 0;
      for (let c = 0; c < cinG; c++) for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
        const iy = oy * g.stride[0] - g.padding[0] + ky * g.dilation[0], ix = ox * g.stride[1] - g.padding[1] + kx * g.dilation[1];
        if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
        s += x[((b * cin + Math.floor(co / coutG) * cinG + c) * h + iy) * wd + ix] * w[((co * cinG + c) * kh + ky) * kw + kx];
      }
      y[((b * cout + co) * ho + oy) * wo + ox] = s;
    }
    return y;
  };
}

function convTranspose2d64(g: ConvTranspose2dGeometry, hasBias: boolean) {
  return ([x, w, bias]: Float64Array[]) => {
    const [batch, cin, h, wd] = g.xShape, [, coutG, kh, kw] = g.wShape, [, cout, ho, wo] = convTranspose2dOutputShape(g);
    const cinG = cin / g.groups;
    const y = new Float64Array(batch * cout * ho * wo);
    if (hasBias) for (let i = 0; i < y.length; i++) y[i] = bias[Math.floor(i / (ho * wo)) % cout];
    for (let b = 0; b < batch; b++) for (let ci = 0; ci < cin; ci++) for (let iy = 0; iy < h; iy++) for (let ix = 0; ix < wd; ix++) {
      for (let c = 0; c < coutG; c++) for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
        const oy = iy * g.stride[0] - g.padding[0] + ky * g.dilation[0], ox = ix * g.stride[1] - g.padding[1] + kx * g.dilation[1];
        if (oy < 0 || oy >= ho || ox < 0 || ox >= wo) continue;
        const co = Math.floor(ci / cinG) * coutG + c;
        y[((b * cout + co) * ho + oy) * wo + ox] += x[((b * cin + ci) * h + iy) * wd + ix] * w[((ci * coutG + c) * kh + ky) * kw + kx];
      }
    }
    return y;
  };
}

// ---- cases --------------------------------------------------------------------------------------

interface ConvCase {
  label: string;
  xShape: number[];
  wShape: number[];
  bias: boolean;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  outputPadding?: Pair;
}

const conv2dGeometry = (c: ConvCase): Conv2dGeometry => ({
  xShape: c.xShape, wShape: c.wShape, stride: c.stride ?? [1, 1], padding: c.padding ?? [0, 0], dilation: c.dilation ?? [1, 1], groups: c.groups ?? 1,
});
const convTranspose2dGeometry = (c: ConvCase): ConvTranspose2dGeometry => ({ ...conv2dGeometry(c), outputPadding: c.outputPadding ?? [0, 0] });
const options = (c: ConvCase) => ({ stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups, outputPadding: c.outputPadding });

// A few hundred elements per input: finite differences cost 2 float64 forwards per element.
const CONV2D_FD_CASES: ConvCase[] = [
  { label: '3x3 s1 p1, bias', xShape: [2, 3, 5, 6], wShape: [4, 3, 3, 3], bias: true, padding: [1, 1] },
  { label: '3x3 s1 p1, no bias', xShape: [2, 3, 5, 6], wShape: [4, 3, 3, 3], bias: false, padding: [1, 1] },
  { label: '3x3 s2 p1 on odd sizes (7x9)', xShape: [1, 3, 7, 9], wShape: [4, 3, 3, 3], bias: true, stride: [2, 2], padding: [1, 1] },
  { label: '3x3 dilation 2 p2', xShape: [1, 2, 8, 7], wShape: [3, 2, 3, 3], bias: true, padding: [2, 2], dilation: [2, 2] },
  { label: '3x3 groups 2 p1', xShape: [2, 4, 5, 5], wShape: [6, 2, 3, 3], bias: true, padding: [1, 1], groups: 2 },
  { label: 'depthwise 3x3 p1', xShape: [2, 4, 6, 6], wShape: [4, 1, 3, 3], bias: true, padding: [1, 1], groups: 4 },
  { label: 'depthwise x2 multiplier, s2', xShape: [1, 3, 7, 7], wShape: [6, 1, 3, 3], bias: false, stride: [2, 2], padding: [1, 1], groups: 3 },
  { label: '1x1, bias', xShape: [2, 5, 4, 4], wShape: [3, 5, 1, 1], bias: true },
  { label: '1x1, no bias', xShape: [2, 5, 4, 4], wShape: [3, 5, 1, 1], bias: false },
  // Rows and columns no output reads (dx must be 0 there): 2x2 s2 on 5x7.
  { label: '2x2 s2 on 5x7 (unread last row/column)', xShape: [2, 3, 5, 7], wShape: [4, 3, 2, 2], bias: true, stride: [2, 2] },
  { label: '2x3 kernel, stride [2,1], padding [0,1], no bias', xShape: [1, 3, 6, 5], wShape: [4, 3, 2, 3], bias: false, stride: [2, 1], padding: [0, 1] },
];

const CONV_TRANSPOSE2D_FD_CASES: ConvCase[] = [
  { label: 'k2 s2 with bias (SAM upscaling)', xShape: [2, 4, 3, 3], wShape: [4, 3, 2, 2], bias: true, stride: [2, 2] },
  { label: 'k2 s2, no bias', xShape: [1, 4, 3, 4], wShape: [4, 3, 2, 2], bias: false, stride: [2, 2] },
  { label: 'k3x2 s3x2, batch 3, odd channels (tiled weight gradient, unaligned matmul)', xShape: [3, 5, 3, 2], wShape: [5, 3, 3, 2], bias: true, stride: [3, 2] },
  { label: 'k3 s2 p1 outputPadding 1', xShape: [1, 4, 4, 5], wShape: [4, 3, 3, 3], bias: true, stride: [2, 2], padding: [1, 1], outputPadding: [1, 1] },
  { label: 'k3 s2 p1 op1 groups 2', xShape: [1, 4, 3, 4], wShape: [4, 2, 3, 3], bias: true, stride: [2, 2], padding: [1, 1], outputPadding: [1, 1], groups: 2 },
  { label: 'k3 s1 p1 depthwise (groups = Cin)', xShape: [2, 3, 4, 4], wShape: [3, 1, 3, 3], bias: true, padding: [1, 1], groups: 3 },
  // outputPadding >= stride (allowed since dilation > stride): dx comes from a taller conv2d, cropped.
  { label: 'k3 s1 dilation 2 outputPadding 1 (cropped dx)', xShape: [1, 3, 4, 4], wShape: [3, 2, 3, 3], bias: true, dilation: [2, 2], outputPadding: [1, 1] },
];

// The op is linear in each input, so float64 central differences are exact up to ~1e-10; what is left
// is the GPU's float32 accumulation over at most ~150 terms of size <= 1. Measured on lavapipe: at most
// 1.3e-6 absolute, 1.7e-7 of max|grad|; the bound leaves about 100x of margin, while a wrong rule (a
// missed tap, a transposed weight, a dropped batch) is off by O(1) of max|grad|.
const FD_TOLERANCE = { atol: 1e-5, rtol: 2e-5 };

function inputsFor(c: ConvCase, biasChannels: number, seed: number) {
  return [
    { data: randomArray(numel(c.xShape), seed), shape: c.xShape },
    { data: randomArray(numel(c.wShape), seed + 1), shape: c.wShape },
    ...(c.bias ? [{ data: randomArray(biasChannels, seed + 2), shape: [biasChannels] }] : []),
  ];
}

describe('conv2d backward against float64 finite differences', () => {
  CONV2D_FD_CASES.forEach((c, k) => {
    it(c.label, async () => {
      const engine = await testEngine();
      await checkGradients(engine, c.label, inputsFor(c, c.wShape[0], 10 * k + 1),
        ([x, w, b]) => conv2d(x, w, c.bias ? b : null, options(c)), conv2d64(conv2dGeometry(c), c.bias), FD_TOLERANCE);
    });
  });
});

describe('convTranspose2d backward against float64 finite differences', () => {
  CONV_TRANSPOSE2D_FD_CASES.forEach((c, k) => {
    it(c.label, async () => {
      const engine = await testEngine();
      const cout = c.wShape[1] * (c.groups ?? 1);
      await checkGradients(engine, c.label, inputsFor(c, cout, 10 * k + 3),
        ([x, w, b]) => convTranspose2d(x, w, c.bias ? b : null, options(c)), convTranspose2d64(convTranspose2dGeometry(c), c.bias), FD_TOLERANCE);
    });
  });
});

// ---- GPU kernels against the TypeScript backward references ----------------------------------------

/** Runs the op forward + backward with upstream dy; returns [dx, dw, dbias?] read back. */
async function gpuGradients(c: ConvCase, kind: 'conv2d' | 'convTranspose2d', x: Float32Array, w: Float32Array, bias: Float32Array | null, dy: Float32Array) {
  const engine = await testEngine();
  return engine.scopeAsync(async () => {
    const ts = [engine.tensor(x, c.xShape), engine.tensor(w, c.wShape), ...(bias ? [engine.tensor(bias, [bias.length])] : [])];
    for (const t of ts) t.requiresGrad = true;
    const y = kind === 'conv2d' ? conv2d(ts[0], ts[1], ts[2] ?? null, options(c)) : convTranspose2d(ts[0], ts[1], ts[2] ?? null, options(c));
    expect(y.size).toBe(dy.length);
    backward(y, engine.tensor(dy, y.shape));
    const grads = [];
    for (const t of ts) {
      grads.push(await t.grad!.readFloat());
      t.grad!.dispose();
      t.grad = null;
    }
    return grads;
  });
}

/**
 * Tolerance: 1e-5 of each element's sum of |terms| (the reference run on |x|, |w|, |dy|), the scale
 * float32 accumulation error is proportional to (as src/check/conv.ts does for the forward).
 */
function expectGradients(actual: Float32Array[], ref: ConvGradients, scale: ConvGradients, hasBias: boolean, label: string) {
  const names = ['dx', 'dw', 'dbias'] as const;
  for (let i = 0; i < (hasBias ? 3 : 2); i++) {
    const cmp = compareScaled(actual[i], ref[names[i]], scale[names[i]]);
    expect(cmp.passed, `${label} ${names[i]}: max |err| ${cmp.maxAbsError.toExponential(2)}, max |ref| ${cmp.maxAbsExpected.toExponential(2)}`).toBe(true);
  }
}

const abs = (a: Float32Array) => a.map(Math.abs);

describe('backward kernels against the float64 TypeScript references (partial tiles, long reductions)', () => {
  const conv2dCases: ConvCase[] = [
    // 9 rows and 10 columns per group: partial 8x8 register tiles; K = 2 * 9 * 11 = 198 (not a multiple of 64 lanes).
    { label: 'conv2d 3x3 p1 groups 2, 20->18 channels, 9x11', xShape: [2, 20, 9, 11], wShape: [18, 10, 3, 3], bias: true, padding: [1, 1], groups: 2 },
    { label: 'conv2d 3x3 s2 p1, 16->24 channels, 15x13', xShape: [2, 16, 15, 13], wShape: [24, 16, 3, 3], bias: true, stride: [2, 2], padding: [1, 1] },
    { label: 'conv2d 1x1 32->12, 16x16', xShape: [1, 32, 16, 16], wShape: [12, 32, 1, 1], bias: true },
  ];
  conv2dCases.forEach((c, k) => {
    it(c.label, async () => {
      const g = conv2dGeometry(c);
      const x = randomArray(numel(c.xShape), 100 + k), w = randomArray(numel(c.wShape), 200 + k), b = randomArray(c.wShape[0], 300 + k);
      const dy = randomArray(numel(conv2dOutputShape(g)), 400 + k);
      const actual = await gpuGradients(c, 'conv2d', x, w, c.bias ? b : null, dy);
      expectGradients(actual, conv2dBackwardReference(x, w, dy, g), conv2dBackwardReference(abs(x), abs(w), abs(dy), g), c.bias, c.label);
    });
  });

  const transposeCases: ConvCase[] = [
    // SAM's upscaling shape, scaled down: 2x2 stride 2, dx on the non-overlapping conv2d path.
    { label: 'convTranspose2d k2 s2, 24->12 channels, 8x8', xShape: [2, 24, 8, 8], wShape: [24, 12, 2, 2], bias: true, stride: [2, 2] },
    { label: 'convTranspose2d k3 s2 p1 op1 groups 2, 18->20 channels, 7x6', xShape: [1, 18, 7, 6], wShape: [18, 10, 3, 3], bias: true, stride: [2, 2], padding: [1, 1], outputPadding: [1, 1], groups: 2 },
  ];
  transposeCases.forEach((c, k) => {
    it(c.label, async () => {
      const g = convTranspose2dGeometry(c);
      const cout = c.wShape[1] * g.groups;
      const x = randomArray(numel(c.xShape), 500 + k), w = randomArray(numel(c.wShape), 600 + k), b = randomArray(cout, 700 + k);
      const dy = randomArray(numel(convTranspose2dOutputShape(g)), 800 + k);
      const actual = await gpuGradients(c, 'convTranspose2d', x, w, c.bias ? b : null, dy);
      expectGradients(actual, convTranspose2dBackwardReference(x, w, dy, g), convTranspose2dBackwardReference(abs(x), abs(w), abs(dy), g), c.bias, c.label);
    });
  });
});

describe('geometry mappings of the input gradients', () => {
  it("conv2d's dx is a transposed conv whose output is exactly x's shape, output padding below the stride", () => {
    for (const c of [...CONV2D_FD_CASES]) {
      const g = conv2dGeometry(c);
      const t = conv2dInputGradGeometry(g);
      expect(convTranspose2dOutputShape(t), c.label).toEqual(c.xShape);
      for (let d = 0; d < 2; d++) expect(t.outputPadding[d]).toBeLessThan(g.stride[d]);
    }
    // A 2x2 stride-2 conv that reads every pixel: its dx runs on the non-overlapping transposed kernel.
    const g: Conv2dGeometry = { xShape: [1, 64, 64, 64], wShape: [256, 64, 2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], groups: 1 };
    expect(convTranspose2dKernel({ ...conv2dInputGradGeometry(g), dtype: 'f32', hasBias: false }).name).toBe('conv_transpose2d_nonoverlapping');
  });

  it("convTranspose2d's dx is a conv2d of dy, cropped only when outputPadding >= stride", () => {
    for (const c of CONV_TRANSPOSE2D_FD_CASES) {
      const g = convTranspose2dGeometry(c);
      const { geometry, crop } = convTranspose2dInputGradGeometry(g);
      const out = conv2dOutputShape(geometry);
      expect(crop, c.label).toBe(g.outputPadding.some((p, d) => p >= g.stride[d]));
      expect(out.slice(0, 2)).toEqual(c.xShape.slice(0, 2));
      if (!crop) expect(out).toEqual(c.xShape);
    }
  });
});

describe('which gradients are computed', () => {
  it('returns only the gradients that are required, and frees everything else', async () => {
    const engine = await testEngine();
    const c = CONV2D_FD_CASES[0];
    const before = engine.memory().liveTensors;
    await engine.scopeAsync(async () => {
      const x = engine.tensor(randomArray(numel(c.xShape), 1), c.xShape);
      const w = engine.tensor(randomArray(numel(c.wShape), 2), c.wShape);
      const b = engine.tensor(randomArray(c.wShape[0], 3), [c.wShape[0]]);
      w.requiresGrad = true; // x (an input image) and b (frozen) need none
      const y: Tensor = conv2d(x, w, b, options(c));
      backward(y, engine.fill(y.shape, 1));
      expect(x.grad).toBeNull();
      expect(b.grad).toBeNull();
      expect(w.grad!.shape).toEqual(c.wShape);
      w.grad!.dispose();
      w.grad = null;
    });
    expect(engine.memory().liveTensors).toBe(before);
  });

  it('takes an upstream gradient of any shape with the output\'s size (dbias sums it per channel)', async () => {
    const engine = await testEngine();
    const c = CONV_TRANSPOSE2D_FD_CASES[0];
    await engine.scopeAsync(async () => {
      const x = engine.tensor(randomArray(numel(c.xShape), 4), c.xShape);
      const w = engine.tensor(randomArray(numel(c.wShape), 5), c.wShape);
      const b = engine.tensor(randomArray(c.wShape[1], 6), [c.wShape[1]]);
      b.requiresGrad = true;
      const y = convTranspose2d(x, w, b, options(c)); // (2, 3, 6, 6)
      backward(y, engine.fill([y.size], 1)); // flat upstream of ones
      expect(await b.grad!.readFloat()).toEqual(new Float32Array([72, 72, 72])); // 2 * 6 * 6 per channel
      b.grad!.dispose();
      b.grad = null;
    });
  });
});
