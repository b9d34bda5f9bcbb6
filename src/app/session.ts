// The app's training pipeline, run inside its worker, on the library API (src/api): the one file
// between the app and the library. A session holds one engine, the chosen frozen encoder (its
// weights hashed at once for the cache keys, built on the GPU only when an embedding is actually
// missing, so a reload with everything cached never loads it), the training set, and the head.
import {
  createEngine, createHead, loadEncoder, predict, trainHead,
  type Embedding, type Encoder, type EncoderSpec, type Head, type HeadKind, type LabelMap,
} from '../api/index.js';
import type { Axis } from '../data/dataset.js';
import { normalizeIntensity, parseNormalization, type Normalization } from '../data/normalize.js';
import { resizeBilinear } from '../data/resize.js';
import { extractImageSlice, foregroundPerSlice, insertSlice, sliceLayout } from '../data/slice.js';
import type { CaseSlices } from '../data/split.js';
import type { ImageVolume, LabelVolume } from '../data/volume.js';
import type { Engine } from '../engine.js';
import { DataError, UsageError } from '../errors.js';
import { samVitConfig } from '../models/sam/config.js';
import { embeddingKey, sha256Hex, type EmbeddingEntry, type EmbeddingStore } from '../train/embedding-cache.js';
import { embedImages, type EmbedProgress } from '../train/frozen-encoder.js';
import type { RunConfig } from '../train/run-config.js';
import { augmentationBank, prepareSquareSlices } from '../train/samples.js';
import type { TrainConfig } from '../train/trainer.js';

export type { HeadKind };

/** SAM's grey-slice preprocessing version, as in src/api/encoder.ts: part of every cache key. */
const PREPROCESS = 'sam-grey-minmax255-longest-bilinear-meanstd-pad:v1';

export type EncoderSource =
  | { kind: 'mobilesam'; bytes: Uint8Array; inputSize: number; samOnnx?: Uint8Array }
  | { kind: 'sam'; variant: 'vit_b' | 'vit_l' | 'vit_h'; bytes: Uint8Array; fileName: string };

export interface SessionCase {
  id: string;
  image: ImageVolume;
  label: LabelVolume | null;
}

export interface SampleSettings {
  axis: Axis;
  /** parseNormalization text: 'minmax', 'percentile:0.5,99.5', ... */
  normalization: string;
  /** Slices and labels are resized to size x size. */
  size: number;
  /** Augmented views per labelled slice, besides the original. */
  views: number;
  /** At most this many labelled slices per case, evenly spread over the slices with foreground. */
  slicesPerCase: number;
  seed: number;
}

export interface EmbedResult {
  total: number;
  cached: number;
  seconds: number;
  /** Whether the encoder had to be built on the GPU (false: every embedding came from the cache). */
  encoderBuilt: boolean;
}

export interface EpochReport {
  epoch: number;
  step: number;
  loss: number;
  /** Dice per class 1..C-1 on the labelled slices (null where a class is absent in both). */
  dice: (number | null)[];
  seconds: number;
}

/** Up to `count` indices spread evenly over `candidates` (all of them when there are fewer). */
export function spreadPick(candidates: readonly number[], count: number): number[] {
  if (candidates.length <= count) return [...candidates];
  if (count === 1) return [candidates[Math.floor(candidates.length / 2)]];
  return Array.from({ length: count }, (_, i) => candidates[Math.round((i * (candidates.length - 1)) / (count - 1))]);
}

/** Which slices of a labelled case are trained on: those with foreground, spread. */
export function trainingSliceIndices(label: LabelVolume, axis: Axis, count: number): number[] {
  const fg = foregroundPerSlice(label, axis);
  return spreadPick(fg.flatMap((n, i) => (n > 0 ? [i] : [])), count);
}

/** Pooled per-class Dice of predictions against labels, classes 1..C-1 (null: absent from both). */
export function pooledDice(pairs: readonly { pred: ArrayLike<number>; label: ArrayLike<number> }[], numClasses: number): (number | null)[] {
  const inter = new Float64Array(numClasses);
  const sizes = new Float64Array(numClasses);
  for (const { pred, label } of pairs) {
    for (let i = 0; i < label.length; i++) {
      const p = pred[i], t = label[i];
      sizes[p]++;
      sizes[t]++;
      if (p === t) inter[p]++;
    }
  }
  return Array.from({ length: numClasses - 1 }, (_, k) => (sizes[k + 1] === 0 ? null : (2 * inter[k + 1]) / sizes[k + 1]));
}

export class FinetuneSession {
  private source: EncoderSource | null = null;
  /** The cache-key prefix, known from the weights' hash before the encoder is built (the API's formula). */
  private identity = '';
  private encoder: Encoder | null = null;
  private embeddings: Embedding[] = [];
  private labels: LabelMap[] = [];
  /** Indices (into embeddings) of the original, un-augmented slices: the Dice plot's. */
  private originals: number[] = [];
  private settings: SampleSettings | null = null;
  private labelClasses = 0;
  private head: Head | null = null;
  private trained: { head: HeadKind; config: TrainConfig; steps: number; finalLoss: number } | null = null;

  private constructor(readonly engine: Engine, readonly store: EmbeddingStore) {}

  static async create(store: EmbeddingStore): Promise<FinetuneSession> {
    return new FinetuneSession(await createEngine(), store);
  }

  /** Chooses the encoder: hashes its weights now (the cache identity); builds it only when needed. */
  async setEncoder(source: EncoderSource): Promise<void> {
    this.encoder?.dispose();
    this.encoder = null;
    const hash = await sha256Hex(source.bytes);
    if (source.kind === 'mobilesam') {
      if (!(Number.isInteger(source.inputSize) && source.inputSize >= 64 && source.inputSize <= 1024 && source.inputSize % 64 === 0)) {
        throw new UsageError(`MobileSAM input size must be a multiple of 64 in 64..1024, got ${source.inputSize}`);
      }
      this.identity = `mobilesam|${hash}|${PREPROCESS}|${source.inputSize}`;
    } else {
      const config = samVitConfig(source.variant);
      this.identity = `sam-vit|${JSON.stringify(config)}|${hash}|${PREPROCESS}|${config.img_size}`;
    }
    this.source = source;
    this.embeddings = [];
    this.labels = [];
  }

  /** The encoder on the GPU, built on first need (the identity then comes from the API itself). */
  private async builtEncoder(): Promise<Encoder> {
    if (this.encoder) return this.encoder;
    const s = this.source;
    if (!s) throw new UsageError('choose an encoder first');
    const spec: EncoderSpec = s.kind === 'mobilesam'
      ? { kind: 'mobilesam', weights: s.bytes, inputSize: s.inputSize }
      : { kind: 'sam', config: s.variant, checkpoint: s.bytes };
    this.encoder = await loadEncoder(this.engine, spec);
    this.identity = this.encoder.identity;
    return this.encoder;
  }

  /**
   * Embeddings of square grey images through the store. Before the encoder is built, the store is
   * read first (each entry verified by its checksum): when every entry is there, that is the answer
   * and the encoder is never loaded; otherwise it is built and embedImages fills the gaps.
   */
  private async embedSquare(images: { data: Float32Array; height: number; width: number }[], onProgress: (p: EmbedProgress) => void, signal?: AbortSignal): Promise<{ embeddings: Embedding[]; built: boolean }> {
    const withSize = (entries: EmbeddingEntry[]): Embedding[] => entries.map((e, i) => ({ data: e.data, shape: e.shape, imageSize: [images[i].height, images[i].width] }));
    let built = false;
    if (!this.encoder) {
      const found: EmbeddingEntry[] = [];
      for (const im of images) {
        signal?.throwIfAborted();
        const entry = await this.store.get(await embeddingKey(this.identity, im.data, [im.height, im.width]));
        if (!entry) break; // absent or damaged: the encoder is needed
        found.push(entry);
        onProgress({ done: found.length, total: images.length, cached: found.length });
      }
      if (found.length === images.length) return { embeddings: withSize(found), built };
      await this.builtEncoder();
      built = true;
    }
    const entries = await embedImages(this.encoder!.frozenEncoder, this.store, images, { onProgress, signal });
    return { embeddings: withSize(entries), built };
  }

  /** Prepares the labelled slices (normalised, resized, augmented) and their embeddings. */
  async embed(cases: readonly SessionCase[], settings: SampleSettings, onProgress: (p: EmbedProgress) => void, signal?: AbortSignal): Promise<EmbedResult> {
    const t0 = performance.now();
    const labelled = cases.filter((c) => c.label);
    if (labelled.length === 0) throw new DataError('no label maps: add at least one scan with its label map to train on');
    const normalization = parseNormalization(settings.normalization);
    const parts: CaseSlices[] = labelled.map((c) => ({
      case: { id: c.id, group: c.id, hasLabel: true, load: async () => ({ image: c.image, label: c.label }) },
      slices: trainingSliceIndices(c.label!, settings.axis, settings.slicesPerCase),
    }));
    const slices = await prepareSquareSlices(parts, { axis: settings.axis, normalization, size: settings.size });
    const bank = augmentationBank(slices, settings.views, settings.seed);
    let cached = 0;
    const { embeddings, built } = await this.embedSquare(bank.map((s) => ({ data: s.image, height: s.height, width: s.width })), (p) => {
      cached = p.cached;
      onProgress(p);
    }, signal);
    this.embeddings = embeddings;
    this.labels = bank.map((s) => ({ data: s.label!, height: s.height, width: s.width }));
    this.originals = bank.flatMap((_, i) => (i % (settings.views + 1) === 0 ? [i] : []));
    this.settings = settings;
    this.labelClasses = 0;
    for (const c of labelled) for (let i = 0; i < c.label!.data.length; i++) this.labelClasses = Math.max(this.labelClasses, c.label!.data[i] + 1);
    return { total: bank.length, cached, seconds: (performance.now() - t0) / 1000, encoderBuilt: built };
  }

  /** Trains a fresh head on the embedded samples; per-class Dice on the original slices after each epoch. */
  async train(kind: HeadKind, config: TrainConfig, numClasses: number, hooks: { onStep(step: number, total: number, loss: number): void; onEpoch(r: EpochReport): void; signal?: AbortSignal }): Promise<void> {
    if (this.embeddings.length === 0) throw new UsageError('embed the labelled slices first');
    const classes = Math.max(numClasses, this.labelClasses, 2);
    this.head?.dispose();
    this.head = null;
    this.trained = null;
    const s = this.source!;
    const samDecoder = kind !== 'autosam' ? undefined : s.kind === 'mobilesam' ? s.samOnnx : s.bytes;
    const head = await createHead(this.engine, { kind, numClasses: classes, embedChannels: this.embeddings[0].shape[0], seed: config.seed, samDecoder });
    try {
      const originals = this.originals.map((i) => ({ embedding: this.embeddings[i], label: this.labels[i] }));
      const result = await trainHead(head, { embeddings: this.embeddings, labels: this.labels }, {
        epochs: config.epochs, batchSize: config.batchSize, lr: config.lr, seed: config.seed, schedule: config.schedule, signal: hooks.signal,
        onStep: (info) => hooks.onStep(info.step, info.totalSteps, info.loss),
        onEpoch: async (info) => {
          const preds = await predict(head, originals.map((o) => o.embedding), { signal: hooks.signal });
          const dice = pooledDice(preds.map((p, i) => ({ pred: p.data, label: originals[i].label.data })), classes);
          hooks.onEpoch({ epoch: info.epoch, step: info.step, loss: info.loss, dice, seconds: info.seconds });
        },
      });
      this.head = head;
      this.trained = { head: kind, config, steps: result.steps, finalLoss: result.finalLoss };
    } catch (err) {
      head.dispose();
      throw err;
    }
  }

  get hasHead(): boolean {
    return this.head !== null;
  }

  /**
   * Segments a volume slice by slice, each slice prepared exactly as in training (normalised per
   * slice, resized to S x S, embedded through the cache), the head's logits resized back to the
   * slice's own size; the label volume keeps the input's grid.
   */
  async predictVolume(image: ImageVolume, onProgress: (done: number, total: number) => void, signal?: AbortSignal, slices?: number[]): Promise<Uint8Array> {
    if (!this.head || !this.settings) throw new UsageError('train a head first');
    const { size } = this.settings;
    const axis: Axis = image.dims[2] === 1 ? 2 : this.settings.axis;
    const normalization: Normalization = parseNormalization(this.settings.normalization);
    const layout = sliceLayout(image.dims, image.spacing, axis);
    const indices = slices ?? Array.from({ length: layout.count }, (_, i) => i);
    const out = new Uint8Array(image.data.length);
    onProgress(0, indices.length);
    for (const [n, index] of indices.entries()) {
      signal?.throwIfAborted();
      const prepared = resizeBilinear(normalizeIntensity(extractImageSlice(image, axis, index), normalization), layout.height, layout.width, size, size);
      const { embeddings } = await this.embedSquare([{ data: prepared, height: size, width: size }], () => {}, signal);
      const [pred] = await predict(this.head, embeddings, { outputSize: [layout.height, layout.width], signal });
      insertSlice(out, image.dims, axis, index, pred.data);
      onProgress(n + 1, indices.length);
    }
    return out;
  }

  /**
   * The trained head as safetensors (PyTorch state_dict names, format 'pt') and a run.json that
   * lets `autosam predict --run DIR` use it (DIR holding both files).
   */
  async exportHead(classNames: string[], datasetName: string): Promise<{ safetensors: Uint8Array; runJson: string }> {
    if (!this.head || !this.trained || !this.settings) throw new UsageError('train a head first');
    const { head, config, steps, finalLoss } = this.trained;
    const safetensors = await this.head.exportSafetensors();
    const src = this.source!;
    const s = this.settings;
    const runConfig: RunConfig = {
      version: 1, data: `browser:${datasetName}`,
      split: { kind: 'volume', labelled: 1, validation: 0, seed: s.seed },
      testStride: 1,
      // A SAM checkpoint is named by its file name: put its path here before using run.json with the CLI.
      encoder: src.kind === 'mobilesam' ? { name: 'mobilesam', inputSize: src.inputSize } : { name: src.variant, checkpoint: src.fileName },
      head, normalization: s.normalization, size: s.size, views: s.views, train: config, unetBase: 16,
    };
    const status = {
      config: runConfig, status: 'trained',
      classNames: Array.from({ length: this.head.numClasses }, (_, k) => classNames[k] ?? `class ${k}`),
      axis: s.axis, inputChannels: this.head.embedChannels, samples: this.embeddings.length, steps, finalLoss,
    };
    return { safetensors, runJson: JSON.stringify(status, null, 2) + '\n' };
  }

  dispose(): void {
    this.head?.dispose();
    this.encoder?.dispose();
    this.engine.dispose();
  }
}
