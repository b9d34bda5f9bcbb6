// MobileSAM encoder, one 1024x1024 image (a real ch2 MRI slice), in Node: our engine on Dawn against
// onnxruntime-web's wasm backend (CPU) on the same encoder.onnx and input. The embeddings are
// compared first (max error <= 1e-3 of max|ref|); nothing is timed if they disagree.
// Run: node bench/mobilesam/run.mjs (both drivers), or after its bundling step:
//        node bench/cache/mobilesam/node.mjs [--runs N] [--out bench/results/mobilesam-node.json]
// (onnxruntime-node would be the native CPU peer, but its installer downloads binaries from a host
// this environment cannot reach; the wasm backend runs the same graph.)
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import * as ort from 'onnxruntime-web';
import { Engine } from '../../src/engine.js';
import { adapterName } from '../../src/device/device.js';
import { loadMobileSamEncoder } from '../../src/models/mobilesam/index.js';
import { preprocessGreySlice } from '../../src/models/mobilesam/preprocess.js';
import { ch2Slice, referenceSession, runReference } from '../../test/models/mobilesam-reference.js';
import { compareEmbeddings, median } from './shared.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const startedAt = Date.now();
const loadAverageAtStart = os.loadavg();
const runs = Number(arg('--runs', '2'));
const out = arg('--out', '');
const slice = ch2Slice();
if (!slice) throw new Error('needs mricron-data (/usr/share/mricron/templates/ch2.nii.gz)');
const input = preprocessGreySlice(slice.data, slice.height, slice.width);

const session = await referenceSession();
const ortTimes: number[] = [];
let reference: Float32Array | null = null;
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  reference = (await runReference(session, input.data)).output;
  ortTimes.push(performance.now() - t0);
}

const engine = await Engine.create();
const encoder = await loadMobileSamEncoder(engine);
const x = engine.tensor(input.data, [1, 3, 1024, 1024]);
const ourTimes: number[] = [];
let firstRunMs = 0;
let check: ReturnType<typeof compareEmbeddings> | null = null;
for (let i = 0; i < runs + 1; i++) {
  const t0 = performance.now();
  const y = encoder.forward(x);
  const data = await y.readFloat();
  y.dispose();
  if (i === 0) {
    firstRunMs = performance.now() - t0;
    check = compareEmbeddings(data, reference!);
    console.log(`check: max |ours - onnxruntime| = ${check.maxErr.toExponential(2)}, max |ref| = ${check.maxRef.toFixed(3)} (${check.relative.toExponential(2)} relative)`);
    if (!check.agree) throw new Error('embeddings disagree: not timing');
    continue; // the first run compiles pipelines
  }
  ourTimes.push(performance.now() - t0);
}
const adapter = adapterName(engine.report);
console.log(`adapter: ${adapter}`);
console.log(`ours (WebGPU, Dawn, Node)           median ${(median(ourTimes)! / 1000).toFixed(2)} s over ${ourTimes.length} runs`);
console.log(`onnxruntime-web wasm (1 thread)     median ${(median(ortTimes)! / 1000).toFixed(2)} s over ${ortTimes.length} runs (first includes warm-up)`);
if (out) {
  const record = {
    benchmark: 'mobilesam', environment: 'node', date: new Date(startedAt).toISOString(),
    durationS: Math.round((Date.now() - startedAt) / 100) / 10,
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, loadAverageAtStart, loadAverageAtEnd: os.loadavg() },
    input: `${slice.name} of ch2.nii.gz (mricron-data), SAM preprocessing to 1x3x1024x1024`,
    adapter,
    ours: { firstRunMs, timesMs: ourTimes, medianMs: median(ourTimes), check },
    ortWasm: { version: ort.env.versions?.web, threads: 1, timesMs: ortTimes, medianMs: median(ortTimes), firstIncludesWarmup: true },
    notes: [
      'ours: forward + readback from an uploaded input, after an untimed first run that compiles pipelines and is checked against onnxruntime',
      'onnxruntime-web wasm backend (1 thread) in Node stands in for onnxruntime-node, whose installer downloads binaries from a host this environment cannot reach',
    ],
  };
  writeFileSync(out, `${JSON.stringify(record, null, 2)}\n`);
  console.log(`wrote ${out}`);
}
encoder.dispose();
engine.dispose();
