// Whole-model timings for the lavapipe convolution work: one UNet-baseline training step (base 16,
// depth 4, 128x128, batch 4, C = 6: forward, loss, backward, Adam) and one MobileSAM encoder forward
// (512 and/or 1024 input), each with the direct subgroup convolution on and off (setSubgroupConv),
// run by run interleaved in one process so that the ratio holds on a machine whose load changes.
// The two settings must agree (UNet: loss and gradient norm within 1e-4 relative; MobileSAM: max
// |difference| <= 1e-4 of max |embedding|) before anything is timed.
//
//   node bench/kernels/run-throughput.mjs --entry=conv-models [--case=unet,mobilesam512,mobilesam1024] [--runs=3]
import os from 'node:os';
import { adapterName } from '../../src/device/device.js';
import { Engine } from '../../src/engine.js';
import { backward } from '../../src/graph/autograd.js';
import { loadMobileSamEncoder } from '../../src/models/mobilesam/index.js';
import { setSubgroupConv } from '../../src/ops/conv-subgroup.js';
import { ceDiceLoss } from '../../src/ops/loss.js';
import { Adam, clipGradNorm } from '../../src/train/optim.js';
import { createUnetModel } from '../../src/train/unet-model.js';
import { median, seededArray } from './measure.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const runs = Number(args.runs ?? 3);
const cases = (args.case ?? 'unet,mobilesam512').split(',');
const log = (s: string) => console.log(`[conv-models] ${s}`);

type Run = () => Promise<Float32Array>;

async function interleaved(name: string, run: Run, agree: (a: Float32Array, b: Float32Array) => string | null): Promise<void> {
  const time = async (on: boolean) => {
    setSubgroupConv(on);
    const t0 = performance.now();
    const out = await run();
    return { ms: performance.now() - t0, out };
  };
  const firstOn = await time(true), firstOff = await time(false);
  const why = agree(firstOn.out, firstOff.out);
  if (why) throw new Error(`${name}: the two paths disagree: ${why}`);
  log(`${name}: first runs (pipeline compilation included) ${firstOn.ms.toFixed(0)} ms with, ${firstOff.ms.toFixed(0)} ms without`);
  const on: number[] = [], off: number[] = [];
  for (let i = 0; i < runs; i++) {
    on.push((await time(true)).ms);
    off.push((await time(false)).ms);
  }
  setSubgroupConv(true);
  const r = (v: number[]) => `[${v.map((t) => t.toFixed(0)).join(', ')}]`;
  log(`${name}: with the subgroup conv median ${median(on).toFixed(0)} ms ${r(on)}; without ${median(off).toFixed(0)} ms ${r(off)}; x${(median(off) / median(on)).toFixed(2)} (best runs x${(Math.min(...off) / Math.min(...on)).toFixed(2)})`);
}

const engine = await Engine.create();
log(`adapter: ${adapterName(engine.report)}; load ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);

if (cases.includes('unet')) {
  const B = 4, S = 128, C = 6;
  const model = createUnetModel(engine, C, { seed: 2025, baseChannels: 16 });
  model.module.train();
  const inputs = seededArray(B * S * S, 2026, 0, 1);
  const u = seededArray(B * S * S, 2027, 0, C);
  const labels = Int32Array.from(u, (v) => Math.min(C - 1, Math.floor(v)));
  // lr 0: every run sees the same weights, so both paths can be compared on any run.
  const optimizer = new Adam(model.module.parameters(), { lr: 0 });
  const step: Run = async () => {
    const r = await engine.scopeAsync(async () => {
      const x = engine.tensor(inputs, [B, 1, S, S]);
      const loss = ceDiceLoss(model.forward(x, [S, S]), labels);
      backward(loss);
      const norm = clipGradNorm(optimizer.params, 1e30);
      const [l, n] = await Promise.all([loss.readFloat(), norm.readFloat()]);
      return Float32Array.of(l[0], n[0]);
    });
    optimizer.step();
    optimizer.zeroGrad();
    return r;
  };
  await interleaved(`UNet training step (base 16, ${S}x${S}, batch ${B})`, step, (a, b) => {
    const rel = (i: number) => Math.abs(a[i] - b[i]) / Math.abs(b[i]);
    return rel(0) <= 1e-4 && rel(1) <= 1e-4 ? null : `loss ${a[0]} vs ${b[0]}, gradient norm ${a[1]} vs ${b[1]}`;
  });
}

for (const size of [512, 1024]) {
  if (!cases.includes(`mobilesam${size}`)) continue;
  const encoder = await loadMobileSamEncoder(engine, undefined, size);
  const image = seededArray(3 * size * size, size, -2, 2);
  const forward: Run = async () => engine.scopeAsync(async () => encoder.forward(engine.tensor(image, [1, 3, size, size])).readFloat());
  await interleaved(`MobileSAM encoder forward at ${size}`, forward, (a, b) => {
    let err = 0, ref = 0;
    for (let i = 0; i < a.length; i++) { err = Math.max(err, Math.abs(a[i] - b[i])); ref = Math.max(ref, Math.abs(b[i])); }
    return err <= 1e-4 * ref ? null : `max |difference| ${err} vs max |embedding| ${ref}`;
  });
  encoder.dispose();
}
engine.dispose();
