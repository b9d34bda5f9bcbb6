import { resizeBilinearReference } from '../kernels/resize.js';
import { resizeBilinear } from '../ops/resize.js';
import { numel } from '../tensor/dtype.js';
import { compareArrays, seededUniform } from './compare.js';
import type { KernelCheck } from './registry.js';

// Both sides compute the same f32 formula; the GPU may fuse multiply-adds, which moves a weight or a
// product by an ulp or so: 1e-6 on values in [-1, 1].
const TOL = { atol: 1e-6, rtol: 1e-6 };

const CASES: { inShape: [number, number, number, number]; out: [number, number]; alignCorners: boolean }[] = [
  { inShape: [1, 3, 7, 9], out: [13, 5], alignCorners: false },
  { inShape: [1, 3, 7, 9], out: [13, 5], alignCorners: true },
  { inShape: [2, 1, 64, 64], out: [256, 256], alignCorners: false }, // SAM's mask upsampling, scaled down
  { inShape: [1, 2, 33, 31], out: [8, 1], alignCorners: false },
];

export const resizeChecks: KernelCheck[] = CASES.map(({ inShape, out, alignCorners }) => ({
  kernel: 'resize/bilinear',
  case: `[${inShape}] -> ${out.join('x')}${alignCorners ? ' align_corners' : ''}`,
  tolerance: `atol ${TOL.atol} + rtol ${TOL.rtol}`,
  async run(engine) {
    const x = seededUniform(numel(inShape), numel(inShape));
    const y = await resizeBilinear(engine.tensor(x, inShape), out, { alignCorners }).readFloat();
    return compareArrays(y, resizeBilinearReference(x, inShape, out[0], out[1], alignCorners), TOL.atol, TOL.rtol);
  },
}));
