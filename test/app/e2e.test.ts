// The app end to end in headless Chromium (SwiftShader WebGPU on the CPU): load the demo, refuse a
// file that is not a volume and a label map on another grid, embed two labelled slices with MobileSAM
// at 256, train the linear head, segment, check the overlay's pixels for class colours (screenshots
// kept in dist/test-output/), export the predicted masks (NIfTI on the scan's grid and affine) and
// the head (safetensors parses, its keys and shapes are the head's, and the CLI's loader accepts it
// with the exported run.json), reload and find every embedding in IndexedDB (no encoder built),
// damaged records recomputed, and every network request on the app's own origin.
import { mkdirSync, readFileSync, writeFileSync, existsSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, ElementHandle, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPng } from '../../src/io/png.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { readImageVolume, readLabelVolume } from '../../src/data/volume.js';
import { countClassPixels } from '../../src/app/render.js';
import { serveStatic, type StaticServer } from '../../src/cli/commands/serve.js';
import { loadTrainedModel } from '../../src/train/run-eval.js';
import { LinearHead, linearHeadConfig } from '../../src/models/heads/index.js';
import { testEngine } from '../helpers/engine.js';
import { hasChromium, launchChromium } from './browser.js';

const APP = 'dist/app';
const OUT = 'dist/test-output';
const QUERY = '?encoderSize=256&size=128&slices=2&epochs=15&batch=2&lr=0.003&head=linear&opacity=100';
const CLASSES = 6;

let server: StaticServer;
let browser: Browser;
let userDataDir: string;
const downloads = mkdtempSync(path.join(os.tmpdir(), 'autosam-app-downloads-'));
const requests: string[] = [];

async function openApp(): Promise<Page> {
  const page = await browser.newPage();
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`[page] ${m.text()}`);
  });
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  await page.goto(server.url + QUERY);
  await page.waitForSelector('body[data-ready]');
  expect(await page.$eval('body', (b) => b.dataset.ready)).toBe('true');
  return page;
}

const text = (page: Page, sel: string) => page.$eval(sel, (e) => e.textContent ?? '');

async function loadDemo(page: Page): Promise<void> {
  await page.click('#demo');
  await page.waitForFunction(() => document.querySelectorAll('#cases tbody tr').length === 2 && document.body.dataset.busy === 'false');
}

async function embed(page: Page): Promise<{ total: number; cached: number; built: string }> {
  await page.$eval('#embed-status', (e) => e.removeAttribute('data-total'));
  await page.click('#embed');
  await page.waitForFunction(() => document.querySelector<HTMLElement>('#embed-status')!.dataset.total || document.querySelector('#errors')!.textContent, { timeout: 300_000 });
  expect(await text(page, '#errors')).toBe('');
  return page.$eval('#embed-status', (e) => ({ total: Number((e as HTMLElement).dataset.total), cached: Number((e as HTMLElement).dataset.cached), built: (e as HTMLElement).dataset.built ?? '' }));
}

async function waitForFile(name: string): Promise<Uint8Array> {
  const file = path.join(downloads, name);
  for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  expect(existsSync(file), `${name} downloaded (found: ${readdirSync(downloads).join(', ')})`).toBe(true);
  return new Uint8Array(readFileSync(file));
}

describe.skipIf(!hasChromium())('app end to end in headless Chromium', () => {
  beforeAll(async () => {
    expect(existsSync(`${APP}/index.html`), 'run npm run build first (dist/app)').toBe(true);
    expect(existsSync(`${APP}/demo/manifest.json`), 'the demo was not built (needs mricron-data)').toBe(true);
    server = await serveStatic(APP, { port: 0 });
    ({ browser, userDataDir } = await launchChromium());
    mkdirSync(OUT, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(userDataDir, { recursive: true, force: true });
    rmSync(downloads, { recursive: true, force: true });
  });

  it('says so when the browser has no WebGPU', async () => {
    const page = await browser.newPage();
    page.on('request', (r) => requests.push(r.url()));
    await page.evaluateOnNewDocument(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready]');
    expect(await page.$eval('body', (b) => b.dataset.ready)).toBe('no-webgpu');
    expect(await text(page, '#errors')).toMatch(/does not offer WebGPU/);
    await page.close();
  });

  it('trains on the demo, segments, exports, and finds its embeddings cached after a reload', async () => {
    const t0 = Date.now();
    const lap = (what: string) => console.log(`[e2e] ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    let page = await openApp();
    await loadDemo(page);

    // Refused inputs, with the file named and what to do: not a volume; a label map on another grid.
    const bad = path.join(downloads, 'notes.nii.gz');
    writeFileSync(bad, 'this is not a NIfTI file\n');
    const mismatched = path.join(downloads, 'brain-unlabelled_gt.nii.gz');
    writeFileSync(mismatched, readFileSync(`${APP}/demo/brain-labelled_gt.nii.gz`));
    const picker = (await page.$('#files')) as ElementHandle<HTMLInputElement> | null;
    await picker!.uploadFile(bad, mismatched);
    await page.waitForFunction(() => document.querySelectorAll('#errors .error').length >= 2);
    const errors = await text(page, '#errors');
    expect(errors).toMatch(/notes\.nii\.gz is not a volume the app can read/);
    expect(errors).toMatch(/brain-unlabelled_gt\.nii\.gz does not match brain-unlabelled\.nii\.gz: the label map is 6x217x181 voxels, the scan 2x217x181/);
    expect(await page.$$eval('#cases tbody tr', (rows) => rows.length)).toBe(2);
    lap('demo loaded, bad inputs refused');

    const first = await embed(page);
    expect(first).toEqual({ total: 2, cached: 0, built: 'true' });
    lap('embedded');

    await page.click('#train');
    await page.waitForFunction(() => /^trained/.test(document.querySelector('#train-status')!.textContent ?? '') || document.querySelector('#errors')!.textContent, { timeout: 300_000 });
    expect(await text(page, '#errors')).toBe('');
    const trained = await text(page, '#train-status');
    lap(trained);
    const losses = await page.evaluate(() => document.querySelector('#train-status')!.textContent);
    expect(losses).toMatch(/trained 15 steps/);

    await page.click('#predict');
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#predict-status')!.dataset.done || document.querySelector('#errors')!.textContent, { timeout: 300_000 });
    expect(await text(page, '#errors')).toBe('');
    lap('segmented');

    // The labelled scan's middle slice: ground truth and prediction side by side, overlay opacity 100 %.
    await page.select('#view-case', 'brain-labelled');
    await page.setViewport({ width: 1200, height: 900 });
    await page.screenshot({ path: path.join(OUT, 'app-e2e-page.png'), fullPage: true });
    const shots: Record<string, number[]> = {};
    for (const which of ['truth', 'pred']) {
      const el = await page.$(`#view-${which}`);
      const file = path.join(OUT, `app-e2e-${which}.png`);
      await el!.screenshot({ path: file });
      const png = readPng(new Uint8Array(readFileSync(file)), file);
      const rgba = new Uint8Array(png.width * png.height * 4);
      for (let i = 0; i < png.width * png.height; i++) for (let c = 0; c < 4; c++) rgba[i * 4 + c] = c < png.channels ? png.data[i * png.channels + c] : 255;
      shots[which] = countClassPixels(rgba, CLASSES, 1, 2);
      console.log(`[e2e] ${which} overlay pixels per class: ${shots[which].join(', ')}`);
    }
    // Ground truth of slice x = 96 holds all five foreground classes.
    for (let k = 1; k < CLASSES; k++) expect(shots.truth[k], `class ${k} in the ground-truth overlay`).toBeGreaterThan(50);
    // The prediction paints at least head and brain classes over a visible part of the slice.
    const predicted = shots.pred.slice(1).filter((n) => n > 200).length;
    expect(predicted).toBeGreaterThanOrEqual(2);

    // The predicted masks of the viewed scan: NIfTI on the scan's grid, with its affine and qform/sform codes.
    await page.click('#export-masks');
    const maskBytes = await waitForFile('brain-labelled_pred.nii.gz');
    const mask = readLabelVolume(maskBytes, 'brain-labelled_pred.nii.gz');
    const scan = readImageVolume(new Uint8Array(readFileSync(`${APP}/demo/brain-labelled.nii.gz`)), 'brain-labelled.nii.gz');
    expect(mask.dims).toEqual(scan.dims);
    expect(mask.spacing).toEqual(scan.spacing);
    expect(mask.affine).toEqual(scan.affine);
    expect([mask.source?.qformCode, mask.source?.sformCode]).toEqual([scan.source?.qformCode, scan.source?.sformCode]);
    const maskCounts = new Array<number>(CLASSES + 1).fill(0);
    for (const v of mask.data) maskCounts[Math.min(v, CLASSES)]++;
    expect(maskCounts[CLASSES]).toBe(0); // every label is a class
    expect(maskCounts.slice(1, CLASSES).filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);

    // Exports: the head's safetensors and a run.json the CLI's loader accepts.
    await page.click('#export-head');
    const weights = await waitForFile('head.safetensors');
    await page.click('#export-run');
    const runJson = await waitForFile('run.json');
    const parsed = readSafetensors(weights);
    expect(parsed.metadata).toMatchObject({ format: 'pt', head: 'linear', classes: String(CLASSES) });
    const engine = await testEngine();
    const reference = new LinearHead(engine, linearHeadConfig(CLASSES, { embDim: 256 }), 0);
    const expected = [...reference.stateDict()].map(([k, t]) => `${k}:${t.shape.join('x')}`).sort();
    reference.dispose();
    expect([...parsed.tensors].map(([k, t]) => `${k}:${t.shape.join('x')}`).sort()).toEqual(expected);
    const runDir = mkdtempSync(path.join(os.tmpdir(), 'autosam-app-run-'));
    writeFileSync(path.join(runDir, 'head.safetensors'), weights);
    writeFileSync(path.join(runDir, 'run.json'), runJson);
    const status = JSON.parse(new TextDecoder().decode(runJson));
    const model = await loadTrainedModel(engine, runDir, status);
    expect(model.numClasses).toBe(CLASSES);
    model.module.dispose();
    rmSync(runDir, { recursive: true, force: true });
    lap('exported');

    // Reload: the same slices embed from IndexedDB, without building the encoder.
    await page.close();
    page = await openApp();
    await loadDemo(page);
    const again = await embed(page);
    expect(again).toEqual({ total: 2, cached: 2, built: 'false' });
    lap('reloaded, cache hit');

    // Damaged IndexedDB records (each cut short by 4 bytes) read as misses: the slices are embedded again.
    const entries = await page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const req = indexedDB.open('autosam-embeddings');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const tx = db.transaction('entries', 'readwrite');
      const store = tx.objectStore('entries');
      const keys = await new Promise<IDBValidKey[]>((resolve) => {
        const req = store.getAllKeys();
        req.onsuccess = () => resolve(req.result);
      });
      for (const key of keys) {
        const value = await new Promise<ArrayBuffer>((resolve) => {
          const req = store.get(key);
          req.onsuccess = () => resolve(req.result as ArrayBuffer);
        });
        store.put(value.slice(0, value.byteLength - 4), key);
      }
      await new Promise((resolve) => (tx.oncomplete = resolve));
      db.close();
      return keys.length;
    });
    expect(entries).toBe(8); // 6 labelled + 2 unlabelled slices
    const repaired = await embed(page);
    expect(repaired).toEqual({ total: 2, cached: 0, built: 'true' });
    lap('damaged entry recomputed');
    await page.close();

    const origin = new URL(server.url).origin;
    const foreign = requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('blob:') && !u.startsWith('data:'));
    expect(requests.length).toBeGreaterThan(5);
    expect(foreign).toEqual([]);
  }, 600_000);
});
