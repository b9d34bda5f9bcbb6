// Tensor-level resampling: validate, allocate the output, dispatch.
import { LimitError, ShapeError } from '../errors.js';
import { resizeBilinearKernel, resizeTableVectors, resizeUniforms } from '../kernels/resize.js';
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
  const y = x.engine.empty([N, C, outH, outW], x.dtype);
  if (y.size === 0) return y;
  if (H === outH && W === outW) {
    // PyTorch's weights are then exactly 1 and 0: the result is the input (for finite values).
    x.engine.runtime.copy(x.buffer, 0, y.buffer, 0, x.byteLength);
    return y;
  }
  const spec = resizeBilinearKernel({ inShape: [N, C, H, W], outH, outW, dtype: x.dtype });
  x.engine.runtime.run(spec, [{ buffer: x.buffer }, { buffer: y.buffer, write: true }], resizeUniforms(x.shape, outH, outW, alignCorners));
  return y;
}
