// Cases of the conv-as-GEMM path (src/ops/conv-gemm.ts) against the float64 references, shared by
// test/conv-gemm.test.ts (lavapipe, 8-lane subgroup matmul) and test/swiftshader.test.ts (4 lanes).
import { expect } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { conv2dBackwardReference } from '../../src/kernels/conv-backward.js';
import { conv2dOutputShape, conv2dReference, type Conv2dGeometry } from '../../src/kernels/conv2d.js';
import { convTranspose2dOutputShape, convTranspose2dReference, type ConvTranspose2dGeometry } from '../../src/kernels/conv-transpose2d.js';
import { conv2dGemm, conv2dInputGradGemm, conv2dWeightGradGemm, convTranspose2dTiledGemm } from '../../src/ops/conv-gemm.js';
import { expectClose, randomArray } from './engine.js';

// Sums of at most a few hundred O(1) products in f32: within 1e-5 of float64.
const ATOL = 3e-5, RTOL = 1e-5;

export function convGeometry(xShape: number[], wShape: number[], stride = 1, padding = 1, dilation = 1): Conv2dGeometry {
  return { xShape, wShape, stride: [stride, stride], padding: [padding, padding], dilation: [dilation, dilation], groups: 1 };
}

/** Odd channel counts (K not a multiple of 4), batch 2, stride and dilation: [xShape, wShape, stride, padding, dilation]. */
export const CONV_GEMM_SHAPES: [number[], number[], number, number, number][] = [
  [[2, 3, 9, 12], [17, 3, 3, 3], 1, 1, 1],
  [[1, 18, 10, 10], [20, 18, 3, 3], 1, 2, 2],
  [[2, 5, 12, 8], [19, 5, 3, 3], 2, 1, 1],
  [[1, 17, 8, 8], [16, 17, 1, 1], 1, 0, 1],
];

/** Forward, dw and (stride 1) dx through the GEMM path, with the default scratch and one small enough to chunk every image. */
export async function expectConvGemmCase(engine: Engine, g: Conv2dGeometry): Promise<void> {
  const { xShape, wShape } = g;
  const yShape = conv2dOutputShape(g);
  const x = randomArray(xShape.reduce((a, b) => a * b), 1), w = randomArray(wShape.reduce((a, b) => a * b), 2), bias = randomArray(wShape[0], 3);
  const dy = randomArray(yShape.reduce((a, b) => a * b), 4);
  const tx = engine.tensor(x, xShape), tw = engine.tensor(w, wShape), tdy = engine.tensor(dy, yShape);
  const ref = conv2dBackwardReference(x, w, dy, g);
  for (const scratch of [64 << 20, 64 * 4 * 8]) {
    const y = engine.empty(yShape);
    conv2dGemm(tx, tw, engine.tensor(bias, [wShape[0]]), g, y, scratch);
    expectClose(await y.readFloat(), conv2dReference(x, w, bias, g), ATOL, RTOL, `forward, scratch ${scratch}`);
    expectClose(await conv2dWeightGradGemm(tx, tdy, g, scratch).readFloat(), ref.dw, ATOL, RTOL, `dw, scratch ${scratch}`);
    if (g.stride[0] === 1) {
      expectClose(await conv2dInputGradGemm(tdy, tw, g, scratch).readFloat(), ref.dx, ATOL, RTOL, `dx, scratch ${scratch}`);
    }
  }
}

/** convTranspose2d with kernel = stride: [xShape, wShape (Cin, Cout, kh, kw)]. */
export const TILED_TRANSPOSE_SHAPES: [number[], number[]][] = [[[2, 8, 5, 4], [8, 3, 2, 2]], [[1, 4, 6, 6], [4, 4, 3, 3]]];

/** The tiled transposed convolution against its reference; false where the engine has no GEMM path for it. */
export async function expectTiledTransposeCase(engine: Engine, xShape: number[], wShape: number[]): Promise<boolean> {
  const g: ConvTranspose2dGeometry = { xShape, wShape, stride: [wShape[2], wShape[3]], padding: [0, 0], outputPadding: [0, 0], dilation: [1, 1], groups: 1 };
  const x = randomArray(xShape.reduce((a, b) => a * b), 5), w = randomArray(wShape.reduce((a, b) => a * b), 6), bias = randomArray(wShape[1], 7);
  const y = convTranspose2dTiledGemm(engine.tensor(x, xShape), engine.tensor(w, wShape), engine.tensor(bias, [wShape[1]]));
  if (!y) return false;
  expect(y.shape).toEqual(convTranspose2dOutputShape(g));
  expectClose(await y.readFloat(), convTranspose2dReference(x, w, bias, g), ATOL, RTOL);
  return true;
}
