// im2col and the conv-as-GEMM path (src/ops/conv-gemm.ts) against the float64 TypeScript references,
// at odd channel counts (K not a multiple of 4), batch 2, stride/dilation, and with the scratch
// buffer forced small so that every image is split into several pixel chunks.
import { describe, expect, it } from 'vitest';
import { conv2dBackwardReference } from '../src/kernels/conv-backward.js';
import { conv2dOutputShape, conv2dReference, type Conv2dGeometry } from '../src/kernels/conv2d.js';
import { convTranspose2dOutputShape, convTranspose2dReference, type ConvTranspose2dGeometry } from '../src/kernels/conv-transpose2d.js';
import { im2colKernel, im2colReference, type Im2colParams } from '../src/kernels/im2col.js';
import { conv2dGemm, conv2dInputGradGemm, conv2dWeightGradGemm, convGemmEligible, convTranspose2dTiledGemm } from '../src/ops/conv-gemm.js';
import { subgroupMatmulOn } from '../src/ops/matmul.js';
import { expectClose, randomArray, testEngine } from './helpers/engine.js';

// Sums of at most a few hundred O(1) products in f32: within 1e-5 of float64.
const ATOL = 3e-5, RTOL = 1e-5;

function geometry(xShape: number[], wShape: number[], stride = 1, padding = 1, dilation = 1): Conv2dGeometry {
  return { xShape, wShape, stride: [stride, stride], padding: [padding, padding], dilation: [dilation, dilation], groups: 1 };
}

describe('im2col against its reference', () => {
  const cases: Im2colParams[] = [
    { channels: 3, height: 7, width: 9, outWidth: 9, kernel: [3, 3], stride: [1, 1], offset: [-1, -1], step: [1, 1], rows: 28, columns: 20, firstPixel: 8, srcOffset: 0 },
    { channels: 2, height: 10, width: 6, outWidth: 3, kernel: [2, 3], stride: [2, 2], offset: [0, -1], step: [2, 1], rows: 12, columns: 12, firstPixel: 0, srcOffset: 120 },
    { channels: 5, height: 6, width: 6, outWidth: 6, kernel: [3, 3], stride: [1, 1], offset: [1, 1], step: [-1, -1], rows: 48, columns: 36, firstPixel: 0, srcOffset: 0 },
  ];
  for (const p of cases) {
    it(`${p.channels}x${p.height}x${p.width}, kernel ${p.kernel}, stride ${p.stride}, offset ${p.offset}, step ${p.step}`, async () => {
      const engine = await testEngine();
      const src = randomArray(p.srcOffset + p.channels * p.height * p.width, p.rows);
      const col = engine.empty([p.rows, p.columns]);
      const spec = im2colKernel(p);
      engine.runtime.run(spec, [{ buffer: engine.tensor(src, [src.length]).buffer }, { buffer: col.buffer, write: true }], spec.uniforms);
      expect(Array.from(await col.readFloat())).toEqual(Array.from(im2colReference(src, p)));
    });
  }
});

describe('conv2d as im2col + subgroup matmul', () => {
  it('is chosen only from 32 channels, for f32 without groups', async () => {
    const engine = await testEngine();
    const on = subgroupMatmulOn(engine);
    expect(convGemmEligible(engine, geometry([1, 8, 8, 8], [32, 8, 3, 3]), 'f32')).toBe(on);
    expect(convGemmEligible(engine, geometry([1, 8, 8, 8], [16, 8, 3, 3]), 'f32')).toBe(false);
    expect(convGemmEligible(engine, geometry([1, 8, 8, 8], [32, 8, 3, 3]), 'f16')).toBe(false);
  });

  const shapes: [number[], number[], number, number, number][] = [
    [[2, 3, 9, 12], [17, 3, 3, 3], 1, 1, 1],
    [[1, 18, 10, 10], [20, 18, 3, 3], 1, 2, 2],
    [[2, 5, 12, 8], [19, 5, 3, 3], 2, 1, 1],
    [[1, 17, 8, 8], [16, 17, 1, 1], 1, 0, 1],
  ];
  for (const [xShape, wShape, stride, padding, dilation] of shapes) {
    const g = geometry(xShape, wShape, stride, padding, dilation);
    it(`x [${xShape}], w [${wShape}], stride ${stride}, padding ${padding}, dilation ${dilation}`, async (ctx) => {
      const engine = await testEngine();
      // The functions take any channel count (eligibility only says where they pay); they need the subgroup matmul.
      if (!subgroupMatmulOn(engine)) ctx.skip();
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
    });
  }
});

describe('convTranspose2d (kernel = stride) as a batched matmul + depth-to-space', () => {
  for (const [xShape, wShape] of [[[2, 8, 5, 4], [8, 3, 2, 2]], [[1, 4, 6, 6], [4, 4, 3, 3]]] as [number[], number[]][]) {
    it(`x [${xShape}], w [${wShape}], stride ${wShape[2]}, with bias`, async (ctx) => {
      const engine = await testEngine();
      const g: ConvTranspose2dGeometry = { xShape, wShape, stride: [wShape[2], wShape[3]], padding: [0, 0], outputPadding: [0, 0], dilation: [1, 1], groups: 1 };
      const x = randomArray(xShape.reduce((a, b) => a * b), 5), w = randomArray(wShape.reduce((a, b) => a * b), 6), bias = randomArray(wShape[1], 7);
      const y = convTranspose2dTiledGemm(engine.tensor(x, xShape), engine.tensor(w, wShape), engine.tensor(bias, [wShape[1]]));
      if (!y) ctx.skip();
      expect(y!.shape).toEqual(convTranspose2dOutputShape(g));
      expectClose(await y!.readFloat(), convTranspose2dReference(x, w, bias, g), ATOL, RTOL);
    });
  }
});
