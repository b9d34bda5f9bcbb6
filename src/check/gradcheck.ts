// Gradient checks against float64 central finite differences, shared by `autosam check` and the tests.
//
// For an op y = f(x1..xn) and a fixed random upstream gradient u, the loss L = sum(u * f(x)) has
// dL/dxi = (backward of the op)(u). The reference side differentiates a float64 implementation of f
// numerically, so it tests the GPU backward rule against the op's definition, not against itself.
import type { Engine } from '../engine.js';
import { backward } from '../graph/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { seededUniform } from './compare.js';

export interface GradCheckInput {
  data: Float32Array;
  shape: number[];
  /** Leave out of the check (e.g. integer indices, or an input without a gradient rule). */
  noGrad?: boolean;
  dtype?: 'f32' | 'i32';
}

export interface GradCheckOptions {
  atol?: number;
  rtol?: number;
  /** Finite-difference step. */
  h?: number;
  seed?: number;
}

export interface GradCheckFailure {
  input: number;
  index: number;
  gpu: number;
  finiteDifference: number;
  scale: number;
}

export interface GradCheckResult {
  /** Largest |gpu - fd| over all checked inputs. */
  maxAbsError: number;
  /** Largest |fd| (the scale the relative tolerance applies to). */
  maxAbsExpected: number;
  passed: boolean;
  firstFailure: GradCheckFailure | null;
  /** Inputs that should have had a gradient and got none. */
  missingGradients: number[];
  outputSize: number;
  expectedOutputSize: number;
}

export async function gradCheck(
  engine: Engine,
  inputs: GradCheckInput[],
  gpuOp: (ts: Tensor[]) => Tensor,
  reference64: (xs: Float64Array[]) => ArrayLike<number>,
  { atol = 1e-4, rtol = 1e-3, h = 1e-3, seed = 7 }: GradCheckOptions = {},
): Promise<GradCheckResult> {
  const xs64 = inputs.map((i) => Float64Array.from(i.data));
  const y0 = reference64(xs64);
  const upstream = seededUniform(y0.length, seed, -1, 1);
  const loss = (xs: Float64Array[]) => {
    const y = reference64(xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += upstream[i] * y[i];
    return s;
  };
  return engine.scopeAsync(async () => {
    const ts = inputs.map((i) => {
      const t = i.dtype === 'i32' ? engine.tensor(Int32Array.from(i.data), i.shape) : engine.tensor(i.data, i.shape);
      t.requiresGrad = !i.noGrad && i.dtype !== 'i32';
      return t;
    });
    const y = gpuOp(ts);
    const result: GradCheckResult = {
      maxAbsError: 0, maxAbsExpected: 0, passed: true, firstFailure: null, missingGradients: [], outputSize: y.size, expectedOutputSize: y0.length,
    };
    if (y.size !== y0.length) return { ...result, passed: false, maxAbsError: Infinity };
    backward(y, engine.tensor(upstream, y.shape));
    for (let k = 0; k < inputs.length; k++) {
      if (!ts[k].requiresGrad) continue;
      const grad = ts[k].grad;
      if (!grad) {
        result.missingGradients.push(k);
        result.passed = false;
        continue;
      }
      const gpu = await grad.readFloat();
      grad.dispose();
      ts[k].grad = null;
      const fd = new Float64Array(xs64[k].length);
      let scale = 0;
      for (let i = 0; i < fd.length; i++) {
        const keep = xs64[k][i];
        xs64[k][i] = keep + h;
        const up = loss(xs64);
        xs64[k][i] = keep - h;
        const down = loss(xs64);
        xs64[k][i] = keep;
        fd[i] = (up - down) / (2 * h);
        scale = Math.max(scale, Math.abs(fd[i]));
      }
      result.maxAbsExpected = Math.max(result.maxAbsExpected, scale);
      for (let i = 0; i < fd.length; i++) {
        const err = Math.abs(gpu[i] - fd[i]);
        if (!(err <= result.maxAbsError)) result.maxAbsError = Number.isNaN(err) ? Infinity : err;
        if (!(err <= atol + rtol * scale) && result.passed) {
          result.passed = false;
          result.firstFailure = { input: k, index: i, gpu: gpu[i], finiteDifference: fd[i], scale };
        }
      }
    }
    return result;
  });
}
