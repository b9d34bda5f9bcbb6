// Bundles the Node CLI/library and the browser library with esbuild.
import { build } from 'esbuild';

const common = { bundle: true, format: 'esm', sourcemap: true, target: 'es2022', logLevel: 'warning' };

await Promise.all([
  // Node entries share chunks (splitting), so "autosam-webgpu" and "autosam-webgpu/node" hold one copy of each class.
  build({ ...common, entryPoints: { cli: 'src/cli/main.ts', index: 'src/index.ts', node: 'src/api/node.ts' }, outdir: 'dist/node', platform: 'node', packages: 'external', splitting: true, chunkNames: 'chunks/[name]-[hash]' }),
  build({ ...common, entryPoints: { autosam: 'src/index.ts' }, outdir: 'dist/browser', platform: 'browser', external: ['webgpu', 'node:*'] }),
]);
