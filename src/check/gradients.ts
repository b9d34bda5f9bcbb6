// Gradient checks for `autosam check`: each backward rule on the GPU against float64 finite
// differences of the op's definition.
import { BINARY_OPS, UNARY_OPS, type BinaryOpName, type UnaryOpName } from '../kernels/elementwise.js';
import { erf64 } from '../kernels/matmul.js';
import { binary, unary } from '../ops/elementwise.js';
import { matmul } from '../ops/matmul.js';
import { concat, pad, permute, slice } from '../ops/copy.js';
import { layerNorm, layerNorm2d } from '../ops/layernorm.js';
import { reduce } from '../ops/reduce.js';
import { resizeBilinear } from '../ops/resize.js';
import { softmax } from '../ops/softmax.js';
import { conv2d, convTranspose2d } from '../ops/conv.js';
import { conv2dReference } from '../kernels/conv2d.js';
import { convTranspose2dReference } from '../kernels/conv-transpose2d.js';
import { concatReference, padReference, permuteReference } from '../kernels/copy.js';
import { layerNorm2dReference, layerNormReference } from '../kernels/layernorm.js';
import { reduceReference } from '../kernels/reduce.js';
import { resizeBilinearReference } from '../kernels/resize.js';
import { softmaxReference } from '../kernels/softmax.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Engine } from '../engine.js';
import { seededUniform } from './compare.js';
import { gradCheck, type GradCheckInput } from './gradcheck.js';
import type { KernelCheck } from './registry.js';

const ATOL = 1e-4, RTOL = 1e-3;
const tolerance = `finite differences (h 1e-3): atol ${ATOL} + rtol ${RTOL} of max|grad|`;

/** A KernelCheck from a gradient check (the Comparison fields carry the gradient error). */
export function gradientCheck(
  kernel: string, caseName: string, inputs: () => GradCheckInput[], gpuOp: (ts: Tensor[]) => Tensor, reference64: (xs: Float64Array[]) => ArrayLike<number>,
  h = 1e-3,
): KernelCheck {
  return {
    kernel: `grad/${kernel}`,
    case: caseName,
    tolerance: h === 1e-3 ? tolerance : tolerance.replace('h 1e-3', `h ${h}`),
    async run(engine: Engine) {
      const r = await gradCheck(engine, inputs(), gpuOp, reference64, { atol: ATOL, rtol: RTOL, h });
      return { maxAbsError: r.maxAbsError, maxAbsExpected: r.maxAbsExpected, passed: r.passed };
    },
  };
}

const UNARY64: Record<UnaryOpName, (x: number, p: number[]) => number> = {
  ...(Object.fromEntries(Object.entries(UNARY_OPS).map(([k, v]) => [k, v.reference])) as Record<UnaryOpName, (x: number, p: number[]) => number>),
  gelu: (x) => 0.5 * x * (1 + erf64(x / Math.SQRT2)),
};

function unaryInput(op: UnaryOpName): Float32Array {
  const positive = op === 'log' || op === 'sqrt' || op === 'rsqrt';
  // Away from the kinks of relu/abs (0) and clamp (-0.5, 2) by more than the step.
  return seededUniform(24, 5, positive ? 0.2 : -3, 3).map((v) => (Math.abs(v) < 0.01 || Math.abs(v + 0.5) < 0.01 || Math.abs(v - 2) < 0.01 ? v + 0.05 : v));
}

export const gradientChecks: KernelCheck[] = [
  ...(Object.keys(UNARY_OPS) as UnaryOpName[]).map((op) => {
    const params = op === 'clamp' ? [-0.5, 2] : [];
    return gradientCheck(op, '[24]', () => [{ data: unaryInput(op), shape: [24] }], ([x]) => unary(op, x, params), ([x]) => x.map((v) => UNARY64[op](v, params)));
  }),
  ...(Object.keys(BINARY_OPS) as BinaryOpName[]).map((op) =>
    gradientCheck(op, '[2,3,4] with [3,1]', () => [
      { data: seededUniform(24, 1, op === 'pow' ? 0.5 : -2, 2), shape: [2, 3, 4] },
      { data: seededUniform(3, 2, op === 'div' || op === 'pow' ? 0.5 : -2, 2), shape: [3, 1] },
    ], ([a, b]) => binary(op, a, b), ([a, b]) => {
      const out = new Float64Array(24);
      for (let i = 0; i < 24; i++) out[i] = BINARY_OPS[op].reference(a[i], b[Math.floor(i / 4) % 3]);
      return out;
    }),
  ),
  gradientCheck('matmul', '2x[5x7]@[6x7]ᵀ +bias gelu', () => [
    { data: seededUniform(70, 3), shape: [2, 5, 7] },
    { data: seededUniform(42, 4), shape: [6, 7] },
    { data: seededUniform(6, 5), shape: [6] },
  ], ([a, b, bias]) => matmul(a, b, { transB: true, bias, activation: 'gelu' }), ([a, b, bias]) => {
    const out = new Float64Array(60);
    for (let bt = 0; bt < 2; bt++) for (let m = 0; m < 5; m++) for (let n = 0; n < 6; n++) {
      let s = bias[n];
      for (let k = 0; k < 7; k++) s += a[bt * 35 + m * 7 + k] * b[n * 7 + k];
      out[bt * 30 + m * 6 + n] = 0.5 * s * (1 + erf64(s / Math.SQRT2));
    }
    return out;
  }),
  // The references below store f32 results; linear ops use a larger step, where finite differences
  // are exact and f32 rounding matters less.
  gradientCheck('softmax', '[3,13]', () => [{ data: seededUniform(39, 6, -3, 3), shape: [3, 13] }], ([x]) => softmax(x, -1), ([x]) => softmaxReference(x, 13)),
  gradientCheck('layerNorm', '[4,9] with weight and bias', () => [
    { data: seededUniform(36, 7, -2, 2), shape: [4, 9] }, { data: seededUniform(9, 8, 0.5, 1.5), shape: [9] }, { data: seededUniform(9, 9), shape: [9] },
  ], ([x, w, b]) => layerNorm(x, w, b, 1e-5), ([x, w, b]) => layerNormReference(x, 9, w, b, 1e-5).out),
  gradientCheck('layerNorm2d', '[2,5,3,2] with weight and bias', () => [
    { data: seededUniform(60, 10, -2, 2), shape: [2, 5, 3, 2] }, { data: seededUniform(5, 11, 0.5, 1.5), shape: [5] }, { data: seededUniform(5, 12), shape: [5] },
  ], ([x, w, b]) => layerNorm2d(x, w, b, 1e-6), ([x, w, b]) => layerNorm2dReference(x, [2, 5, 3, 2], w, b, 1e-6).out),
  ...(['sum', 'mean', 'max'] as const).map((op) =>
    gradientCheck(op, '[3,7,4] axis 1', () => [{ data: seededUniform(84, 13, -2, 2), shape: [3, 7, 4] }], ([x]) => reduce(op, x, 1), ([x]) => reduceReference(op, x, [3, 7, 4], 1), op === 'max' ? 1e-3 : 1e-2)),
  ...[false, true].map((alignCorners) =>
    gradientCheck('resizeBilinear', `[1,2,5,7] -> 8x4 alignCorners=${alignCorners}`, () => [{ data: seededUniform(70, 14), shape: [1, 2, 5, 7] }],
      ([x]) => resizeBilinear(x, [8, 4], { alignCorners }), ([x]) => resizeBilinearReference(x, [1, 2, 5, 7], 8, 4, alignCorners), 1e-2)),
  gradientCheck('permute', '[2,3,4] by [2,0,1]', () => [{ data: seededUniform(24, 15), shape: [2, 3, 4] }],
    ([x]) => permute(x, [2, 0, 1]), ([x]) => permuteReference(Float32Array.from(x), [2, 3, 4], [2, 0, 1]), 1e-2),
  gradientCheck('slice', '[5,6][1:4, 0:6:2]', () => [{ data: seededUniform(30, 16), shape: [5, 6] }],
    ([x]) => slice(x, [1, 0], [4, 6], [1, 2]), ([x]) => Float64Array.from({ length: 9 }, (_, i) => x[(1 + Math.floor(i / 3)) * 6 + 2 * (i % 3)]), 1e-2),
  gradientCheck('pad', '[2,3] by [[1,0],[2,1]] value 0.5', () => [{ data: seededUniform(6, 17), shape: [2, 3] }],
    ([x]) => pad(x, [[1, 0], [2, 1]], 0.5), ([x]) => padReference(Float32Array.from(x), [2, 3], [[1, 0], [2, 1]], 0.5), 1e-2),
  gradientCheck('concat', '[2,1,3] [2,2,3] axis 1', () => [{ data: seededUniform(6, 18), shape: [2, 1, 3] }, { data: seededUniform(12, 19), shape: [2, 2, 3] }],
    ([a, b]) => concat([a, b], 1), ([a, b]) => concatReference([Float32Array.from(a), Float32Array.from(b)], [[2, 1, 3], [2, 2, 3]], 1), 1e-2),
  gradientCheck('conv2d', '[1,4,5,6] * [6,2,3,3] stride 2 pad 1 groups 2 +bias', () => [
    { data: seededUniform(120, 20), shape: [1, 4, 5, 6] }, { data: seededUniform(108, 21), shape: [6, 2, 3, 3] }, { data: seededUniform(6, 22), shape: [6] },
  ], ([x, w, b]) => conv2d(x, w, b, { stride: 2, padding: 1, groups: 2 }),
  ([x, w, b]) => conv2dReference(x, w, b, { xShape: [1, 4, 5, 6], wShape: [6, 2, 3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 2 }), 1e-2),
  gradientCheck('convTranspose2d', '[1,3,3,4] * [3,2,3,3] stride 2 pad 1 output_padding 1 +bias', () => [
    { data: seededUniform(36, 23), shape: [1, 3, 3, 4] }, { data: seededUniform(54, 24), shape: [3, 2, 3, 3] }, { data: seededUniform(2, 25), shape: [2] },
  ], ([x, w, b]) => convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }),
  ([x, w, b]) => convTranspose2dReference(x, w, b, { xShape: [1, 3, 3, 4], wShape: [3, 2, 3, 3], stride: [2, 2], padding: [1, 1], outputPadding: [1, 1], dilation: [1, 1], groups: 1 }), 1e-2),
];
