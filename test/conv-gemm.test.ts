// im2col and the conv-as-GEMM path (src/ops/conv-gemm.ts) against the float64 TypeScript references,
// at odd channel counts (K not a multiple of 4), batch 2, stride/dilation, and with the scratch
// buffer forced small so that every image is split into several pixel chunks (cases in
// test/helpers/conv-gemm-cases.ts, shared with the 4-lane run in test/swiftshader.test.ts).
import { describe, expect, it } from 'vitest';
import { im2colKernel, im2colReference, type Im2colParams } from '../src/kernels/im2col.js';
import { convGemmEligible } from '../src/ops/conv-gemm.js';
import { subgroupMatmulLanes } from '../src/ops/matmul.js';
import { CONV_GEMM_SHAPES, convGeometry as geometry, expectConvGemmCase, expectTiledTransposeCase, TILED_TRANSPOSE_SHAPES } from './helpers/conv-gemm-cases.js';
import { randomArray, testEngine } from './helpers/engine.js';

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
    const on = subgroupMatmulLanes(engine) !== null;
    expect(convGemmEligible(engine, geometry([1, 8, 8, 8], [32, 8, 3, 3]), 'f32')).toBe(on);
    expect(convGemmEligible(engine, geometry([1, 8, 8, 8], [16, 8, 3, 3]), 'f32')).toBe(false);
    expect(convGemmEligible(engine, geometry([1, 8, 8, 8], [32, 8, 3, 3]), 'f16')).toBe(false);
  });

  for (const [xShape, wShape, stride, padding, dilation] of CONV_GEMM_SHAPES) {
    it(`x [${xShape}], w [${wShape}], stride ${stride}, padding ${padding}, dilation ${dilation}`, async (ctx) => {
      const engine = await testEngine();
      // The functions take any channel count (eligibility only says where they pay); they need the subgroup matmul.
      if (subgroupMatmulLanes(engine) === null) ctx.skip();
      await expectConvGemmCase(engine, geometry(xShape, wShape, stride, padding, dilation));
    });
  }
});

describe('convTranspose2d (kernel = stride) as a batched matmul + depth-to-space', () => {
  for (const [xShape, wShape] of TILED_TRANSPOSE_SHAPES) {
    it(`x [${xShape}], w [${wShape}], stride ${wShape[2]}, with bias`, async (ctx) => {
      if (!(await expectTiledTransposeCase(await testEngine(), xShape, wShape))) ctx.skip();
    });
  }
});
