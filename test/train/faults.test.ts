// GPU faults during training and embedding: a device lost mid-run surfaces as a DeviceError (no
// hang, no garbage), the last checkpoint stays valid, and training resumed on a fresh device ends
// exactly where an uninterrupted run ends. An allocation above the adapter's limits is refused with
// a LimitError before any work is done.
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine.js';
import { DeviceError, LimitError } from '../../src/errors.js';
import { LinearHead, linearHeadConfig } from '../../src/models/heads/index.js';
import { Conv2d } from '../../src/nn/conv.js';
import { MemoryEmbeddingStore } from '../../src/train/embedding-cache.js';
import { embedImages, type FrozenEncoder } from '../../src/train/frozen-encoder.js';
import type { Sample } from '../../src/train/model.js';
import { headModel } from '../../src/train/models.js';
import { captureTrainState, decodeTrainState, encodeTrainState, type TrainState } from '../../src/train/train-state.js';
import { train, type TrainConfig } from '../../src/train/trainer.js';
import { randomArray } from '../helpers/engine.js';

const samples: Sample[] = Array.from({ length: 4 }, (_, i) => {
  const input = randomArray(16 * 4 * 4, 40 + i);
  const label = Uint8Array.from({ length: 256 }, (_, p) => (input[((p >> 6) << 2) + ((p & 15) >> 2)] > 0 ? 1 : 0));
  return { id: `s${i}`, inputShape: [16, 4, 4], input, label, labelSize: [16, 16] as [number, number] };
});
const config: TrainConfig = { epochs: 4, batchSize: 2, lr: 1e-2, seed: 1, schedule: 'constant', checkpointEvery: 2 };
const head = (engine: Engine) => new LinearHead(engine, linearHeadConfig(2, { embDim: 16 }), 5);

describe('GPU faults', () => {
  it('device lost during training: DeviceError, the last checkpoint loads, and a resume on a new device finishes the run exactly', async () => {
    const reference = await Engine.create();
    const straight = head(reference);
    (await train(headModel(straight), samples, config)).optimizer.dispose();
    const expected = await straight.stateDictToHost();
    reference.dispose();

    const doomed = await Engine.create();
    const model = head(doomed);
    let saved: Uint8Array | null = null;
    const err = await train(headModel(model), samples, config, {
      checkpoint: async (position, optimizer) => {
        saved = await encodeTrainState(await captureTrainState(model, optimizer, position, 'fp'));
      },
      onStep: (s) => {
        if (s.step === 5) doomed.device.destroy(); // between checkpoints (at 4 and 6)
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceError);
    doomed.dispose();
    const state: TrainState = await decodeTrainState(saved!, 'checkpoint');
    expect(state.position.step).toBe(4);

    const fresh = await Engine.create();
    const resumed = head(fresh);
    resumed.loadStateDict(state.model);
    const { optimizer } = await train(headModel(resumed), samples, config, {}, { position: state.position, prepareOptimizer: (o) => o.loadStateFromHost(state.optimizer) });
    optimizer.dispose();
    const got = await resumed.stateDictToHost();
    for (const [k, t] of expected) expect(Array.from(got.get(k)!.data), k).toEqual(Array.from(t.data));
    fresh.dispose();
  }, 120_000);

  it('device lost during embedding: DeviceError, and the entries already cached stay whole', async () => {
    const engine = await Engine.create();
    const conv = new Conv2d(engine, 3, 16, 1, { seed: 2 });
    let calls = 0;
    const encoder: FrozenEncoder = {
      name: 'test', identity: 'test|conv1x1', inputSize: 16, engine,
      forward: (x) => {
        if (++calls === 2) engine.device.destroy();
        return conv.forward(x);
      },
      dispose: () => conv.dispose(),
    };
    const store = new MemoryEmbeddingStore();
    const images = [0, 1, 2].map((k) => ({ data: randomArray(8 * 8, k), height: 8, width: 8 }));
    const done: number[] = [];
    await expect(embedImages(encoder, store, images, { onProgress: (p) => done.push(p.done) })).rejects.toBeInstanceOf(DeviceError);
    expect(done).toEqual([0, 1]);
    const again = await Engine.create();
    const conv2 = new Conv2d(again, 3, 16, 1, { seed: 2 });
    const [first] = await embedImages({ ...encoder, engine: again, forward: (x) => conv2.forward(x) }, store, images.slice(0, 1));
    expect(first.shape).toEqual([16, 16, 16]);
    expect(calls).toBe(2); // the first image came from the cache, not the encoder
    again.dispose();
    engine.dispose();
  }, 60_000);

  it('an allocation above the adapter limit is a LimitError before anything runs', async () => {
    const engine = await Engine.create();
    const max = engine.device.limits.maxBufferSize;
    expect(() => engine.empty([Math.ceil(max / 4) + 1024])).toThrow(LimitError);
    expect(() => engine.empty([Math.ceil(max / 4) + 1024])).toThrow(/exceeds this adapter's maxBufferSize/);
    expect(engine.memory().liveBytes).toBe(0);
    engine.dispose();
  });
});
