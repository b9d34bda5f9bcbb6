// node bench/kernels/run-throughput.mjs [--filter=matmul,conv2d] [--runs=3] [--out=bench/results/x.json] [--label=after]
// Bundles bench/kernels/throughput.ts with esbuild into bench/cache/throughput/ and runs it with the same arguments.
import { spawnSync } from 'node:child_process';

const { build } = await import('esbuild');
await build({
  entryPoints: { throughput: 'bench/kernels/throughput.ts' }, outdir: 'bench/cache/throughput', outExtension: { '.js': '.mjs' },
  bundle: true, format: 'esm', sourcemap: 'inline', target: 'es2022', platform: 'node', logLevel: 'warning', external: ['webgpu'],
});
const r = spawnSync(process.execPath, ['--enable-source-maps', 'bench/cache/throughput/throughput.mjs', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
