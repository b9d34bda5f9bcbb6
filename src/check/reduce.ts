// `autosam check` cases for the reductions: GPU against the float64 TypeScript reference.
import { REDUCE_OPS, reduceReference } from '../kernels/reduce.js';
import { reduce } from '../ops/reduce.js';
import { numel } from '../tensor/dtype.js';
import { compareArrays, seededUniform } from './compare.js';
import type { KernelCheck } from './registry.js';

// f32 sums round relative to the sum of |x| (the result itself may cancel to ~0); max and argmax are exact.
const SUM_RTOL = 1e-5;

const CASES: [number[], number][] = [[[3, 17, 5], 1], [[64, 1000], -1], [[7, 3], 0], [[2, 70000], 1]];

export const reduceChecks: KernelCheck[] = REDUCE_OPS.flatMap((op) =>
  CASES.map(([shape, axis]): KernelCheck => ({
    kernel: `reduce/${op}`,
    case: `[${shape}] axis ${axis}`,
    tolerance: op === 'sum' || op === 'mean' ? `atol ${SUM_RTOL} x max sum|x| over the axis` : 'exact',
    async run(engine) {
      const x = seededUniform(numel(shape), numel(shape), -1, 3);
      const a = axis < 0 ? axis + shape.length : axis;
      const y = await reduce(op, engine.tensor(x, shape), axis).read();
      const expected = reduceReference(op, x, shape, a);
      if (op === 'max' || op === 'argmax') return compareArrays(y, expected, 0);
      const scale = Math.max(...reduceReference(op, x.map(Math.abs), shape, a));
      return compareArrays(y, expected, SUM_RTOL * scale);
    },
  })),
);
