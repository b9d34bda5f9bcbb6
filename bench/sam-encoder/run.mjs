// npm run bench:sam-encoder [-- --iters=1 --torch-iters=1 --threads=2 --impls=fused,composed --chromium-runs=1 --only=node|chromium]
// Bundles bench/sam-encoder/ with esbuild into bench/cache/sam-encoder/ and runs its two drivers one
// after the other: node.ts (our engine on Dawn against the PyTorch peer, which regenerates the random
// vit_b checkpoint, input and embedding in bench/cache when missing; writes bench/results/sam-encoder.json)
// and chromium.ts (the same forward in headless Chromium on SwiftShader, merged into that file's
// `chromium` field). `--only node` or `--only chromium` runs one of them (the other's record is kept).
// Then it rewrites the README block between the bench:sam-encoder markers from the result file.
// `node bench/sam-encoder/run.mjs --readme-only` only rewrites the block.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readmeMarkers, replaceReadmeBlock } from '../shared/readme-block.mjs';

const RESULT = 'bench/results/sam-encoder.json';
const OUT = 'bench/cache/sam-encoder';
const { start: START, end: END } = readmeMarkers('sam-encoder');
const argv = process.argv.slice(2);
const onlyAt = argv.findIndex((a) => a === '--only' || a.startsWith('--only='));
const only = onlyAt < 0 ? null : argv[onlyAt].startsWith('--only=') ? argv[onlyAt].slice('--only='.length) : argv[onlyAt + 1];
if (only && only !== 'node' && only !== 'chromium') throw new Error(`--only takes node or chromium, got ${only}`);
// The drivers read --name=value options and ignore the rest; --only (and its value) is run.mjs's own.
const driverArgs = argv.filter((a, i) => !(onlyAt >= 0 && (i === onlyAt || (i === onlyAt + 1 && !argv[onlyAt].includes('=')))));
const readResult = () => (existsSync(RESULT) ? JSON.parse(readFileSync(RESULT, 'utf8')) : null);

if (!argv.includes('--readme-only')) {
  const { build } = await import('esbuild');
  const drivers = only ? [only] : ['node', 'chromium'];
  const common = { bundle: true, format: 'esm', sourcemap: 'inline', target: 'es2022', logLevel: 'warning' };
  await Promise.all([
    drivers.includes('node') && build({ ...common, entryPoints: { node: 'bench/sam-encoder/node.ts' }, outdir: OUT, outExtension: { '.js': '.mjs' }, platform: 'node', external: ['webgpu'] }),
    drivers.includes('chromium') && build({ ...common, entryPoints: { chromium: 'bench/sam-encoder/chromium.ts' }, outdir: OUT, outExtension: { '.js': '.mjs' }, platform: 'node', packages: 'external' }),
    // The page's bundle: our engine, no Node modules.
    drivers.includes('chromium') && build({ ...common, entryPoints: { browser: 'bench/sam-encoder/browser.ts' }, outdir: OUT, platform: 'browser', external: ['webgpu', 'node:*'] }),
  ]);
  for (const driver of drivers) {
    // node.ts writes the whole record with a placeholder `chromium`: an earlier Chromium record is put back.
    const chromiumBefore = driver === 'node' ? readResult()?.chromium : undefined;
    const started = Date.now();
    // vit_b's checkpoint is read whole (359 MB) and its tensors copied: more than Node's default heap.
    const r = spawnSync(process.execPath, ['--enable-source-maps', '--max-old-space-size=6144', `${OUT}/${driver}.mjs`, ...driverArgs], { stdio: 'inherit' });
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    if (r.status !== 0) {
      console.error(`bench:sam-encoder: the ${driver} driver exited with ${r.status ?? r.signal} after ${seconds} s (the result file records what ran)`);
      process.exitCode = 1;
    } else console.log(`bench:sam-encoder: ${driver} run done in ${seconds} s`);
    const after = readResult();
    if (chromiumBefore && typeof chromiumBefore === 'object' && after && typeof after.chromium === 'string') {
      writeFileSync(RESULT, `${JSON.stringify({ ...after, chromium: chromiumBefore }, null, 2)}\n`);
    }
  }
}

const r = JSON.parse(readFileSync(RESULT, 'utf8'));
const s = (ms) => (ms == null ? '-' : (ms / 1000).toFixed(2));
const mib = (b) => (b == null ? '-' : `${(b / 2 ** 20).toFixed(0)}`);
const ourRow = (o) => o.ok
  ? `| ours, ${o.impl} attention | WebGPU (Dawn) on ${r.adapter} | ${s(o.medianMs)} | ${s(o.firstRunMs)} | ${o.runsMs.length} | ${mib(o.peakLiveBytes)} (${o.underBudget ? 'under' : 'over'} ${mib(r.budgetBytes)}) | ${o.check.relative.toExponential(1)} |`
  : `| ours, ${o.impl} attention | WebGPU (Dawn) on ${r.adapter} | failed | ${s(o.firstRunMs)} | 0 | ${mib(o.peakLiveBytes)} | ${o.check ? o.check.relative.toExponential(1) : '-'} |`;
// The Chromium record: an object once chromium.ts has run (a placeholder string before).
const c = r.chromium && typeof r.chromium === 'object' ? r.chromium : null;
const firstLine = (e) => String(e).split('\n')[0].replace(/\|/g, '/');
const chromeRow = (c) => `| ours, ${c.impl ?? 'fused'} attention | WebGPU in headless Chromium on ${c.adapter ?? 'no adapter'} | ${c.ok ? s(c.medianMs) : 'failed'} | ${s(c.firstRunMs)} | ${c.runsMs?.length ?? 0} | ` +
  `${c.peakLiveBytes == null ? '-' : `${mib(c.peakLiveBytes)} (${c.peakLiveBytes <= c.budgetBytes ? 'under' : 'over'} ${mib(c.budgetBytes)})`} | ${c.check ? c.check.relative.toExponential(1) : '-'} |`;
const global = new Set((r.workload.globalAttnIndexes ?? [2, 5, 8, 11]).map((i) => `blocks.${i}`));
const stageLine = (label, stagePeaks, resident) => {
  const over = (names) => mib(Math.max(...stagePeaks.filter((st) => names(st.stage)).map((st) => st.peakLiveBytes)) - resident);
  return `- ${label}, peak live bytes above the ${mib(resident)} MiB resident before the forward: +${over((n) => n.startsWith('blocks.') && !global.has(n))} MiB in the windowed blocks, ` +
    `+${over((n) => global.has(n))} MiB in the global ones, +${over((n) => n === 'patch_embed')} MiB in the patch embedding, +${over((n) => n === 'neck')} MiB in the neck.`;
};
const chromeLine = (c) => {
  const rss = c.peakRssBytes ?? {};
  const memory = Object.keys(rss).length
    ? `; peak resident memory of Chromium's processes: ${Object.entries(rss).sort((a, b) => b[1] - a[1]).map(([type, b]) => `${type} ${mib(b)} MiB`).join(', ')} (the renderer's peak comes during the load, while the fetched file and our reader's float32 copy of it are both alive and being written into GPU buffers; the GPU process holds SwiftShader's buffers)`
    : '';
  return `- Headless Chromium${c.browser ? ` (${c.browser})` : ''}, ${c.date.slice(0, 10)}, load average ${c.machine.loadAverageAtStart[0].toFixed(1)} -> ${c.machine.loadAverageAtEnd[0].toFixed(1)}: ` +
    `the page fetches the checkpoint by URL and loads it with our torch.save reader as a page using the library would (${c.loadMs == null ? 'load not reached' : `fetch + read + upload ${s(c.loadMs)} s`})${memory}.` +
    `${c.ok ? '' : ` Failed: ${firstLine(c.error)}`}`;
};
const lines = [
  START,
  '',
  `Made by \`npm run bench:sam-encoder\` (bench/sam-encoder/; raw numbers in ${RESULT}), ${r.date.slice(0, 10)}, ${r.machine.cpus} CPU cores (shared with other work: noisy). ` +
    `segment-anything's vit_b image encoder (${(r.workload.parameters / 1e6).toFixed(1)}M parameters, ${mib(r.weightBytes)} MiB of float32 weights; seeded random weights from tools/peers/sam_vit_b.py, loaded from its torch.save file), ` +
    `one (${r.workload.input.join(', ')}) input -> (${r.workload.embedding.join(', ')}) embedding. Seconds per forward (embedding read back); our first forward compiles pipelines and is checked against PyTorch's embedding before timing. ` +
    `Peak live GPU bytes: the pool's peak during the forward, weights included, against the weights' bytes + 400 MiB (${mib(r.budgetBytes)} MiB); ${mib(r.residentBytesBeforeForward)} MiB are live before the forward (the weights and the input).`,
  '',
  '| implementation | runs on | median s | first s | timed | peak live MiB | max err / max ref |',
  '|---|---|---|---|---|---|---|',
  ...r.ours.map(ourRow),
  ...(c ? [chromeRow(c)] : []),
  `| PyTorch ${r.torch.version} | CPU, ${r.torch.threads} threads | ${s(r.torch.medianMs)} | - | ${r.torch.runsMs.length} | - | reference |`,
  '',
  ...r.ours.filter((o) => o.stagePeaks).map((o) => stageLine(`${o.impl} attention`, o.stagePeaks, r.residentBytesBeforeForward)),
  ...(c?.stagePeaks?.length ? [stageLine(`${c.impl} attention in Chromium`, c.stagePeaks, c.residentBytesBeforeForward)] : []),
  ...r.ours.filter((o) => !o.ok).map((o) => `- ${o.impl} attention failed: ${firstLine(o.error)}`),
  ...(r.autoImpl ? [`- The encoder's default attention ('auto') runs the ${r.autoImpl} implementation on this adapter (Node): composed wherever our subgroup matmul runs (software adapters with 8-lane subgroups), fused elsewhere; the Chromium row forces fused.`] : []),
  c ? chromeLine(c) : `- Headless Chromium: ${r.chromium}.`,
  '',
  END,
];
if ((await replaceReadmeBlock('sam-encoder', lines.join('\n'))) === 'missing') {
  console.error(`README.md has no ${START} ... ${END} block`);
  process.exit(1);
}
console.log(`bench:sam-encoder: README block updated from ${RESULT}`);
