// `autosam check` cases for softmax, layerNorm and layerNorm2d: GPU against the float64 TypeScript references.
import { layerNorm2dReference, layerNormReference } from '../kernels/layernorm.js';
import { softmaxReference } from '../kernels/softmax.js';
import { layerNorm2dWithStats, layerNormWithStats } from '../ops/layernorm.js';
import { softmax } from '../ops/softmax.js';
import { numel } from '../tensor/dtype.js';
import { compareArrays, seededUniform, type Comparison } from './compare.js';
import type { KernelCheck } from './registry.js';

// exp is a few ulp off on GPUs and the row sum rounds in f32; layernorm's two-pass statistics round at
// ~1e-6 of the row's scale and outputs are O(few).
const SOFTMAX = { atol: 1e-7, rtol: 1e-5 };
const NORM = { atol: 1e-5, rtol: 1e-5 };

/** The worst of several comparisons (output, mean, rstd) as one. */
function worst(...cs: Comparison[]): Comparison {
  return cs.reduce((a, b) => ({
    maxAbsError: Math.max(a.maxAbsError, b.maxAbsError),
    maxAbsExpected: Math.max(a.maxAbsExpected, b.maxAbsExpected),
    passed: a.passed && b.passed,
  }));
}

export const normalizationChecks: KernelCheck[] = [
  ...[[5, 33], [64, 768], [12, 4096]].flatMap((shape) => [1, 50].map((scale): KernelCheck => ({
    kernel: 'softmax',
    case: `[${shape}]${scale === 1 ? '' : ` x${scale}`}`,
    tolerance: `atol ${SOFTMAX.atol} + rtol ${SOFTMAX.rtol}`,
    async run(engine) {
      const x = seededUniform(numel(shape), numel(shape), -4 * scale, 4 * scale);
      const y = await softmax(engine.tensor(x, shape)).readFloat();
      return compareArrays(y, softmaxReference(x, shape[shape.length - 1]), SOFTMAX.atol, SOFTMAX.rtol);
    },
  }))),
  ...[[7, 33], [64, 768], [16, 1280]].map((shape): KernelCheck => ({
    kernel: 'layernorm',
    case: `[${shape}] with mean and rstd`,
    tolerance: `atol ${NORM.atol} + rtol ${NORM.rtol} (mean atol 1e-6 + rtol 1e-5, rstd rtol 1e-5)`,
    async run(engine) {
      const c = shape[shape.length - 1];
      const x = seededUniform(numel(shape), 1, -3, 5);
      const weight = seededUniform(c, 2, 0.5, 1.5), bias = seededUniform(c, 3, -0.5, 0.5);
      const s = layerNormWithStats(engine.tensor(x, shape), engine.tensor(weight, [c]), engine.tensor(bias, [c]), 1e-6);
      const ref = layerNormReference(x, c, weight, bias, 1e-6);
      return worst(
        compareArrays(await s.out.readFloat(), ref.out, NORM.atol, NORM.rtol),
        compareArrays(await s.mean.readFloat(), ref.mean, 1e-6, 1e-5),
        compareArrays(await s.rstd.readFloat(), ref.rstd, 0, 1e-5),
      );
    },
  })),
  {
    // In the invocation layout (lavapipe) the statistics take one pass over sums shifted by the mean of
    // each row's first 32 values (see layerNormRowsKernel); outlier channels there are the case that
    // shift handles worst. (SwiftShader's subgroup layout takes two passes over the held row.)
    kernel: 'layernorm',
    case: '[16,768], first 32 channels offset by 1000',
    tolerance: `atol ${NORM.atol} + rtol ${NORM.rtol} (mean atol 1e-6 + rtol 1e-5, rstd rtol 1e-5)`,
    async run(engine) {
      const c = 768;
      const x = seededUniform(16 * c, 7, -3, 5);
      for (let i = 0; i < x.length; i++) if (i % c < 32) x[i] += 1000;
      const weight = seededUniform(c, 8, 0.5, 1.5), bias = seededUniform(c, 9, -0.5, 0.5);
      const s = layerNormWithStats(engine.tensor(x, [16, c]), engine.tensor(weight, [c]), engine.tensor(bias, [c]), 1e-6);
      const ref = layerNormReference(x, c, weight, bias, 1e-6);
      return worst(
        compareArrays(await s.out.readFloat(), ref.out, NORM.atol, NORM.rtol),
        compareArrays(await s.mean.readFloat(), ref.mean, 1e-6, 1e-5),
        compareArrays(await s.rstd.readFloat(), ref.rstd, 0, 1e-5),
      );
    },
  },
  ...[[2, 5, 7, 9], [1, 256, 16, 16], [1, 3, 1, 1]].map((shape): KernelCheck => ({
    kernel: 'layernorm2d',
    case: `[${shape}] with mean and rstd`,
    tolerance: `atol ${NORM.atol} + rtol ${NORM.rtol} (mean atol 1e-6 + rtol 1e-5, rstd rtol 1e-5)`,
    async run(engine) {
      const c = shape[1];
      const x = seededUniform(numel(shape), 4, -3, 5);
      const weight = seededUniform(c, 5, 0.5, 1.5), bias = seededUniform(c, 6, -0.5, 0.5);
      const s = layerNorm2dWithStats(engine.tensor(x, shape), engine.tensor(weight, [c]), engine.tensor(bias, [c]), 1e-6);
      const ref = layerNorm2dReference(x, shape, weight, bias, 1e-6);
      return worst(
        compareArrays(await s.out.readFloat(), ref.out, NORM.atol, NORM.rtol),
        compareArrays(await s.mean.readFloat(), ref.mean, 1e-6, 1e-5),
        compareArrays(await s.rstd.readFloat(), ref.rstd, 0, 1e-5),
      );
    },
  })),
];
