// The label-efficiency experiment of the AutoSAM paper, on one machine in one run: every head on the
// frozen encoder's embeddings and the UNet baseline on the images, each trained with N labelled
// slices (nested: the N = 1 slice is among the N = 4, which are among the N = 16) from one slab and
// evaluated on a held-out slab beyond a gap. One engine and one encoder serve every run; embeddings
// come from the shared cache, so a second run of the experiment embeds nothing.
import { mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadDatasetFromDisk } from '../data/sources-node.js';
import { Engine } from '../engine.js';
import { UsageError } from '../errors.js';
import type { EvaluationReport } from '../eval/report.js';
import { writeFileAtomic } from './embedding-cache-node.js';
import type { EmbeddingStore } from './embedding-cache.js';
import type { EmbedProgress, FrozenEncoder } from './frozen-encoder.js';
import { encoderChoice, loadFrozenEncoder } from './frozen-encoder-node.js';
import { usesEncoder, type ModelKind } from './models.js';
import { runFingerprint, type RunConfig } from './run-config.js';
import { evaluateRun } from './run-eval.js';
import { readRunStatus, trainRun, type RunStatus } from './run.js';
import { stepsPerEpoch, type StepInfo } from './trainer.js';

export interface ExperimentOptions {
  data: string;
  encoder: RunConfig['encoder'];
  heads: ModelKind[];
  labelled: number[];
  /** Optimizer steps per run, per model (heads differ in cost by orders of magnitude); epochs follow from the bank size and batch (at least 1). */
  steps: Record<ModelKind, number>;
  views: number;
  size: number;
  batchSize: number;
  lr: number;
  seed: number;
  gap: number;
  testStride: number;
  unetBase: number;
  out: string;
}

export interface ExperimentRun {
  head: ModelKind;
  labelled: number;
  runDir: string;
  steps: number;
  epochs: number;
  reused: boolean;
  seconds: { embedding: number; training: number; evaluation: number };
  finalLoss: number | null;
  /** Mean foreground Dice over classes (null if nothing was scored). */
  dice: number | null;
  hd95: number | null;
  classDice: (number | null)[];
}

export interface ExperimentResult {
  experiment: 'label-efficiency';
  date: string;
  options: ExperimentOptions;
  machine: { cpus: number; cpuModel: string | undefined; platform: string };
  adapter: string;
  classNames: string[];
  testSlices: number;
  totalSeconds: number;
  runs: ExperimentRun[];
}

export interface ExperimentHooks {
  log(line: string): void;
  onEmbed?(p: EmbedProgress, label: string): void;
  onStep?(info: StepInfo, label: string): void;
  onSlice?(done: number, total: number, label: string): void;
  store: EmbeddingStore;
}

function runConfig(options: ExperimentOptions, head: ModelKind, labelled: number, epochs: number): RunConfig {
  return {
    version: 1,
    data: options.data,
    split: { kind: 'slab', labelled, validation: 0, gap: options.gap, seed: options.seed },
    testStride: options.testStride,
    encoder: options.encoder,
    head,
    normalization: 'minmax',
    size: options.size,
    views: options.views,
    unetBase: options.unetBase,
    train: { epochs, batchSize: options.batchSize, lr: options.lr, seed: options.seed, schedule: 'constant', checkpointEvery: 25 },
  };
}

/** A finished run with the same configuration and its evaluation, when the directory has them. */
async function reusable(runDir: string, config: RunConfig): Promise<{ status: RunStatus; report: EvaluationReport } | null> {
  try {
    const status = await readRunStatus(runDir);
    if (status.status !== 'trained' || runFingerprint(status.config) !== runFingerprint(config) || status.config.testStride !== config.testStride) return null;
    const report = JSON.parse(await readFile(path.join(runDir, 'eval.json'), 'utf8')) as EvaluationReport;
    return { status, report };
  } catch {
    return null;
  }
}

export async function runExperiment(options: ExperimentOptions, hooks: ExperimentHooks): Promise<ExperimentResult> {
  const started = performance.now();
  if (options.heads.length === 0 || options.labelled.length === 0) throw new UsageError('the experiment needs at least one head and one N');
  const dataset = await loadDatasetFromDisk(options.data);
  if (dataset.kind !== 'single-subject') throw new UsageError(`the label-efficiency experiment splits one subject by slab; ${options.data} holds many volumes (use autosam train / eval)`);
  await mkdir(options.out, { recursive: true });
  const engine = await Engine.create();
  let encoder: FrozenEncoder | null = null;
  const runs: ExperimentRun[] = [];
  let testSlices = 0;
  try {
    const needEncoder = options.heads.some(usesEncoder);
    if (needEncoder) encoder = await loadFrozenEncoder(engine, encoderChoice(options.encoder));
    // Heads first, then the UNet; within a head, N ascending (the embeddings of N = 1 and 4 are among N = 16's).
    for (const head of options.heads) {
      for (const labelled of options.labelled) {
        const label = `${head} N=${labelled}`;
        const bank = labelled * (options.views + 1);
        const epochs = Math.max(1, Math.round(options.steps[head] / stepsPerEpoch(bank, options.batchSize)));
        const config = runConfig(options, head, labelled, epochs);
        const runDir = path.join(options.out, `${head}-N${labelled}`);
        const previous = await reusable(runDir, config);
        let status: RunStatus;
        let report: EvaluationReport & { slices?: number };
        let evaluation = 0;
        if (previous) {
          hooks.log(`${label}: reusing the finished run in ${runDir}`);
          ({ status, report } = previous);
        } else {
          hooks.log(`${label}: ${epochs} epoch(s) of ${stepsPerEpoch(bank, options.batchSize)} step(s) over ${bank} sample(s)`);
          await rm(runDir, { recursive: true, force: true });
          status = await trainRun(config, runDir, {
            engine, encoder: encoder ?? undefined, store: hooks.store, log: (l) => hooks.log(`${label}: ${l}`),
            onEmbed: (p) => hooks.onEmbed?.(p, label), onStep: (s) => hooks.onStep?.(s, label),
          });
          const t = performance.now();
          report = await evaluateRun(runDir, { engine, encoder: encoder ?? undefined, store: hooks.store, onSlice: (d, n) => hooks.onSlice?.(d, n, label) });
          evaluation = (performance.now() - t) / 1000;
        }
        testSlices = Math.max(testSlices, report.slices ?? 0);
        const run: ExperimentRun = {
          head, labelled, runDir, steps: status.steps ?? 0, epochs, reused: Boolean(previous),
          seconds: { embedding: status.seconds?.embedding ?? 0, training: status.seconds?.training ?? 0, evaluation: Number(evaluation.toFixed(1)) },
          finalLoss: status.finalLoss ?? null,
          dice: report.foreground.dice, hd95: report.foreground.hd95,
          classDice: report.classes.map((c) => c.dice),
        };
        runs.push(run);
        hooks.log(`${label}: mean foreground Dice ${run.dice?.toFixed(3) ?? '-'} (${run.steps} steps, train ${run.seconds.training}s, eval ${run.seconds.evaluation}s)`);
      }
    }
  } finally {
    encoder?.dispose();
    engine.dispose();
  }
  const result: ExperimentResult = {
    experiment: 'label-efficiency',
    date: new Date().toISOString(),
    options,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, platform: `${os.platform()} ${os.arch()}` },
    adapter: engine.report.description || engine.report.device,
    classNames: dataset.classNames,
    testSlices,
    totalSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
    runs,
  };
  await writeFileAtomic(path.join(options.out, 'results.json'), JSON.stringify(result, null, 2) + '\n');
  return result;
}

const fmt = (v: number | null, digits = 3) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits));

/** The Dice table as Markdown: heads as rows, N as columns, mean foreground Dice in the cells. */
export function experimentTable(result: ExperimentResult): string {
  const ns = [...new Set(result.runs.map((r) => r.labelled))].sort((a, b) => a - b);
  const heads = [...new Set(result.runs.map((r) => r.head))];
  const name = (h: ModelKind) => (h === 'unet' ? 'UNet from scratch (images)' : `${h} head (frozen ${result.options.encoder.name})`);
  const lines = [`| model | ${ns.map((n) => `N = ${n}`).join(' | ')} |`, `|---|${ns.map(() => '---:').join('|')}|`];
  for (const h of heads) {
    const cells = ns.map((n) => fmt(result.runs.find((r) => r.head === h && r.labelled === n)?.dice ?? null));
    lines.push(`| ${name(h)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** One sentence per N: does the best head beat the UNet? (The paper's claim, checked on this run.) */
export function claimCheck(result: ExperimentResult): string[] {
  const out: string[] = [];
  for (const n of [...new Set(result.runs.map((r) => r.labelled))].sort((a, b) => a - b)) {
    const unet = result.runs.find((r) => r.head === 'unet' && r.labelled === n);
    const heads = result.runs.filter((r) => r.head !== 'unet' && r.labelled === n && r.dice !== null);
    if (!unet || unet.dice === null || heads.length === 0) continue;
    const best = heads.reduce((a, b) => ((b.dice ?? -1) > (a.dice ?? -1) ? b : a));
    const verdict = best.dice! > unet.dice ? 'beats' : 'does not beat';
    out.push(`N = ${n}: the best head (${best.head}, ${fmt(best.dice)}) ${verdict} the UNet (${fmt(unet.dice)}).`);
  }
  return out;
}
