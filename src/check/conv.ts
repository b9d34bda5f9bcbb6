// conv2d and convTranspose2d on random inputs against their float64 TypeScript references.
import type { Engine } from '../engine.js';
import { conv2dReference, type Pair } from '../kernels/conv2d.js';
import { convTranspose2dReference } from '../kernels/conv-transpose2d.js';
import { conv2d, convTranspose2d, type Conv2dOptions, type ConvTranspose2dOptions } from '../ops/conv.js';
import { numel } from '../tensor/dtype.js';
import { seededUniform, type Comparison } from './compare.js';
import type { KernelCheck } from './registry.js';

/**
 * Tolerance: |gpu - reference| <= CONV_RTOL * (sum over the output's terms of |x w|, plus |bias|).
 * A float32 sum of K terms is off by at most about K eps times that sum and typically sqrt(K) eps
 * (eps = 6e-8), so 1e-5 holds for the K (= Cin / groups * kh * kw) of a few thousand these convs have,
 * while any wrong tap or channel shows up at the scale of a whole term.
 */
export const CONV_RTOL = 1e-5;
export const CONV_TOLERANCE = `${CONV_RTOL} x (sum of |products| + |bias|)`;

export interface Conv2dCase {
  x: number[];
  w: number[];
  options: Conv2dOptions;
  bias?: boolean;
}

export interface ConvTranspose2dCase {
  x: number[];
  w: number[];
  options: ConvTranspose2dOptions;
  bias?: boolean;
}

/** Odd sizes, channel counts that are not multiples of the 8-row tile, every option, and SAM's geometries scaled down. */
export const CONV2D_CASES: Conv2dCase[] = [
  { x: [2, 5, 9, 11], w: [7, 5, 3, 3], options: { padding: 1 } },
  { x: [1, 3, 17, 15], w: [6, 3, 3, 3], options: { stride: 2, padding: 1 } }, // TinyViT stem
  { x: [1, 3, 9, 11], w: [5, 3, 3, 3], options: { stride: 2 } },
  { x: [1, 4, 12, 13], w: [5, 4, 3, 3], options: { padding: 2, dilation: 2 } },
  { x: [1, 6, 11, 10], w: [8, 3, 3, 3], options: { stride: 2, padding: 1, groups: 2 } },
  { x: [2, 16, 13, 12], w: [16, 1, 3, 3], options: { padding: 1, groups: 16 } }, // depthwise
  { x: [1, 12, 15, 14], w: [12, 1, 3, 3], options: { stride: 2, padding: 1, groups: 12 }, bias: false },
  { x: [1, 4, 9, 9], w: [8, 1, 5, 5], options: { padding: 2, groups: 4 } }, // depthwise with channel multiplier 2
  { x: [2, 7, 40, 41], w: [7, 1, 3, 3], options: { padding: 1, groups: 7 } }, // depthwise, partial channel and pixel tiles
  { x: [1, 40, 9, 7], w: [24, 40, 1, 1], options: {}, bias: false }, // pointwise
  { x: [1, 3, 64, 48], w: [20, 3, 16, 16], options: { stride: 16 } }, // patch embedding
  { x: [1, 3, 8, 13], w: [4, 3, 3, 5], options: { stride: [1, 2], padding: [1, 2] } },
  { x: [3, 8, 40, 40], w: [9, 8, 3, 3], options: { padding: 1 } }, // several pixel tiles spanning batch items
  { x: [1, 70, 20, 20], w: [33, 70, 3, 3], options: { padding: [0, 1], dilation: [2, 1] } },
];

export const CONV_TRANSPOSE2D_CASES: ConvTranspose2dCase[] = [
  { x: [2, 8, 5, 7], w: [8, 4, 2, 2], options: { stride: 2 } }, // SAM's upscaling, non-overlapping path
  { x: [1, 32, 16, 16], w: [32, 16, 2, 2], options: { stride: 2 }, bias: false },
  { x: [1, 6, 4, 5], w: [6, 2, 2, 2], options: { stride: 2, groups: 2 } },
  { x: [1, 5, 4, 3], w: [5, 3, 3, 3], options: { stride: 3 } },
  { x: [1, 4, 6, 5], w: [4, 3, 3, 3], options: { stride: 2, padding: 1, outputPadding: 1 } },
  { x: [1, 5, 7, 6], w: [5, 6, 4, 4], options: { stride: 2, padding: 1 } },
  { x: [2, 3, 9, 8], w: [3, 4, 3, 3], options: { padding: 1 } },
  { x: [1, 4, 5, 6], w: [4, 3, 3, 3], options: { stride: 2, dilation: 2, groups: 2 } },
  { x: [1, 3, 5, 4], w: [3, 10, 3, 2], options: { stride: [3, 1], padding: [1, 0], outputPadding: [2, 0] }, bias: false },
];

const abs = (a: Float32Array) => a.map(Math.abs);

/** Passes when every element is within `rtol * scale[i]` of the reference. */
export function compareScaled(actual: ArrayLike<number>, expected: ArrayLike<number>, scale: ArrayLike<number>, rtol = CONV_RTOL): Comparison {
  if (actual.length !== expected.length) return { maxAbsError: Infinity, maxAbsExpected: 0, passed: false };
  let maxAbsError = 0, maxAbsExpected = 0, passed = true;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= rtol * scale[i])) passed = false;
    maxAbsError = Math.max(maxAbsError, Number.isNaN(d) ? Infinity : d);
    maxAbsExpected = Math.max(maxAbsExpected, Math.abs(expected[i]));
  }
  return { maxAbsError, maxAbsExpected, passed };
}

export function caseText(c: Conv2dCase | ConvTranspose2dCase): string {
  const opts = Object.entries(c.options).map(([k, v]) => `${k} ${Array.isArray(v) ? `[${(v as Pair).join(',')}]` : v}`);
  return [`x [${c.x}]`, `w [${c.w}]`, ...opts, ...(c.bias === false ? ['no bias'] : [])].join(', ');
}

/** Random operands for a case, the GPU result, the reference, and the reference's |products| scale. */
export async function runConvCase(engine: Engine, kind: 'conv2d' | 'convTranspose2d', c: Conv2dCase | ConvTranspose2dCase, seed = 1) {
  const x = seededUniform(numel(c.x), seed, -1, 1);
  const w = seededUniform(numel(c.w), seed + 1, -1, 1);
  const coutCount = kind === 'conv2d' ? c.w[0] : c.w[1] * (c.options.groups ?? 1);
  const bias = c.bias === false ? null : seededUniform(coutCount, seed + 2, -0.5, 0.5);
  const xt = engine.tensor(x, c.x), wt = engine.tensor(w, c.w), bt = bias ? engine.tensor(bias, [coutCount]) : null;
  const y = kind === 'conv2d' ? conv2d(xt, wt, bt, c.options) : convTranspose2d(xt, wt, bt, c.options as ConvTranspose2dOptions);
  const geometry = { xShape: c.x, wShape: c.w, ...normalized(c.options) };
  const reference = kind === 'conv2d' ? conv2dReference : convTranspose2dReference;
  return {
    shape: y.shape,
    actual: await y.readFloat(),
    expected: reference(x, w, bias, geometry),
    scale: reference(abs(x), abs(w), bias && abs(bias), geometry),
  };
}

function normalized(o: ConvTranspose2dOptions) {
  const p = (v: number | Pair | undefined, d: number): Pair => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);
  return {
    stride: p(o.stride, 1), padding: p(o.padding, 0), dilation: p(o.dilation, 1),
    outputPadding: p(o.outputPadding, 0), groups: o.groups ?? 1,
  };
}

export const convChecks: KernelCheck[] = [
  ...CONV2D_CASES.map((c): KernelCheck => ({
    kernel: 'conv/conv2d', case: caseText(c), tolerance: CONV_TOLERANCE,
    async run(engine) {
      const r = await runConvCase(engine, 'conv2d', c);
      return compareScaled(r.actual, r.expected, r.scale);
    },
  })),
  ...CONV_TRANSPOSE2D_CASES.map((c): KernelCheck => ({
    kernel: 'conv/convTranspose2d', case: caseText(c), tolerance: CONV_TOLERANCE,
    async run(engine) {
      const r = await runConvCase(engine, 'convTranspose2d', c);
      return compareScaled(r.actual, r.expected, r.scale);
    },
  })),
];
