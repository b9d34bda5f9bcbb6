// The app's worker session in Node (Dawn), on a synthetic volume with MobileSAM at 64 (a 4 x 4
// embedding: the plumbing, not accuracy): embeddings land in the store under the same identity the
// library's loader uses, so a second session finds them all without building the encoder; epochs
// report per-class Dice; prediction keeps the grid and touches only the slices asked for; the
// export is a head the library reloads bit for bit and a run.json the CLI's validator accepts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadHead } from '../../src/api/index.js';
import { pooledDice, spreadPick, FinetuneSession, type EpochReport } from '../../src/app/session.js';
import type { ImageVolume, LabelVolume } from '../../src/data/volume.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { minisamFile } from '../../src/models/mobilesam/index.js';
import { MemoryEmbeddingStore } from '../../src/train/embedding-cache.js';
import { validateRunConfig } from '../../src/train/run-config.js';

class CountingStore extends MemoryEmbeddingStore {
  keys = new Set<string>();
  override async put(key: string, entry: Parameters<MemoryEmbeddingStore['put']>[1]) {
    this.keys.add(key);
    return super.put(key, entry);
  }
}

/** 24 x 24 x 4 voxels: a bright disc (class 1) with a brighter core (class 2) on dark ground, varying by slice. */
function discVolume(): { image: ImageVolume; label: LabelVolume } {
  const [X, Y, Z] = [24, 24, 4];
  const image = new Float32Array(X * Y * Z);
  const label = new Uint8Array(X * Y * Z);
  for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) {
    const r = Math.hypot(x - 12 - z, y - 11);
    const i = x + X * (y + Y * z);
    label[i] = r < 3 ? 2 : r < 7 ? 1 : 0;
    image[i] = [10, 120, 250][label[i]] + ((x * 7 + y * 3 + z) % 5);
  }
  const affine = [1, 0, 0, -12, 0, 1, 0, -12, 0, 0, 3, 0, 0, 0, 0, 1];
  return { image: { data: image, dims: [X, Y, Z], spacing: [1, 1, 3], affine }, label: { data: label, dims: [X, Y, Z], spacing: [1, 1, 3], affine } };
}

describe('app session', () => {
  it('spreads picks and pools Dice like the definition', () => {
    expect(spreadPick([3, 4, 5, 6, 7, 8, 9], 3)).toEqual([3, 6, 9]);
    expect(spreadPick([1, 2], 5)).toEqual([1, 2]);
    expect(spreadPick([1, 2, 3, 4], 1)).toEqual([3]);
    // Class 1: |P|=3, |T|=2, overlap 2 -> 0.8; class 2: absent from both -> null; class 3: |P|=1, |T|=2, overlap 1 -> 2/3.
    expect(pooledDice([{ pred: [1, 1, 1, 0, 3], label: [1, 1, 0, 3, 3] }], 4)).toEqual([0.8, null, 2 / 3]);
  });

  it('embeds through the store, trains, predicts and exports; a second session reuses every embedding, a third recomputes a damaged one', async () => {
    const { image, label } = discVolume();
    const store = new CountingStore();
    const bytes = new Uint8Array(readFileSync(minisamFile('encoder.onnx')));
    const settings = { axis: 2 as const, normalization: 'minmax', size: 32, views: 1, slicesPerCase: 3, seed: 0 };
    const cases = [{ id: 'disc', image, label }];

    const a = await FinetuneSession.create(store);
    try {
      await a.setEncoder({ kind: 'mobilesam', bytes, inputSize: 64 });
      const progress: number[] = [];
      const first = await a.embed(cases, settings, (p) => progress.push(p.done), undefined);
      expect([first.total, first.cached, first.encoderBuilt]).toEqual([6, 0, true]); // 3 slices x (original + 1 view)
      expect(progress).toEqual([0, 1, 2, 3, 4, 5, 6]);
      expect(store.keys.size).toBe(6);

      const epochs: EpochReport[] = [];
      const steps: number[] = [];
      await a.train('linear', { epochs: 3, batchSize: 3, lr: 5e-3, seed: 0, schedule: 'constant', checkpointEvery: 0 }, 3, {
        onStep: (step) => steps.push(step), onEpoch: (r) => epochs.push(r),
      });
      expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
      expect(epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
      for (const e of epochs) {
        expect(e.dice).toHaveLength(2);
        for (const d of e.dice) expect(d === null || (d >= 0 && d <= 1)).toBe(true);
        expect(Number.isFinite(e.loss)).toBe(true);
      }

      // Slice 0 is a training slice: prepared as in training, it hits the cache (no new key).
      const pred = await a.predictVolume(image, () => {}, undefined, [0]);
      expect(pred.length).toBe(image.data.length);
      const perSlice = [0, 1, 2, 3].map((z) => pred.subarray(z * 576, (z + 1) * 576).some((v) => v > 0));
      expect(perSlice[1] || perSlice[2] || perSlice[3]).toBe(false); // untouched slices stay 0
      expect(store.keys.size).toBe(6);
      expect(Math.max(...pred)).toBeLessThan(3);

      const exported = await a.exportHead(['background', 'ring', 'core'], 'discs');
      const status = JSON.parse(exported.runJson);
      expect(() => validateRunConfig(status.config)).not.toThrow();
      expect(status).toMatchObject({ status: 'trained', classNames: ['background', 'ring', 'core'], axis: 2, inputChannels: 256, steps: 6 });
      expect(status.config.encoder).toEqual({ name: 'mobilesam', inputSize: 64 });
      const reloaded = await loadHead(a.engine, exported.safetensors);
      const again = readSafetensors(await reloaded.exportSafetensors());
      for (const [k, t] of readSafetensors(exported.safetensors).tensors) expect(again.tensors.get(k)!.data, k).toEqual(t.data);
      reloaded.dispose();
    } finally {
      a.dispose();
    }

    // A new session (a page reload) with the same store: every key predicted from the weights' hash is there.
    const b = await FinetuneSession.create(store);
    try {
      await b.setEncoder({ kind: 'mobilesam', bytes, inputSize: 64 });
      const second = await b.embed(cases, settings, () => {}, undefined);
      expect([second.total, second.cached, second.encoderBuilt]).toEqual([6, 6, false]);
      expect(store.keys.size).toBe(6);
    } finally {
      b.dispose();
    }

    // One entry unreadable (a store returns null for damaged entries): the encoder is built and recomputes just that one.
    const damaged = [...store.keys][3];
    const get = store.get.bind(store);
    store.get = async (key) => (key === damaged ? null : get(key));
    const c = await FinetuneSession.create(store);
    try {
      await c.setEncoder({ kind: 'mobilesam', bytes, inputSize: 64 });
      const third = await c.embed(cases, settings, () => {}, undefined);
      expect([third.total, third.cached, third.encoderBuilt]).toEqual([6, 5, true]);
    } finally {
      c.dispose();
    }
  });
});
