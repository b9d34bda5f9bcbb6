// npm run bench:browser [-- --quick] [-- --filter=matmul,softmax] [-- --runs N] [-- --only kernels|mobilesam] [-- --kernels-out FILE]
// The benchmarks that run inside headless Chromium, one after the other, each through its own
// driver and the shared page runner (bench/shared/chromium-page.ts: Debian's chromium via
// puppeteer-core, --enable-unsafe-webgpu, pages served from 127.0.0.1):
//   kernels    our WGSL kernels against tfjs-backend-webgpu on the same adapter
//              (scripts/bench-kernels.mjs --only chromium -> bench/results/kernels-chromium.json)
//   mobilesam  the MobileSAM encoder against onnxruntime-web's WebGPU EP on the same adapter
//              (bench/mobilesam/run.mjs --only chromium -> bench/results/mobilesam-chromium.json)
// Each driver checks correctness before timing and rewrites its README block from the results,
// as its own npm script does; this runner adds nothing but the sequence and a summary.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const CHROMIUM = '/usr/bin/chromium';
const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`${name}=`));
  return eq ? eq.slice(name.length + 1) : undefined;
};
const known = new Set(['--quick', '--filter', '--runs', '--only', '--kernels-out']);
for (let i = 0; i < argv.length; i++) {
  const name = argv[i].split('=')[0];
  if (!known.has(name)) {
    console.error(`bench:browser: unknown argument ${argv[i]} (expected --quick, --filter=a,b, --runs N, --only kernels|mobilesam, --kernels-out FILE)`);
    process.exit(2);
  }
  if (!argv[i].includes('=') && name !== '--quick') i++;
}
if (!existsSync(CHROMIUM)) {
  console.error(`bench:browser: ${CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)`);
  process.exit(1);
}

const only = opt('--only');
if (only && only !== 'kernels' && only !== 'mobilesam') {
  console.error(`--only takes kernels or mobilesam, got ${only}`);
  process.exit(2);
}
const filter = opt('--filter');
const runs = opt('--runs');
// Another place for the kernel record (a trial run that must not replace bench/results/kernels-chromium.json).
const kernelsOut = opt('--kernels-out');
const suites = {
  kernels: ['scripts/bench-kernels.mjs', '--only', 'chromium', ...(argv.includes('--quick') ? ['--quick'] : []), ...(filter ? [`--filter=${filter}`] : []), ...(kernelsOut ? [`--out=${kernelsOut}`] : [])],
  mobilesam: ['bench/mobilesam/run.mjs', '--only', 'chromium', ...(runs ? ['--chromium-runs', runs] : [])],
};

const results = [];
for (const name of only ? [only] : ['kernels', 'mobilesam']) {
  const started = Date.now();
  console.log(`bench:browser: ${name} in headless Chromium`);
  const r = spawnSync(process.execPath, suites[name], { stdio: 'inherit' });
  results.push({ name, ok: r.status === 0, seconds: Math.round((Date.now() - started) / 1000) });
}

const read = (path) => (existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : null);
console.log('\nbench:browser summary');
for (const r of results) console.log(`  ${r.name.padEnd(10)} ${r.ok ? 'done' : 'FAILED'} in ${r.seconds} s`);
const mobilesam = results.some((r) => r.name === 'mobilesam' && r.ok) ? read('bench/results/mobilesam-chromium.json') : null;
if (mobilesam) {
  const ms = (x) => (x == null ? '–' : `${(x / 1000).toFixed(1)} s`);
  console.log(`  MobileSAM 1024 on ${mobilesam.adapter}: ours ${ms(mobilesam.oursMedianMs)}, onnxruntime-web WebGPU ${Object.values(mobilesam.ortMedianMs).map(ms).join(' / ')}`);
}
const kernels = results.some((r) => r.name === 'kernels' && r.ok) ? read(kernelsOut ?? 'bench/results/kernels-chromium.json') : null;
if (kernels) console.log(`  kernels: ${kernelsOut ?? 'bench/results/kernels-chromium.json'} (${kernels.cases.length} cases)`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
