// Tensor-level resampling: validate, allocate the output, dispatch; the backward beside the forward.
import { LimitError, ShapeError } from '../errors.js';
import { needsGrad, record } from '../graph/autograd.js';
import {
  resizeBackwardTableEntries, resizeBackwardUniforms, resizeBilinearBackwardKernel, resizeBilinearKernel, resizeTableVectors, resizeUniforms,
} from '../kernels/resize.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat, assertRank, shapeText } from './checks.js';

export interface ResizeOptions {
  /** PyTorch's align_corners (default false, as in F.interpolate). */
  alignCorners?: boolean;
}

/**
 * F.interpolate(x, size=(outH, outW), mode='bilinear', align_corners, antialias=False) on an
 * (N, C, H, W) float tensor. The source scale is computed from the sizes (in / out), as PyTorch does
 * when a size rather than a scale factor is given. Returns (N, C, outH, outW).
 */
export function resizeBilinear(x: Tensor, size: readonly [number, number], options: ResizeOptions = {}): Tensor {
  const op = 'resizeBilinear';
  assertFloat(op, x);
  assertRank(op, x, 4, 'input (N, C, H, W)');
  if (size.length !== 2 || !size.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ShapeError(`${op}: output size must be two positive integers [outH, outW], got [${size.join(', ')}] for input ${shapeText(x)}`);
  }
  const [N, C, H, W] = x.shape;
  if (H < 1 || W < 1) throw new ShapeError(`${op}: input ${shapeText(x)} has an empty spatial dimension`);
  const [outH, outW] = size;
  const alignCorners = options.alignCorners ?? false;
  const maxUniform = x.engine.device.limits.maxUniformBufferBindingSize;
  if (resizeTableVectors(outH, outW) * 16 > maxUniform) {
    throw new LimitError(`${op}: output size [${outH}, ${outW}] needs ${outH + outW} source coordinates, more than this adapter's ${maxUniform}-byte uniform buffers hold`);
  }
  // The backward's table holds a run of outputs and their weights per input row and column: refuse
  // now rather than mid-backward.
  const backwardTableBytes = Math.ceil(resizeBackwardTableEntries(x.shape, outH, outW) / 4) * 16;
  if (needsGrad(x) && backwardTableBytes > maxUniform) {
    throw new LimitError(`${op}: the backward of ${shapeText(x)} -> [${outH}, ${outW}] needs a ${backwardTableBytes}-byte table, more than this adapter's ${maxUniform}-byte uniform buffers hold`);
  }
  const y = x.engine.empty([N, C, outH, outW], x.dtype);
  if (y.size === 0) return y;
  if (H === outH && W === outW) {
    // PyTorch's weights are then exactly 1 and 0: the result is the input (for finite values).
    x.engine.runtime.copy(x.buffer, 0, y.buffer, 0, x.byteLength);
  } else {
    const spec = resizeBilinearKernel({ inShape: [N, C, H, W], outH, outW, dtype: x.dtype });
    x.engine.runtime.run(spec, [{ buffer: x.buffer }, { buffer: y.buffer, write: true }], resizeUniforms(x.shape, outH, outW, alignCorners));
  }
  return record(y, op, [x], (dy) => [resizeBilinearBackward(dy, [N, C, H, W], alignCorners)]);
}

/** dX (f32, inShape) for the gradient dy (f32, (N, C, outH, outW)) of resizeBilinear. */
function resizeBilinearBackward(dy: Tensor, inShape: [number, number, number, number], alignCorners: boolean): Tensor {
  const [, , outH, outW] = dy.shape;
  const dx = dy.engine.empty(inShape, 'f32');
  if (inShape[2] === outH && inShape[3] === outW) {
    // The identity's adjoint, as in the forward.
    dy.engine.runtime.copy(dy.buffer, 0, dx.buffer, 0, dy.byteLength);
  } else {
    dy.engine.runtime.run(resizeBilinearBackwardKernel({ inShape, outH, outW }), [{ buffer: dy.buffer }, { buffer: dx.buffer, write: true }],
      resizeBackwardUniforms(inShape, outH, outW, alignCorners));
  }
  return dx;
}
