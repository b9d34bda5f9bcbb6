// Chromium driver: serves the bundled benchmark (bench/cache/kernels/browser.js) from 127.0.0.1 on a
// random port (navigator.gpu needs a secure context; localhost is one), opens it in headless Chromium
// through puppeteer-core, forwards the page's progress lines, and writes the record the page returns.
// Run through scripts/bench-kernels.mjs, which bundles this file and browser.ts.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { CHROMIUM, runBenchPage } from '../shared/chromium-page.js';
import { numpyShapes, parseBenchArgs } from './args.js';
import type { BrowserReport } from './browser.js';
import { runNumpyLine } from './numpy.js';
import { buildRecord, summaryLines, writeRecord } from './report.js';

const BUNDLE = 'bench/cache/kernels/browser.js';
/** The whole page run; SwiftShader is slow, but a hung GPU process must not hang the benchmark. */
const PAGE_TIMEOUT_MS = 12 * 60_000;
/** tfjs is skipped for a case estimated to need longer than this (its correctness run plus one timed run). */
const TFJS_CASE_LIMIT_MS = 45_000;

const log = (line: string) => console.log(`[chromium] ${line}`);

function serve(): Promise<{ server: Server; url: string }> {
  const page = '<!doctype html><meta charset="utf-8"><title>autosam kernel benchmark</title><script type="module" src="/browser.js"></script>';
  const bundle = readFileSync(BUNDLE);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    else if (path === '/browser.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    else if (path === '/favicon.ico') res.writeHead(204).end();
    else res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` });
  }));
}

function runPage(url: string, userDataDir: string): Promise<{ report: BrowserReport; browserVersion: string }> {
  return runBenchPage<BrowserReport>(url, userDataDir, PAGE_TIMEOUT_MS, log);
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const loadAverageAtStart = os.loadavg();
  const args = parseBenchArgs(process.argv.slice(2), 'bench/results/kernels-chromium.json');
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium package (apt-get install chromium), or run with --only node`);
  log(`numpy line (${numpyShapes(args).length} shapes)`);
  const numpy = runNumpyLine(process.cwd(), numpyShapes(args));
  log(numpy.available ? numpy.cases.map((c) => `${c.M}x${c.K}x${c.N} ${c.gflops.toFixed(1)} GFLOP/s`).join(', ') : numpy.note!);

  const { server, url } = await serve();
  const userDataDir = mkdtempSync(join(os.tmpdir(), 'autosam-bench-chromium-'));
  try {
    const query = new URLSearchParams({ quick: args.quick ? '1' : '0', filter: args.filter.join(','), tfjsLimitMs: String(TFJS_CASE_LIMIT_MS) });
    const { report, browserVersion } = await runPage(`${url}?${query}`, userDataDir);
    const record = buildRecord({
      environment: 'chromium', quick: args.quick, startedAt, loadAverageAtStart, suite: report.suite, numpy,
      tfjsVersion: report.tfjsVersion, browser: `${browserVersion} (${report.userAgent}; hardwareConcurrency ${report.hardwareConcurrency})`,
      notes: [
        'headless Chromium (Debian package) with --enable-unsafe-webgpu; ours and tfjs each request their own device from navigator.gpu',
        'ours is timed as op + engine.sync(); tfjs as op + submit + queue.onSubmittedWorkDone() (no readback on either side)',
      ],
    });
    writeRecord(args.out, record);
    for (const line of summaryLines(record)) log(line);
    log(`wrote ${args.out} in ${record.durationS} s`);
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
