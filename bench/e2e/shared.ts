// What both sides of the end-to-end comparison share: the bench configuration, the split and the
// test slices, and the one scoring function (src/eval's 3D Dice on the scored slices) that every
// prediction goes through, ours and the reference protocol's alike.
import type { Dataset } from '../../src/data/dataset.js';
import { loadDatasetFromDisk } from '../../src/data/sources-node.js';
import { extractLabelSlice, insertSlice } from '../../src/data/slice.js';
import { splitDataset, type DatasetSplit } from '../../src/data/split.js';
import type { LabelVolume } from '../../src/data/volume.js';
import { volumeClassMetrics } from '../../src/eval/metrics.js';
import { buildReport } from '../../src/eval/report.js';
import type { HeadKind } from '../../src/models/heads/index.js';
import { stepsPerEpoch } from '../../src/train/trainer.js';

export interface E2EConfig {
  data: string;
  heads: HeadKind[];
  ns: number[];
  /** Passes over the N labelled slices (the reference's epochs); ours trains on the same number of sample visits. */
  epochs: number;
  /** Augmented views per slice in our bank (besides the original). */
  views: number;
  /** Slices are resized to size x size (labels too); predictions come back at the slice's own size. */
  size: number;
  /** The encoder's input side, both sides (encoder.onnx takes only 1024). */
  encoderSize: number;
  batchSize: number;
  lr: number;
  seed: number;
  gap: number;
  testStride: number;
  /** Evaluation points per run, spread evenly over its epochs (the last epoch always included). */
  evalPoints: number;
  /** Threads for PyTorch and onnxruntime (the machine's cores). */
  threads: number;
  /** Where the exported data and run outputs go. */
  work: string;
  /** Embedding cache for the test slices only (evaluation, off the clock; content-addressed, so shared between runs). */
  testCache: string;
  /** Our epochs over the bank; default: the same number of sample visits as the reference (ourEpochs). */
  oursEpochs?: number;
}

export async function loadData(config: E2EConfig, labelled: number): Promise<{ dataset: Dataset; split: DatasetSplit }> {
  const dataset = await loadDatasetFromDisk(config.data);
  const split = await splitDataset(dataset, { kind: 'slab', labelled, validation: 0, gap: config.gap, seed: config.seed });
  return { dataset, split };
}

/** The scored test slices: every testStride-th slice of the test slab (as autosam eval's --test-stride). */
export function testSlices(split: DatasetSplit, stride: number): number[] {
  const slices = split.test[0].slices;
  if (!slices) throw new Error('e2e: the test part lists no slices (expected a slab split)');
  return slices.filter((_, i) => i % stride === 0);
}

/**
 * Our epochs for a run: the reference sees each labelled slice `epochs` times (freshly augmented);
 * our bank holds views + 1 versions of each, so the same number of sample visits is epochs / (views + 1)
 * passes over the bank (at least 1).
 */
export function ourEpochs(config: E2EConfig): number {
  if (config.oursEpochs) return config.oursEpochs;
  return Math.max(1, Math.round(config.epochs / (config.views + 1)));
}

/** Epochs (1-based, ascending) after which a run with `epochs` epochs is evaluated. */
export function evalEpochs(epochs: number, points: number): number[] {
  const out = new Set<number>();
  for (let k = 1; k <= points; k++) out.add(Math.max(1, Math.round((epochs * k) / points)));
  out.add(epochs);
  return [...out].sort((a, b) => a - b);
}

export const referenceSteps = (config: E2EConfig, n: number) => config.epochs * stepsPerEpoch(n, config.batchSize);
export const ourSteps = (config: E2EConfig, n: number) => ourEpochs(config) * stepsPerEpoch(n * (config.views + 1), config.batchSize);

export interface Score {
  /** Mean foreground Dice (the classes' mean over the scored slices, as autosam eval reports it). */
  dice: number | null;
  classDice: (number | null)[];
}

/**
 * 3D Dice of predicted label slices (each height x width, in the order of `slices`) against the
 * ground truth restricted to the same slices, with src/eval (what autosam eval runs).
 */
export function scoreSlices(truth: LabelVolume, axis: 0 | 1 | 2, slices: number[], predicted: ArrayLike<number>[], classNames: string[]): Score {
  if (predicted.length !== slices.length) throw new Error(`e2e: ${predicted.length} predicted slices for ${slices.length} scored ones`);
  const pred = new Uint8Array(truth.data.length);
  const gt = new Uint8Array(truth.data.length);
  slices.forEach((s, i) => {
    insertSlice(pred, truth.dims, axis, s, predicted[i]);
    insertSlice(gt, truth.dims, axis, s, extractLabelSlice(truth, axis, s));
  });
  const classes = volumeClassMetrics({ ...truth, data: pred }, { ...truth, data: gt }, classNames.length);
  const report = buildReport([{ name: 'test slab', classes }], classNames);
  return { dice: report.foreground.dice, classDice: report.classes.map((c) => c.dice) };
}

export const peakRssBytes = () => process.resourceUsage().maxRSS * 1024;

/** This process's CPU time, every thread (lavapipe's workers included): moves less with other load than wall time. */
export const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
