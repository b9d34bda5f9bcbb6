import { concatReference, padReference, permuteReference, resolveSlice, sliceReference } from '../kernels/copy.js';
import { gatherReference } from '../kernels/gather.js';
import { concat, gather, pad, permute, slice } from '../ops/copy.js';
import { numel } from '../tensor/dtype.js';
import { compareArrays, seededUniform } from './compare.js';
import type { KernelCheck } from './registry.js';

// Copies move bits: anything but exact equality is a bug.
const tolerance = 'exact';

function check(kernel: string, caseText: string, run: KernelCheck['run']): KernelCheck {
  return { kernel: `copy/${kernel}`, case: caseText, tolerance, run };
}

const input = (shape: number[], seed = 1) => seededUniform(numel(shape), seed + numel(shape), -10, 10);

export const copyChecks: KernelCheck[] = [
  ...([[[7, 5], [1, 0]], [[2, 3, 4, 5], [0, 2, 3, 1]], [[2, 3, 4, 5, 6], [4, 2, 0, 3, 1]], [[1, 64, 64, 24], [0, 3, 1, 2]]] as [number[], number[]][])
    .map(([shape, perm]) => check('permute', `[${shape}] by [${perm}]`, async (engine) => {
      const x = input(shape);
      const y = await permute(engine.tensor(x, shape), perm).readFloat();
      return compareArrays(y, permuteReference(x, shape, perm), 0);
    })),
  ...([[[10], [-8], [9], [3]], [[5, 8, 7], [1, 0, 2], [4, 8, 7], [1, 3, 2]], [[3, 9, 11], [0, -5, 1], [3, 100, -1], [2, 1, 4]]] as number[][][])
    .map(([shape, starts, ends, steps]) => check('slice', `[${shape}] [${starts}:${ends}:${steps}]`, async (engine) => {
      const x = input(shape);
      const y = await slice(engine.tensor(x, shape), starts, ends, steps).readFloat();
      return compareArrays(y, sliceReference(x, shape, resolveSlice(shape, starts, ends, steps)), 0);
    })),
  ...([[[3, 5], [[2, 1], [0, 4]]], [[2, 3, 4], [[0, 0], [1, 2], [3, 0]]], [[1, 3, 63, 62], [[0, 0], [0, 0], [0, 1], [0, 2]]]] as [number[], [number, number][]][])
    .map(([shape, pads]) => check('pad', `[${shape}] by ${JSON.stringify(pads)}`, async (engine) => {
      const x = input(shape);
      const y = await pad(engine.tensor(x, shape), pads, -1.5).readFloat();
      return compareArrays(y, padReference(x, shape, pads, -1.5), 0);
    })),
  ...([[[[2, 3, 4], [2, 5, 4], [2, 1, 4]], 1], [[[3, 2], [4, 2]], 0], [[[2, 3], [2, 4]], -1]] as [number[][], number][])
    .map(([shapes, axis]) => check('concat', `${shapes.map((s) => `[${s}]`).join(' ')} axis ${axis}`, async (engine) => {
      const xs = shapes.map((s, i) => input(s, i + 1));
      const y = await concat(xs.map((x, i) => engine.tensor(x, shapes[i])), axis).readFloat();
      return compareArrays(y, concatReference(xs, shapes, axis < 0 ? axis + shapes[0].length : axis), 0);
    })),
  ...([[10, 7, [13]], [100, 32, [3, 4]]] as [number, number, number[]][])
    .map(([vocab, dim, indexShape]) => check('gather', `(${vocab}, ${dim}) by [${indexShape}]`, async (engine) => {
      const table = input([vocab, dim]);
      // Includes out-of-range indices, which must give zero rows.
      const indices = Int32Array.from(seededUniform(numel(indexShape), 7, -2, vocab + 2), Math.floor);
      const y = await gather(engine.tensor(table, [vocab, dim]), engine.tensor(indices, indexShape)).readFloat();
      return compareArrays(y, gatherReference(table, vocab, dim, indices), 0);
    })),
];
