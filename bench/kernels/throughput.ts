// Throughput of the matmul and convolution kernels at the shapes the product runs (MobileSAM encoder,
// the heads' training steps, the UNet baseline), forward and backward, in GFLOP/s = 2 * MACs / time.
// Each case is checked first against float64 sums at sampled output elements, then timed: the check
// run compiles the pipelines (the warm-up), then `--runs` timed runs (default 3), median reported.
//
//   node bench/kernels/run-throughput.mjs [--filter=matmul,conv2d] [--runs=3] [--out=bench/results/x.json] [--label=after] [--compare]
// --compare also times the path before the direct subgroup convolution (setSubgroupConv(false): im2col +
// GEMM or the blocked kernels), --compare=direct the blocked kernels (every lavapipe path off), run for
// run interleaved with ours, so that the ratio holds on a machine whose load changes.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { adapterName } from '../../src/device/device.js';
import { Engine } from '../../src/engine.js';
import type { Conv2dGeometry } from '../../src/kernels/conv2d.js';
import type { ConvTranspose2dGeometry } from '../../src/kernels/conv-transpose2d.js';
import { conv2d, convTranspose2d } from '../../src/ops/conv.js';
import { conv2dBackward, convTranspose2dBackward } from '../../src/ops/conv-backward.js';
import { setSubgroupConv } from '../../src/ops/conv-subgroup.js';
import { matmul, setSubgroupMatmul } from '../../src/ops/matmul.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { compareValues, median, seededArray } from './measure.js';

interface Case {
  name: string;
  /** Multiply-adds of one run. */
  macs: number;
  /** Builds the inputs; returns the run (its output tensors) and the sampled check. */
  prepare(engine: Engine): { run(): Tensor[]; check(outs: Float32Array[]): { maxAbsErr: number; ok: boolean; atol: number }; dispose(): void };
}

const SAMPLES = 48;

function samples(n: number, seed: number): number[] {
  const r = seededArray(SAMPLES, seed, 0, 1);
  return [0, n - 1, ...Array.from(r, (v) => Math.floor(v * n))];
}

// ---- matmul ---------------------------------------------------------------------------------

function matmulCase(batch: number, M: number, K: number, N: number, transA: boolean, transB: boolean, label: string): Case {
  return {
    name: `matmul ${label} ${batch > 1 ? `${batch}x` : ''}(${M},${K},${N})${transA ? ' Aᵀ' : ''}${transB ? ' Bᵀ' : ''}`,
    macs: batch * M * N * K,
    prepare(engine) {
      const a = seededArray(batch * M * K, M + K, -1, 1), b = seededArray(batch * K * N, N + 7, -1, 1);
      const ta = engine.tensor(a, transA ? [batch, K, M] : [batch, M, K]), tb = engine.tensor(b, transB ? [batch, N, K] : [batch, K, N]);
      const A = (bt: number, m: number, k: number) => a[bt * M * K + (transA ? k * M + m : m * K + k)];
      const B = (bt: number, k: number, n: number) => b[bt * K * N + (transB ? n * K + k : k * N + n)];
      return {
        run: () => [matmul(ta, tb, { transA, transB })],
        check: ([y]) => {
          const idx = samples(batch * M * N, M + N), expected = idx.map((o) => {
            const bt = Math.floor(o / (M * N)), m = Math.floor((o % (M * N)) / N), n = o % N;
            let s = 0;
            for (let k = 0; k < K; k++) s += A(bt, m, k) * B(bt, k, n);
            return s;
          });
          const atol = 2e-6 * K;
          return { ...compareValues(y, expected, atol, 0, idx), atol };
        },
        dispose: () => { ta.dispose(); tb.dispose(); },
      };
    },
  };
}

/** The forward C = A B and the two products of its backward: dA = dC Bᵀ, dB = Aᵀ dC. */
function matmulFamily(M: number, K: number, N: number, label: string): Case[] {
  return [
    matmulCase(1, M, K, N, false, false, label),
    matmulCase(1, M, N, K, false, true, `${label} dA`),
    matmulCase(1, K, M, N, true, false, `${label} dB`),
  ];
}

// ---- conv2d and its gradients -----------------------------------------------------------------

type ConvPart = 'forward' | 'dx' | 'dw';

interface ConvShape { batch: number; cin: number; cout: number; size: number; kernel?: number; stride?: number; groups?: number; label?: string }

/** conv2d with padding (kernel - 1) / 2 (the product's convolutions), its input or weight gradient. */
function convCase(s: ConvShape, part: ConvPart): Case {
  const { batch, cin, cout, size } = s, k = s.kernel ?? 3, stride = s.stride ?? 1, groups = s.groups ?? 1, pad = (k - 1) >> 1;
  const H = size, W = size, Ho = Math.floor((H + 2 * pad - k) / stride) + 1, Wo = Math.floor((W + 2 * pad - k) / stride) + 1;
  const cinG = cin / groups, coutG = cout / groups;
  const g: Conv2dGeometry = { xShape: [batch, cin, H, W], wShape: [cout, cinG, k, k], stride: [stride, stride], padding: [pad, pad], dilation: [1, 1], groups };
  const X = (b: number, c: number, y: number, x: number, xs: Float32Array) => (y < 0 || y >= H || x < 0 || x >= W ? 0 : xs[((b * cin + c) * H + y) * W + x]);
  const kind = `${k}x${k}${stride > 1 ? `s${stride}` : ''}${groups > 1 ? (groups === cin ? ' dw' : ` g${groups}`) : ''}`;
  return {
    name: `conv2d ${kind} ${part} B${batch} ${cin}->${cout} ${size}x${size}${s.label ? ` (${s.label})` : ''}`,
    macs: batch * cout * cinG * k * k * Ho * Wo,
    prepare(engine) {
      const sc = (cinG * k * k) ** -0.5;
      const x = seededArray(batch * cin * H * W, cin + size, -1, 1), w = seededArray(cout * cinG * k * k, cout + 3, -sc, sc);
      const dy = seededArray(batch * cout * Ho * Wo, cout + 5, -1, 1);
      const tx = engine.tensor(x, g.xShape), tw = engine.tensor(w, g.wShape), tdy = engine.tensor(dy, [batch, cout, Ho, Wo]);
      tx.requiresGrad = part === 'dx';
      tw.requiresGrad = part === 'dw';
      const run = (): Tensor[] => {
        if (part === 'forward') return [conv2d(tx, tw, null, { padding: pad, stride, groups })];
        const [dx, dw] = conv2dBackward(tx, tw, null, tdy, g);
        return [(part === 'dx' ? dx : dw)!];
      };
      const wAt = (co: number, c: number, ky: number, kx: number) => w[((co * cinG + c) * k + ky) * k + kx];
      const check = ([out]: Float32Array[]) => {
        let idx: number[], expected: number[], terms: number;
        if (part === 'forward') {
          idx = samples(batch * cout * Ho * Wo, 11); terms = cinG * k * k;
          expected = idx.map((o) => {
            const b = Math.floor(o / (cout * Ho * Wo)), co = Math.floor(o / (Ho * Wo)) % cout, y = Math.floor(o / Wo) % Ho, xx = o % Wo;
            const c0 = Math.floor(co / coutG) * cinG;
            let acc = 0;
            for (let c = 0; c < cinG; c++) for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) acc += X(b, c0 + c, y * stride + ky - pad, xx * stride + kx - pad, x) * wAt(co, c, ky, kx);
            return acc;
          });
        } else if (part === 'dx') {
          idx = samples(batch * cin * H * W, 12); terms = coutG * k * k;
          expected = idx.map((o) => {
            const b = Math.floor(o / (cin * H * W)), ci = Math.floor(o / (H * W)) % cin, y = Math.floor(o / W) % H, xx = o % W;
            const grp = Math.floor(ci / cinG);
            let acc = 0;
            for (let co = grp * coutG; co < (grp + 1) * coutG; co++) {
              for (let ky = 0; ky < k; ky++) {
                for (let kx = 0; kx < k; kx++) {
                  const ny = y + pad - ky, nx = xx + pad - kx;
                  if (ny % stride || nx % stride) continue;
                  const oy = ny / stride, ox = nx / stride;
                  if (oy >= 0 && oy < Ho && ox >= 0 && ox < Wo) acc += dy[((b * cout + co) * Ho + oy) * Wo + ox] * wAt(co, ci - grp * cinG, ky, kx);
                }
              }
            }
            return acc;
          });
        } else {
          idx = samples(cout * cinG * k * k, 13); terms = batch * Ho * Wo;
          expected = idx.map((o) => {
            const co = Math.floor(o / (cinG * k * k)), c = Math.floor(o / (k * k)) % cinG, ky = Math.floor(o / k) % k, kx = o % k;
            const ci = Math.floor(co / coutG) * cinG + c;
            let acc = 0;
            for (let b = 0; b < batch; b++) for (let oy = 0; oy < Ho; oy++) for (let ox = 0; ox < Wo; ox++) acc += dy[((b * cout + co) * Ho + oy) * Wo + ox] * X(b, ci, oy * stride + ky - pad, ox * stride + kx - pad, x);
            return acc;
          });
        }
        const atol = 4e-6 * Math.sqrt(terms) + 2e-7 * terms * (part === 'forward' ? sc : 1);
        return { ...compareValues(out, expected, atol, 0, idx), atol };
      };
      return { run, check, dispose: () => { tx.dispose(); tw.dispose(); tdy.dispose(); } };
    },
  };
}

// ---- conv-transpose 2x2 stride 2 and its gradients -----------------------------------------------

function convTransposeCase(batch: number, cin: number, cout: number, size: number, part: ConvPart): Case {
  const H = size, W = size, Ho = 2 * H, Wo = 2 * W;
  const g: ConvTranspose2dGeometry = { xShape: [batch, cin, H, W], wShape: [cin, cout, 2, 2], stride: [2, 2], padding: [0, 0], outputPadding: [0, 0], dilation: [1, 1], groups: 1 };
  return {
    name: `convT 2x2s2 ${part} B${batch} ${cin}->${cout} ${size}x${size}`,
    macs: batch * cin * cout * 4 * H * W,
    prepare(engine) {
      const s = cin ** -0.5;
      const x = seededArray(batch * cin * H * W, cin + size + 1, -1, 1), w = seededArray(cin * cout * 4, cout + 9, -s, s);
      const dy = seededArray(batch * cout * Ho * Wo, cout + 15, -1, 1);
      const tx = engine.tensor(x, g.xShape), tw = engine.tensor(w, g.wShape), tdy = engine.tensor(dy, [batch, cout, Ho, Wo]);
      tx.requiresGrad = part === 'dx';
      tw.requiresGrad = part === 'dw';
      const run = (): Tensor[] => {
        if (part === 'forward') return [convTranspose2d(tx, tw, null, { stride: 2 })];
        const [dx, dw] = convTranspose2dBackward(tx, tw, null, tdy, g);
        return [(part === 'dx' ? dx : dw)!];
      };
      const check = ([out]: Float32Array[]) => {
        let idx: number[], expected: number[], terms: number;
        if (part === 'forward') {
          idx = samples(batch * cout * Ho * Wo, 21); terms = cin;
          expected = idx.map((o) => {
            const b = Math.floor(o / (cout * Ho * Wo)), co = Math.floor(o / (Ho * Wo)) % cout, oy = Math.floor(o / Wo) % Ho, ox = o % Wo;
            let acc = 0;
            for (let c = 0; c < cin; c++) acc += x[((b * cin + c) * H + (oy >> 1)) * W + (ox >> 1)] * w[((c * cout + co) * 2 + (oy & 1)) * 2 + (ox & 1)];
            return acc;
          });
        } else if (part === 'dx') {
          idx = samples(batch * cin * H * W, 22); terms = cout * 4;
          expected = idx.map((o) => {
            const b = Math.floor(o / (cin * H * W)), c = Math.floor(o / (H * W)) % cin, iy = Math.floor(o / W) % H, ix = o % W;
            let acc = 0;
            for (let co = 0; co < cout; co++) for (let ky = 0; ky < 2; ky++) for (let kx = 0; kx < 2; kx++) acc += dy[((b * cout + co) * Ho + 2 * iy + ky) * Wo + 2 * ix + kx] * w[((c * cout + co) * 2 + ky) * 2 + kx];
            return acc;
          });
        } else {
          idx = samples(cin * cout * 4, 23); terms = batch * H * W;
          expected = idx.map((o) => {
            const c = Math.floor(o / (cout * 4)), co = Math.floor(o / 4) % cout, ky = Math.floor(o / 2) % 2, kx = o % 2;
            let acc = 0;
            for (let b = 0; b < batch; b++) for (let iy = 0; iy < H; iy++) for (let ix = 0; ix < W; ix++) acc += x[((b * cin + c) * H + iy) * W + ix] * dy[((b * cout + co) * Ho + 2 * iy + ky) * Wo + 2 * ix + kx];
            return acc;
          });
        }
        const atol = 4e-6 * Math.sqrt(terms) + 2e-7 * terms;
        return { ...compareValues(out, expected, atol, 0, idx), atol };
      };
      return { run, check, dispose: () => { tx.dispose(); tw.dispose(); tdy.dispose(); } };
    },
  };
}

export function throughputCases(): Case[] {
  const parts: ConvPart[] = ['forward', 'dx', 'dw'];
  return [
    ...matmulFamily(65536, 256, 128, 'tall'),
    ...matmulFamily(16384, 256, 2048, 'wide'),
    matmulCase(1, 1024, 1024, 1024, false, false, 'square'),
    matmulCase(96, 4096, 16, 3, false, false, 'attention-like'),
    matmulCase(96, 4096, 16, 4, false, false, 'attention-like'),
    matmulCase(96, 4096, 16, 16, false, true, 'attention-like'),
    ...parts.map((p) => convCase({ batch: 1, cin: 64, cout: 64, size: 256 }, p)),
    ...parts.map((p) => convCase({ batch: 1, cin: 1024, cout: 1024, size: 64 }, p)),
    // The UNet baseline (base 16, depth 4, batch 4 at 128x128): each level's 3x3 convolutions.
    ...parts.map((p) => convCase({ batch: 4, cin: 3, cout: 16, size: 128, label: 'unet' }, p)),
    ...parts.map((p) => convCase({ batch: 4, cin: 16, cout: 16, size: 128, label: 'unet' }, p)),
    ...parts.map((p) => convCase({ batch: 4, cin: 32, cout: 32, size: 64, label: 'unet' }, p)),
    ...parts.map((p) => convCase({ batch: 4, cin: 64, cout: 64, size: 32, label: 'unet' }, p)),
    ...parts.map((p) => convCase({ batch: 4, cin: 128, cout: 128, size: 16, label: 'unet' }, p)),
    ...parts.map((p) => convCase({ batch: 4, cin: 256, cout: 256, size: 8, label: 'unet' }, p)),
    // The CNN head (SegDecoderCNN) on a 32x32 grid, batch 4.
    ...parts.map((p) => convCase({ batch: 4, cin: 256, cout: 1024, size: 32, kernel: 1, label: 'cnn' }, p)),
    ...parts.map((p) => convCase({ batch: 4, cin: 1024, cout: 512, size: 32, label: 'cnn' }, p)),
    ...parts.map((p) => convCase({ batch: 4, cin: 512, cout: 512, size: 64, label: 'cnn' }, p)),
    // MobileSAM's encoder at 1024 input (forward only): patch embedding, MBConv, patch merging, neck.
    convCase({ batch: 1, cin: 3, cout: 32, size: 1024, stride: 2, label: 'mobilesam' }, 'forward'),
    convCase({ batch: 1, cin: 32, cout: 64, size: 512, stride: 2, label: 'mobilesam' }, 'forward'),
    convCase({ batch: 1, cin: 64, cout: 256, size: 256, kernel: 1, label: 'mobilesam' }, 'forward'),
    convCase({ batch: 1, cin: 256, cout: 256, size: 256, groups: 256, label: 'mobilesam' }, 'forward'),
    convCase({ batch: 1, cin: 256, cout: 64, size: 256, kernel: 1, label: 'mobilesam' }, 'forward'),
    convCase({ batch: 1, cin: 128, cout: 128, size: 256, stride: 2, groups: 128, label: 'mobilesam' }, 'forward'),
    convCase({ batch: 1, cin: 160, cout: 160, size: 64, groups: 160, label: 'mobilesam' }, 'forward'),
    convCase({ batch: 1, cin: 320, cout: 256, size: 64, kernel: 1, label: 'mobilesam' }, 'forward'),
    convCase({ batch: 1, cin: 256, cout: 256, size: 64, label: 'mobilesam' }, 'forward'),
    ...parts.map((p) => convTransposeCase(24, 256, 64, 64, p)),
    // Batch 12, not 24: at 24 the output (201 MB) exceeds the 128 MiB storage-binding limit on every path.
    ...parts.map((p) => convTransposeCase(12, 64, 32, 128, p)),
  ];
}

interface Result { name: string; macs: number; directGflops?: number; directRunsMs?: number[]; speedup?: number; bestSpeedup?: number; gflops?: number; medianMs?: number; runsMs?: number[]; firstRunMs?: number; maxAbsErr?: number; atol?: number; error?: string }

async function main(): Promise<void> {
  const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
  const filters = args.filter ? args.filter.split(',') : [];
  const runs = Number(args.runs ?? 3);
  const compare = 'compare' in args;
  const engine = await Engine.create();
  const log = (s: string) => console.log(`[throughput] ${s}`);
  log(`adapter: ${adapterName(engine.report)}; LP_NUM_THREADS=${process.env.LP_NUM_THREADS ?? '(default)'}; load ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  const results: Result[] = [];
  for (const c of throughputCases().filter((c) => !filters.length || filters.some((f) => c.name.includes(f)))) {
    const r: Result = { name: c.name, macs: c.macs };
    results.push(r);
    let prepared: ReturnType<Case['prepare']> | null = null;
    try {
      prepared = c.prepare(engine);
      let t0 = performance.now();
      const outs = prepared.run();
      const host = await Promise.all(outs.map((t) => t.readFloat()));
      r.firstRunMs = performance.now() - t0;
      outs.forEach((t) => t.dispose());
      const chk = prepared.check(host);
      r.maxAbsErr = chk.maxAbsErr;
      r.atol = chk.atol;
      if (!chk.ok) throw new Error(`check failed: max |err| ${chk.maxAbsErr} > atol ${chk.atol}`);
      // The baseline: --compare=direct switches every lavapipe path off (the blocked kernels), --compare
      // only the direct subgroup convolution (what ran before it: im2col + GEMM or the blocked kernels).
      const timeOne = async (subgroup: boolean) => {
        if (args.compare === 'direct') setSubgroupMatmul(engine, subgroup);
        setSubgroupConv(subgroup);
        const start = performance.now();
        const o = prepared!.run();
        await engine.sync();
        o.forEach((t) => t.dispose());
        return performance.now() - start;
      };
      if (compare) await timeOne(false); // the direct kernels' warm-up (pipeline compile)
      const times: number[] = [], direct: number[] = [];
      for (let i = 0; i < runs; i++) {
        times.push(await timeOne(true));
        if (compare) direct.push(await timeOne(false));
      }
      setSubgroupMatmul(engine, true);
      setSubgroupConv(true);
      if (compare) {
        r.directRunsMs = direct.map((t) => Math.round(t * 10) / 10);
        r.directGflops = (2 * c.macs) / (median(direct) * 1e6);
      }
      r.runsMs = times.map((t) => Math.round(t * 10) / 10);
      r.medianMs = median(times);
      r.gflops = (2 * c.macs) / (r.medianMs * 1e6);
      if (r.directGflops) r.speedup = r.gflops / r.directGflops;
      // On a loaded shared machine single runs vary several-fold; the best runs of each are the steadier ratio.
      if (compare) r.bestSpeedup = Math.min(...direct) / Math.min(...times);
      const vs = r.directGflops ? `; baseline ${r.directGflops.toFixed(2)} GFLOP/s [${r.directRunsMs!.join(', ')}], x${r.speedup!.toFixed(2)} (best runs x${r.bestSpeedup!.toFixed(2)})` : '';
      log(`${c.name}: ${r.gflops.toFixed(2)} GFLOP/s${vs} (median ${r.medianMs.toFixed(1)} ms of [${r.runsMs.join(', ')}], first ${r.firstRunMs.toFixed(0)} ms, max err ${r.maxAbsErr.toExponential(1)} <= ${r.atol.toExponential(1)})`);
    } catch (err) {
      r.error = (err as Error).message;
      log(`${c.name}: ERROR ${r.error}`);
    } finally {
      prepared?.dispose();
    }
  }
  if (args.out) {
    writeFileSync(args.out, JSON.stringify({ label: args.label ?? null, adapter: adapterName(engine.report), date: new Date().toISOString(), loadAverage: os.loadavg(), results }, null, 1) + '\n');
    log(`wrote ${args.out}`);
  }
  engine.dispose();
}

await main();
