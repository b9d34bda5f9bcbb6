// softmax's subgroup layout at SwiftShader's 4-lane subgroups, the path headless Chromium takes on a
// machine without a GPU. The other tests run on lavapipe (8 lanes); here Dawn in Node is pointed at the
// SwiftShader Vulkan driver that Debian's chromium ships (this file runs in its own process, so the
// environment variable stays here). Skipped where chromium is not installed (.ci/run installs it).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.js';
import { softmaxKernel, softmaxReference } from '../src/kernels/softmax.js';
import { softmax, softmaxSubgroupLanes } from '../src/ops/softmax.js';
import { expectClose, randomArray } from './helpers/engine.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
// As in normalization.test.ts.
const SOFTMAX = { atol: 1e-7, rtol: 1e-5 };

describe.skipIf(!existsSync(SWIFTSHADER_ICD))('softmax subgroup layout on SwiftShader (4 lanes)', () => {
  let engine: Engine;

  beforeAll(async () => {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    engine = await Engine.create();
  });

  afterAll(() => engine?.dispose());

  it('runs on SwiftShader, whose fixed 4-lane subgroups select the layout', () => {
    expect(`${engine.report.description} ${engine.report.architecture}`).toMatch(/swiftshader/i);
    expect(engine.report.subgroupSize).toBe(4);
    expect(softmaxSubgroupLanes(engine.report)).toBe(4);
  });

  // Rows held in registers with a partial last load (49 vec4 = 12 x 4 + 1) and without (32 vec4), scalar
  // rows (33 = 8 x 4 + 1), rows shorter than the subgroup, online rows with and without a remainder
  // (1025 vec4, 1024 vec4), a partly empty last workgroup, and |x| up to 200.
  it('matches the reference: registers, online pass, partial loads and partial workgroups', async () => {
    const shapes: [number, number, number][] = [
      [37, 196, 6], [5, 128, 6], [3, 33, 6], [9, 3, 6], [2, 1, 6], [3, 4100, 6], [2, 4096, 6], [70, 196, 200],
    ];
    for (const [rows, length, spread] of shapes) {
      const x = randomArray(rows * length, rows * 7 + length, -spread, spread);
      const y = engine.empty([rows, length]);
      const input = engine.tensor(x, [rows, length]);
      engine.runtime.run(softmaxKernel({ rows, length, dtype: 'f32', subgroupLanes: 4 }), [{ buffer: input.buffer }, { buffer: y.buffer, write: true }]);
      expectClose(await y.readFloat(), softmaxReference(x, length), SOFTMAX.atol, SOFTMAX.rtol, `softmax on SwiftShader [${rows}, ${length}] |x| <= ${spread}`);
    }
  });

  it('the op takes the layout and matches the reference (MobileSAM\'s 49-key windows)', async () => {
    const x = randomArray(300 * 49, 3, -8, 8);
    const y = softmax(engine.tensor(x, [300, 49]));
    expectClose(await y.readFloat(), softmaxReference(x, 49), SOFTMAX.atol, SOFTMAX.rtol, 'softmax op on SwiftShader [300, 49]');
  });
});
