// InstanceNorm2d: the kernels against their float64 TypeScript references in every row layout, the
// op's gradients against float64 finite differences, and the module's state dict. (PyTorch itself
// checks the same op inside the UNet golden, test/models/unet.test.ts.)
import { describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine.js';
import { ShapeError } from '../src/errors.js';
import { instanceNormBackwardKernel, instanceNormBackwardReference } from '../src/kernels/instancenorm-backward.js';
import { instanceNormKernel, instanceNormReference } from '../src/kernels/instancenorm.js';
import type { KernelSpec } from '../src/kernels/kernel.js';
import type { RowPlanOptions } from '../src/kernels/reduce.js';
import { InstanceNorm2d } from '../src/nn/instancenorm.js';
import { instanceNorm2d } from '../src/ops/instancenorm.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { expectClose, randomArray, testEngine } from './helpers/engine.js';
import { checkGradients } from './helpers/gradcheck.js';

// Tolerances. Forward: outputs are O(|weight| * 3); mean and variance are f32 sums that round at
// ~1e-7 of the plane's scale per term group, and xhat loses the digits of x that the mean cancels
// (an ulp of |x|, 1e-6 for the planes offset by 8). 1e-5 absolute + 1e-5 relative; the stats 1e-5
// relative. Backward kernel vs its float64 reference on the same saved stats: dx is a difference
// of O(1) terms, the plane sums add up to 12544 products: 2e-5 absolute + 1e-4 relative on dweight
// and dbias (sums of up to ~5000 terms of size ~1), 1e-5 + 1e-5 on dx.
// Gradient check (h = 1e-3, float64 central differences): as layernorm (normalization-grad.test.ts),
// atol 2e-6 + rtol 1e-5, about 10x the measured f32 rounding; a wrong term moves gradients by ~0.1.
const FWD = { atol: 1e-5, rtol: 1e-5 };
const GRAD_TOL = { atol: 2e-6, rtol: 1e-5 };
const EPS = 1e-5;

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

const PLANS: [string, RowPlanOptions][] = [
  ['workgroup, registers', { layout: 'workgroup' }],
  ['workgroup, re-read', { layout: 'workgroup', workgroup: 32, maxRegisterLoads: 0 }],
  ['invocation', { layout: 'invocation' }],
];

// [N, C, H, W]: odd planes (scalar loads), vec4 planes, a plane longer than the chunk and the workgroup.
const SHAPES = [[2, 3, 5, 7], [2, 3, 4, 4], [1, 2, 48, 50]];

function run(engine: Engine, spec: KernelSpec, inputs: Tensor[], outputs: Tensor[]): void {
  engine.runtime.run(spec, [...inputs.map((t) => ({ buffer: t.buffer })), ...outputs.map((t) => ({ buffer: t.buffer, write: true }))]);
}

/** Values in [-3, 3) plus a per-plane offset of up to 8, so the mean matters. */
function planeData(shape: number[], seed: number): Float32Array {
  const x = randomArray(numel(shape), seed, -3, 3);
  const pixels = shape[2] * shape[3];
  for (let i = 0; i < x.length; i++) x[i] += ((Math.floor(i / pixels) * 5) % 17) - 8;
  return x;
}

describe('instanceNorm2d kernels against the float64 reference', () => {
  for (const [label, plan] of PLANS) {
    for (const affine of [false, true]) {
      it(`${label}, affine ${affine}: forward with stats, and backward`, async () => {
        const engine = await testEngine();
        for (const shape of SHAPES) {
          const [batch, channels, h, w] = shape;
          const p = { batch, channels, pixels: h * w };
          const xh = planeData(shape, 3 + h), wh = randomArray(channels, 5, 0.5, 1.5), bh = randomArray(channels, 6, -0.5, 0.5);
          const x = engine.tensor(xh, shape), weight = engine.tensor(wh, [channels]), bias = engine.tensor(bh, [channels]);
          const y = engine.empty(shape), mean = engine.empty([batch, channels]), rstd = engine.empty([batch, channels]);
          run(engine, instanceNormKernel({ ...p, eps: EPS, affine, saveStats: true, plan }), [x, ...(affine ? [weight, bias] : [])], [y, mean, rstd]);
          const ref = instanceNormReference(xh, shape, EPS, affine ? wh : undefined, affine ? bh : undefined);
          const tag = `${label} affine ${affine} [${shape}]`;
          expectClose(await y.readFloat(), ref.out, FWD.atol, FWD.rtol, `forward ${tag}`);
          expectClose(await mean.readFloat(), ref.mean, 1e-6, 1e-5, `mean ${tag}`);
          expectClose(await rstd.readFloat(), ref.rstd, 0, 1e-5, `rstd ${tag}`);

          const dyh = randomArray(numel(shape), 9, -1, 1);
          const dy = engine.tensor(dyh, shape), dx = engine.empty(shape);
          const sums = affine ? [engine.empty([batch, channels]), engine.empty([batch, channels])] : [];
          run(engine, instanceNormBackwardKernel({ ...p, affine, plan }), [x, ...(affine ? [weight] : []), dy, mean, rstd], [dx, ...sums]);
          const back = instanceNormBackwardReference(xh, shape, dyh, await mean.readFloat(), await rstd.readFloat(), affine ? wh : undefined);
          expectClose(await dx.readFloat(), back.dx, 1e-5, 1e-5, `dx ${tag}`);
          if (affine) {
            const perChannel = async (t: Tensor) => {
              const v = await t.readFloat(), out = new Float32Array(channels);
              for (let i = 0; i < v.length; i++) out[i % channels] += v[i];
              return out;
            };
            expectClose(await perChannel(sums[0]), back.dweight, 2e-5, 1e-4, `dweight ${tag}`);
            expectClose(await perChannel(sums[1]), back.dbias, 2e-5, 1e-4, `dbias ${tag}`);
          }
          for (const t of [x, weight, bias, y, mean, rstd, dy, dx, ...sums]) t.dispose();
        }
      });
    }
  }

  it('keeps large planes accurate (4 planes of 112 x 112 with offset means; chunked sums on CPU adapters)', async () => {
    const engine = await testEngine();
    const shape = [1, 4, 112, 112];
    const xh = planeData(shape, 77);
    const y = instanceNorm2d(engine.tensor(xh, shape));
    expectClose(await y.readFloat(), instanceNormReference(xh, shape, EPS).out, FWD.atol, FWD.rtol, 'instanceNorm2d 112x112');
  });
});

/** Float64 instance norm for finite differences. */
function instanceNorm64(x: Float64Array, shape: number[], w?: Float64Array, b?: Float64Array): Float64Array {
  const [n, c, h, wd] = shape;
  const pixels = h * wd;
  const y = new Float64Array(x.length);
  for (let r = 0; r < n * c; r++) {
    let s = 0;
    for (let i = 0; i < pixels; i++) s += x[r * pixels + i];
    const m = s / pixels;
    let sq = 0;
    for (let i = 0; i < pixels; i++) sq += (x[r * pixels + i] - m) ** 2;
    const rs = 1 / Math.sqrt(sq / pixels + EPS);
    for (let i = 0; i < pixels; i++) y[r * pixels + i] = (x[r * pixels + i] - m) * rs * (w ? w[r % c] : 1) + (b ? b[r % c] : 0);
  }
  return y;
}

describe('instanceNorm2d gradients against float64 finite differences', () => {
  it('without affine parameters (the UNet\'s InstanceNorm2d)', async () => {
    const engine = await testEngine();
    for (const shape of [[2, 3, 3, 5], [2, 2, 4, 4]]) {
      await checkGradients(engine, `instanceNorm2d [${shape}]`, [{ data: planeData(shape, 11), shape }],
        ([x]) => instanceNorm2d(x), ([x]) => instanceNorm64(x, shape), GRAD_TOL);
    }
  });

  it('with affine weight and bias', async () => {
    const engine = await testEngine();
    for (const shape of [[2, 3, 3, 5], [3, 2, 4, 4]]) {
      const c = shape[1];
      await checkGradients(engine, `instanceNorm2d affine [${shape}]`, [
        { data: planeData(shape, 12), shape }, { data: randomArray(c, 13, 0.5, 1.5), shape: [c] }, { data: randomArray(c, 14, -0.5, 0.5), shape: [c] },
      ], ([x, w, b]) => instanceNorm2d(x, { weight: w, bias: b }), ([x, w, b]) => instanceNorm64(x, shape, w, b), GRAD_TOL);
    }
  });
});

describe('InstanceNorm2d module and argument checks', () => {
  it('has no state by default (PyTorch: affine=False, track_running_stats=False), weight and bias when affine', async () => {
    const engine = await testEngine();
    const plain = new InstanceNorm2d(engine, 8);
    expect([...plain.stateDict().keys()]).toEqual([]);
    const affine = new InstanceNorm2d(engine, 8, { affine: true });
    expect([...affine.stateDict().entries()].map(([k, t]) => [k, t.shape])).toEqual([['weight', [8]], ['bias', [8]]]);
    // eval() changes nothing without running statistics.
    const xh = planeData([1, 8, 4, 4], 21);
    const x = engine.tensor(xh, [1, 8, 4, 4]);
    const train = await plain.forward(x).readFloat();
    plain.eval();
    expect(await plain.forward(x).readFloat()).toEqual(train);
    plain.dispose();
    affine.dispose();
  });

  it('refuses wrong ranks, shapes, dtypes and a lone weight', async () => {
    const engine = await testEngine();
    const x = engine.zeros([2, 3, 4, 4]);
    expect(() => instanceNorm2d(engine.zeros([3, 4, 4]))).toThrow(ShapeError);
    expect(() => instanceNorm2d(x, { weight: engine.zeros([4]), bias: engine.zeros([4]) })).toThrow('weight and bias must be [3]');
    expect(() => instanceNorm2d(x, { weight: engine.zeros([3]) })).toThrow('weight and bias go together');
    expect(() => instanceNorm2d(engine.zeros([2, 3, 4, 4], 'i32'))).toThrow(ShapeError);
    expect(() => instanceNorm2d(engine.zeros([2, 3, 0, 4]))).toThrow('empty planes');
  });
});
