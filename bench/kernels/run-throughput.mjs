// node bench/kernels/run-throughput.mjs [--filter=matmul,conv2d] [--runs=3] [--out=bench/results/x.json] [--label=after]
// Bundles bench/kernels/throughput.ts with esbuild into bench/cache/throughput/ and runs it with the same arguments.
import { spawnSync } from 'node:child_process';

const { build } = await import('esbuild');
// --entry=conv-models runs bench/kernels/conv-models.ts instead (whole-model timings).
const entry = process.argv.find((a) => a.startsWith('--entry='))?.slice(8) ?? 'throughput';
await build({
  entryPoints: { [entry]: `bench/kernels/${entry}.ts` }, outdir: 'bench/cache/throughput', outExtension: { '.js': '.mjs' },
  bundle: true, format: 'esm', sourcemap: 'inline', target: 'es2022', platform: 'node', logLevel: 'warning', external: ['webgpu'],
});
const r = spawnSync(process.execPath, ['--enable-source-maps', `bench/cache/throughput/${entry}.mjs`, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
