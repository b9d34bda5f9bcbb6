import { describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine.js';
import { ShapeError } from '../src/errors.js';
import type { KernelSpec } from '../src/kernels/kernel.js';
import { layerNorm2dReference, layerNormKernel, layerNormReference } from '../src/kernels/layernorm.js';
import { layerNormSubgroupFits, layerNormSubgroupKernel } from '../src/kernels/layernorm-subgroup.js';
import type { RowPlanOptions } from '../src/kernels/reduce.js';
import { softmaxKernel, softmaxReference } from '../src/kernels/softmax.js';
import { layerNorm, layerNorm2d, layerNorm2dWithStats, layerNormSubgroupLanes, layerNormWithStats } from '../src/ops/layernorm.js';
import { rowSubgroupLanes } from '../src/ops/row-subgroup.js';
import { softmax } from '../src/ops/softmax.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { expectClose, randomArray, testEngine } from './helpers/engine.js';
import { expectSubgroupLayerNormF16, expectSubgroupLayerNormShapes, SUBGROUP_LAYERNORM_SMALL_SHAPES } from './helpers/subgroup-layernorm.js';
import { expectSubgroupSoftmaxShapes } from './helpers/subgroup-softmax.js';
import { loadGoldenCases } from './golden.js';

// Tolerances.
// softmax: exp on GPUs is a few ulp off (lavapipe uses a polynomial) and the row sum rounds in f32:
//   1e-5 relative plus 1e-7 absolute (outputs are probabilities; tiny ones carry the absolute slack).
// layernorm: outputs are O(|weight| * few); mean and variance are f32 two-pass sums that round at
//   ~1e-7 of the row's scale. Measured against PyTorch: at most 1.2e-6 absolute on outputs up to ~4,
//   so 1e-5 absolute + 1e-5 relative; mean 1e-6 absolute + 1e-5 relative, rstd 1e-5 relative.
const SOFTMAX = { atol: 1e-7, rtol: 1e-5 };
const NORM = { atol: 1e-5, rtol: 1e-5 };

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The row-plan variants each kernel is tested in, with the rows each is tried on: the GPU layout with
 * the row in registers (a partly filled last slot included) and re-read from memory, and the CPU
 * layout. lavapipe takes seconds to compile each workgroup-layout kernel, so those get few shapes.
 */
const PLANS: [string, RowPlanOptions, [number, number][]][] = [
  ['workgroup, registers', { layout: 'workgroup' }, [[5, 33], [3, 1000]]],
  ['workgroup, re-read', { layout: 'workgroup', workgroup: 32, maxRegisterLoads: 0 }, [[3, 77], [2, 4100]]],
  ['invocation', { layout: 'invocation' }, [[5, 33], [3, 1000], [4, 768], [2, 4100]]],
];

function run(engine: Engine, spec: KernelSpec, inputs: Tensor[], outputs: Tensor[]): void {
  engine.runtime.run(spec, [...inputs.map((t) => ({ buffer: t.buffer })), ...outputs.map((t) => ({ buffer: t.buffer, write: true }))]);
}

describe('softmax', () => {
  const shapes = [[5, 33], [4, 1000], [2, 3, 768], [3, 7], [2, 4096], [17]];

  it('matches the reference over the last axis', async () => {
    const engine = await testEngine();
    for (const shape of shapes) {
      const x = randomArray(numel(shape), numel(shape), -4, 4);
      const y = softmax(engine.tensor(x, shape));
      expect(y.shape).toEqual(shape);
      expectClose(await y.readFloat(), softmaxReference(x, shape[shape.length - 1]), SOFTMAX.atol, SOFTMAX.rtol, `softmax [${shape}]`);
    }
  });

  it('is stable for inputs scaled by 50 (|x| up to 200, exp would overflow without the row max)', async () => {
    const engine = await testEngine();
    for (const shape of [[4, 77], [3, 1000]]) {
      const x = randomArray(numel(shape), 3, -200, 200);
      const y = await softmax(engine.tensor(x, shape), -1).readFloat();
      expect(y.every(Number.isFinite)).toBe(true);
      expectClose(y, softmaxReference(x, shape[1]), SOFTMAX.atol, SOFTMAX.rtol, `softmax x50 [${shape}]`);
    }
  });

  for (const [label, plan, rowShapes] of PLANS) {
    it(`${label}: odd rows, vec4 rows and rows longer than the workgroup`, async () => {
      const engine = await testEngine();
      for (const [rows, length] of rowShapes) {
        const x = randomArray(rows * length, length, -30, 30);
        const y = engine.empty([rows, length]);
        run(engine, softmaxKernel({ rows, length, dtype: 'f32', plan }), [engine.tensor(x, [rows, length])], [y]);
        expectClose(await y.readFloat(), softmaxReference(x, length), SOFTMAX.atol, SOFTMAX.rtol, `softmax ${label} [${rows}, ${length}]`);
      }
    });
  }

  // The subgroup layout (software adapters with one subgroup size: lavapipe's 8 lanes in CI) runs only
  // at the adapter's own size; the shapes are in test/helpers/subgroup-softmax.ts.
  it('subgroup layout: registers, online pass, partial loads and partial workgroups', async () => {
    const engine = await testEngine();
    const lanes = rowSubgroupLanes(engine.report);
    if (engine.report.isSoftware && engine.report.subgroupSize && engine.report.wgslLanguageFeatures.includes('subgroup_id')) {
      expect(lanes).toBe(engine.report.subgroupSize); // the op takes this layout here
    }
    if (!lanes) return;
    await expectSubgroupSoftmaxShapes(engine, lanes);
  });

  it('subgroup layout: f16 storage', async () => {
    const engine = await testEngine();
    const lanes = rowSubgroupLanes(engine.report);
    if (!lanes || !engine.hasF16) return;
    for (const length of [196, 4100]) {
      const x = randomArray(3 * length, 11, -4, 4);
      const xh = engine.tensor(x, [3, length], 'f16');
      const y = engine.empty([3, length], 'f16');
      run(engine, softmaxKernel({ rows: 3, length, dtype: 'f16', subgroupLanes: lanes }), [xh], [y]);
      expectClose(await y.readFloat(), softmaxReference(await xh.readFloat(), length), 1e-5, 2e-3, `f16 softmax subgroup layout [3, ${length}]`);
    }
  });

  it('accepts only the last axis, and names the shape when it refuses', async () => {
    const engine = await testEngine();
    const t = engine.zeros([2, 3]);
    expect(() => softmax(t, 0)).toThrow(ShapeError);
    expect(() => softmax(t, 0)).toThrow('softmax: only the last axis has a kernel, got axis 0 of [2, 3]');
    expect(() => softmax(t, 2)).toThrow('softmax: axis 2 is out of range for x [2, 3]');
    expect(softmax(t, 1).shape).toEqual([2, 3]);
  });

  it('handles f16 storage', async () => {
    const engine = await testEngine();
    if (!engine.hasF16) return;
    const x = randomArray(3 * 200, 5, -4, 4);
    const y = softmax(engine.tensor(x, [3, 200], 'f16'));
    const xh = await engine.tensor(x, [3, 200], 'f16').readFloat(); // x as f16 rounded it
    expectClose(await y.readFloat(), softmaxReference(xh, 200), 1e-5, 2e-3, 'f16 softmax');
  });
});

describe('layerNorm', () => {
  const shapes = [[7, 33], [2, 5, 768], [4, 257], [3, 1024], [1, 1], [6, 4]];

  function inputs(shape: number[], seed: number, offset = 1) {
    const c = shape[shape.length - 1];
    return {
      x: randomArray(numel(shape), seed, offset - 4, offset + 4),
      weight: randomArray(c, seed + 1, 0.5, 1.5),
      bias: randomArray(c, seed + 2, -0.5, 0.5),
    };
  }

  it('matches the reference, with and without saved statistics', async () => {
    const engine = await testEngine();
    for (const shape of shapes) {
      const c = shape[shape.length - 1];
      const { x, weight, bias } = inputs(shape, numel(shape));
      const ref = layerNormReference(x, c, weight, bias, 1e-5);
      const [xt, wt, bt] = [engine.tensor(x, shape), engine.tensor(weight, [c]), engine.tensor(bias, [c])];
      const y = layerNorm(xt, wt, bt);
      expect(y.shape).toEqual(shape);
      expectClose(await y.readFloat(), ref.out, NORM.atol, NORM.rtol, `layerNorm [${shape}]`);
      if (shape.length !== 3 && c !== 1) continue; // the stats variant is another pipeline: two shapes suffice here
      const s = layerNormWithStats(xt, wt, bt, 1e-5);
      expect(s.mean.shape).toEqual(shape.slice(0, -1));
      expect(s.rstd.dtype).toBe('f32');
      expectClose(await s.out.readFloat(), ref.out, NORM.atol, NORM.rtol, `layerNormWithStats out [${shape}]`);
      expectClose(await s.mean.readFloat(), ref.mean, 1e-6, 1e-5, `layerNormWithStats mean [${shape}]`);
      expectClose(await s.rstd.readFloat(), ref.rstd, 0, 1e-5, `layerNormWithStats rstd [${shape}]`);
    }
  });

  it('takes the variance about the mean (|mean| = 100 x std)', async () => {
    const engine = await testEngine();
    const shape = [8, 768];
    const { x, weight, bias } = inputs(shape, 99, 400);
    const ref = layerNormReference(x, 768, weight, bias, 1e-6);
    const y = layerNorm(engine.tensor(x, shape), engine.tensor(weight, [768]), engine.tensor(bias, [768]), 1e-6);
    // x itself is rounded to f32 at |x| ~ 400 (ulp 3e-5): (x - mean) carries that, scaled by rstd ~ 0.4.
    expectClose(await y.readFloat(), ref.out, 1e-4, NORM.rtol, 'layerNorm offset mean');
  });

  for (const [label, plan, rowShapes] of PLANS) {
    it(`${label}: statistics and output`, async () => {
      const engine = await testEngine();
      for (const [rows, c] of rowShapes) {
        const { x, weight, bias } = inputs([rows, c], c);
        const ref = layerNormReference(x, c, weight, bias, 1e-6);
        const [y, mean, rstd] = [engine.empty([rows, c]), engine.empty([rows]), engine.empty([rows])];
        const spec = layerNormKernel({ rows, length: c, eps: 1e-6, dtype: 'f32', paramDtype: 'f32', saveStats: true, plan });
        run(engine, spec, [engine.tensor(x, [rows, c]), engine.tensor(weight, [c]), engine.tensor(bias, [c])], [y, mean, rstd]);
        expectClose(await y.readFloat(), ref.out, NORM.atol, NORM.rtol, `layerNorm ${label} [${rows}, ${c}]`);
        expectClose(await mean.readFloat(), ref.mean, 1e-6, 1e-5, `layerNorm ${label} mean [${rows}, ${c}]`);
        expectClose(await rstd.readFloat(), ref.rstd, 0, 1e-5, `layerNorm ${label} rstd [${rows}, ${c}]`);
      }
    });
  }

  // The subgroup layout: the op takes it on SwiftShader (4 lanes, test/swiftshader.test.ts), not on
  // lavapipe (8 lanes in CI); the kernel is tested here at the adapter's own size on small rows (the
  // shapes are in test/helpers/subgroup-layernorm.ts).
  it('subgroup layout: held rows, partial loads, rows per subgroup, saved statistics', async () => {
    const engine = await testEngine();
    const lanes = rowSubgroupLanes(engine.report);
    if (!lanes) return;
    if (lanes > 4) expect(layerNormSubgroupLanes(engine.report)).toBeUndefined(); // the op keeps the invocation layout
    await expectSubgroupLayerNormShapes(engine, lanes, SUBGROUP_LAYERNORM_SMALL_SHAPES);
  });

  it('subgroup layout: f16 storage', async () => {
    const engine = await testEngine();
    const lanes = rowSubgroupLanes(engine.report);
    if (!lanes || !engine.hasF16) return;
    await expectSubgroupLayerNormF16(engine, lanes);
  });

  it('subgroup layout: rows it cannot hold take the invocation layout', () => {
    // 1284 = 321 vec4: 81 loads per lane at 4 lanes (the layout holds 80), 41 at 8.
    expect(layerNormSubgroupFits(1284, 4)).toBe(false);
    expect(layerNormSubgroupFits(1284, 8)).toBe(true);
    expect(layerNormSubgroupFits(1280, 4)).toBe(true);
    const params = { rows: 2, length: 1284, eps: 1e-5, dtype: 'f32', paramDtype: 'f32', saveStats: false } as const;
    expect(layerNormKernel({ ...params, subgroupLanes: 4 }).name).toBe('layernorm');
    expect(() => layerNormSubgroupKernel({ ...params, lanes: 4 })).toThrow('rows of 1284 need more than 80 loads per lane at 4 lanes');
    expect(() => layerNormSubgroupKernel({ ...params, lanes: 6 })).toThrow('subgroup size 6 is not a power of two');
  });

  it('f16 activations with f32 parameters', async () => {
    const engine = await testEngine();
    if (!engine.hasF16) return;
    const { x, weight, bias } = inputs([4, 256], 8);
    const xt = engine.tensor(x, [4, 256], 'f16');
    const y = layerNorm(xt, engine.tensor(weight, [256]), engine.tensor(bias, [256]));
    expect(y.dtype).toBe('f16');
    const ref = layerNormReference(await xt.readFloat(), 256, weight, bias, 1e-5);
    expectClose(await y.readFloat(), ref.out, 2e-3, 2e-3, 'f16 layerNorm'); // the output rounds to 11 bits
  });

  it('names the op and the shapes when weight or bias does not match', async () => {
    const engine = await testEngine();
    const x = engine.zeros([2, 3, 4]);
    const call = () => layerNorm(x, engine.zeros([5]), engine.zeros([4]));
    expect(call).toThrow(ShapeError);
    expect(call).toThrow('layerNorm: weight [5] does not match the normalised (last) dimension of x [2, 3, 4] (expected [4])');
    expect(() => layerNormWithStats(x, engine.zeros([4]), engine.zeros([1, 4]))).toThrow('layerNormWithStats: bias [1, 4] does not match');
    expect(() => layerNorm(engine.zeros([]), engine.zeros([1]), engine.zeros([1]))).toThrow('layerNorm: x must have at least one dimension, got []');
  });
});

describe('layerNorm2d (segment-anything LayerNorm2d, NCHW)', () => {
  const shapes = [[2, 5, 7, 9], [1, 256, 8, 8], [1, 3, 1, 1], [2, 32, 12, 12]];

  it('matches the reference, with and without saved statistics', async () => {
    const engine = await testEngine();
    for (const shape of shapes) {
      const c = shape[1];
      const x = randomArray(numel(shape), numel(shape), -3, 5);
      const weight = randomArray(c, 1, 0.5, 1.5), bias = randomArray(c, 2, -0.5, 0.5);
      const ref = layerNorm2dReference(x, shape, weight, bias, 1e-6);
      const [xt, wt, bt] = [engine.tensor(x, shape), engine.tensor(weight, [c]), engine.tensor(bias, [c])];
      expectClose(await layerNorm2d(xt, wt, bt).readFloat(), ref.out, NORM.atol, NORM.rtol, `layerNorm2d [${shape}]`);
      const s = layerNorm2dWithStats(xt, wt, bt, 1e-6);
      expect(s.mean.shape).toEqual([shape[0], shape[2], shape[3]]);
      expectClose(await s.out.readFloat(), ref.out, NORM.atol, NORM.rtol, `layerNorm2dWithStats out [${shape}]`);
      expectClose(await s.mean.readFloat(), ref.mean, 1e-6, 1e-5, `layerNorm2dWithStats mean [${shape}]`);
      expectClose(await s.rstd.readFloat(), ref.rstd, 0, 1e-5, `layerNorm2dWithStats rstd [${shape}]`);
    }
  });

  it('names the op and the shapes on bad input', async () => {
    const engine = await testEngine();
    const x = engine.zeros([1, 4, 2, 2]);
    expect(() => layerNorm2d(x, engine.zeros([3]), engine.zeros([4]))).toThrow(
      'layerNorm2d: weight [3] does not match the channel dimension (1) of x [1, 4, 2, 2] (expected [4])',
    );
    expect(() => layerNorm2d(engine.zeros([4, 2, 2]), engine.zeros([4]), engine.zeros([4]))).toThrow('layerNorm2d: x (N, C, H, W) must have rank 4, got [4, 2, 2]');
  });
});

describe('normalisation against PyTorch goldens', () => {
  it('softmax', async () => {
    const engine = await testEngine();
    const cases = loadGoldenCases('softmax');
    expect(cases.length).toBeGreaterThanOrEqual(3);
    for (const c of cases) {
      const x = c.inputs.x;
      const y = softmax(engine.tensor(x.data as Float32Array, x.shape), c.params.axis as number);
      expectClose(await y.readFloat(), c.outputs.out.data, SOFTMAX.atol, SOFTMAX.rtol, c.name);
    }
  });

  for (const op of ['layernorm', 'layernorm2d'] as const) {
    it(op, async () => {
      const engine = await testEngine();
      const cases = loadGoldenCases(op);
      expect(cases.length).toBeGreaterThanOrEqual(3);
      for (const c of cases) {
        const [x, w, b] = [c.inputs.x, c.inputs.weight, c.inputs.bias].map((t) => engine.tensor(t.data as Float32Array, t.shape));
        const fn = op === 'layernorm' ? layerNorm : layerNorm2d;
        expectClose(await fn(x, w, b, c.params.eps as number).readFloat(), c.outputs.out.data, NORM.atol, NORM.rtol, c.name);
      }
    });
  }
});
