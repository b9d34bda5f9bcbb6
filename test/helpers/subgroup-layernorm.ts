// layerNorm's subgroup layout (src/kernels/layernorm-subgroup.ts) against the float64 reference, shared
// by the run at the test adapter's own size (test/normalization.test.ts: lavapipe's 8 lanes) and the
// one at SwiftShader's 4 lanes (test/swiftshader.test.ts).
import { expect } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { layerNormKernel, layerNormReference } from '../../src/kernels/layernorm.js';
import { layerNormSubgroupFits } from '../../src/kernels/layernorm-subgroup.js';
import { expectClose, randomArray } from './engine.js';

/**
 * As normalization.test.ts's NORM: outputs 1e-5 absolute + 1e-5 relative; mean 1e-6 absolute + 1e-5
 * relative; rstd 1e-5 relative.
 */
const OUT = { atol: 1e-5, rtol: 1e-5 };

/**
 * [rows, length, mean offset of x]: a partial last vec4 load (196 = 49 vec4), scalar rows with a
 * partial last load (33), rows shorter than a subgroup (3, 1), row counts that give a subgroup 3 and 32
 * rows and leave the last workgroup partly empty (301, 4133), and |mean| = 100 x std (two-pass
 * statistics). Small rows: lavapipe's LLVM takes seconds to compile the held layout at SAM's widths.
 */
export const SUBGROUP_LAYERNORM_SMALL_SHAPES: [number, number, number][] = [
  [5, 196, 1], [3, 33, 1], [9, 3, 1], [2, 1, 1], [301, 64, 1], [4133, 8, 1], [7, 64, 400],
];

/**
 * With SAM's 768 (also at |mean| = 100 x std; the same rows share one compiled kernel) and scalar
 * rows of 319 (80 loads per lane at 4 lanes, the most the layout holds, the last one partial).
 */
export const SUBGROUP_LAYERNORM_SHAPES: [number, number, number][] = [[37, 768, 1], ...SUBGROUP_LAYERNORM_SMALL_SHAPES, [37, 768, 400], [3, 319, 1]];

/**
 * `shapes` through the subgroup kernel at `lanes`, with saved statistics (the variant the training
 * path runs), and the first two also without.
 */
export async function expectSubgroupLayerNormShapes(engine: Engine, lanes: number, shapes: [number, number, number][]): Promise<void> {
  for (const [k, [rows, length, offset]] of shapes.entries()) {
    expect(layerNormSubgroupFits(length, lanes)).toBe(true);
    const x = randomArray(rows * length, rows + length, offset - 4, offset + 4);
    const weight = randomArray(length, length + 1, 0.5, 1.5);
    const bias = randomArray(length, length + 2, -0.5, 0.5);
    const ref = layerNormReference(x, length, weight, bias, 1e-6);
    const inputs = [engine.tensor(x, [rows, length]), engine.tensor(weight, [length]), engine.tensor(bias, [length])];
    // x itself is rounded to f32 at |x| ~ 400 (ulp 3e-5): (x - mean) carries that, scaled by rstd ~ 0.4.
    const atol = offset > 100 ? 1e-4 : OUT.atol;
    for (const saveStats of k < 2 ? [false, true] : [true]) {
      const spec = layerNormKernel({ rows, length, eps: 1e-6, dtype: 'f32', paramDtype: 'f32', saveStats, subgroupLanes: lanes });
      expect(spec.name).toBe(saveStats ? 'layernorm_subgroup_stats' : 'layernorm_subgroup');
      const y = engine.empty([rows, length]);
      const stats = saveStats ? [engine.empty([rows]), engine.empty([rows])] : [];
      engine.runtime.run(spec, [...inputs.map((t) => ({ buffer: t.buffer })), ...[y, ...stats].map((t) => ({ buffer: t.buffer, write: true }))]);
      const what = `layerNorm subgroup layout, ${lanes} lanes [${rows}, ${length}] offset ${offset}${saveStats ? ' (stats)' : ''}`;
      expectClose(await y.readFloat(), ref.out, atol, OUT.rtol, what);
      if (saveStats) {
        expectClose(await stats[0].readFloat(), ref.mean, 1e-6, 1e-5, `${what} mean`);
        expectClose(await stats[1].readFloat(), ref.rstd, 0, 1e-5, `${what} rstd`);
      }
    }
  }
}

/** f16 activations with f32 and with f16 parameters (the output rounds to 11 bits: 2e-3). */
export async function expectSubgroupLayerNormF16(engine: Engine, lanes: number): Promise<void> {
  for (const [rows, length, paramDtype] of [[5, 196, 'f32'], [3, 64, 'f16'], [4, 33, 'f16']] as const) {
    const x = randomArray(rows * length, length, -3, 5);
    const weight = randomArray(length, 5, 0.5, 1.5);
    const bias = randomArray(length, 6, -0.5, 0.5);
    const [xt, wt, bt] = [engine.tensor(x, [rows, length], 'f16'), engine.tensor(weight, [length], paramDtype), engine.tensor(bias, [length], paramDtype)];
    const y = engine.empty([rows, length], 'f16');
    engine.runtime.run(layerNormKernel({ rows, length, eps: 1e-5, dtype: 'f16', paramDtype, saveStats: false, subgroupLanes: lanes }), [
      { buffer: xt.buffer }, { buffer: wt.buffer }, { buffer: bt.buffer }, { buffer: y.buffer, write: true },
    ]);
    const ref = layerNormReference(await xt.readFloat(), length, await wt.readFloat(), await bt.readFloat(), 1e-5);
    expectClose(await y.readFloat(), ref.out, 2e-3, 2e-3, `f16 layerNorm subgroup layout, ${lanes} lanes [${rows}, ${length}] ${paramDtype} parameters`);
  }
}
