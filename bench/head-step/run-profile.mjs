// node bench/head-step/run-profile.mjs [--heads=autosam,cnn,linear] [--steps=3] [--batch=4] [--profile] [--top=25]
// Bundles bench/head-step/profile.ts with esbuild into bench/cache/head-step/ and runs it with the same arguments.
import { spawnSync } from 'node:child_process';

const { build } = await import('esbuild');
await build({
  entryPoints: { profile: 'bench/head-step/profile.ts' }, outdir: 'bench/cache/head-step', outExtension: { '.js': '.mjs' },
  bundle: true, format: 'esm', sourcemap: 'inline', target: 'es2022', platform: 'node', logLevel: 'warning', external: ['webgpu'],
});
const r = spawnSync(process.execPath, ['--enable-source-maps', 'bench/cache/head-step/profile.mjs', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
