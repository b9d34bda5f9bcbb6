// Tensor-level softmax. Only the last axis has a kernel: softmax over another axis throws, and the
// caller permutes that axis last first (attention, the only user in SAM, takes it over the last axis).
import { ShapeError } from '../errors.js';
import { rowLayoutFor } from '../kernels/reduce.js';
import { softmaxKernel } from '../kernels/softmax.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat, shapeText } from './checks.js';
import { axisOf } from './reduce.js';

export function softmax(x: Tensor, axis = -1): Tensor {
  assertFloat('softmax', x);
  const a = axisOf('softmax', x, axis);
  if (x.rank > 0 && a !== x.rank - 1) {
    throw new ShapeError(`softmax: only the last axis has a kernel, got axis ${axis} of ${shapeText(x)}; permute that axis last first`);
  }
  const length = x.shape[x.rank - 1] ?? 1; // a scalar is one row of one
  const y = x.engine.empty(x.shape, x.dtype);
  if (y.size > 0) {
    const plan = { layout: rowLayoutFor(x.engine.report.isSoftware) };
    x.engine.runtime.run(softmaxKernel({ rows: x.size / length, length, dtype: x.dtype, plan }), [
      { buffer: x.buffer }, { buffer: y.buffer, write: true },
    ]);
  }
  return y;
}
