// npm run bench:kernels [-- --quick] [-- --only node|chromium] [-- --filter=matmul,softmax]
// Bundles the kernel benchmark (bench/kernels/) with esbuild into bench/cache/kernels/, runs the Node
// (Dawn) driver and the headless-Chromium driver one after the other, each in its own process, then
// rewrites the README table from bench/results/kernels-*.json.
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';

const argv = process.argv.slice(2);
let only = null;
const passOn = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--only') only = argv[++i];
  else if (a.startsWith('--only=')) only = a.slice('--only='.length);
  else passOn.push(a);
}
if (only !== null && only !== 'node' && only !== 'chromium') {
  console.error(`--only takes node or chromium, got ${only}`);
  process.exit(2);
}

const OUT = 'bench/cache/kernels';
const common = { bundle: true, format: 'esm', sourcemap: 'inline', target: 'es2022', logLevel: 'warning' };
await Promise.all([
  build({ ...common, entryPoints: { node: 'bench/kernels/node.ts', chromium: 'bench/kernels/chromium.ts' }, outdir: OUT, outExtension: { '.js': '.mjs' }, platform: 'node', packages: 'external' }),
  // The page's bundle: tfjs and our engine together; Dawn and node:* are never reached in a browser.
  build({ ...common, entryPoints: { browser: 'bench/kernels/browser.ts' }, outdir: OUT, platform: 'browser', external: ['webgpu', 'node:*'] }),
]);

const drivers = only ? [only] : ['node', 'chromium'];
let failed = false;
for (const driver of drivers) {
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--enable-source-maps', `${OUT}/${driver}.mjs`, ...passOn], { stdio: 'inherit' });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  if (r.status !== 0) {
    console.error(`bench:kernels: the ${driver} run failed (exit ${r.status ?? r.signal}) after ${seconds} s`);
    failed = true;
  } else {
    console.log(`bench:kernels: ${driver} run done in ${seconds} s`);
  }
}
spawnSync(process.execPath, ['scripts/bench-readme.mjs'], { stdio: 'inherit' });
process.exit(failed ? 1 : 0);
