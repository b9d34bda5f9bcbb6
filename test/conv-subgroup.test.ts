// The direct subgroup convolution (src/kernels/conv-subgroup.ts) against its float64 reference and, through
// src/ops/conv-subgroup.ts, against conv2dReference / conv2dBackwardReference: odd channel counts, row
// counts that are not multiples of 8, stride 2, dilation 2, 1x1, asymmetric kernels, batch 2.
import { describe, expect, it } from 'vitest';
import { conv2dBackwardReference } from '../src/kernels/conv-backward.js';
import { conv2dOutputShape, conv2dReference, type Conv2dGeometry } from '../src/kernels/conv2d.js';
import { subgroupConvKernel, subgroupConvReference, type SubgroupConvParams } from '../src/kernels/conv-subgroup.js';
import { subgroupWeightGradKernel, subgroupWeightGradReference, type SubgroupWeightGradParams } from '../src/kernels/conv-weight-grad-subgroup.js';
import { conv2dInputGradSubgroup, conv2dSubgroup, conv2dWeightGradSubgroup, convSubgroupEligible } from '../src/ops/conv-subgroup.js';
import { subgroupMatmulOn } from '../src/ops/matmul.js';
import { expectClose, randomArray, testEngine } from './helpers/engine.js';

// Sums of at most a few hundred O(1) products in f32: within 1e-5 of float64.
const ATOL = 3e-5, RTOL = 1e-5;

function geometry(xShape: number[], wShape: number[], stride: number | [number, number] = 1, padding: number | [number, number] = 1, dilation = 1): Conv2dGeometry {
  const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);
  return { xShape, wShape, stride: pair(stride), padding: pair(padding), dilation: [dilation, dilation], groups: 1 };
}

describe('subgroup conv kernel against its reference', () => {
  const cases: SubgroupConvParams[] = [
    // Strides through W as a dx would read them, a row tile of 16 over 19 rows, bias.
    { batch: 2, channels: 5, height: 6, width: 6, rows: 19, outHeight: 6, outWidth: 6, kernel: [3, 3], stride: [1, 1], offset: [1, 1], step: [-1, -1], rowStride: 9, channelStride: 19 * 9, bias: true },
    { batch: 1, channels: 3, height: 9, width: 7, rows: 6, outHeight: 4, outWidth: 3, kernel: [2, 3], stride: [2, 2], offset: [0, -1], step: [2, 1], rowStride: 18, channelStride: 6, bias: false },
  ];
  for (const p of cases) {
    it(`${p.channels} -> ${p.rows} channels, ${p.height}x${p.width} -> ${p.outHeight}x${p.outWidth}, kernel ${p.kernel}, step ${p.step}`, async (ctx) => {
      const engine = await testEngine();
      if (!subgroupMatmulOn(engine)) ctx.skip();
      const x = randomArray(p.batch * p.channels * p.height * p.width, 1);
      const w = randomArray(Math.max(p.rows * p.rowStride, p.channels * p.channelStride), 2), bias = randomArray(p.rows, 3);
      const y = engine.empty([p.batch, p.rows, p.outHeight, p.outWidth]);
      const spec = subgroupConvKernel(p, 16);
      engine.runtime.run(spec, [
        { buffer: engine.tensor(x, [x.length]).buffer }, { buffer: engine.tensor(w, [w.length]).buffer },
        ...(p.bias ? [{ buffer: engine.tensor(bias, [p.rows]).buffer }] : []), { buffer: y.buffer, write: true },
      ], spec.uniforms);
      expectClose(await y.readFloat(), subgroupConvReference(x, w, p.bias ? bias : null, p), ATOL, RTOL);
    });
  }
});

describe('subgroup weight-gradient kernel against its reference (per split)', () => {
  const cases: SubgroupWeightGradParams[] = [
    { batch: 2, channels: 5, height: 7, width: 9, rows: 19, outHeight: 7, outWidth: 9, kernel: [3, 3], stride: [1, 1], offset: [-1, -1], step: [1, 1], splits: 3 },
    { batch: 1, channels: 3, height: 9, width: 7, rows: 6, outHeight: 4, outWidth: 3, kernel: [2, 3], stride: [2, 2], offset: [0, -1], step: [2, 1], splits: 1 },
  ];
  for (const p of cases) {
    it(`${p.channels} -> ${p.rows} channels, ${p.height}x${p.width}, kernel ${p.kernel}, stride ${p.stride}, ${p.splits} splits`, async (ctx) => {
      const engine = await testEngine();
      if (!subgroupMatmulOn(engine)) ctx.skip();
      const x = randomArray(p.batch * p.channels * p.height * p.width, 6), dy = randomArray(p.batch * p.rows * p.outHeight * p.outWidth, 7);
      const out = engine.empty([p.splits, p.rows, p.channels, p.kernel[0], p.kernel[1]]);
      engine.runtime.run(subgroupWeightGradKernel(p), [
        { buffer: engine.tensor(x, [x.length]).buffer }, { buffer: engine.tensor(dy, [dy.length]).buffer }, { buffer: out.buffer, write: true },
      ]);
      expectClose(await out.readFloat(), subgroupWeightGradReference(x, dy, p), ATOL, RTOL);
    });
  }
});

describe('conv2d and its gradients on the subgroup kernels', () => {
  it('is chosen for f32 without groups on an adapter with the subgroup matmul', async () => {
    const engine = await testEngine();
    const on = subgroupMatmulOn(engine);
    expect(convSubgroupEligible(engine, geometry([1, 3, 8, 8], [16, 3, 3, 3]), 'f32')).toBe(on);
    expect(convSubgroupEligible(engine, geometry([1, 3, 8, 8], [16, 3, 3, 3]), 'f16')).toBe(false);
    expect(convSubgroupEligible(engine, { ...geometry([1, 4, 8, 8], [16, 2, 3, 3]), groups: 2 }, 'f32')).toBe(false);
    expect(convSubgroupEligible(engine, geometry([1, 3, 7, 7], [16, 3, 3, 3]), 'f32')).toBe(false); // 49 output pixels
  });

  const shapes: [number[], number[], number | [number, number], number | [number, number], number][] = [
    [[2, 3, 9, 12], [17, 3, 3, 3], 1, 1, 1],
    [[1, 18, 10, 10], [20, 18, 3, 3], 1, 2, 2],
    [[2, 5, 12, 8], [19, 5, 3, 3], 2, 1, 1],
    [[1, 17, 8, 8], [16, 17, 1, 1], 1, 0, 1],
    [[2, 4, 8, 6], [33, 4, 3, 1], 1, [1, 0], 1],
    [[1, 7, 10, 10], [9, 7, 3, 3], 2, 0, 1],
    // Row windows (stride 1, output width a multiple of 4) without padding, and a 5-wide kernel.
    [[1, 6, 10, 10], [8, 6, 3, 3], 1, 0, 1],
    [[2, 5, 6, 8], [12, 5, 5, 5], 1, 2, 1],
  ];
  for (const [xShape, wShape, stride, padding, dilation] of shapes) {
    const g = geometry(xShape, wShape, stride, padding, dilation);
    it(`x [${xShape}], w [${wShape}], stride ${stride}, padding ${padding}, dilation ${dilation}`, async (ctx) => {
      const engine = await testEngine();
      if (!subgroupMatmulOn(engine)) ctx.skip();
      const yShape = conv2dOutputShape(g);
      const x = randomArray(xShape.reduce((a, b) => a * b), 1), w = randomArray(wShape.reduce((a, b) => a * b), 2), bias = randomArray(wShape[0], 3);
      const tx = engine.tensor(x, xShape), tw = engine.tensor(w, wShape);
      const dyAll = randomArray(yShape.reduce((a, b) => a * b), 5);
      expectClose(await conv2dWeightGradSubgroup(tx, engine.tensor(dyAll, yShape), g).readFloat(), conv2dBackwardReference(x, w, dyAll, g).dw, ATOL, RTOL, 'dw');
      const y = engine.empty(yShape);
      conv2dSubgroup(tx, tw, engine.tensor(bias, [wShape[0]]), g, y);
      expectClose(await y.readFloat(), conv2dReference(x, w, bias, g), ATOL, RTOL, 'forward');
      if (g.stride[0] === 1) {
        const dy = randomArray(yShape.reduce((a, b) => a * b), 4);
        const dx = conv2dInputGradSubgroup(engine.tensor(dy, yShape), tw, g);
        expectClose(await dx.readFloat(), conv2dBackwardReference(x, w, dy, g).dx, ATOL, RTOL, 'dx');
      }
    });
  }
});
