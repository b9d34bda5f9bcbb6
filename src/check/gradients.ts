// Gradient checks for `autosam check`: each backward rule on the GPU against float64 finite
// differences of the op's definition.
import { BINARY_OPS, UNARY_OPS, type BinaryOpName, type UnaryOpName } from '../kernels/elementwise.js';
import { erf64 } from '../kernels/matmul.js';
import { binary, unary } from '../ops/elementwise.js';
import { matmul } from '../ops/matmul.js';
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
): KernelCheck {
  return {
    kernel: `grad/${kernel}`,
    case: caseName,
    tolerance,
    async run(engine: Engine) {
      const r = await gradCheck(engine, inputs(), gpuOp, reference64, { atol: ATOL, rtol: RTOL });
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
];
