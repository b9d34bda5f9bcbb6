// Bundles the Node CLI/library and the browser library with esbuild.
import { build } from 'esbuild';

const common = { bundle: true, format: 'esm', sourcemap: true, target: 'es2022', logLevel: 'warning' };

await Promise.all([
  build({ ...common, entryPoints: { cli: 'src/cli/main.ts', index: 'src/index.ts' }, outdir: 'dist/node', platform: 'node', packages: 'external' }),
  build({ ...common, entryPoints: { autosam: 'src/index.ts' }, outdir: 'dist/browser', platform: 'browser', external: ['webgpu', 'node:*'] }),
]);
