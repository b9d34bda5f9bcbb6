// Gradient checks against float64 central finite differences.
//
// For an op y = f(x1..xn) and a fixed random upstream gradient u, the loss L = sum(u * f(x)) has
// dL/dxi = (backward of the op)(u). The reference side differentiates a float64 implementation of f
// numerically, so it tests the GPU backward rule against the op's definition, not against itself.
import { expect } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { backward } from '../../src/graph/autograd.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { randomArray } from './engine.js';

export interface GradCheckInput {
  data: Float32Array;
  shape: number[];
  /** Leave out of the check (e.g. integer indices, or an input without a gradient rule). */
  noGrad?: boolean;
}

/**
 * gpuOp builds the op on GPU tensors; reference64 computes the same op in float64 on plain arrays.
 * Asserts |gpu - fd| <= atol + rtol * max|fd| for every input's gradient.
 */
export async function checkGradients(
  engine: Engine,
  label: string,
  inputs: GradCheckInput[],
  gpuOp: (ts: Tensor[]) => Tensor,
  reference64: (xs: Float64Array[]) => ArrayLike<number>,
  { atol = 1e-4, rtol = 1e-3, h = 1e-3, seed = 7 }: { atol?: number; rtol?: number; h?: number; seed?: number } = {},
): Promise<void> {
  const xs64 = inputs.map((i) => Float64Array.from(i.data));
  const y0 = reference64(xs64);
  const upstream = randomArray(y0.length, seed, -1, 1);
  const loss = (xs: Float64Array[]) => {
    const y = reference64(xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += upstream[i] * y[i];
    return s;
  };
  await engine.scopeAsync(async () => {
    const ts = inputs.map((i) => {
      const t = engine.tensor(i.data, i.shape);
      t.requiresGrad = !i.noGrad;
      return t;
    });
    const y = gpuOp(ts);
    expect(y.size, `${label}: output size`).toBe(y0.length);
    backward(y, engine.tensor(upstream, y.shape));
    for (let k = 0; k < inputs.length; k++) {
      if (inputs[k].noGrad) continue;
      const grad = ts[k].grad;
      expect(grad, `${label}: input ${k} got no gradient`).not.toBeNull();
      const gpu = await grad!.readFloat();
      const fd = new Float64Array(xs64[k].length);
      for (let i = 0; i < fd.length; i++) {
        const keep = xs64[k][i];
        xs64[k][i] = keep + h;
        const up = loss(xs64);
        xs64[k][i] = keep - h;
        const down = loss(xs64);
        xs64[k][i] = keep;
        fd[i] = (up - down) / (2 * h);
      }
      let scale = 0;
      for (const v of fd) scale = Math.max(scale, Math.abs(v));
      for (let i = 0; i < fd.length; i++) {
        const err = Math.abs(gpu[i] - fd[i]);
        if (!(err <= atol + rtol * scale)) {
          throw new Error(`${label}: d/d input${k}[${i}] is ${gpu[i]}, finite differences give ${fd[i]} (|err| ${err.toExponential(2)}, scale ${scale.toExponential(2)})`);
        }
      }
      grad!.dispose();
      ts[k].grad = null;
    }
  });
}
