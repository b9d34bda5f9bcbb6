// Profiles training steps of the three heads (forward, CE + soft Dice, backward, Adam) on this
// machine's adapter: wall time per step, dispatches and submits per step, pipelines created, pool
// peak bytes, and (with --profile) per-kernel GPU time from timestamp queries. Not a benchmark
// against peers (bench/head-step/node.ts is); a tool to find where a step's time and memory go.
// CPU time is this process's, every thread (lavapipe's workers included): on a shared machine it
// moves less with other people's load than wall time does.
//
//   node bench/head-step/run-profile.mjs [--heads=autosam,cnn,linear] [--steps=3] [--batch=4] [--profile] [--top=25]
//
// Run through bench/head-step/run-profile.mjs (node bench/head-step/run-profile.mjs --heads=linear --profile), which bundles this file with esbuild first.
import { releaseDawnInstances } from '../../src/device/device.js';
import { Engine } from '../../src/engine.js';
import { backward } from '../../src/graph/autograd.js';
import { createHead, type HeadKind } from '../../src/models/heads/index.js';
import { ceDiceLoss } from '../../src/ops/loss.js';
import { formatBytes } from '../../src/tensor/pool.js';
import { Adam } from '../../src/train/optim.js';
import { seededArray } from '../kernels/measure.js';

const flag = (name: string) => process.argv.includes(`--${name}`);
const arg = (name: string, fallback: string) => process.argv.find((s) => s.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;

const HEADS = arg('heads', 'autosam,cnn,linear').split(',') as HeadKind[];
const STEPS = Number(arg('steps', '3'));
const B = Number(arg('batch', '4'));
const TOP = Number(arg('top', '25'));
const PROFILE = flag('profile');
const C = 4, D = 256, GRID = 64, LABEL = 224, LR = 5e-4, SEED = 2024;

async function profileHead(kind: HeadKind): Promise<void> {
  const engine = await Engine.create({ profile: PROFILE });
  const head = createHead(engine, kind, C, SEED);
  const x = engine.keep(engine.tensor(seededArray(B * D * GRID * GRID, SEED + 1), [B, D, GRID, GRID]));
  const labels = new Int32Array(B * LABEL * LABEL);
  const u = seededArray(labels.length, SEED + 2, 0, C);
  for (let i = 0; i < labels.length; i++) labels[i] = Math.min(C - 1, Math.floor(u[i]));
  const target = engine.keep(engine.tensor(labels, [B, LABEL, LABEL], 'i32'));
  const opt = new Adam(head.parameters(), { lr: LR });
  await engine.sync();
  console.log(`\n== ${kind}: ${head.parameterCount()} parameters, batch ${B}, ${STEPS} steps${PROFILE ? ', GPU timestamps on' : ''}`);

  for (let s = 0; s < STEPS; s++) {
    engine.pool.resetPeaks();
    engine.runtime.resetProfile();
    const d0 = engine.runtime.dispatchCount, s0 = engine.runtime.submitCount, p0 = engine.runtime.pipelineCount();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let tForward = 0, tBackward = 0;
    const loss = await engine.scopeAsync(async () => {
      const logits = head.forward(x, { outputSize: [LABEL, LABEL] });
      const l = ceDiceLoss(logits, target);
      await engine.sync();
      tForward = performance.now() - t0;
      backward(l);
      await engine.sync();
      tBackward = performance.now() - t0 - tForward;
      opt.step();
      return (await l.readFloat())[0];
    });
    opt.zeroGrad();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const mem = engine.memory();
    console.log(
      `step ${s + 1}: ${ms.toFixed(0)} ms wall, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU (forward+loss ${tForward.toFixed(0)}, backward ${tBackward.toFixed(0)}, Adam+read ${(ms - tForward - tBackward).toFixed(0)}), ` +
      `loss ${loss.toFixed(6)}, ${engine.runtime.dispatchCount - d0} dispatches, ${engine.runtime.submitCount - s0} submits, ` +
      `${engine.runtime.pipelineCount() - p0} new pipelines, peak live ${formatBytes(mem.peakLiveBytes)}, peak allocated ${formatBytes(mem.peakAllocatedBytes)}, ` +
      `${mem.createdBuffers} buffers created so far`,
    );
  }
  if (PROFILE) {
    const report = engine.runtime.profileReport();
    const total = report.reduce((a, e) => a + e.totalMs, 0);
    console.log(`GPU time of the last step by kernel (sum ${total.toFixed(0)} ms):`);
    const print = (e: { name: string; calls: number; totalMs: number }) =>
      console.log(`  ${e.totalMs.toFixed(1).padStart(9)} ms ${((100 * e.totalMs) / total).toFixed(1).padStart(5)}%  ${String(e.calls).padStart(5)} x  ${e.name}`);
    report.slice(0, TOP).forEach(print);
    console.log('by pipeline and dispatch size:');
    engine.runtime.profileDetail().slice(0, TOP).forEach(print);
  }
  opt.dispose();
  head.dispose();
  x.dispose();
  target.dispose();
  engine.dispose();
}

async function main(): Promise<void> {
  for (const kind of HEADS) await profileHead(kind);
  releaseDawnInstances();
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
