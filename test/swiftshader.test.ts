// The kernels that depend on the subgroup size, at SwiftShader's 4 lanes: the paths headless Chromium
// takes on a machine without a GPU (softmax's and layerNorm's subgroup layouts, the subgroup matmul and
// the convolutions built on it). The other tests run on lavapipe (8 lanes); here Dawn in Node is
// pointed at the SwiftShader Vulkan driver that Debian's chromium ships (this file runs in its own
// process, so the environment variable stays here). Skipped where chromium is not installed (.ci/run
// installs it).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.js';
import { conv2dReference } from '../src/kernels/conv2d.js';
import { layerNormKernel, layerNormReference } from '../src/kernels/layernorm.js';
import { matmulReference } from '../src/kernels/matmul.js';
import { subgroupMatmulKernel } from '../src/kernels/matmul-subgroup.js';
import { softmaxReference } from '../src/kernels/softmax.js';
import { conv2d } from '../src/ops/conv.js';
import { convGemmEligible } from '../src/ops/conv-gemm.js';
import { layerNorm, layerNormSubgroupLanes } from '../src/ops/layernorm.js';
import { matmul, subgroupMatmulLanes, subgroupMatmulOn } from '../src/ops/matmul.js';
import { rowSubgroupLanes } from '../src/ops/row-subgroup.js';
import { softmax } from '../src/ops/softmax.js';
import { CONV_GEMM_SHAPES, convGeometry, expectConvGemmCase, expectTiledTransposeCase, TILED_TRANSPOSE_SHAPES } from './helpers/conv-gemm-cases.js';
import { expectClose, randomArray } from './helpers/engine.js';
import { expectSubgroupLayerNormShapes, SUBGROUP_LAYERNORM_SHAPES } from './helpers/subgroup-layernorm.js';
import { expectSubgroupSoftmaxShapes, SUBGROUP_SOFTMAX_TOLERANCE as SOFTMAX } from './helpers/subgroup-softmax.js';
import { expectSubgroupMatmulShapes, matmulParams as params, runSubgroupMatmul, SUBGROUP_MATMUL_TOLERANCE as MATMUL } from './helpers/subgroup-matmul.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const hasSwiftShader = existsSync(SWIFTSHADER_ICD);
let engine: Engine;

beforeAll(async () => {
  if (!hasSwiftShader) return;
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  engine = await Engine.create();
});

afterAll(() => engine?.dispose());

describe.skipIf(!hasSwiftShader)('softmax subgroup layout on SwiftShader (4 lanes)', () => {
  it('runs on SwiftShader, whose fixed 4-lane subgroups select the layout', () => {
    expect(`${engine.report.description} ${engine.report.architecture}`).toMatch(/swiftshader/i);
    expect(engine.report.subgroupSize).toBe(4);
    expect(rowSubgroupLanes(engine.report)).toBe(4);
  });

  it('matches the reference: registers, online pass, partial loads and partial workgroups', async () => {
    await expectSubgroupSoftmaxShapes(engine, 4);
  });

  it('the op takes the layout and matches the reference (MobileSAM\'s 49-key windows)', async () => {
    const x = randomArray(300 * 49, 3, -8, 8);
    const y = softmax(engine.tensor(x, [300, 49]));
    expectClose(await y.readFloat(), softmaxReference(x, 49), SOFTMAX.atol, SOFTMAX.rtol, 'softmax op on SwiftShader [300, 49]');
  });
});

describe.skipIf(!hasSwiftShader)('layerNorm subgroup layout on SwiftShader (4 lanes)', () => {
  it('matches the reference: held rows, partial loads, rows per subgroup, saved statistics', async () => {
    await expectSubgroupLayerNormShapes(engine, 4, SUBGROUP_LAYERNORM_SHAPES);
  });

  it('the op takes the layout and matches the reference (SAM\'s 768 channels)', async () => {
    const x = randomArray(50 * 768, 9, -3, 3);
    const weight = randomArray(768, 10, 0.5, 1.5);
    const bias = randomArray(768, 11, -0.5, 0.5);
    const y = layerNorm(engine.tensor(x, [50, 768]), engine.tensor(weight, [768]), engine.tensor(bias, [768]), 1e-6);
    expectClose(await y.readFloat(), layerNormReference(x, 768, weight, bias, 1e-6).out, 1e-5, 1e-5, 'layerNorm op on SwiftShader [50, 768]');
    expect(layerNormKernel({ rows: 50, length: 768, eps: 1e-6, dtype: 'f32', paramDtype: 'f32', saveStats: false, subgroupLanes: layerNormSubgroupLanes(engine.report) }).name).toBe('layernorm_subgroup');
  });
});

describe.skipIf(!hasSwiftShader)('subgroup matmul on SwiftShader (4 lanes)', () => {
  it('the matmul op takes it there; the 8-lane conv and attention paths stay off', () => {
    expect(subgroupMatmulLanes(engine)).toBe(4);
    expect(subgroupMatmulOn(engine)).toBe(false);
  });

  // Shapes that are multiples of 4 (its requirement) but not of its 16-row, 16-column tile, both
  // transposes, and tiles of 4, 12 and 16 rows with a shared operand on either side.
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`transA=${transA} transB=${transB}`, async () => {
        await expectSubgroupMatmulShapes(engine, transA, transB, 4);
      });
    }
  }

  it('4-, 12- and 16-row tiles, a shared operand on either side', async () => {
    const [batch, M, N, K] = [3, 28, 40, 20];
    for (const rows of [4, 12, 16]) {
      for (const [batchA, batchB] of [[1, batch], [batch, 1]]) {
        const a = randomArray(batchA * M * K, 5 + rows), b = randomArray(batchB * K * N, 6 + rows);
        const p = params(batch, M, N, K, { batchA, batchB });
        expectClose(await runSubgroupMatmul(engine, p, a, b, rows, 4), matmulReference(p, a, b), MATMUL.atol, MATMUL.rtol, `rows=${rows} batchA=${batchA} batchB=${batchB}`);
      }
    }
  });

  it('through matmul(): bias + gelu + residual, transB', async () => {
    const [batch, M, N, K] = [2, 36, 44, 24];
    const a = randomArray(batch * M * K, 1), b = randomArray(K * N, 2), bias = randomArray(N, 3), res = randomArray(batch * M * N, 4);
    const y = matmul(engine.tensor(a, [batch, M, K]), engine.tensor(b, [N, K]), {
      transB: true, bias: engine.tensor(bias, [N]), residual: engine.tensor(res, [batch, M, N]), activation: 'gelu',
    });
    const p = params(batch, M, N, K, { transB: true, batchB: 1, bias: true, residual: true, activation: 'gelu' });
    expectClose(await y.readFloat(), matmulReference(p, a, b, bias, res), MATMUL.atol, MATMUL.rtol, 'matmul op on SwiftShader');
  });

  it('refuses a subgroup size it is not written for', () => {
    expect(() => subgroupMatmulKernel(params(1, 8, 8, 8), 16, 16)).toThrow('16-lane subgroups are not supported');
    expect(() => subgroupMatmulKernel(params(1, 8, 8, 8), 6, 4)).toThrow('rows must be a multiple of 4');
  });
});

describe.skipIf(!hasSwiftShader)('conv as im2col + 4-lane subgroup matmul on SwiftShader', () => {
  it('the conv op takes the GEMM path there from 32 output channels', () => {
    expect(convGemmEligible(engine, convGeometry([1, 8, 8, 8], [32, 8, 3, 3]), 'f32')).toBe(true);
    expect(convGemmEligible(engine, convGeometry([1, 8, 8, 8], [16, 8, 3, 3]), 'f32')).toBe(false);
  });

  for (const [xShape, wShape, stride, padding, dilation] of CONV_GEMM_SHAPES) {
    it(`x [${xShape}], w [${wShape}], stride ${stride}, padding ${padding}, dilation ${dilation}`, async () => {
      await expectConvGemmCase(engine, convGeometry(xShape, wShape, stride, padding, dilation));
    });
  }

  for (const [xShape, wShape] of TILED_TRANSPOSE_SHAPES) {
    it(`convTranspose2d x [${xShape}], w [${wShape}], stride ${wShape[2]}`, async () => {
      expect(await expectTiledTransposeCase(engine, xShape, wShape)).toBe(true);
    });
  }

  it('through conv2d(): 32 output channels, padding 1', async () => {
    const g = convGeometry([1, 8, 12, 12], [32, 8, 3, 3]);
    const x = randomArray(8 * 144, 21), w = randomArray(32 * 8 * 9, 22), bias = randomArray(32, 23);
    const y = conv2d(engine.tensor(x, g.xShape), engine.tensor(w, g.wShape), engine.tensor(bias, [32]), { padding: 1 });
    expectClose(await y.readFloat(), conv2dReference(x, w, bias, g), 3e-5, 1e-5, 'conv2d op on SwiftShader');
  });
});
