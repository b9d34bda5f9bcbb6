// The Node side of bench:e2e, one subcommand per child process (so each run's peak RSS is its own):
//   export CONFIG.json   the same data for both sides: per N the labelled slices (prepared as our
//                        pipeline prepares them: min-max per slice, resized to S x S), the test slices,
//                        each head's initial weights (ours, under the reference's state_dict names),
//                        and check data for the Python port of our augmentation and SAM preprocessing
//   ours CONFIG.json HEAD N OUT.json
//                        our pipeline, timed: encoder load, data prep + augmentation bank, embedding
//                        every bank view from an EMPTY cache, training on the cached embeddings; 3D Dice
//                        on the test slices at a few epochs (evaluation time is left off the clock)
//   score CONFIG.json RESULT.json
//                        scores the reference protocol's predicted test slices with the same function
// Bundled and run by bench/e2e/run.mjs.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { augmentSlice } from '../../src/data/augment.js';
import { normalizeIntensity } from '../../src/data/normalize.js';
import { resizeBilinear } from '../../src/data/resize.js';
import { extractImageSlice, extractLabelSlice, sliceLayout } from '../../src/data/slice.js';
import { numClasses } from '../../src/data/dataset.js';
import { adapterName, releaseDawnInstances } from '../../src/device/device.js';
import { Engine } from '../../src/engine.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { preprocessGreySlice } from '../../src/models/mobilesam/preprocess.js';
import { DiskEmbeddingStore } from '../../src/train/embedding-cache-node.js';
import { loadFrozenEncoder } from '../../src/train/frozen-encoder-node.js';
import { predictVolume } from '../../src/train/predict.js';
import type { RunConfig } from '../../src/train/run-config.js';
import { buildModel } from '../../src/train/run.js';
import { prepareSquareSlices, trainingSamples } from '../../src/train/samples.js';
import { train } from '../../src/train/trainer.js';
import type { HeadKind } from '../../src/models/heads/index.js';
import { cpuSeconds, evalEpochs, loadData, ourEpochs, peakRssBytes, scoreSlices, testSlices, type E2EConfig, type Score } from './shared.js';

const npy = (file: string, data: Float32Array | Uint8Array | Int32Array, shape: number[]) => writeFile(file, writeNpy(data, shape));

function runConfig(config: E2EConfig, head: HeadKind, labelled: number, epochs: number): RunConfig {
  return {
    version: 1, data: config.data,
    split: { kind: 'slab', labelled, validation: 0, gap: config.gap, seed: config.seed },
    testStride: config.testStride,
    encoder: { name: 'mobilesam', inputSize: config.encoderSize },
    head, normalization: 'minmax', size: config.size, views: config.views, unetBase: 16,
    train: { epochs, batchSize: config.batchSize, lr: config.lr, seed: config.seed, schedule: 'constant', checkpointEvery: 0 },
  };
}

/** The test slices as predictVolume prepares them: min-max per slice, resized to S x S. */
async function exportTest(config: E2EConfig, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { dataset, split } = await loadData(config, Math.max(...config.ns));
  const { image } = await split.test[0].case.load();
  const slices = testSlices(split, config.testStride);
  const layout = sliceLayout(image.dims, image.spacing, split.axis);
  const S = config.size;
  const images = new Float32Array(slices.length * S * S);
  slices.forEach((s, i) => {
    const raw = extractImageSlice(image, split.axis, s);
    images.set(resizeBilinear(normalizeIntensity(raw, { kind: 'minmax' }), layout.height, layout.width, S, S), i * S * S);
  });
  await npy(path.join(dir, 'test_images.npy'), images, [slices.length, S, S]);
  const meta = { classNames: dataset.classNames, numClasses: numClasses(dataset), axis: split.axis, testSlices: slices, outputSize: [layout.height, layout.width], size: S, train: {} as Record<number, number[]> };

  let first: Awaited<ReturnType<typeof prepareSquareSlices>>[number] | null = null;
  for (const n of config.ns) {
    const { split: s } = await loadData(config, n);
    if (testSlices(s, config.testStride).join() !== slices.join()) throw new Error(`e2e: N = ${n} has other test slices`);
    const prepared = await prepareSquareSlices(s.train, { axis: s.axis, normalization: { kind: 'minmax' }, size: S });
    const imgs = new Float32Array(n * S * S);
    const labels = new Uint8Array(n * S * S);
    prepared.forEach((p, i) => {
      imgs.set(p.image, i * S * S);
      labels.set(p.label!, i * S * S);
    });
    await npy(path.join(dir, `train_N${n}_images.npy`), imgs, [n, S, S]);
    await npy(path.join(dir, `train_N${n}_labels.npy`), labels, [n, S, S]);
    meta.train[n] = prepared.map((p) => p.sliceIndex);
    first ??= prepared[0];
  }

  // Check data for the Python port: our augmentation under fixed seeds, and SAM preprocessing.
  const seeds = ['e2e-check:0', 'e2e-check:1', 'e2e-check:2', 'e2e-check:3', 'e2e-check:4', 'e2e-check:5'];
  const augImages = new Float32Array(seeds.length * S * S);
  const augLabels = new Uint8Array(seeds.length * S * S);
  seeds.forEach((seed, k) => {
    const v = augmentSlice(first!, seed);
    augImages.set(v.image, k * S * S);
    augLabels.set(v.label!, k * S * S);
  });
  await npy(path.join(dir, 'check_aug_images.npy'), augImages, [seeds.length, S, S]);
  await npy(path.join(dir, 'check_aug_labels.npy'), augLabels, [seeds.length, S, S]);
  const pre = preprocessGreySlice(augImages.subarray(0, S * S), S, S, config.encoderSize);
  await npy(path.join(dir, 'check_preprocessed.npy'), pre.data, [3, pre.size, pre.size]);

  const engine = await Engine.create();
  try {
    for (const head of config.heads) {
      const model = await buildModel(engine, runConfig(config, head, 1, 1), meta.numClasses, 256);
      const state = await model.module.stateDictToHost();
      const initDir = path.join(dir, `init_${head}`);
      await mkdir(initDir, { recursive: true });
      for (const [k, t] of state) await npy(path.join(initDir, `${k}.npy`), t.data as Float32Array, [...t.shape]);
      model.module.dispose();
    }
  } finally {
    engine.dispose();
  }
  await writeFile(path.join(dir, 'meta.json'), JSON.stringify({ ...meta, checkSeeds: seeds }, null, 2) + '\n');
}

type ProfileEntry = { name: string; calls: number; totalMs: number };

/** Sums of two kernel profiles by name, as plain copies, most GPU time first. */
function mergeProfiles(a: ProfileEntry[], b: ProfileEntry[]): ProfileEntry[] {
  const out = new Map(a.map((e) => [e.name, { name: e.name, calls: e.calls, totalMs: e.totalMs }]));
  for (const e of b) {
    const m = out.get(e.name) ?? { name: e.name, calls: 0, totalMs: 0 };
    m.calls += e.calls;
    m.totalMs += e.totalMs;
    out.set(e.name, m);
  }
  return [...out.values()].sort((x, y) => y.totalMs - x.totalMs);
}

interface Checkpoint { epoch: number; step: number; seconds: number; dice: number | null; classDice: (number | null)[] }

/** Our pipeline on one (head, N), timed on one clock that stops while evaluating. */
async function ours(config: E2EConfig, head: HeadKind, n: number, out: string, profile: boolean): Promise<void> {
  const t0 = performance.now();
  let evalMs = 0;
  let evalCpu = 0;
  const clock = () => (performance.now() - t0 - evalMs) / 1000;
  const phases: Record<string, number> = {};
  const engine = await Engine.create({ profile });
  const emptyCache = await mkdtemp(path.join(os.tmpdir(), 'autosam-e2e-cache-'));
  try {
    const encoder = await loadFrozenEncoder(engine, { encoder: 'mobilesam', inputSize: config.encoderSize });
    phases.setup = clock();
    const { dataset, split } = await loadData(config, n);
    const epochs = ourEpochs(config);
    const rc = runConfig(config, head, n, epochs);
    let prepDone = 0;
    let embedStarted = 0;
    const embedTimes: number[] = [];
    const samples = await trainingSamples(split.train, { axis: split.axis, normalization: { kind: 'minmax' }, size: config.size, views: config.views, seed: config.seed }, {
      encoder, store: new DiskEmbeddingStore(emptyCache),
      onEmbed: (p) => {
        const now = clock();
        if (p.done === 0) prepDone = now;
        else {
          embedTimes.push(now - embedStarted);
          console.log(`ours ${head} N=${n}: embedded ${p.done}/${p.total} at ${now.toFixed(1)} s`);
        }
        embedStarted = now;
      },
    });
    phases.dataPrep = prepDone - phases.setup;
    phases.embedding = clock() - prepDone;
    const embedProfile = profile ? (await engine.sync(), mergeProfiles([], engine.runtime.profileReport())) : null;
    engine.runtime.resetProfile();

    const model = await buildModel(engine, rc, numClasses(dataset), samples[0].inputShape[0]);
    phases.modelBuild = clock() - prepDone - phases.embedding;
    const { image, label } = await split.test[0].case.load();
    const slices = testSlices(split, config.testStride);
    const testStore = new DiskEmbeddingStore(config.testCache);
    const checkpoints: Checkpoint[] = [];
    const stepTimes: number[] = [];
    let stepStarted = clock();
    const trainStarted = clock();
    const points = new Set(evalEpochs(epochs, config.evalPoints));
    let trainProfile: ProfileEntry[] | null = null;
    const { optimizer, position } = await train(model, samples, rc.train, {
      onStep: (info) => {
        const now = clock();
        console.log(`ours ${head} N=${n}: step ${info.step}/${info.totalSteps} loss ${info.loss.toFixed(4)} at ${now.toFixed(1)} s`);
        stepTimes.push(now - stepStarted);
        stepStarted = now;
      },
      onEpoch: async (info) => {
        if (!points.has(info.epoch)) return;
        await engine.sync();
        // profileReport's entries are live (later kernels add to them): copy, and start afresh after evaluating.
        if (profile) trainProfile = mergeProfiles(trainProfile ?? [], engine.runtime.profileReport());
        const seconds = clock();
        const e0 = performance.now();
        const c0 = cpuSeconds();
        const pred = await predictVolume(model, image, { axis: split.axis, normalization: { kind: 'minmax' }, size: config.size, slices, encoder: { encoder, store: testStore } });
        const predicted = slices.map((s) => extractLabelSlice(pred, split.axis, s));
        const score: Score = scoreSlices(label!, split.axis, slices, predicted, dataset.classNames);
        checkpoints.push({ epoch: info.epoch, step: info.step, seconds, ...score });
        console.log(`ours ${head} N=${n}: epoch ${info.epoch}/${epochs} (step ${info.step}) at ${seconds.toFixed(1)} s: Dice ${score.dice?.toFixed(3)}`);
        await engine.sync();
        engine.runtime.resetProfile();
        evalMs += performance.now() - e0;
        evalCpu += cpuSeconds() - c0;
        stepStarted = clock();
      },
    });
    optimizer.dispose();
    phases.training = clock() - trainStarted;
    model.module.dispose();
    encoder.dispose();
    const result = {
      method: 'ours', head, n, adapter: adapterName(engine.report),
      epochs, steps: position.step, bank: samples.length, views: config.views,
      totalSeconds: clock(), evaluationSeconds: evalMs / 1000, phases,
      embedSeconds: embedTimes, stepSeconds: stepTimes,
      peakRssBytes: peakRssBytes(), cpuSeconds: cpuSeconds() - evalCpu, checkpoints,
      profile: profile ? { embedding: embedProfile, training: trainProfile } : undefined,
    };
    await writeFile(out, JSON.stringify(result, null, 2) + '\n');
  } finally {
    engine.dispose();
    await rm(emptyCache, { recursive: true, force: true });
  }
}

/** Scores the reference protocol's predictions (RESULT.json's checkpoints name .npy files of (T, H, W) labels). */
async function score(config: E2EConfig, resultFile: string): Promise<void> {
  const result = JSON.parse(await readFile(resultFile, 'utf8')) as { n: number; checkpoints: ({ prediction: string } & Partial<Score>)[] };
  const { dataset, split } = await loadData(config, result.n);
  const { label } = await split.test[0].case.load();
  const slices = testSlices(split, config.testStride);
  for (const c of result.checkpoints) {
    const arr = readNpy(new Uint8Array(await readFile(path.join(path.dirname(resultFile), c.prediction))));
    const [T, H, W] = arr.shape;
    if (T !== slices.length) throw new Error(`${c.prediction}: ${T} slices, expected ${slices.length}`);
    const data = arr.data as Uint8Array;
    const predicted = slices.map((_, i) => data.subarray(i * H * W, (i + 1) * H * W));
    Object.assign(c, scoreSlices(label!, split.axis, slices, predicted, dataset.classNames));
  }
  await writeFile(resultFile, JSON.stringify(result, null, 2) + '\n');
}

async function main(): Promise<void> {
  const [cmd, configFile, ...rest] = process.argv.slice(2);
  const config = JSON.parse(await readFile(configFile, 'utf8')) as E2EConfig;
  if (cmd === 'export') await exportTest(config, rest[0] ?? path.join(config.work, 'data'));
  else if (cmd === 'ours') await ours(config, rest[0] as HeadKind, Number(rest[1]), rest[2], rest.includes('--profile'));
  else if (cmd === 'score') await score(config, rest[0]);
  else throw new Error(`unknown subcommand ${cmd}`);
  releaseDawnInstances();
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
