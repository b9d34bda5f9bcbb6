// Test wrapper around src/check/gradcheck.ts: fails with the first element that disagrees.
import type { Engine } from '../../src/engine.js';
import { gradCheck, type GradCheckInput, type GradCheckOptions } from '../../src/check/gradcheck.js';
import type { Tensor } from '../../src/tensor/tensor.js';

export type { GradCheckInput };

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
  options: GradCheckOptions = {},
): Promise<void> {
  const r = await gradCheck(engine, inputs, gpuOp, reference64, options);
  if (r.outputSize !== r.expectedOutputSize) throw new Error(`${label}: output has ${r.outputSize} elements, the reference ${r.expectedOutputSize}`);
  if (r.missingGradients.length) throw new Error(`${label}: inputs ${r.missingGradients.join(', ')} got no gradient`);
  const f = r.firstFailure;
  if (f) {
    throw new Error(`${label}: d/d input${f.input}[${f.index}] is ${f.gpu}, finite differences give ${f.finiteDifference} (|err| ${Math.abs(f.gpu - f.finiteDifference).toExponential(2)}, scale ${f.scale.toExponential(2)})`);
  }
}
