// `autosam check` cases for the UNet baseline's ops: instanceNorm2d (with the mean and rstd its
// backward reuses), maxPool2d and leakyRelu, GPU against the TypeScript references.
import { instanceNormReference } from '../kernels/instancenorm.js';
import { leakyReluReference } from '../kernels/leaky-relu.js';
import { maxPool2dReference } from '../kernels/pool.js';
import { instanceNorm2d } from '../ops/instancenorm.js';
import { leakyRelu } from '../ops/leaky-relu.js';
import { maxPool2d } from '../ops/pool.js';
import { numel } from '../tensor/dtype.js';
import { compareArrays, seededUniform } from './compare.js';
import type { KernelCheck } from './registry.js';

// Instance norm: two-pass f32 statistics over each plane, outputs O(3): atol 1e-5 + rtol 1e-5.
// Max pooling moves values: exact. LeakyReLU scales by f32(0.01) and rounds once, against the
// float64 product: two f32 roundings, rtol 2e-7.
const NORM = { atol: 1e-5, rtol: 1e-5 };

export const unetOpChecks: KernelCheck[] = [
  ...[[2, 3, 5, 7], [4, 64, 32, 32], [1, 8, 112, 112]].map((shape): KernelCheck => ({
    kernel: 'instancenorm2d',
    case: `[${shape}]${shape[1] === 3 ? ' affine' : ''}`,
    tolerance: `atol ${NORM.atol} + rtol ${NORM.rtol}`,
    async run(engine) {
      const c = shape[1];
      const x = seededUniform(numel(shape), 31, -3, 5);
      const affine = c === 3;
      const w = seededUniform(c, 32, 0.5, 1.5), b = seededUniform(c, 33, -0.5, 0.5);
      const y = instanceNorm2d(engine.tensor(x, shape), affine ? { weight: engine.tensor(w, [c]), bias: engine.tensor(b, [c]) } : {});
      return compareArrays(await y.readFloat(), instanceNormReference(x, shape, 1e-5, affine ? w : undefined, affine ? b : undefined).out, NORM.atol, NORM.rtol);
    },
  })),
  ...[[2, 3, 8, 8], [4, 64, 56, 56], [1, 2, 7, 9]].map((shape): KernelCheck => ({
    kernel: 'maxpool2d',
    case: `[${shape}] k2 s2`,
    tolerance: 'exact',
    async run(engine) {
      const x = seededUniform(numel(shape), 34, -2, 2);
      const y = maxPool2d(engine.tensor(x, shape), 2, 2);
      return compareArrays(await y.readFloat(), maxPool2dReference(x, shape, [2, 2], [2, 2]).out, 0, 0);
    },
  })),
  ...[[1027], [4, 64, 32, 32]].map((shape): KernelCheck => ({
    kernel: 'leaky_relu',
    case: `[${shape}] slope 0.01`,
    tolerance: 'rtol 2e-7',
    async run(engine) {
      const x = seededUniform(numel(shape), 35, -3, 3);
      const y = leakyRelu(engine.tensor(x, shape), 0.01);
      return compareArrays(await y.readFloat(), Array.from(x, (v) => leakyReluReference(v, 0.01)), 0, 2e-7);
    },
  })),
];
