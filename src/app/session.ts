// The app's training pipeline, run inside its worker: the one file between the app and the
// library's training modules (src/train), so that moving to the public API (src/api) later changes
// this file only. A session holds one engine, the chosen frozen encoder (its weights hashed at
// once for cache keys, built on the GPU only when an embedding is actually missing), the training
// samples, and the trained head.
import type { Axis } from '../data/dataset.js';
import { parseNormalization } from '../data/normalize.js';
import type { CaseSlices } from '../data/split.js';
import { foregroundPerSlice } from '../data/slice.js';
import type { ImageVolume, LabelVolume } from '../data/volume.js';
import { Engine } from '../engine.js';
import { DataError, UsageError } from '../errors.js';
import { noGrad } from '../graph/autograd.js';
import { asHostTensors, loadCheckpoint, selectPart } from '../io/checkpoint.js';
import { readOnnx } from '../io/onnx.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import { TINY_VIT_5M } from '../models/mobilesam/config.js';
import { TinyVit } from '../models/mobilesam/encoder.js';
import { checkMobileSamConstants, mobileSamStateDictFromOnnx } from '../models/mobilesam/onnx-weights.js';
import { samDecoderStateDictFromOnnx } from '../models/sam-decoder-weights.js';
import { loadSamEncoder } from '../models/sam/index.js';
import type { HostTensor, Module } from '../nn/module.js';
import { reduce } from '../ops/reduce.js';
import type { Tensor } from '../tensor/tensor.js';
import { embeddingKey, sha256Hex, type EmbeddingStore } from '../train/embedding-cache.js';
import { embedImages, type EmbedProgress, type FrozenEncoder } from '../train/frozen-encoder.js';
import type { Sample, TrainableModel } from '../train/model.js';
import { createTrainable } from '../train/models.js';
import { predictVolume } from '../train/predict.js';
import type { RunConfig } from '../train/run-config.js';
import { augmentationBank, prepareSquareSlices, viewId } from '../train/samples.js';
import { train, type TrainConfig } from '../train/trainer.js';

/** Version of SAM's grey-slice preprocessing, as in Node's frozen-encoder-node.ts: part of every cache key. */
const PREPROCESS = 'sam-grey-minmax255-longest-bilinear-meanstd-pad:v1';

export type HeadKind = 'linear' | 'cnn' | 'autosam';

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
  samples: number;
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

interface StoreWithHas extends EmbeddingStore {
  has?(key: string): Promise<boolean>;
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

/** Pooled per-class Dice of predictions against labels, classes 1..C-1. */
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
  private encoderSource: EncoderSource | null = null;
  private encoderIdentity = '';
  private encoderModule: Module & { forward(x: Tensor): Tensor } | null = null;
  private samDecoder: Map<string, HostTensor> | undefined;
  private samples: Sample[] = [];
  private settings: SampleSettings | null = null;
  private numClasses = 0;
  private model: TrainableModel | null = null;
  private trained: { head: HeadKind; config: TrainConfig; steps: number; finalLoss: number } | null = null;

  private constructor(readonly engine: Engine, readonly store: StoreWithHas) {}

  static async create(store: StoreWithHas): Promise<FinetuneSession> {
    return new FinetuneSession(await Engine.create(), store);
  }

  /** Chooses the encoder: hashes its weights now (cache identity), builds it on the GPU only when needed. */
  async setEncoder(source: EncoderSource): Promise<void> {
    this.encoderModule?.dispose();
    this.encoderModule = null;
    const hash = await sha256Hex(source.bytes);
    if (source.kind === 'mobilesam') {
      if (!(Number.isInteger(source.inputSize) && source.inputSize >= 64 && source.inputSize <= 1024 && source.inputSize % 64 === 0)) {
        throw new UsageError(`MobileSAM input size must be a multiple of 64 in 64..1024, got ${source.inputSize}`);
      }
      this.encoderIdentity = `mobilesam|${hash}|${PREPROCESS}|${source.inputSize}`;
      this.samDecoder = source.samOnnx ? samDecoderStateDictFromOnnx(readOnnx(source.samOnnx, 'sam.onnx'), 'sam.onnx') : undefined;
    } else {
      // Parse the checkpoint now: a file that is not a SAM checkpoint is reported when picked.
      const all = loadCheckpoint(source.bytes);
      const part = asHostTensors(selectPart(all, 'mask_decoder'));
      this.samDecoder = new Map([...part].map(([k, t]) => [`mask_decoder.${k}`, t]));
      this.encoderIdentity = `sam-vit|${source.variant}|${hash}|${PREPROCESS}|1024`;
    }
    this.encoderSource = source;
    this.samples = [];
  }

  get encoderInputSize(): number {
    const s = this.encoderSource;
    if (!s) throw new UsageError('choose an encoder first');
    return s.kind === 'mobilesam' ? s.inputSize : 1024;
  }

  private async buildEncoder(): Promise<void> {
    if (this.encoderModule) return;
    const s = this.encoderSource;
    if (!s) throw new UsageError('choose an encoder first');
    if (s.kind === 'mobilesam') {
      const model = readOnnx(s.bytes, 'encoder.onnx');
      checkMobileSamConstants(model, 'encoder.onnx');
      // The same weights at another input side: TinyViT's attention biases are per window (see loadMobileSamEncoder).
      const encoder = new TinyVit(this.engine, { ...TINY_VIT_5M, imageSize: s.inputSize });
      await encoder.load(mobileSamStateDictFromOnnx(model, 'encoder.onnx'));
      this.encoderModule = encoder;
    } else {
      this.encoderModule = loadSamEncoder(this.engine, s.variant, s.bytes);
    }
  }

  private frozenEncoder(): FrozenEncoder {
    const name = this.encoderSource?.kind === 'sam' ? this.encoderSource.variant : 'mobilesam';
    return {
      name, identity: this.encoderIdentity, inputSize: this.encoderInputSize, engine: this.engine,
      forward: (x) => {
        if (!this.encoderModule) throw new UsageError('the encoder is not built');
        return this.encoderModule.forward(x);
      },
      dispose: () => {},
    };
  }

  /** Prepares the labelled slices and their embeddings (from the cache where present). */
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
    const images = bank.map((s) => ({ data: s.image, height: s.height, width: s.width }));
    let encoderBuilt = false;
    if (!this.encoderModule) {
      const keys = await Promise.all(images.map((im) => embeddingKey(this.encoderIdentity, im.data, [im.height, im.width])));
      const present = this.store.has ? await Promise.all(keys.map((k) => this.store.has!(k))) : keys.map(() => false);
      if (present.some((p) => !p)) {
        await this.buildEncoder();
        encoderBuilt = true;
      }
    }
    let cached = 0;
    const embeddings = await embedImages(this.frozenEncoder(), this.store, images, {
      signal,
      onProgress: (p) => {
        cached = p.cached;
        onProgress(p);
      },
    });
    const per = settings.views + 1;
    const labelSize: [number, number] = [settings.size, settings.size];
    this.samples = bank.map((s, i) => ({ id: viewId(s, i % per), inputShape: embeddings[i].shape, input: embeddings[i].data, label: s.label!, labelSize }));
    this.settings = settings;
    this.numClasses = 0;
    for (const c of labelled) for (let i = 0; i < c.label!.data.length; i++) this.numClasses = Math.max(this.numClasses, c.label!.data[i] + 1);
    return { total: images.length, cached, samples: this.samples.length, seconds: (performance.now() - t0) / 1000, encoderBuilt };
  }

  /** Trains a fresh head on the embedded samples; per-class Dice on the original slices after each epoch. */
  async train(head: HeadKind, config: TrainConfig, numClasses: number, hooks: { onStep(step: number, total: number, loss: number): void; onEpoch(r: EpochReport): void; signal?: AbortSignal }): Promise<void> {
    if (this.samples.length === 0) throw new UsageError('embed the labelled slices first');
    const classes = Math.max(numClasses, this.numClasses, 2);
    this.model?.module.dispose();
    this.model = null;
    this.trained = null;
    const model = createTrainable(this.engine, head, classes, {
      seed: config.seed, embedChannels: this.samples[0].inputShape[0], samDecoder: head === 'autosam' ? this.samDecoder : undefined,
    });
    const originals = this.samples.filter((s) => s.id.endsWith('/view0'));
    let lastLoss = NaN;
    try {
      const { position, optimizer } = await train(model, this.samples, config, {
        signal: hooks.signal,
        onStep: (info) => {
          lastLoss = info.loss;
          hooks.onStep(info.step, info.totalSteps, info.loss);
        },
        onEpoch: async (info) => {
          const dice = await this.diceOn(model, originals, classes);
          hooks.onEpoch({ epoch: info.epoch, step: info.step, loss: info.loss, dice, seconds: info.seconds });
        },
      });
      optimizer.dispose();
      this.model = model;
      this.trained = { head, config, steps: position.step, finalLoss: lastLoss };
    } catch (err) {
      model.module.dispose();
      throw err;
    }
  }

  private async diceOn(model: TrainableModel, samples: readonly Sample[], classes: number): Promise<(number | null)[]> {
    model.module.eval();
    const pairs: { pred: Int32Array; label: Uint8Array }[] = [];
    for (const s of samples) {
      const pred = await this.engine.scopeAsync(async () => {
        const x = this.engine.tensor(s.input, [1, ...s.inputShape]);
        const logits = noGrad(() => model.forward(x, s.labelSize));
        return (await reduce('argmax', logits, 1).read()) as Int32Array;
      });
      pairs.push({ pred, label: s.label });
    }
    model.module.train();
    return pooledDice(pairs, classes);
  }

  get hasModel(): boolean {
    return this.model !== null;
  }

  /** Segments the given slices (default all) of a volume with the trained head. */
  async predict(image: ImageVolume, onProgress: (done: number, total: number) => void, signal?: AbortSignal, slices?: number[]): Promise<LabelVolume> {
    if (!this.model || !this.settings) throw new UsageError('train a head first');
    await this.buildEncoder();
    const s = this.settings;
    return predictVolume(this.model, image, {
      axis: s.axis, normalization: parseNormalization(s.normalization), size: s.size, slices,
      encoder: { encoder: this.frozenEncoder(), store: this.store }, onProgress, signal,
    });
  }

  /**
   * The trained head as safetensors (PyTorch state_dict names, format 'pt') and a run.json that
   * lets `autosam predict --run DIR` use it (DIR holding both files).
   */
  async exportHead(classNames: string[], datasetName: string): Promise<{ safetensors: Uint8Array; runJson: string }> {
    if (!this.model || !this.trained || !this.settings) throw new UsageError('train a head first');
    const { head, config, steps, finalLoss } = this.trained;
    const weights = await this.model.module.stateDictToHost();
    const safetensors = writeSafetensors(weights, { format: 'pt', head, classes: String(this.model.numClasses) });
    const src = this.encoderSource!;
    const s = this.settings;
    const runConfig: RunConfig = {
      version: 1, data: `browser:${datasetName}`,
      split: { kind: 'volume', labelled: 1, validation: 0, seed: s.seed },
      testStride: 1,
      encoder: src.kind === 'mobilesam' ? { name: 'mobilesam', inputSize: src.inputSize } : { name: src.variant, checkpoint: src.fileName },
      head, normalization: s.normalization, size: s.size, views: s.views, train: config, unetBase: 16,
    };
    const names = Array.from({ length: this.model.numClasses }, (_, k) => classNames[k] ?? `class ${k}`);
    const status = {
      config: runConfig, status: 'trained', classNames: names, axis: s.axis,
      inputChannels: this.samples[0]?.inputShape[0] ?? 256, samples: this.samples.length, steps, finalLoss,
    };
    return { safetensors, runJson: JSON.stringify(status, null, 2) + '\n' };
  }

  dispose(): void {
    this.model?.module.dispose();
    this.encoderModule?.dispose();
    this.engine.dispose();
  }
}
