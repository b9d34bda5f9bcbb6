// MobileSAM encoder, one 1024x1024 image (a real ch2 MRI slice), in Node: our engine on Dawn against
// onnxruntime-web's wasm backend (CPU) on the same encoder.onnx and input. The embeddings are
// compared first (max error <= 1e-3 of max|ref|); nothing is timed if they disagree.
// Run: npx esbuild bench/mobilesam/node.ts --bundle --platform=node --format=esm --packages=external \
//        --outfile=node_modules/.cache/bench-mobilesam.mjs && node node_modules/.cache/bench-mobilesam.mjs [--runs N]
// (onnxruntime-node would be the native CPU peer, but its installer downloads binaries from a host
// this environment cannot reach; the wasm backend runs the same graph.)
import { Engine } from '../../src/engine.js';
import { adapterName } from '../../src/device/device.js';
import { loadMobileSamEncoder } from '../../src/models/mobilesam/index.js';
import { preprocessGreySlice } from '../../src/models/mobilesam/preprocess.js';
import { ch2Slice, compare, referenceSession, runReference } from '../../test/models/mobilesam-reference.js';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 2;
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
for (let i = 0; i < runs + 1; i++) {
  const t0 = performance.now();
  const out = encoder.forward(x);
  const data = await out.readFloat();
  out.dispose();
  if (i === 0) {
    const { maxErr, maxRef } = compare(data, reference!);
    console.log(`check: max |ours - onnxruntime| = ${maxErr.toExponential(2)}, max |ref| = ${maxRef.toFixed(3)} (${(maxErr / maxRef).toExponential(2)} relative)`);
    if (!(maxErr <= 1e-3 * maxRef)) throw new Error('embeddings disagree: not timing');
    continue; // the first run compiles pipelines
  }
  ourTimes.push(performance.now() - t0);
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(`adapter: ${adapterName(engine.report)}`);
console.log(`ours (WebGPU, Dawn, Node)           median ${(median(ourTimes) / 1000).toFixed(2)} s over ${ourTimes.length} runs`);
console.log(`onnxruntime-web wasm (1 thread)     median ${(median(ortTimes) / 1000).toFixed(2)} s over ${ortTimes.length} runs (first includes warm-up)`);
encoder.dispose();
engine.dispose();
