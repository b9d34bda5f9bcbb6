// One case of bench/train-step, run by bench/train-step/run.mjs in its own process (so a case that
// runs past its time limit can be given up without losing the others):
//   --case=autosam@64 | cnn@32 | linear@64 | unet@256 ...: the training step of src/train/trainer.ts
//     (forward, CE + batch soft Dice, backward, total gradient norm read back, Adam 5e-4) on cached
//     embeddings (B, 256, G, G) with labels 4G x 4G for the heads, on (B, 1, S, S) images with S x S
//     labels for the UNet baseline (base width 16). Ours on Dawn; PyTorch on the CPU
//     (tools/peers/train_step.py) with the same weights, inputs and labels. Our first step's loss
//     and gradient norm are checked against PyTorch's before anything is timed.
//   --case=embed: the frozen MobileSAM encoder, one real brain slice (ch2), encodeOne at 1024 and
//     512 input; onnxruntime-web's wasm backend on the same encoder.onnx at 1024 (its graph's input
//     is fixed at 1024), checked against ours first.
// Writes one JSON record to --out; exits 3 (record status 'too-slow') when our first step runs past
// --first-step-limit seconds, 1 (status 'failed') on any error.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import { adapterName, releaseDawnInstances } from '../../src/device/device.js';
import { Engine } from '../../src/engine.js';
import { writeNpy } from '../../src/io/npy.js';
import { preprocessGreySlice } from '../../src/models/mobilesam/preprocess.js';
import { encodeOne } from '../../src/train/frozen-encoder.js';
import { loadFrozenEncoder } from '../../src/train/frozen-encoder-node.js';
import type { TrainableModel } from '../../src/train/model.js';
import { createTrainable, parseModelKind, type ModelKind } from '../../src/train/models.js';
import { Adam } from '../../src/train/optim.js';
import { lossAndGradients } from '../../src/train/trainer.js';
import { createUnetModel } from '../../src/train/unet-model.js';
import { ch2Slice, referenceSession, runReference } from '../../test/models/mobilesam-reference.js';
import { seededArray } from '../kernels/measure.js';
import { compareEmbeddings } from '../mobilesam/shared.js';

const argv = process.argv.slice(2);
const opt = (name: string, fallback: string): string => argv.find((s) => s.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const log = (line: string) => console.log(`[train-step ${opt('case', '?')}] ${line}`);

/** The brain dataset's classes (background + 5 structures), the trainer's batch and lr, the experiment's UNet width. */
const C = 6, LR = 5e-4, EMBED = 256, UNET_BASE = 16, SEED = 2025;
/** Our first-step loss against PyTorch's: float32 both sides, sums over up to 4 x 65536 pixels. */
const LOSS_RTOL = 1e-4;
/** The total gradient norm: a sum of squares over every gradient, each a float32 reduction over the batch's pixels. */
const NORM_RTOL = 1e-3;

const CASE = opt('case', '');
const OUT = opt('out', '');
const BATCH = Number(opt('batch', '4'));
const ITERS = Number(opt('iters', '3'));
const THREADS = Number(opt('threads', String(os.cpus().length)));
const FIRST_LIMIT_S = Number(opt('first-step-limit', '150'));
/** Timed steps stop after ITERS or once this many seconds of timed steps have run (at least one), per side. */
const STEP_BUDGET_S = Number(opt('step-budget', '120'));
const EMBED_RUNS = Number(opt('embed-runs', '2'));

const started = Date.now();
const loadAverageAtStart = os.loadavg().map((v) => Number(v.toFixed(2)));
let adapter = '';

function write(record: Record<string, unknown>): void {
  const full = { case: CASE, date: new Date(started).toISOString(), durationS: Math.round((Date.now() - started) / 1000), adapter, loadAverageAtStart, loadAverageAtEnd: os.loadavg().map((v) => Number(v.toFixed(2))), ...record };
  if (OUT) {
    mkdirSync(path.dirname(OUT), { recursive: true });
    writeFileSync(OUT, JSON.stringify(full, null, 2) + '\n');
  }
}

const stats = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  const medianMs = s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
  return { medianMs, minMs: s[0] ?? null, runsMs: ms.map((v) => Math.round(v)), stepsPerSecond: medianMs ? 1000 / medianMs : null };
};

/** Runs `fn` until `iters` runs are done or `budgetS` seconds have gone into them (at least one run). */
async function timed(iters: number, budgetS: number, fn: () => Promise<unknown>, label: string): Promise<number[]> {
  const ms: number[] = [];
  let spent = 0;
  while (ms.length < iters && (ms.length === 0 || spent < budgetS * 1000)) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
    spent += ms[ms.length - 1];
    log(`${label} ${ms.length}: ${ms[ms.length - 1].toFixed(0)} ms`);
  }
  return ms;
}

// ---------------------------------------------------------------- one model's training step

function buildModel(engine: Engine, kind: ModelKind): TrainableModel {
  return kind === 'unet' ? createUnetModel(engine, C, { seed: SEED, baseChannels: UNET_BASE }) : createTrainable(engine, kind, C, { seed: SEED, embedChannels: EMBED });
}

async function stepCase(kind: ModelKind, size: number): Promise<void> {
  const engine = await Engine.create();
  adapter = adapterName(engine.report);
  const model = buildModel(engine, kind);
  // Heads: a (256, G, G) embedding with labels at 4G (1024 input -> 64 grid -> 256 labels); UNet: the (1, S, S) image itself.
  const inputShape = kind === 'unet' ? [1, size, size] : [EMBED, size, size];
  const label = kind === 'unet' ? size : 4 * size;
  const labelHW: [number, number] = [label, label];
  const B = BATCH;
  const inputs = kind === 'unet' ? seededArray(B * size * size, SEED + 1, 0, 1) : seededArray(B * EMBED * size * size, SEED + 1);
  const labels = new Int32Array(B * label * label);
  const u = seededArray(labels.length, SEED + 2, 0, C);
  for (let i = 0; i < labels.length; i++) labels[i] = Math.min(C - 1, Math.floor(u[i]));
  const state = await model.module.stateDictToHost();
  const workload = {
    kind, batch: B, classes: C, input: [B, ...inputShape], labels: [B, label, label],
    parameters: model.module.parameterCount(), trainable: model.module.parameterCount(true),
    ...(kind === 'unet' ? { baseChannels: UNET_BASE } : { embedChannels: EMBED, grid: size, encoderInput: size * 16 }),
  };
  log(`${kind}: ${workload.parameters} parameters (${workload.trainable} trainable), input (${workload.input.join(', ')}), labels ${label}x${label}, C = ${C}`);

  // trainer.ts's step (its lossAndGradients, then the update): the batch is uploaded from the host each step.
  model.module.train();
  const optimizer = new Adam(model.module.parameters(), { lr: LR });
  const step = async (): Promise<{ loss: number; gradNorm: number }> => {
    const r = await lossAndGradients(model, optimizer, inputs, [B, ...inputShape], labels, labelHW);
    if (!Number.isFinite(r.loss) || !Number.isFinite(r.gradNorm)) throw new Error(`non-finite step: loss ${r.loss}, gradient norm ${r.gradNorm}`);
    optimizer.step();
    optimizer.zeroGrad();
    return r;
  };

  // Our first step (pipeline compilation included), under the time limit: a step cannot be
  // interrupted, so the process records the case as too slow and exits from a timer.
  const limitTimer = setTimeout(() => {
    log(`first step still running after ${FIRST_LIMIT_S} s: giving up on this case at batch ${B}`);
    write({ status: 'too-slow', workload, firstStepLimitS: FIRST_LIMIT_S });
    process.exit(3);
  }, FIRST_LIMIT_S * 1000);
  const t0 = performance.now();
  const first = await step();
  const firstStepMs = performance.now() - t0;
  clearTimeout(limitTimer);
  log(`ours: first step ${firstStepMs.toFixed(0)} ms (includes pipeline compilation), loss ${first.loss.toFixed(6)}, gradient norm ${first.gradNorm.toExponential(4)}`);

  // PyTorch: the same initial weights, inputs and labels; its first step is the check, then it times itself.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'autosam-train-step-'));
  try {
    mkdirSync(path.join(dir, 'state'));
    for (const [k, t] of state) writeFileSync(path.join(dir, 'state', `${k}.npy`), writeNpy(t.data, t.shape));
    writeFileSync(path.join(dir, 'x.npy'), writeNpy(inputs, [B, ...inputShape]));
    writeFileSync(path.join(dir, 'labels.npy'), writeNpy(labels, [B, label, label]));
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ kind, num_classes: C, lr: LR, base_channels: UNET_BASE }));
    const python = process.env.PYTHON ?? '.venv/bin/python';
    log(`PyTorch peer (${python}, ${THREADS} threads, up to ${ITERS} timed steps / ${STEP_BUDGET_S} s)...`);
    const peer = spawnSync(python, ['tools/peers/train_step.py', dir, String(ITERS), String(THREADS), String(STEP_BUDGET_S)], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (peer.status !== 0) throw new Error(`tools/peers/train_step.py failed (exit ${peer.status ?? peer.signal})`);
    const torch = JSON.parse(readFileSync(path.join(dir, 'result.json'), 'utf8')) as { loss: number; grad_norm: number; step_ms: number[]; threads: number; torch: string };

    const lossErr = Math.abs(first.loss - torch.loss) / Math.abs(torch.loss);
    const normErr = Math.abs(first.gradNorm - torch.grad_norm) / Math.abs(torch.grad_norm);
    const check = `first-step loss ${first.loss.toFixed(6)} vs PyTorch ${torch.loss.toFixed(6)} (relative ${lossErr.toExponential(1)}, bound ${LOSS_RTOL}); gradient norm relative ${normErr.toExponential(1)} (bound ${NORM_RTOL})`;
    log(check);
    if (!(lossErr <= LOSS_RTOL && normErr <= NORM_RTOL)) throw new Error(`ours does not match PyTorch, not timing: ${check}`);

    const oursMs = await timed(ITERS, STEP_BUDGET_S, step, 'ours: step');
    const ours = { firstStepMs: Math.round(firstStepMs), ...stats(oursMs), peakLiveBytes: engine.memory().peakLiveBytes };
    const torchStats = { version: torch.torch, threads: torch.threads, ...stats(torch.step_ms) };
    const speed = ours.medianMs && torchStats.medianMs ? torchStats.medianMs / ours.medianMs : null;
    log(`ours ${ours.stepsPerSecond?.toFixed(3)} steps/s, PyTorch ${torchStats.stepsPerSecond?.toFixed(3)} steps/s: ours/PyTorch ${speed?.toFixed(3)}`);
    write({ status: 'ok', workload, check, checkValues: { lossOurs: first.loss, lossTorch: torch.loss, lossRelErr: lossErr, gradNormOurs: first.gradNorm, gradNormTorch: torch.grad_norm, gradNormRelErr: normErr }, ours, torch: torchStats, oursOverTorch: speed });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    optimizer.dispose();
    model.module.dispose();
    engine.dispose();
  }
}

// ---------------------------------------------------------------- the embedding of one slice

async function embedCase(): Promise<void> {
  const slice = ch2Slice();
  if (!slice) throw new Error('needs mricron-data (/usr/share/mricron/templates/ch2.nii.gz)');
  const image = { data: slice.data, height: slice.height, width: slice.width };

  // onnxruntime-web (wasm, 1 thread) at 1024: SAM preprocessing on the host + the graph, as encodeOne does it.
  const session = await referenceSession();
  let reference: Float32Array | null = null;
  const ortRun = async () => {
    const input = preprocessGreySlice(image.data, image.height, image.width, 1024);
    reference = (await runReference(session, input.data)).output;
  };
  await ortRun(); // warm-up (wasm compilation, session initialisation)
  const ortMs = await timed(EMBED_RUNS, STEP_BUDGET_S, ortRun, 'onnxruntime-web wasm 1024: run');

  const engine = await Engine.create();
  adapter = adapterName(engine.report);
  const sizes: Record<string, unknown>[] = [];
  for (const inputSize of [1024, 512]) {
    const encoder = await loadFrozenEncoder(engine, { encoder: 'mobilesam', inputSize });
    const t0 = performance.now();
    const first = await encodeOne(encoder, image); // compiles this size's pipelines; untimed
    const firstRunMs = performance.now() - t0;
    const grid = inputSize / 16;
    if (first.shape.join() !== `${EMBED},${grid},${grid}`) throw new Error(`embedding at ${inputSize}: shape (${first.shape}), expected (${EMBED}, ${grid}, ${grid})`);
    let check: string;
    let agreement: ReturnType<typeof compareEmbeddings> | null = null;
    if (inputSize === 1024) {
      const c = (agreement = compareEmbeddings(first.data, reference!));
      check = `max|ours - onnxruntime| = ${c.maxErr.toExponential(2)} = ${c.relative.toExponential(1)} of max|ref| (bound 1e-3)`;
      log(check);
      if (!c.agree) throw new Error(`embeddings at 1024 disagree with onnxruntime, not timing: ${check}`);
    } else {
      if (!first.data.every(Number.isFinite)) throw new Error(`embedding at ${inputSize} has non-finite values`);
      check = `not compared: encoder.onnx's input is fixed at 1024, so no outside reference runs at ${inputSize} (the same code is checked at 1024; shape and finiteness checked)`;
    }
    const ms = await timed(EMBED_RUNS, STEP_BUDGET_S, () => encodeOne(encoder, image), `ours ${inputSize}: slice`);
    const { stepsPerSecond: slicesPerSecond, ...times } = stats(ms);
    sizes.push({ inputSize, grid, firstRunMs: Math.round(firstRunMs), ...times, slicesPerSecond, check, agreement });
    encoder.dispose();
  }
  const { stepsPerSecond: slicesPerSecond, ...ortTimes } = stats(ortMs);
  const ort1024 = { inputSize: 1024, version: ort.env.versions?.web, threads: 1, ...ortTimes, slicesPerSecond, firstRunUntimed: true };
  write({ status: 'ok', input: `${slice.name} of ch2.nii.gz (${slice.width}x${slice.height}), encodeOne: SAM preprocessing on the host, upload, encoder under no-grad, embedding read back`, ours: sizes, ortWasm: ort1024 });
  engine.dispose();
}

async function main(): Promise<void> {
  if (!OUT) throw new Error('--out=FILE is required');
  if (!(Number.isInteger(BATCH) && BATCH >= 1)) throw new Error(`--batch must be a positive integer, got ${BATCH}`);
  if (CASE === 'embed') return embedCase();
  const m = /^(\w+)@(\d+)$/.exec(CASE);
  if (!m) throw new Error(`--case must be embed or KIND@SIZE (autosam@64, unet@256, ...), got '${CASE}'`);
  return stepCase(parseModelKind(m[1]), Number(m[2]));
}

main().then(
  () => { releaseDawnInstances(); process.exit(0); },
  (err) => {
    console.error(err);
    write({ status: 'failed', error: (err as Error).message });
    process.exit(1);
  },
);
