// npm run bench:train-step [-- --quick] [-- --cases=embed,autosam@32,...] [-- --iters=3]
//   [-- --first-step-limit=150] [-- --step-budget=120] [-- --budget=1140] [-- --threads=N] [-- --batch=4]
//   [-- --out=FILE] [-- --readme-only]
// Head training steps per second on cached embeddings (AutoSAM, CNN and linear heads at the 64x64 and
// 32x32 grids of MobileSAM at 1024 and 512 input), the UNet baseline at 256 and 128, each against
// the same step in PyTorch on the CPU; and the embedding time per slice (ours at 1024 and 512,
// onnxruntime-web wasm at 1024). Bundles bench/train-step/node.ts with esbuild into
// bench/cache/train-step/, runs each case in its own process (node.ts says what one case does),
// merges the records into bench/results/train-step.json and rewrites the README block between the
// bench:train-step markers (inserted after the head-step block when missing).
//
// Time: a case whose first step (ours, compilation included) runs past --first-step-limit seconds
// is given up and rerun once at batch 1 (noted in the table), and a batch that the same model's
// smaller case predicts (steady step x pixels x batch) to run past the limit is not tried; timed
// steps stop after --iters or --step-budget seconds per side (less as the budget runs out); cases
// still to run when --budget seconds have gone are skipped.
// Each skip and its reason is recorded. --quick: autosam@32, one timed step, written to
// bench/cache/train-step/quick.json; results file and README untouched (as with any --out=FILE
// other than bench/results/train-step.json).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { README, readmeMarkers, replaceReadmeBlock } from '../shared/readme-block.mjs';

const RESULT = 'bench/results/train-step.json';
const CACHE = 'bench/cache/train-step';
const DEFAULT_CASES = ['embed', 'linear@32', 'linear@64', 'autosam@32', 'autosam@64', 'unet@128', 'unet@256', 'cnn@32', 'cnn@64'];

const argv = process.argv.slice(2);
const opt = (name, fallback) => argv.find((s) => s.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const quick = argv.includes('--quick');
const readmeOnly = argv.includes('--readme-only');
const settings = {
  cases: opt('cases', quick ? 'autosam@32' : DEFAULT_CASES.join(',')).split(',').filter(Boolean),
  iters: Number(opt('iters', quick ? '1' : '3')),
  embedRuns: Number(opt('embed-runs', quick ? '1' : '2')),
  firstStepLimitS: Number(opt('first-step-limit', '150')),
  stepBudgetS: Number(opt('step-budget', '120')),
  budgetS: Number(opt('budget', '1140')),
  threads: Number(opt('threads', String(os.cpus().length))),
  batch: Number(opt('batch', '4')),
};
const out = quick ? `${CACHE}/quick.json` : opt('out', RESULT);

if (!readmeOnly) {
  const { build } = await import('esbuild');
  await build({
    entryPoints: { node: 'bench/train-step/node.ts' }, outdir: CACHE, outExtension: { '.js': '.mjs' },
    bundle: true, format: 'esm', sourcemap: 'inline', target: 'es2022', platform: 'node', packages: 'external', logLevel: 'warning',
  });
  const started = Date.now();
  const loadAverageAtStart = os.loadavg().map((v) => Number(v.toFixed(2)));
  const elapsedS = () => (Date.now() - started) / 1000;
  const cases = [];
  const skipped = [];
  let embedding = null;

  /** Runs one case at one batch size in its own process; returns its record. */
  const runCase = (name, batch, firstLimitS, stepBudgetS) => {
    const file = `${CACHE}/case-${name.replace('@', '-')}-b${batch}.json`;
    rmSync(file, { force: true });
    const args = [`--case=${name}`, `--out=${file}`, `--batch=${batch}`, `--iters=${settings.iters}`, `--threads=${settings.threads}`,
      `--first-step-limit=${firstLimitS}`, `--step-budget=${stepBudgetS}`, `--embed-runs=${settings.embedRuns}`];
    // The case's own timer gives up a slow first step; this hard limit only catches a hung process.
    const hardLimitS = firstLimitS + 4 * stepBudgetS + 300;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--enable-source-maps', `${CACHE}/node.mjs`, ...args], { stdio: 'inherit', timeout: hardLimitS * 1000, killSignal: 'SIGKILL' });
    const seconds = Math.round((Date.now() - t0) / 1000);
    if (existsSync(file)) return { ...JSON.parse(readFileSync(file, 'utf8')), wallS: seconds };
    return { case: name, status: 'failed', error: r.signal ? `killed (${r.signal}) after ${seconds} s (hard limit ${hardLimitS} s)` : `exit ${r.status} without a record`, wallS: seconds };
  };

  /** The last measured case of each kind: its steady step predicts a larger one's (time ~ pixels x batch). */
  const measured = new Map();
  const predictS = (kind, size, batch) => {
    const m = measured.get(kind);
    return m ? { seconds: (m.medianMs / 1000) * (size / m.size) ** 2 * (batch / m.batch), from: m } : null;
  };
  const left = () => settings.budgetS - elapsedS();
  const limitNow = () => Math.max(Math.min(10, settings.firstStepLimitS), Math.min(settings.firstStepLimitS, Math.round(left())));
  // Timed steps share what is left of the budget (ours and PyTorch, a few steps each).
  const stepBudgetNow = () => Math.max(5, Math.min(settings.stepBudgetS, Math.round((left() - 30) / 4)));

  for (const name of settings.cases) {
    if (left() < 30) {
      skipped.push({ case: name, reason: `the bench's ${settings.budgetS} s budget was spent before this case started` });
      console.log(`[train-step] skipping ${name}: budget spent`);
      continue;
    }
    const [kind, sizeText] = name.split('@');
    const size = Number(sizeText);
    const notes = [];
    let batch = name === 'embed' ? 1 : settings.batch;
    let skip = null;
    for (const b of batch > 1 ? [batch, 1] : [batch]) {
      const p = name === 'embed' ? null : predictS(kind, size, b);
      if (p && p.seconds > limitNow()) {
        const why = `at batch ${b} the ${kind}@${p.from.size} step (${(p.from.medianMs / 1000).toFixed(1)} s at batch ${p.from.batch}) scaled by pixels and batch predicts >= ${p.seconds.toFixed(0)} s per step, past the ${limitNow()} s first-step limit`;
        notes.push(`${why} (not tried)`);
        if (b === 1) skip = notes.join('; ');
        else batch = 1;
      } else break;
    }
    if (skip) {
      skipped.push({ case: name, reason: skip });
      console.log(`[train-step] skipping ${name}: ${skip}`);
      continue;
    }
    console.log(`[train-step] ${name} (batch ${batch}, first-step limit ${limitNow()} s, ${Math.round(elapsedS())} s into the bench)`);
    let rec = runCase(name, batch, limitNow(), stepBudgetNow());
    if (rec.status === 'too-slow' && batch > 1) {
      notes.push(`first step at batch ${batch} ran past ${rec.firstStepLimitS} s (given up)`);
      if (left() < 30) {
        skipped.push({ case: name, reason: `${notes.join('; ')}; no budget left to retry at batch 1` });
        continue;
      }
      console.log(`[train-step] ${name}: ${notes.at(-1)}; rerunning at batch 1`);
      batch = 1;
      rec = runCase(name, batch, limitNow(), stepBudgetNow());
    }
    if (rec.status === 'too-slow') notes.push(`first step at batch ${batch} ran past ${rec.firstStepLimitS} s (given up)`);
    else if (rec.status !== 'ok') notes.push(`failed: ${rec.error}`);
    if (rec.status !== 'ok') {
      skipped.push({ case: name, reason: notes.join('; ') });
      continue;
    }
    if (notes.length) rec.note = `${notes.join('; ')}; measured at batch ${batch} instead`;
    if (name === 'embed') embedding = rec;
    else {
      cases.push(rec);
      measured.set(kind, { size, batch, medianMs: rec.ours.medianMs });
    }
  }

  const adapter = [embedding, ...cases].find((r) => r?.adapter)?.adapter ?? 'unknown adapter';
  const record = {
    benchmark: 'train-step',
    date: new Date(started).toISOString(),
    durationS: Math.round(elapsedS()),
    quick,
    adapter,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, loadAverageAtStart, loadAverageAtEnd: os.loadavg().map((v) => Number(v.toFixed(2))) },
    settings: { ...settings, classes: 6, lr: 5e-4, loss: 'CE + batch soft Dice (background excluded, smooth 1)', optimizer: 'Adam lr 5e-4', unetBaseChannels: 16 },
    embedding,
    cases,
    skipped,
    notes: [
      'one step = src/train/trainer.ts\'s: batch uploaded from the host, forward, CE + batch soft Dice, backward, total gradient norm (clipGradNorm at 1e30) and loss read back, Adam update',
      'inputs are seeded random embeddings / images and uniformly random labels over 6 classes; weights are each model\'s seeded initialisation (the experiment initialises the AutoSAM head from SAM\'s decoder, which changes values, not work)',
      'each case runs in its own process; ours first (its first step compiles pipelines and is untimed), then PyTorch (same weights, inputs, labels; its first step is untimed too), then our timed steps',
      'ours/PyTorch = PyTorch s/step divided by ours (> 1: ours is faster)',
    ],
  };
  mkdirSync(out.replace(/\/[^/]*$/, ''), { recursive: true });
  writeFileSync(out, JSON.stringify(record, null, 2) + '\n');
  console.log(`[train-step] wrote ${out} after ${record.durationS} s (${cases.length} step cases, embedding ${embedding ? 'measured' : 'not measured'}, ${skipped.length} skipped)`);
  if (out !== RESULT) {
    console.log(`[train-step] README untouched (it shows ${RESULT} only)`);
    process.exit(skipped.length ? 1 : 0);
  }
}

// ---- README block ----
const { start: START, end: END } = readmeMarkers('train-step');
const r = JSON.parse(readFileSync(RESULT, 'utf8'));
const s = (ms) => (ms == null ? '-' : (ms / 1000).toFixed(2));
const perS = (v) => (v == null ? '-' : v >= 10 ? v.toFixed(1) : v.toPrecision(2));
const caseRow = (c) => {
  const w = c.workload;
  const model = w.kind === 'unet' ? `UNet (base ${w.baseChannels})` : `${w.kind} head`;
  const input = w.kind === 'unet' ? `image ${w.input[2]}x${w.input[3]}` : `embedding ${w.grid}x${w.grid} (encoder ${w.encoderInput})`;
  return `| ${model} | ${input} | ${w.labels[1]}x${w.labels[2]} | ${w.batch}${c.note ? ' *' : ''} | ${(w.trainable / 1e6).toFixed(2)}M | ${s(c.ours.medianMs)} | ${perS(c.ours.stepsPerSecond)} | ${s(c.torch.medianMs)} | ${perS(c.torch.stepsPerSecond)} | ${c.oursOverTorch == null ? '-' : c.oursOverTorch.toFixed(2)} | ${s(c.ours.firstStepMs)} | ${c.ours.runsMs.length} / ${c.torch.runsMs.length} | ${c.checkValues.lossRelErr.toExponential(0)} |`;
};
const e = r.embedding;
const embedRows = e
  ? [
      ...e.ours.map((o) => `| ours (WebGPU, Dawn) | ${o.inputSize} | ${o.grid}x${o.grid} | ${s(o.medianMs)} (${o.runsMs.length}) | ${s(o.firstRunMs)} | ` +
        (o.agreement
          ? `${(e.ortWasm.medianMs / o.medianMs).toFixed(2)} | max abs difference ${o.agreement.relative.toExponential(1)} of max abs value (bound 1e-3) |`
          : '- | not compared: encoder.onnx\'s input is fixed at 1024, so nothing outside runs this size (the same code is checked at 1024) |')),
      `| onnxruntime-web ${e.ortWasm.version} wasm, 1 thread (CPU) | 1024 | 64x64 | ${s(e.ortWasm.medianMs)} (${e.ortWasm.runsMs.length}) | untimed warm-up | - | reference |`,
    ]
  : ['| - | - | - | not measured | - | - | - |'];
const lines = [
  START,
  '',
  `Made by \`npm run bench:train-step\` (bench/train-step/; raw numbers in ${RESULT}), ${r.date.slice(0, 10)}, ${r.machine.cpus} CPU cores (${r.machine.cpuModel}), ${r.adapter}, ` +
    `load average ${r.machine.loadAverageAtStart[0]} at the start and ${r.machine.loadAverageAtEnd[0]} at the end, ${r.durationS} s in all. ` +
    `The training step of \`autosam train\` (src/train/trainer.ts: forward, CE + batch soft Dice, backward, gradient norm and loss read back, Adam 5e-4), C = ${r.settings.classes}, ` +
    `heads on cached MobileSAM embeddings, the UNet on the images; PyTorch ${r.cases[0]?.torch.version ?? ''} runs the same step on the CPU (${r.settings.threads} threads) with the same weights, inputs and labels in the same run. ` +
    'Seconds per step are medians over the timed steps (ours / PyTorch counts in the table); the first step compiles pipelines and is not in the median. ' +
    `Before timing, our first-step loss is checked against PyTorch's (relative error <= 1e-4, last column) and so is the gradient norm (<= 1e-3).`,
  '',
  '| model | input | labels | batch | trainable | ours s/step | ours steps/s | PyTorch s/step | PyTorch steps/s | ours/PyTorch | ours first step s | timed steps | loss rel. err |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...r.cases.map(caseRow),
  '',
  ...r.cases.filter((c) => c.note).map((c) => `- \\* ${c.case}: ${c.note}.`),
  ...r.skipped.map((k) => `- Not measured: ${k.case}: ${k.reason}.`),
  '',
  `Embedding time per slice, MobileSAM encoder (${e ? e.input : 'not measured'}): median seconds (timed runs); our first run compiles pipelines and is untimed. ` +
    'ours/onnxruntime = onnxruntime s/slice divided by ours (> 1: ours is faster). Ours is checked against onnxruntime before it is timed.',
  '',
  '| encoder runtime | input | embedding | s/slice | first run s | ours/onnxruntime | check |',
  '|---|---|---|---|---|---|---|',
  ...embedRows,
  '',
  END,
];
const block = lines.join('\n');
if ((await replaceReadmeBlock('train-step', block)) === 'missing') {
  // No block yet: it goes right after the head-step block (or at the end when that is missing too).
  const text = existsSync(README) ? readFileSync(README, 'utf8') : '';
  const after = readmeMarkers('head-step').end;
  const at = text.indexOf(after);
  writeFileSync(README, at >= 0 ? `${text.slice(0, at + after.length)}\n\n${block}${text.slice(at + after.length)}` : `${text.trimEnd()}\n\n${block}\n`);
}
console.log(`bench:train-step: README block updated from ${RESULT}`);
