// Evaluating and applying a trained run (Node): the trained weights from RUN_DIR/head.safetensors,
// the test part of the run's split (or every labelled case of another dataset), per-volume 3D Dice
// and HD95 in mm from the voxel spacing, RUN_DIR/eval.json, and predictions of new volumes.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { numClasses } from '../data/dataset.js';
import { loadDatasetFromDisk } from '../data/sources-node.js';
import type { CaseSlices } from '../data/split.js';
import { insertSlice, extractLabelSlice } from '../data/slice.js';
import type { ImageVolume, LabelVolume } from '../data/volume.js';
import { Engine } from '../engine.js';
import { FormatError, UsageError } from '../errors.js';
import { volumeClassMetrics } from '../eval/metrics.js';
import { buildReport, type EvaluationReport, type VolumeMetrics } from '../eval/report.js';
import { readSafetensors } from '../io/safetensors.js';
import type { HostTensor } from '../nn/module.js';
import { DiskEmbeddingStore, writeFileAtomic } from './embedding-cache-node.js';
import type { EmbeddingStore } from './embedding-cache.js';
import type { FrozenEncoder } from './frozen-encoder.js';
import { encoderChoice, loadFrozenEncoder } from './frozen-encoder-node.js';
import type { TrainableModel } from './model.js';
import { usesEncoder } from './models.js';
import { normalizationOf, type RunConfig } from './run-config.js';
import { buildModel, loadSplit, readRunStatus, RUN_FILES, strideSlices, type RunStatus } from './run.js';
import { predictVolume } from './predict.js';

export interface ApplyHooks {
  log?(line: string): void;
  onSlice?(done: number, total: number, volume: string): void;
  store?: EmbeddingStore;
  engine?: Engine;
  encoder?: FrozenEncoder;
  signal?: AbortSignal;
}

/** A run's trained model on an engine, weights loaded from head.safetensors (strict key and shape check). */
export async function loadTrainedModel(engine: Engine, runDir: string, status: RunStatus): Promise<TrainableModel> {
  if (status.status !== 'trained') throw new UsageError(`${runDir} has not finished training (status ${status.status}); run autosam train --out ${runDir} --resume`);
  const file = path.join(runDir, RUN_FILES.weights);
  const bytes = await readFile(file).catch(() => { throw new FormatError(`${file} is missing`); });
  const tensors = new Map<string, HostTensor>();
  for (const [k, t] of readSafetensors(new Uint8Array(bytes)).tensors) {
    if (!(t.data instanceof Float32Array)) throw new FormatError(`${file}: ${k} is ${t.dtype}, expected float32`);
    tensors.set(k, { shape: t.shape, data: t.data });
  }
  const model = await buildModel(engine, status.config, status.classNames.length, status.inputChannels ?? (status.config.head === 'unet' ? 1 : 256));
  try {
    model.module.loadStateDict(tensors);
  } catch (err) {
    model.module.dispose();
    throw err;
  }
  return model;
}

/** Runs fn with an engine, the trained model and (for heads) the encoder, disposing what it created. */
async function withRunModel<T>(runDir: string, hooks: ApplyHooks, fn: (ctx: { status: RunStatus; model: TrainableModel; encoder: FrozenEncoder | null; store: EmbeddingStore }) => Promise<T>): Promise<T> {
  const status = await readRunStatus(runDir);
  const engine = hooks.engine ?? (await Engine.create());
  const needEncoder = usesEncoder(status.config.head);
  const ownsEncoder = needEncoder && !hooks.encoder;
  let encoder: FrozenEncoder | null = hooks.encoder ?? null;
  let model: TrainableModel | null = null;
  try {
    model = await loadTrainedModel(engine, runDir, status);
    if (ownsEncoder) {
      const e = status.config.encoder;
      encoder = await loadFrozenEncoder(engine, encoderChoice(e));
    }
    return await fn({ status, model, encoder: needEncoder ? encoder : null, store: hooks.store ?? new DiskEmbeddingStore() });
  } finally {
    model?.module.dispose();
    if (ownsEncoder) encoder?.dispose();
    if (!hooks.engine) engine.dispose();
  }
}

/** The ground truth restricted to the evaluated slices (a slab), so Dice and HD95 measure exactly those. */
function truthOnSlices(label: LabelVolume, axis: 0 | 1 | 2, slices: number[] | null): LabelVolume {
  if (!slices) return label;
  const data = new Uint8Array(label.data.length);
  for (const s of slices) insertSlice(data, label.dims, axis, s, extractLabelSlice(label, axis, s));
  return { ...label, data };
}

/**
 * Evaluates a trained run on its split's test part (testStride applied), or with dataSpec on every
 * labelled case of that dataset. Writes RUN_DIR/eval.json and returns the report.
 */
export async function evaluateRun(runDir: string, options: { dataSpec?: string } & ApplyHooks = {}): Promise<EvaluationReport & { data: string; slices: number }> {
  return withRunModel(runDir, options, async ({ status, model, encoder, store }) => {
    const config = status.config;
    let parts: CaseSlices[];
    let axis: 0 | 1 | 2;
    let classNames = status.classNames;
    if (options.dataSpec) {
      const dataset = await loadDatasetFromDisk(options.dataSpec);
      if (numClasses(dataset) !== status.classNames.length) {
        throw new UsageError(`${options.dataSpec} has ${numClasses(dataset)} classes; the run was trained for ${status.classNames.length}`);
      }
      parts = dataset.cases.filter((c) => c.hasLabel).map((c) => ({ case: c, slices: null }));
      if (parts.length === 0) throw new UsageError(`${options.dataSpec} has no labelled cases to evaluate on`);
      axis = dataset.defaultAxis;
      classNames = dataset.classNames;
    } else {
      const { split } = await loadSplit(config);
      parts = strideSlices(split.test, config.testStride);
      axis = split.axis;
      if (parts.length === 0) throw new UsageError(`the run's split has no test part (${JSON.stringify(config.split)})`);
    }
    const volumes: VolumeMetrics[] = [];
    let sliceCount = 0;
    for (const part of parts) {
      const { image, label } = await part.case.load();
      if (!label) continue;
      const pred = await predictVolume(model, image, {
        axis, normalization: normalizationOf(config), size: config.size, slices: part.slices ?? undefined,
        encoder: encoder ? { encoder, store } : null,
        onProgress: (done, total) => options.onSlice?.(done, total, part.case.id),
        signal: options.signal,
      });
      sliceCount += part.slices?.length ?? image.dims[axis];
      volumes.push({ name: part.case.id, classes: volumeClassMetrics(pred, truthOnSlices(label, axis, part.slices), classNames.length) });
    }
    const report = { ...buildReport(volumes, classNames), data: options.dataSpec ?? config.data, slices: sliceCount };
    await writeFileAtomic(path.join(runDir, RUN_FILES.evaluation), JSON.stringify(report, null, 2) + '\n');
    return report;
  });
}

/** Segments every slice of `image` along `axis` (default: the run's) with a trained run. */
export async function predictWithRun(runDir: string, image: ImageVolume, options: { axis?: 0 | 1 | 2 } & ApplyHooks = {}): Promise<LabelVolume> {
  return withRunModel(runDir, options, async ({ status, model, encoder, store }) => {
    const config: RunConfig = status.config;
    const axis = options.axis ?? status.axis;
    return predictVolume(model, image, {
      axis, normalization: normalizationOf(config), size: config.size, encoder: encoder ? { encoder, store } : null,
      onProgress: (done, total) => options.onSlice?.(done, total, 'input'), signal: options.signal,
    });
  });
}
