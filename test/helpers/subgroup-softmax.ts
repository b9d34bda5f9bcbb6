// softmax's subgroup layout (src/kernels/softmax-subgroup.ts) against the float64 reference, shared by
// the run at the test adapter's own size (test/normalization.test.ts: lavapipe's 8 lanes) and the one
// at SwiftShader's 4 lanes (test/swiftshader.test.ts).
import type { Engine } from '../../src/engine.js';
import { softmaxKernel, softmaxReference } from '../../src/kernels/softmax.js';
import { expectClose, randomArray } from './engine.js';

/** exp is a few ulp off and the row sum rounds in f32: 1e-5 relative plus 1e-7 absolute (as in normalization.test.ts). */
export const SUBGROUP_SOFTMAX_TOLERANCE = { atol: 1e-7, rtol: 1e-5 };

/**
 * [rows, length, |x| bound]: rows held in registers with and without a partial last load (49 and 32
 * vec4), scalar rows (33), rows shorter than a subgroup (3, 1), online rows with and without a remainder
 * (1025 and 1024 vec4), scalar online rows (1001), row counts that leave the last workgroup partly empty,
 * and inputs up to |x| = 200, where exp would overflow without the max.
 */
export const SUBGROUP_SOFTMAX_SHAPES: [number, number, number][] = [
  [37, 196, 6], [5, 128, 6], [3, 33, 6], [9, 3, 6], [2, 1, 6], [3, 4100, 6], [2, 4096, 6], [3, 1001, 6], [70, 196, 200],
];

/** Every shape of SUBGROUP_SOFTMAX_SHAPES through the subgroup kernel at `lanes` (the adapter's subgroup size). */
export async function expectSubgroupSoftmaxShapes(engine: Engine, lanes: number): Promise<void> {
  const { atol, rtol } = SUBGROUP_SOFTMAX_TOLERANCE;
  for (const [rows, length, spread] of SUBGROUP_SOFTMAX_SHAPES) {
    const x = randomArray(rows * length, rows + length, -spread, spread);
    const input = engine.tensor(x, [rows, length]);
    const y = engine.empty([rows, length]);
    engine.runtime.run(softmaxKernel({ rows, length, dtype: 'f32', subgroupLanes: lanes }), [{ buffer: input.buffer }, { buffer: y.buffer, write: true }]);
    expectClose(await y.readFloat(), softmaxReference(x, length), atol, rtol, `softmax subgroup layout, ${lanes} lanes [${rows}, ${length}] |x| <= ${spread}`);
  }
}
