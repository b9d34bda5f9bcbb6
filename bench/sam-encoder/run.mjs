// npm run bench:sam-encoder [-- --iters=1 --torch-iters=1 --threads=2 --impls=fused,composed]
// Bundles bench/sam-encoder/node.ts with esbuild into bench/cache/sam-encoder/, runs it (it spawns the
// PyTorch peer, which regenerates the random vit_b checkpoint, input and embedding in bench/cache when
// missing), then rewrites the README block between the bench:sam-encoder markers from
// bench/results/sam-encoder.json. `node bench/sam-encoder/run.mjs --readme-only` only rewrites the block.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readmeMarkers, replaceReadmeBlock } from '../shared/readme-block.mjs';

const RESULT = 'bench/results/sam-encoder.json';
const { start: START, end: END } = readmeMarkers('sam-encoder');
const argv = process.argv.slice(2);

if (!argv.includes('--readme-only')) {
  const { build } = await import('esbuild');
  await build({
    entryPoints: { node: 'bench/sam-encoder/node.ts' }, outdir: 'bench/cache/sam-encoder', outExtension: { '.js': '.mjs' },
    bundle: true, format: 'esm', sourcemap: 'inline', target: 'es2022', platform: 'node', logLevel: 'warning', external: ['webgpu'],
  });
  // vit_b's checkpoint is read whole (359 MB) and its tensors copied: more than Node's default heap.
  const r = spawnSync(process.execPath, ['--enable-source-maps', '--max-old-space-size=6144', 'bench/cache/sam-encoder/node.mjs', ...argv], { stdio: 'inherit' });
  if (r.status !== 0) console.error(`bench:sam-encoder: the driver exited with ${r.status ?? r.signal} (the result file records what ran)`);
}

const r = JSON.parse(readFileSync(RESULT, 'utf8'));
const s = (ms) => (ms == null ? '-' : (ms / 1000).toFixed(2));
const mib = (b) => (b == null ? '-' : `${(b / 2 ** 20).toFixed(0)}`);
const ourRow = (o) => o.ok
  ? `| ours, ${o.impl} attention | WebGPU (Dawn) on ${r.adapter} | ${s(o.medianMs)} | ${s(o.firstRunMs)} | ${o.runsMs.length} | ${mib(o.peakLiveBytes)} (${o.underBudget ? 'under' : 'over'} ${mib(r.budgetBytes)}) | ${o.check.relative.toExponential(1)} |`
  : `| ours, ${o.impl} attention | WebGPU (Dawn) on ${r.adapter} | failed | ${s(o.firstRunMs)} | 0 | ${mib(o.peakLiveBytes)} | ${o.check ? o.check.relative.toExponential(1) : '-'} |`;
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
  `| PyTorch ${r.torch.version} | CPU, ${r.torch.threads} threads | ${s(r.torch.medianMs)} | - | ${r.torch.runsMs.length} | - | reference |`,
  '',
  ...r.ours.filter((o) => o.stagePeaks).map((o) => {
    const over = (names) => mib(Math.max(...o.stagePeaks.filter((st) => names(st.stage)).map((st) => st.peakLiveBytes)) - r.residentBytesBeforeForward);
    const global = new Set((r.workload.globalAttnIndexes ?? [2, 5, 8, 11]).map((i) => `blocks.${i}`));
    return `- ${o.impl} attention, peak live bytes above the ${mib(r.residentBytesBeforeForward)} MiB resident before the forward: +${over((n) => n.startsWith('blocks.') && !global.has(n))} MiB in the windowed blocks, ` +
      `+${over((n) => global.has(n))} MiB in the global ones, +${over((n) => n === 'patch_embed')} MiB in the patch embedding, +${over((n) => n === 'neck')} MiB in the neck.`;
  }),
  ...r.ours.filter((o) => !o.ok).map((o) => `- ${o.impl} attention failed: ${String(o.error).split('\n')[0]}`),
  `- Headless Chromium: ${r.chromium}.`,
  '',
  END,
];
if ((await replaceReadmeBlock('sam-encoder', lines.join('\n'))) === 'missing') {
  console.error(`README.md has no ${START} ... ${END} block`);
  process.exit(1);
}
console.log(`bench:sam-encoder: README block updated from ${RESULT}`);
