// Tensor-level softmax. Only the last axis has a kernel: softmax over another axis throws, and the
// caller permutes that axis last first (attention, the only user in SAM, takes it over the last axis).
import { ShapeError } from '../errors.js';
import { record } from '../graph/autograd.js';
import { rowLayoutFor } from '../kernels/reduce.js';
import { softmaxBackwardKernel, softmaxKernel } from '../kernels/softmax.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat, shapeText } from './checks.js';
import { axisOf } from './reduce.js';
import { rowSubgroupLanes } from './row-subgroup.js';

export function softmax(x: Tensor, axis = -1): Tensor {
  assertFloat('softmax', x);
  const a = axisOf('softmax', x, axis);
  if (x.rank > 0 && a !== x.rank - 1) {
    throw new ShapeError(`softmax: only the last axis has a kernel, got axis ${axis} of ${shapeText(x)}; permute that axis last first`);
  }
  const length = x.shape[x.rank - 1] ?? 1; // a scalar is one row of one
  const rows = x.size / Math.max(length, 1);
  const plan = { layout: rowLayoutFor(x.engine.report.isSoftware) };
  const y = x.engine.empty(x.shape, x.dtype);
  if (y.size > 0) {
    const subgroupLanes = rowSubgroupLanes(x.engine.report);
    x.engine.runtime.run(softmaxKernel({ rows, length, dtype: x.dtype, plan, subgroupLanes }), [{ buffer: x.buffer }, { buffer: y.buffer, write: true }]);
  }
  // The backward needs only the output: dx = y * (dy - sum(dy * y)) per row.
  return record(y, 'softmax', [x], (dy) => {
    const dx = x.engine.empty(x.shape, 'f32');
    if (dx.size > 0) {
      x.engine.runtime.run(softmaxBackwardKernel({ rows, length, dtype: y.dtype, plan }), [
        { buffer: y.buffer }, { buffer: dy.buffer }, { buffer: dx.buffer, write: true },
      ]);
    }
    return [dx];
  });
}
