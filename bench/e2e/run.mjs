// npm run bench:e2e [-- --heads=linear --ns=1,4 --epochs=12 --views=2 --size=128 --test-stride=3 --eval-points=3]
// Time to a good head: the AutoSAM reference protocol (tools/peers/reference_protocol.py: encoder on
// every step through onnxruntime, fresh augmentation per step) against our pipeline (embedding cache +
// augmentation bank, WebGPU on this machine's adapter), in one run, on the same data, split, initial
// weights, loss, optimiser and sample budget. Each run is its own process (its peak RSS is its own).
// Writes bench/results/e2e.json, one SVG per (head, N) (Dice against training wall time) and the
// README block between the bench:e2e markers.
//   --readme-only      rewrite the README block and plots from bench/results/e2e.json
//   --merge            add this invocation's runs to bench/results/e2e.json as another session instead of replacing it
//   --profile          afterwards, one extra run of ours (first head, first N) with GPU timestamps on,
//                      kept in e2e.json under "profile" (not in the comparison: timestamps slow it)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { replaceReadmeBlock } from '../shared/readme-block.mjs';
import { renderBlock, renderPlots } from './report.mjs';

const RESULT = 'bench/results/e2e.json';
const PY = '.venv/bin/python';
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const arg = (name, fallback) => argv.find((s) => s.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;

const FULL_GRID = { heads: ['autosam', 'cnn', 'linear'], ns: [1, 4, 16], epochs: 120 };

function config() {
  return {
    data: arg('data', 'brain-aal'),
    heads: arg('heads', 'linear').split(','),
    ns: arg('ns', '1,4').split(',').map(Number),
    epochs: Number(arg('epochs', '12')),
    views: Number(arg('views', '2')),
    size: Number(arg('size', '128')),
    encoderSize: 1024,
    batchSize: Number(arg('batch', '4')),
    lr: Number(arg('lr', '5e-4')),
    seed: Number(arg('seed', '0')),
    gap: Number(arg('gap', '10')),
    testStride: Number(arg('test-stride', '3')),
    evalPoints: Number(arg('eval-points', '3')),
    threads: Number(arg('threads', String(os.cpus().length))),
    work: arg('work', 'bench/cache/e2e/work'),
    testCache: 'bench/cache/e2e/test-embeddings',
    oursEpochs: arg('ours-epochs', '') ? Number(arg('ours-epochs', '')) : undefined,
  };
}

function run(cmd, args, label) {
  console.log(`\n$ ${[cmd, ...args].join(' ')}`);
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status ?? r.signal})`);
  return (performance.now() - t0) / 1000;
}

async function bundle() {
  const { build } = await import('esbuild');
  await build({
    entryPoints: { node: 'bench/e2e/node.ts' }, outdir: 'bench/cache/e2e', outExtension: { '.js': '.mjs' },
    bundle: true, format: 'esm', sourcemap: 'inline', target: 'es2022', platform: 'node', logLevel: 'warning', external: ['webgpu'],
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  });
}

const epochsOurs = (c) => c.oursEpochs ?? Math.max(1, Math.round(c.epochs / (c.views + 1)));
function evalEpochs(epochs, points) {
  const out = new Set([epochs]);
  for (let k = 1; k <= points; k++) out.add(Math.max(1, Math.round((epochs * k) / points)));
  return [...out].sort((a, b) => a - b);
}

/** The issue's target on one (head, N): ours within 1 point of the reference's final Dice >= 10x sooner, final not lower. */
function target(reference, ours) {
  const refFinal = reference.checkpoints.at(-1);
  const ourFinal = ours.checkpoints.at(-1);
  if (refFinal?.dice == null || ourFinal?.dice == null) return { met: false, reason: 'no Dice' };
  const reach = ours.checkpoints.find((c) => c.dice != null && c.dice >= refFinal.dice - 0.01);
  const speedup = reach ? refFinal.seconds / reach.seconds : null;
  const notLower = ourFinal.dice >= refFinal.dice;
  return {
    referenceFinalDice: refFinal.dice, referenceSeconds: refFinal.seconds,
    oursFinalDice: ourFinal.dice, oursSeconds: ourFinal.seconds,
    oursReachSeconds: reach?.seconds ?? null, speedup,
    finalNotLower: notLower,
    met: Boolean(speedup !== null && speedup >= 10 && notLower),
  };
}

/** One session per bench invocation (--merge appends one); an older single-session file is read as one. */
function normalize(result) {
  if (result.sessions) return result;
  const { date, durationSeconds, config, testSlices, portCheck, load, runs, ...rest } = result;
  return { ...rest, date, sessions: [{ date, durationSeconds, config, testSlices, portCheck, load, runs }] };
}

/** What of the issue's grid (every head x N at the reference's epochs) no session ran. */
function notRun(sessions) {
  const out = [];
  for (const head of FULL_GRID.heads) {
    for (const n of FULL_GRID.ns) {
      const ran = sessions.flatMap((s) => s.runs.filter((r) => r.head === head && r.n === n).map(() => s.config.epochs));
      if (!ran.some((e) => e >= FULL_GRID.epochs)) out.push(`${head} N = ${n}${ran.length ? ` (only at ${Math.max(...ran)} epochs)` : ''}`);
    }
  }
  return out;
}

async function main() {
  if (!flag('readme-only')) {
    const c = config();
    const started = new Date().toISOString();
    const t0 = performance.now();
    mkdirSync(c.work, { recursive: true });
    const configFile = path.join(c.work, 'config.json');
    writeFileSync(configFile, JSON.stringify(c, null, 2));
    await bundle();
    const node = [process.execPath, '--enable-source-maps', 'bench/cache/e2e/node.mjs'];
    const dataDir = path.join(c.work, 'data');
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
    run(node[0], [...node.slice(1), 'export', configFile, dataDir], 'export');
    // The Python port of our augmentation and SAM preprocessing, against views our side exported.
    const checkRun = spawnSync(PY, ['tools/peers/reference_protocol.py', '--check', dataDir], { encoding: 'utf8' });
    if (checkRun.status !== 0) throw new Error(`the Python augmentation/preprocessing port disagrees with ours:\n${checkRun.stdout}${checkRun.stderr}`);
    const portCheck = JSON.parse(checkRun.stdout);
    console.log(`port check: augmentation max |py - ts| ${portCheck.augmentation.maxAbsImage.toExponential(2)}, label mismatches ${portCheck.augmentation.labelMismatches}/${portCheck.augmentation.labelPixels}, SAM input ${portCheck.preprocessMaxAbs.toExponential(2)}`);
    const runs = [];
    const load = [];
    for (const head of c.heads) {
      for (const n of c.ns) {
        const refDir = path.join(c.work, `reference-${head}-N${n}`);
        rmSync(refDir, { recursive: true, force: true });
        const la = os.loadavg()[0];
        run(PY, ['tools/peers/reference_protocol.py', '--data', dataDir, '--head', head, '--n', String(n), '--epochs', String(c.epochs),
          '--eval-epochs', evalEpochs(c.epochs, c.evalPoints).join(','), '--batch', String(c.batchSize), '--lr', String(c.lr), '--seed', String(c.seed),
          '--threads', String(c.threads), '--test-embeddings', `bench/cache/e2e/test-embeddings-onnxruntime-${c.data}-S${c.size}-gap${c.gap}-stride${c.testStride}.npy`, '--out', refDir], `reference ${head} N=${n}`);
        const refFile = path.join(refDir, 'result.json');
        run(node[0], [...node.slice(1), 'score', configFile, refFile], 'score');
        const reference = JSON.parse(readFileSync(refFile, 'utf8'));
        const la2 = os.loadavg()[0];
        const oursFile = path.join(c.work, `ours-${head}-N${n}.json`);
        run(node[0], [...node.slice(1), 'ours', configFile, head, String(n), oursFile], `ours ${head} N=${n}`);
        const ours = JSON.parse(readFileSync(oursFile, 'utf8'));
        load.push({ head, n, loadAverage1m: { referenceStart: la, oursStart: la2, end: os.loadavg()[0] } });
        delete reference.losses;
        runs.push({ head, n, reference, ours, target: target(reference, ours) });
      }
    }
    let profile;
    if (flag('profile')) {
      const file = path.join(c.work, 'ours-profile.json');
      run(node[0], [...node.slice(1), 'ours', configFile, c.heads[0], String(c.ns[0]), file, '--profile'], 'profile');
      profile = JSON.parse(readFileSync(file, 'utf8'));
    }
    const session = {
      date: started, durationSeconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
      config: { ...c, oursEpochs: epochsOurs(c), referenceEvalEpochs: evalEpochs(c.epochs, c.evalPoints), oursEvalEpochs: evalEpochs(epochsOurs(c), c.evalPoints) },
      testSlices: JSON.parse(readFileSync(path.join(dataDir, 'meta.json'), 'utf8')).testSlices,
      portCheck, load, runs,
    };
    const previous = flag('merge') && existsSync(RESULT) ? normalize(JSON.parse(readFileSync(RESULT, 'utf8'))) : null;
    const sessions = [...(previous?.sessions ?? []), session];
    const result = {
      benchmark: 'e2e', date: started,
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, platform: `${os.platform()} ${os.arch()}`, node: process.version },
      sessions, profile: profile ?? previous?.profile, fullGrid: FULL_GRID, notRun: notRun(sessions),
    };
    mkdirSync(path.dirname(RESULT), { recursive: true });
    writeFileSync(RESULT, JSON.stringify(result, null, 2) + '\n');
    console.log(`wrote ${RESULT}`);
  }
  const result = normalize(JSON.parse(readFileSync(RESULT, 'utf8')));
  result.notRun = notRun(result.sessions);
  renderPlots(result, 'bench/results');
  const block = renderBlock(result);
  const how = await replaceReadmeBlock('e2e', block, { appendIfMissing: true });
  console.log(`bench:e2e: README block ${how}`);
}

main().catch((err) => { console.error(err); process.exit(1); });
