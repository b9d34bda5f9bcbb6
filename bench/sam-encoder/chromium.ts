// Chromium driver of the vit_b benchmark: serves the page bundle (bench/cache/sam-encoder/browser.js),
// the PyTorch peer's cached checkpoint, input and reference embedding from 127.0.0.1 on a random port
// (navigator.gpu needs a secure context; localhost is one), opens the page in headless Chromium
// through puppeteer-core, forwards its progress lines, and merges the page's report into the `chromium`
// field of bench/results/sam-encoder.json (the Node fields are kept). A failure (the page's error, a
// crash, a timeout) is recorded there too, with the last progress lines.
// While the page runs, the Chromium processes' peak resident memory (the kernel's VmHWM) is read from
// /proc: the renderer holds the page's host copies of the weights, the GPU process SwiftShader's buffers.
// Run through bench/sam-encoder/run.mjs (npm run bench:sam-encoder -- --only chromium --chromium-runs=1).
// Usage: node bench/cache/sam-encoder/chromium.mjs [--chromium-runs=N] [--timeout-min=M] [--cache=DIR] [--out=FILE]
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { CHROMIUM, runBenchPage } from '../shared/chromium-page.js';
import type { SamChromiumReport } from './shared.js';

const BUNDLE = 'bench/cache/sam-encoder/browser.js';
const log = (line: string) => console.log(`[sam-encoder chromium] ${line}`);
const arg = (name: string, fallback: string) => process.argv.find((s) => s.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;

const RUNS = Number(arg('chromium-runs', arg('runs', '1')));
/** A forward that takes over ~12 minutes counts as a failure: 3 minutes for the load, 12 per forward. */
const TIMEOUT_MIN = Number(arg('timeout-min', String(3 + 12 * (1 + RUNS))));
const CACHE = arg('cache', 'bench/cache');
const OUT = arg('out', 'bench/results/sam-encoder.json');
const FILES = {
  '/checkpoint.pth': join(CACHE, 'sam_vit_b_random.pth'),
  '/input.npy': join(CACHE, 'sam_vit_b_input.npy'),
  '/embedding.npy': join(CACHE, 'sam_vit_b_embedding.npy'),
} as const;

/** The peer writes the checkpoint, input and embedding when missing (one PyTorch forward). */
function ensureCache(): void {
  if (Object.values(FILES).every((f) => existsSync(f))) return;
  const python = process.env.PYTHON ?? '.venv/bin/python';
  log(`${CACHE} lacks the vit_b files: running tools/peers/sam_vit_b.py to write them`);
  const r = spawnSync(python, ['tools/peers/sam_vit_b.py', CACHE, '1'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`tools/peers/sam_vit_b.py failed (exit ${r.status ?? r.signal})`);
}

/** Files are streamed from disk with their length, so the page's fetch fills one ArrayBuffer of the final size. */
function serve(): Promise<{ server: Server; url: string }> {
  const page = '<!doctype html><meta charset="utf-8"><title>autosam vit_b benchmark</title><script type="module" src="/browser.js"></script>';
  const bundle = readFileSync(BUNDLE);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    else if (path === '/browser.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    else if (Object.hasOwn(FILES, path)) {
      const file = FILES[path as keyof typeof FILES];
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size });
      createReadStream(file).pipe(res);
    } else if (path === '/favicon.ico') res.writeHead(204).end();
    else res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` });
  }));
}

/**
 * Peak resident bytes of the Chromium processes started with `userDataDir` and their descendants, by
 * process type (browser, renderer, gpu-process, ...): the largest VmHWM seen per type. Polled, so a
 * process that lives less than a poll interval can be missed.
 */
function watchChromiumMemory(userDataDir: string): { stop(): Record<string, number> } {
  const peaks: Record<string, number> = {};
  const poll = () => {
    const procs = new Map<number, { ppid: number; cmd: string }>();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        procs.set(Number(name), { ppid, cmd: readFileSync(`/proc/${name}/cmdline`, 'utf8') });
      } catch { /* the process exited */ }
    }
    const ours = new Set([...procs].filter(([, p]) => p.cmd.includes(userDataDir)).map(([pid]) => pid));
    for (let grew = true; grew;) {
      grew = false;
      for (const [pid, p] of procs) if (!ours.has(pid) && ours.has(p.ppid)) { ours.add(pid); grew = true; }
    }
    for (const pid of ours) {
      try {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (!hwm) continue;
        const type = /--type=([\w-]+)/.exec(procs.get(pid)!.cmd)?.[1] ?? 'browser';
        peaks[type] = Math.max(peaks[type] ?? 0, Number(hwm[1]) * 1024);
      } catch { /* the process exited */ }
    }
  };
  const timer = setInterval(poll, 2000);
  return { stop: () => { clearInterval(timer); poll(); return peaks; } };
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const loadAverageAtStart = os.loadavg();
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)`);
  ensureCache();
  const { server, url } = await serve();
  const userDataDir = mkdtempSync(join(os.tmpdir(), 'autosam-bench-sam-encoder-'));
  const lines: string[] = [];
  const pageLog = (line: string) => {
    const stamped = `${((Date.now() - startedAt) / 1000).toFixed(0)} s: ${line}`;
    lines.push(stamped);
    log(stamped);
  };
  const memory = watchChromiumMemory(userDataDir);
  let report: SamChromiumReport | null = null;
  let browser: string | null = null;
  let failure: string | null = null;
  try {
    log(`page ${url}?runs=${RUNS}, timeout ${TIMEOUT_MIN} min`);
    const result = await runBenchPage<SamChromiumReport>(`${url}?runs=${RUNS}`, userDataDir, TIMEOUT_MIN * 60_000, pageLog);
    report = result.report;
    browser = result.browserVersion;
  } catch (err) {
    failure = (err as Error).message;
    log(`FAILED: ${failure}`);
  } finally {
    server.close();
  }
  const peakRssBytes = memory.stop();
  rmSync(userDataDir, { recursive: true, force: true });

  const record = {
    environment: 'chromium',
    date: new Date(startedAt).toISOString(),
    durationS: Math.round((Date.now() - startedAt) / 1000),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cpus: os.cpus().length, loadAverageAtStart, loadAverageAtEnd: os.loadavg() },
    browser,
    timeoutMin: TIMEOUT_MIN,
    ...(report ?? { ok: false }),
    ...(failure ? { error: failure } : {}),
    peakRssBytes,
    progress: report?.ok ? undefined : lines.slice(-20),
    notes: [
      'headless Chromium (Debian package) with --enable-unsafe-webgpu; our engine on navigator.gpu (SwiftShader: no GPU on this machine)',
      'the page fetches the torch.save checkpoint by URL and loads it with our reader (readWeights + loadSamEncoder), fused attention',
      'first forward (pipeline compilation included) checked against PyTorch (max|err| <= 1e-3 max|ref|), then timed forwards: forward + embedding read back, input already on the GPU',
      'peak live bytes: the pool\'s peak of bytes held by live tensors (weights included), over the first and the timed forwards',
      'peakRssBytes: the largest VmHWM (peak resident memory) per Chromium process type, polled every 2 s from /proc',
    ],
  };
  const existing = existsSync(OUT) ? JSON.parse(readFileSync(OUT, 'utf8')) as Record<string, unknown> : { benchmark: 'sam-encoder' };
  writeFileSync(OUT, `${JSON.stringify({ ...existing, chromium: record }, null, 2)}\n`);
  log(`merged the chromium record into ${OUT} (${record.durationS} s${record.ok ? '' : ', FAILED'})`);
  if (!record.ok) process.exitCode = 1;
}

main().then(() => process.exit(process.exitCode ?? 0), (err) => {
  console.error(err);
  process.exit(1);
});
