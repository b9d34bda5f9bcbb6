// npm run bench:head-step [-- --iters=3] [-- --threads=2]
// Bundles bench/head-step/node.ts with esbuild into bench/cache/head-step/, runs it (it spawns the
// PyTorch peer itself), then rewrites the README table between the bench:head-step markers from
// bench/results/head-step.json. `node bench/head-step/run.mjs --readme-only` only rewrites the table.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readmeMarkers, replaceReadmeBlock } from '../shared/readme-block.mjs';

const RESULT = 'bench/results/head-step.json';
const { start: START, end: END } = readmeMarkers('head-step');
const argv = process.argv.slice(2);

if (!argv.includes('--readme-only')) {
  const { build } = await import('esbuild');
  await build({
    entryPoints: { node: 'bench/head-step/node.ts' }, outdir: 'bench/cache/head-step', outExtension: { '.js': '.mjs' },
    bundle: true, format: 'esm', sourcemap: 'inline', target: 'es2022', platform: 'node', logLevel: 'warning',
    // tfjs is bundled from its ESM build, so that tfjs-core, its gradient registrations (which
    // tfjs-core's own Node entry leaves out) and the webgpu backend share one module graph. Dawn is native.
    mainFields: ['module', 'main'], external: ['webgpu'],
    // bundled CommonJS code (tfjs's `require('util')`) needs a require in an ES module
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  });
  const r = spawnSync(process.execPath, ['--enable-source-maps', 'bench/cache/head-step/node.mjs', ...argv], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`bench:head-step failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const r = JSON.parse(readFileSync(RESULT, 'utf8'));
const s = (ms) => (ms / 1000).toFixed(2);
const row = (name, where, t, first) => `| ${name} | ${where} | ${t ? s(t.medianMs) : '-'} | ${t ? s(t.minMs) : '-'} | ${first != null ? s(first) : '-'} | ${t ? t.runsMs.length : 0} |`;
const lines = [
  START,
  '',
  `Made by \`npm run bench:head-step\` (bench/head-step/; raw numbers in ${RESULT}), ${r.date.slice(0, 10)}, ${r.machine.cpus} CPU cores, ${r.adapter}. ` +
    `One training step of the default AutoSAM head (${(r.workload.parameters / 1e6).toFixed(2)}M parameters, ${(r.workload.trainable / 1e6).toFixed(2)}M trainable) on a (${r.workload.embedding.join(', ')}) embedding, ` +
    `C = ${r.workload.classes}, ${r.workload.loss} against random ${r.workload.labels[1]}x${r.workload.labels[2]} labels, ${r.workload.optimizer}: forward, loss, backward, update, loss read back. ` +
    `Seconds per step; the first step includes pipeline compilation and is not in the median.`,
  '',
  '| implementation | runs on | median s/step | fastest s/step | first step s | timed steps |',
  '|---|---|---|---|---|---|',
  row('ours', `WebGPU (Dawn) on ${r.adapter}`, r.ours, r.ours.firstStepMs),
  row(`PyTorch ${r.torch.version}`, `CPU, ${r.torch.threads} threads`, r.torch, null),
  r.tfjs.available
    ? row(`tfjs-backend-webgpu ${r.tfjs.version}`, `WebGPU (Dawn) on ${r.adapter}`, r.tfjs, r.tfjs.firstStepMs)
    : `| tfjs-backend-webgpu | - | - | - | - | 0 |`,
  '',
  ...r.checks.map((c) => `- Checked before timing: ${c}.`),
  ...(r.tfjs.available ? [`- tfjs: ${r.tfjs.compared}.`] : [`- tfjs: ${r.tfjs.note}`]),
  ...r.notes.map((n) => `- ${n}.`),
  '',
  END,
];
if ((await replaceReadmeBlock('head-step', lines.join('\n'))) === 'missing') {
  console.error(`README.md has no ${START} ... ${END} block`);
  process.exit(1);
}
console.log(`bench:head-step: README table updated from ${RESULT}`);
