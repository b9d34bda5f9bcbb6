// The training loop: against PyTorch (tools/golden/train_loop.py: a linear head trained full-batch
// with CE + batch soft Dice, Adam and a per-step cosine lr), and its own contracts: equal seeds give
// equal weights, a run interrupted and resumed from a checkpoint ends bit for bit where the
// uninterrupted run ends, NaN/Inf stops before the update, bad samples are refused.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { readNpy } from '../../src/io/npy.js';
import { LinearHead, linearHeadConfig } from '../../src/models/heads/index.js';
import type { HostTensor } from '../../src/nn/module.js';
import type { Sample } from '../../src/train/model.js';
import { headModel } from '../../src/train/models.js';
import { captureTrainState, decodeTrainState, encodeTrainState } from '../../src/train/train-state.js';
import { epochBatches, NonFiniteError, train, type TrainConfig, type TrainPosition } from '../../src/train/trainer.js';
import { DataError, FormatError } from '../../src/errors.js';
import { maxAbsDiff, randomArray, testEngine } from '../helpers/engine.js';

const DIR = fileURLToPath(new URL('../fixtures/golden/train_loop/', import.meta.url));
const npy = (file: string) => readNpy(readFileSync(DIR + file));

interface LoopManifest {
  config: { num_classes: number; emb_dim: number; final_relu: boolean };
  epochs: number;
  lr: number;
  losses: number[];
  state: string[];
  final: string[];
}

function tinyHead(engine: Engine, seed = 3): LinearHead {
  return new LinearHead(engine, linearHeadConfig(3, { embDim: 16 }), seed);
}

function tinySamples(count: number, seed = 1): Sample[] {
  return Array.from({ length: count }, (_, i) => {
    const input = randomArray(16 * 4 * 4, seed * 100 + i);
    const label = new Uint8Array(16 * 16);
    // A learnable rule: the label follows the signs of the first two channels on the input's 4x4 grid.
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 16; x++) {
        const cell = (y >> 2) * 4 + (x >> 2);
        label[y * 16 + x] = input[cell] > 0 ? 1 : input[16 + cell] > 0 ? 2 : 0;
      }
    }
    return { id: `s${i}`, inputShape: [16, 4, 4], input, label, labelSize: [16, 16] as [number, number] };
  });
}

const config = (over: Partial<TrainConfig> = {}): TrainConfig => ({ epochs: 4, batchSize: 2, lr: 1e-2, seed: 7, schedule: 'cosine', checkpointEvery: 0, ...over });

async function weights(head: LinearHead): Promise<Map<string, HostTensor>> {
  return head.stateDictToHost();
}

describe('training loop', () => {
  it('matches PyTorch: full-batch Adam with a cosine lr for 6 epochs (losses and final weights)', async () => {
    const engine = await testEngine();
    const m = JSON.parse(readFileSync(DIR + 'manifest.json', 'utf8')) as LoopManifest;
    const head = new LinearHead(engine, linearHeadConfig(m.config.num_classes, { embDim: m.config.emb_dim, finalRelu: m.config.final_relu }));
    head.loadStateDict(new Map(m.state.map((k) => [k, npy(`state.${k}.npy`) as HostTensor])));
    const x = npy('x.npy');
    const labels = npy('labels.npy');
    const per = 32 * 4 * 4;
    const samples: Sample[] = [0, 1, 2].map((i) => ({
      id: `s${i}`, inputShape: [32, 4, 4], input: (x.data as Float32Array).slice(i * per, (i + 1) * per),
      label: Uint8Array.from((labels.data as Int32Array).subarray(i * 256, (i + 1) * 256)), labelSize: [16, 16],
    }));
    const losses: number[] = [];
    const { optimizer } = await train(headModel(head), samples, { epochs: m.epochs, batchSize: 4, lr: m.lr, seed: 0, schedule: 'cosine', checkpointEvery: 0 }, {
      onStep: (s) => losses.push(s.loss),
    });
    optimizer.dispose();
    // float32 both sides; sums over 768 pixels and 3 samples in different orders.
    losses.forEach((l, i) => expect(Math.abs(l - m.losses[i])).toBeLessThan(1e-5 * Math.abs(m.losses[i])));
    const got = await weights(head as unknown as LinearHead);
    for (const k of m.final) {
      const ref = npy(`final.${k}.npy`);
      const scale = Math.max(...Array.from(ref.data as Float32Array, Math.abs));
      expect(maxAbsDiff(got.get(k)!.data, ref.data as Float32Array), k).toBeLessThan(1e-5 + 1e-4 * scale);
    }
    head.dispose();
  });

  it('learns a learnable rule (the loss falls) and equal seeds give equal weights', async () => {
    const engine = await testEngine();
    const run = async () => {
      const head = tinyHead(engine);
      const losses: number[] = [];
      const { optimizer } = await train(headModel(head), tinySamples(6), config({ epochs: 40, lr: 1e-2, schedule: 'constant' }), { onStep: (s) => losses.push(s.loss) });
      optimizer.dispose();
      const w = await weights(head);
      head.dispose();
      return { losses, w };
    };
    const a = await run();
    const b = await run();
    expect(a.losses.length).toBe(40 * 3);
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    // PyTorch on the same kind of task falls by about a quarter in 120 steps at this lr.
    expect(mean(a.losses.slice(-3))).toBeLessThan(0.8 * mean(a.losses.slice(0, 3)));
    for (const [k, t] of a.w) expect(Array.from(b.w.get(k)!.data), k).toEqual(Array.from(t.data));
  });

  it('epoch batches: a seeded permutation of every sample, cut into batches', () => {
    const batches = epochBatches(10, 4, 3, 2);
    expect(batches.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(batches.flat().sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    expect(epochBatches(10, 4, 3, 2)).toEqual(batches);
    expect(epochBatches(10, 4, 3, 3)).not.toEqual(batches);
  });

  it('resumes from a checkpoint exactly where the uninterrupted run would be', async () => {
    const engine = await testEngine();
    const samples = tinySamples(5);
    const cfg = config({ epochs: 3 }); // 3 steps per epoch (batch 2 of 5), 9 steps
    const straight = tinyHead(engine);
    (await train(headModel(straight), samples, cfg)).optimizer.dispose();
    const expected = await weights(straight);
    straight.dispose();

    // Interrupted after step 4 (inside epoch 2): the checkpoint goes through its file encoding.
    const first = tinyHead(engine);
    const abort = new AbortController();
    let saved: Uint8Array | null = null;
    await expect(train(headModel(first), samples, { ...cfg, checkpointEvery: 4 }, {
      signal: abort.signal,
      checkpoint: async (position: TrainPosition, optimizer) => {
        saved = await encodeTrainState(await captureTrainState(first, optimizer, position, 'fp'));
        abort.abort();
      },
    })).rejects.toThrow();
    first.dispose();
    const state = await decodeTrainState(saved!, 'checkpoint');
    expect(state.position.step).toBe(4);

    const resumed = tinyHead(engine, 99); // different init: everything must come from the checkpoint
    resumed.loadStateDict(state.model);
    const { optimizer, position } = await train(headModel(resumed), samples, cfg, {}, {
      position: state.position, prepareOptimizer: (o) => o.loadStateFromHost(state.optimizer),
    });
    optimizer.dispose();
    expect(position.step).toBe(9);
    const got = await weights(resumed);
    for (const [k, t] of expected) expect(Array.from(got.get(k)!.data), k).toEqual(Array.from(t.data));
    resumed.dispose();
  });

  it('a damaged checkpoint is refused, never half-loaded', async () => {
    const engine = await testEngine();
    const head = tinyHead(engine);
    const { optimizer, position } = await train(headModel(head), tinySamples(2), config({ epochs: 1 }));
    const bytes = await encodeTrainState(await captureTrainState(head, optimizer, position, 'fp'));
    optimizer.dispose();
    head.dispose();
    const flipped = bytes.slice();
    flipped[bytes.length - 5] ^= 0x10; // inside the last tensor's data
    await expect(decodeTrainState(flipped, 'ckpt')).rejects.toThrow(/checksum/);
    await expect(decodeTrainState(bytes.subarray(0, bytes.length - 100), 'ckpt')).rejects.toBeInstanceOf(FormatError);
    await expect(decodeTrainState(new Uint8Array(16), 'ckpt')).rejects.toBeInstanceOf(FormatError);
  });

  it('stops on a non-finite loss or gradient before the update, naming the step, weights untouched', async () => {
    const engine = await testEngine();
    const head = tinyHead(engine);
    const before = await weights(head);
    const samples = tinySamples(4);
    samples[2].input[5] = NaN;
    samples[3].input[5] = NaN;
    let steps = 0;
    const err = await train(headModel(head), samples, config({ batchSize: 4 }), { onStep: () => steps++ }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as NonFiniteError).step).toBe(1);
    // ReLU turns NaN into 0 on this adapter, so the loss can stay finite while the gradients are NaN: either check stops it.
    expect((err as Error).message).toMatch(/step 1: the (loss|gradient norm)/);
    expect(steps).toBe(0);
    const after = await weights(head);
    for (const [k, t] of before) expect(Array.from(after.get(k)!.data), k).toEqual(Array.from(t.data));
    head.dispose();
  });

  it('refuses labels outside the class range and samples of mixed shapes', async () => {
    const engine = await testEngine();
    const head = tinyHead(engine);
    const bad = tinySamples(2);
    bad[1].label[7] = 3;
    await expect(train(headModel(head), bad, config())).rejects.toThrow(/label 3 at pixel 7, outside 0..2/);
    const mixed = tinySamples(2);
    mixed[1] = { ...mixed[1], inputShape: [16, 2, 8] };
    await expect(train(headModel(head), mixed, config())).rejects.toBeInstanceOf(DataError);
    await expect(train(headModel(head), [], config())).rejects.toThrow(/no samples/);
    await expect(train(headModel(head), tinySamples(2), config({ epochs: 0 }))).rejects.toThrow(/epochs must be a positive integer/);
    head.dispose();
  });
});
