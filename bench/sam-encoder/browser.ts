// Browser entry of the vit_b benchmark, bundled by bench/sam-encoder/run.mjs and loaded by the page
// that chromium.ts serves. It does what a page using the library does: fetches the checkpoint by URL
// (readWeights), loads it with our torch.save reader into vit_b (loadSamEncoder), and runs the fused
// attention on navigator.gpu's adapter (SwiftShader in headless Chromium here). The first forward
// (pipeline compilation included) is checked against PyTorch's embedding, as node.ts checks it; then
// `runs` forwards are timed with the pool's peak of live GPU bytes, as node.ts's forwardMeasured ones.
//
// Memory: the checkpoint's 359 MB arrive as one ArrayBuffer (fetch with a Content-Length), our reader
// decodes it into float32 arrays (a second copy: the product's loader does the same), the arrays are
// written into GPU buffers, and both host copies are unreferenced (garbage) before the forward.
import { Engine } from '../../src/engine.js';
import { adapterName } from '../../src/device/device.js';
import { readNpy } from '../../src/io/npy.js';
import { readWeights } from '../../src/api/weights.js';
import { loadSamEncoder, type ImageEncoderViT } from '../../src/models/sam/index.js';
import { compareEmbeddings, median } from '../mobilesam/shared.js';
import type { SamChromiumReport } from './shared.js';
import { log, pageHost, seconds } from '../shared/page-host.js';

const MB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
/** The issue's memory bound: peak live GPU bytes under the weights' bytes + 400 MB (as node.ts). */
const ACTIVATION_BUDGET_BYTES = 400 * 1024 * 1024;

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const runs = Math.max(0, Number(params.get('runs') ?? 1));
  const report: SamChromiumReport = {
    ok: false, impl: 'fused', adapter: null, userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency,
    limits: null, loadMs: null, weightBytes: null, residentBytesBeforeForward: null, budgetBytes: null,
    firstRunMs: null, runsMs: [], medianMs: null, peakLiveBytes: null, peakAllocatedBytes: null, underBudget: null, check: null, stagePeaks: [],
  };
  // On failure the page still reports what it got that far, with the error.
  try {
    await run(report, runs);
    report.ok = true;
  } catch (err) {
    report.error = `${(err as Error).name}: ${(err as Error).message}\n${(err as Error).stack ?? ''}`;
    log(`FAILED: ${report.error.split('\n')[0]}`);
  }
  await pageHost.benchDone(JSON.stringify(report));
}

/** The checkpoint's bytes live only in this function: garbage once the weights are in GPU buffers. */
async function loadFromUrl(engine: Engine, url: string): Promise<ImageEncoderViT> {
  const t0 = performance.now();
  const checkpoint = await readWeights(url, 'vit_b checkpoint');
  const fetchMs = performance.now() - t0;
  const encoder = loadSamEncoder(engine, 'vit_b', checkpoint);
  log(`checkpoint ${(checkpoint.length / 1e6).toFixed(0)} MB fetched in ${seconds(fetchMs)}, read and uploaded in ${seconds(performance.now() - t0 - fetchMs)}`);
  return encoder;
}

async function run(report: SamChromiumReport, runs: number): Promise<void> {
  const engine = await Engine.create();
  report.adapter = adapterName(engine.report);
  report.limits = { maxStorageBufferBindingSize: engine.device.limits.maxStorageBufferBindingSize, maxBufferSize: engine.device.limits.maxBufferSize };
  void engine.device.lost.then((l) => log(`device lost (${l.reason}): ${l.message}`));
  log(`adapter ${report.adapter}, maxStorageBufferBindingSize ${MB(report.limits.maxStorageBufferBindingSize)}, maxBufferSize ${MB(report.limits.maxBufferSize)}`);

  const [inputNpy, referenceNpy] = await Promise.all([readWeights('/input.npy', 'input'), readWeights('/embedding.npy', 'reference embedding')]);
  const input = readNpy(inputNpy);
  const reference = readNpy(referenceNpy).data as Float32Array;

  let t0 = performance.now();
  const encoder = await loadFromUrl(engine, '/checkpoint.pth');
  report.loadMs = performance.now() - t0;
  encoder.setAttentionImpl('fused');
  report.weightBytes = encoder.parameterCount() * 4;
  const budget = report.weightBytes + ACTIVATION_BUDGET_BYTES;
  report.budgetBytes = budget;
  const x = engine.keep(engine.tensor(input.data as Float32Array, input.shape));
  report.residentBytesBeforeForward = engine.memory().liveBytes;
  log(`${encoder.parameterCount()} parameters (${MB(report.weightBytes)}); live before the forward ${MB(report.residentBytesBeforeForward)}`);

  // First forward: compiles the pipelines; the pool's peak is read and reset at each stage (patch
  // embedding, each block, neck), as in node.ts. Stages are recorded as the commands are encoded.
  t0 = performance.now();
  engine.pool.resetPeaks();
  let peakAllocated = 0;
  const embedding = encoder.forward(x, {
    onStage: (stage) => {
      const m = engine.memory();
      report.stagePeaks.push({ stage, peakLiveBytes: m.peakLiveBytes });
      peakAllocated = Math.max(peakAllocated, m.peakAllocatedBytes);
      engine.pool.resetPeaks();
    },
  });
  log(`first forward encoded in ${seconds(performance.now() - t0)}; waiting for the GPU...`);
  const first = await embedding.readFloat();
  embedding.dispose();
  report.firstRunMs = performance.now() - t0;
  report.peakLiveBytes = Math.max(...report.stagePeaks.map((st) => st.peakLiveBytes));
  report.peakAllocatedBytes = peakAllocated;
  report.check = compareEmbeddings(first, reference);
  log(`first forward (compiling) ${seconds(report.firstRunMs)}; max|ours - torch| ${report.check.maxErr.toExponential(2)} / max|ref| ${report.check.maxRef.toFixed(3)} = ${report.check.relative.toExponential(2)}; peak live ${MB(report.peakLiveBytes)} vs ${MB(budget)}`);
  if (!report.check.agree) throw new Error(`embedding disagrees with PyTorch's (relative ${report.check.relative.toExponential(2)} > 1e-3): not timing`);

  for (let i = 0; i < runs; i++) {
    t0 = performance.now();
    const { embedding: y, peakLiveBytes } = encoder.forwardMeasured(x);
    await y.readFloat();
    y.dispose();
    report.runsMs.push(performance.now() - t0);
    report.peakLiveBytes = Math.max(report.peakLiveBytes, peakLiveBytes);
    report.peakAllocatedBytes = Math.max(report.peakAllocatedBytes, engine.memory().peakAllocatedBytes);
    log(`forward ${i + 1}/${runs}: ${seconds(report.runsMs[i])}, peak live ${MB(peakLiveBytes)}`);
  }
  report.medianMs = median(report.runsMs);
  report.underBudget = report.peakLiveBytes <= budget;
  x.dispose();
  encoder.dispose();
  engine.dispose();
}

void main();
