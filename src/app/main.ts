// The app's page: inputs, settings, progress, plots, the viewer and exports. Every GPU step runs in
// the worker (worker.ts); the page parses dropped files itself (errors show at once, and the viewer
// needs the volumes anyway) and sends the volumes over.
import type { Axis } from '../data/dataset.js';
import { volumeToNifti, type LabelVolume } from '../data/volume.js';
import { adapterName, type AdapterReport } from '../device/device.js';
import { DataError } from '../errors.js';
import { WorkerClient, WorkerError } from './client.js';
import type { DemoManifest } from './demo-build-node.js';
import { checkAxis, classCount, readInputFiles, type AppCase, type InputFile } from './inputs.js';
import { drawChart, type Series } from './plot.js';
import type { EncoderChoice, InitResult } from './protocol.js';
import { cssColour, compositeRgba, displayWindow, greySlice, labelSlice } from './render.js';
import { limitProblems, noWebGpuMessage, type EncoderSpec } from './requirements.js';
import type { EmbedResult, EpochReport, HeadKind } from './session.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const select = (id: string) => $<HTMLSelectElement>(id);
const params = new URLSearchParams(location.search);

interface State {
  cases: AppCase[];
  classNames: string[];
  datasetName: string;
  predictions: Map<string, Uint8Array>;
  windows: Map<string, [number, number]>;
  adapter: AdapterReport | null;
  embedded: boolean;
  trained: boolean;
  busy: boolean;
  losses: [number, number][];
  dice: EpochReport[];
}

const state: State = {
  cases: [], classNames: [], datasetName: 'dropped files', predictions: new Map(), windows: new Map(),
  adapter: null, embedded: false, trained: false, busy: false, losses: [], dice: [],
};

let client: WorkerClient | null = null;

// ---- errors -------------------------------------------------------------------------------------

const TITLES: Record<string, string> = {
  DataError: 'This data cannot be used', FormatError: 'A file could not be read', UsageError: 'Check the settings',
  DeviceError: 'GPU problem', LimitError: 'The GPU adapter is too small for this', AbortError: 'Stopped',
};

function showError(title: string, message: string): void {
  const div = document.createElement('div');
  div.className = 'error';
  const b = document.createElement('b');
  b.textContent = title;
  div.append(b, message);
  $('errors').append(div);
}

function showCaught(err: unknown): void {
  const e = err as Error;
  const name = err instanceof WorkerError ? err.errorName : e?.name ?? 'Error';
  showError(TITLES[name] ?? `Unexpected error (${name})`, e?.message ?? String(err));
  console.warn(err);
}

const clearErrors = () => $('errors').replaceChildren();

// ---- data ---------------------------------------------------------------------------------------

function setCases(cases: AppCase[]): void {
  state.cases = cases;
  state.embedded = false;
  state.predictions.clear();
  for (const c of cases) if (!state.windows.has(c.id)) state.windows.set(c.id, displayWindow(c.image));
  const n = classCount(cases);
  if (state.classNames.length < n) state.classNames = Array.from({ length: n }, (_, k) => state.classNames[k] ?? (k === 0 ? 'background' : `class ${k}`));
  const body = $('cases').querySelector('tbody')!;
  body.replaceChildren(...cases.map((c) => {
    const tr = document.createElement('tr');
    const cells = [c.imageName, c.image.dims.join(' x '), c.image.spacing.map((s) => +s.toFixed(2)).join(' x '), c.labelName ?? '—'];
    tr.append(...cells.map((t) => Object.assign(document.createElement('td'), { textContent: t })));
    return tr;
  }));
  const view = select('view-case');
  const previous = view.value;
  view.replaceChildren(...cases.map((c) => new Option(c.label ? `${c.id} (labelled)` : c.id, c.id)));
  if (cases.some((c) => c.id === previous)) view.value = previous;
  renderLegend();
  refreshButtons();
  showSlice(true);
}

async function addFiles(list: FileList | File[], role?: 'image' | 'label'): Promise<void> {
  clearErrors();
  const files: InputFile[] = [];
  for (const f of Array.from(list)) files.push({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()), role });
  const { cases, problems } = readInputFiles(files, state.cases);
  for (const p of problems) showError(TITLES.DataError, p.message);
  state.datasetName = 'dropped files';
  setCases(cases);
}

async function loadDemo(): Promise<void> {
  clearErrors();
  const res = await fetch('demo/manifest.json');
  if (!res.ok) throw new DataError(`the demo is missing from this build (demo/manifest.json: HTTP ${res.status})`);
  const manifest = (await res.json()) as DemoManifest;
  const files: InputFile[] = [];
  for (const f of manifest.files) {
    for (const [name, role] of [[f.image, 'image'], [f.label, 'label']] as const) {
      if (!name) continue;
      const r = await fetch(`demo/${name}`);
      if (!r.ok) throw new DataError(`demo/${name}: HTTP ${r.status}`);
      files.push({ name, bytes: new Uint8Array(await r.arrayBuffer()), role });
    }
  }
  const { cases, problems } = readInputFiles(files);
  for (const p of problems) showError(TITLES.DataError, p.message);
  state.classNames = [...manifest.classNames];
  state.datasetName = manifest.name;
  select('axis').value = String(manifest.axis);
  input('normalization').value = manifest.normalization;
  setCases(cases);
}

// ---- settings -----------------------------------------------------------------------------------

const axis = () => Number(select('axis').value) as Axis;
const intOf = (id: string) => Math.round(Number(input(id).value));

function encoderSpec(): EncoderSpec {
  const e = select('encoder').value;
  return e === 'mobilesam' ? { kind: 'mobilesam', inputSize: Number(select('encoder-size').value) } : { kind: 'sam', variant: e as 'vit_b' };
}

function encoderChoice(): EncoderChoice {
  const spec = encoderSpec();
  if (spec.kind === 'mobilesam') return spec;
  const file = input('checkpoint').files?.[0];
  if (!file) throw new DataError(`pick the SAM ${spec.variant} checkpoint (.pth or .safetensors) first`);
  return { kind: 'sam', variant: spec.variant, file };
}

function refreshButtons(): void {
  const ready = !!state.adapter && !state.busy;
  const labelled = state.cases.some((c) => c.label);
  $<HTMLButtonElement>('embed').disabled = !ready || !labelled;
  $<HTMLButtonElement>('train').disabled = !ready || !state.embedded;
  $<HTMLButtonElement>('stop').disabled = !state.busy;
  $<HTMLButtonElement>('predict').disabled = !ready || !state.trained || state.cases.length === 0;
  $<HTMLButtonElement>('export-head').disabled = !ready || !state.trained;
  $<HTMLButtonElement>('export-run').disabled = !ready || !state.trained;
  $<HTMLButtonElement>('export-masks').disabled = !state.predictions.has(select('view-case').value);
  $<HTMLButtonElement>('demo').disabled = state.busy;
  document.body.dataset.busy = String(state.busy);
}

/** Runs one long step with the buttons locked; errors go to the error panel. */
async function task(fn: () => Promise<void>): Promise<void> {
  if (state.busy) return;
  clearErrors();
  state.busy = true;
  refreshButtons();
  try {
    await fn();
  } catch (err) {
    showCaught(err);
  } finally {
    state.busy = false;
    refreshButtons();
  }
}

// ---- embed, train, predict ----------------------------------------------------------------------

let encoderKey = '';

async function embed(): Promise<void> {
  const worker = client!;
  checkAxis(state.cases, axis());
  const spec = encoderSpec();
  const problems = limitProblems(state.adapter!.limits, spec);
  if (problems.length) {
    showError(TITLES.LimitError, problems.join('\n'));
    return;
  }
  const choice = encoderChoice();
  const key = JSON.stringify(spec) + (choice.kind === 'sam' ? `${choice.file.name}:${choice.file.size}:${choice.file.lastModified}` : '');
  const status = $('embed-status');
  if (key !== encoderKey) {
    status.textContent = 'loading the encoder weights…';
    await worker.call({ op: 'encoder', encoder: choice }, (e) => {
      if (e.kind === 'log') status.textContent = e.line;
    });
    encoderKey = key;
  }
  const bar = $<HTMLProgressElement>('embed-progress');
  status.textContent = 'preparing slices…';
  const result = await worker.call<EmbedResult>({
    op: 'embed',
    cases: state.cases.map((c) => ({ id: c.id, image: c.image, label: c.label })),
    settings: { axis: axis(), normalization: input('normalization').value.trim(), size: Number(select('size').value), views: intOf('views'), slicesPerCase: intOf('slices'), seed: 0 },
  }, (e) => {
    if (e.kind !== 'embed-progress') return;
    bar.max = e.total;
    bar.value = e.done;
    status.textContent = `embedded ${e.done} of ${e.total} (${e.cached} from the cache)`;
  });
  status.textContent = `embedded ${result.total} slice views: ${result.cached} of ${result.total} from the cache, ${result.total - result.cached} computed, in ${result.seconds.toFixed(1)} s`;
  status.dataset.total = String(result.total);
  status.dataset.cached = String(result.cached);
  status.dataset.built = String(result.encoderBuilt);
  state.embedded = true;
  state.trained = false;
  void refreshCacheStatus();
}

async function trainHead(): Promise<void> {
  const lr = Number(input('lr').value);
  const config = { epochs: intOf('epochs'), batchSize: intOf('batch'), lr, seed: 0, schedule: 'constant' as const, checkpointEvery: 0 };
  state.losses = [];
  state.dice = [];
  state.trained = false;
  state.predictions.clear();
  const bar = $<HTMLProgressElement>('train-progress');
  const status = $('train-status');
  const t0 = performance.now();
  await client!.call({ op: 'train', head: select('head').value as HeadKind, config, numClasses: Math.max(classCount(state.cases), state.classNames.length) }, (e) => {
    if (e.kind === 'step') {
      bar.max = e.total;
      bar.value = e.step;
      state.losses.push([e.step, e.loss]);
      status.textContent = `step ${e.step} of ${e.total}, loss ${e.loss.toFixed(4)}`;
      drawPlots();
    } else if (e.kind === 'epoch') {
      state.dice.push(e.report);
      drawPlots();
    }
  });
  const last = state.dice[state.dice.length - 1];
  const dice = last ? last.dice.map((d, k) => `${state.classNames[k + 1] ?? `class ${k + 1}`} ${d === null ? '–' : d.toFixed(2)}`).join(', ') : '';
  status.textContent = `trained ${state.losses.length} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s; final loss ${state.losses.at(-1)?.[1].toFixed(4)}; Dice on the labelled slices: ${dice}`;
  state.trained = true;
}

function drawPlots(): void {
  drawChart($<HTMLCanvasElement>('loss-plot'), [{ label: 'loss', colour: '#333', points: state.losses }], { xLabel: 'step', title: 'training loss (CE + soft Dice)', yMin: 0 });
  const classes = state.dice[0]?.dice.length ?? 0;
  const series: Series[] = Array.from({ length: classes }, (_, k) => ({
    label: state.classNames[k + 1] ?? `class ${k + 1}`,
    colour: cssColour(k + 1),
    points: state.dice.flatMap((r) => (r.dice[k] === null ? [] : [[r.epoch, r.dice[k]!] as [number, number]])),
  }));
  drawChart($<HTMLCanvasElement>('dice-plot'), series, { xLabel: 'epoch', title: 'Dice per class on the labelled slices', yMin: 0, yMax: 1 });
}

async function predictAll(): Promise<void> {
  const bar = $<HTMLProgressElement>('predict-progress');
  const status = $('predict-status');
  const t0 = performance.now();
  for (const [n, c] of state.cases.entries()) {
    const data = await client!.call<Uint8Array>({ op: 'predict', id: c.id, image: c.image }, (e) => {
      if (e.kind !== 'predict-progress') return;
      bar.max = e.total;
      bar.value = e.done;
      status.textContent = `${c.id} (${n + 1} of ${state.cases.length}): slice ${e.done} of ${e.total}`;
    });
    state.predictions.set(c.id, data);
    if (select('view-case').value === c.id) showSlice(false);
  }
  status.textContent = `segmented ${state.cases.length} scan(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
  status.dataset.done = 'true';
  showSlice(false);
  void refreshCacheStatus();
}

// ---- viewer -------------------------------------------------------------------------------------

function currentCase(): AppCase | undefined {
  return state.cases.find((c) => c.id === select('view-case').value);
}

function showSlice(resetSlider: boolean): void {
  const c = currentCase();
  const slider = input('slice');
  const truth = $<HTMLCanvasElement>('view-truth');
  const pred = $<HTMLCanvasElement>('view-pred');
  if (!c) {
    for (const cv of [truth, pred]) cv.getContext('2d')?.clearRect(0, 0, cv.width, cv.height);
    return;
  }
  const ax = c.image.dims[2] === 1 ? 2 : axis();
  const count = c.image.dims[ax];
  if (resetSlider || Number(slider.max) !== count - 1) {
    slider.max = String(count - 1);
    slider.value = String(Math.floor(count / 2));
  }
  const index = Number(slider.value);
  $('slice-number').textContent = `${index + 1} / ${count}`;
  const view = greySlice(c.image, ax, index, state.windows.get(c.id)!);
  const opacity = Number(input('opacity').value) / 100;
  const prediction = state.predictions.get(c.id);
  const predLabel: LabelVolume | null = prediction ? { data: prediction, dims: c.image.dims, spacing: c.image.spacing, affine: c.image.affine } : null;
  draw(truth, view, c.label ? labelSlice(c.label, ax, index) : null, opacity);
  draw(pred, view, predLabel ? labelSlice(predLabel, ax, index) : null, opacity);
  truth.parentElement!.querySelector('figcaption')!.textContent = c.label ? 'ground truth' : 'no label map';
  pred.parentElement!.querySelector('figcaption')!.textContent = prediction ? 'prediction' : 'not segmented yet';
  refreshButtons();
}

function draw(canvas: HTMLCanvasElement, view: ReturnType<typeof greySlice>, labels: Uint8Array | null, opacity: number): void {
  canvas.width = view.width;
  canvas.height = view.height;
  // Physical aspect ratio: column spacing across, row spacing down; at most 512 CSS pixels wide.
  const w = view.width * view.spacing[1], h = view.height * view.spacing[0];
  const scale = Math.min(512 / w, 512 / h);
  canvas.style.width = `${Math.round(w * scale)}px`;
  canvas.style.height = `${Math.round(h * scale)}px`;
  const ctx = canvas.getContext('2d')!;
  ctx.putImageData(new ImageData(compositeRgba(view, labels, opacity), view.width, view.height), 0, 0);
}

function renderLegend(): void {
  $('legend').replaceChildren(...state.classNames.slice(1).map((name, k) => {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.style.background = cssColour(k + 1);
    li.append(sw, `${k + 1} ${name}`);
    return li;
  }));
}

// ---- export -------------------------------------------------------------------------------------

function download(bytes: Uint8Array | string, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function exportHead(which: 'weights' | 'run'): Promise<void> {
  const r = await client!.call<{ safetensors: Uint8Array; runJson: string }>({ op: 'export', classNames: state.classNames, datasetName: state.datasetName });
  if (which === 'weights') download(r.safetensors, 'head.safetensors', 'application/octet-stream');
  else download(r.runJson, 'run.json', 'application/json');
}

function exportMasks(): void {
  const c = currentCase();
  const data = c && state.predictions.get(c.id);
  if (!c || !data) return;
  // The source scan's grid, affine and qform/sform: the mask overlays the scan in any viewer.
  const bytes = volumeToNifti({ data, dims: c.image.dims, spacing: c.image.spacing, affine: c.image.affine, source: c.image.source }, { datatype: 'uint8', gzip: true });
  download(bytes, `${c.id}_pred.nii.gz`, 'application/gzip');
}

async function refreshCacheStatus(): Promise<void> {
  if (!client) return;
  const r = await client.call<InitResult>({ op: 'init' });
  $('cache-status').textContent = `embedding cache: ${r.cacheEntries} entr${r.cacheEntries === 1 ? 'y' : 'ies'} in this browser`;
}

// ---- start --------------------------------------------------------------------------------------

function applyUrlDefaults(): void {
  // e.g. ?encoderSize=256&slices=2&epochs=5&head=linear: bookmarkable settings (and what the tests use).
  const map: [string, string][] = [['encoderSize', 'encoder-size'], ['size', 'size'], ['slices', 'slices'], ['views', 'views'], ['head', 'head'], ['epochs', 'epochs'], ['batch', 'batch'], ['lr', 'lr'], ['opacity', 'opacity']];
  for (const [param, id] of map) {
    const v = params.get(param);
    if (v !== null) ($(id) as HTMLInputElement | HTMLSelectElement).value = v;
  }
}

async function start(): Promise<void> {
  applyUrlDefaults();
  const gpu = (navigator as Navigator & { gpu?: unknown }).gpu;
  if (!gpu) {
    $('adapter').textContent = 'WebGPU: not available';
    showError('No WebGPU', noWebGpuMessage(window.isSecureContext));
    document.body.dataset.ready = 'no-webgpu';
    return;
  }
  client = new WorkerClient(new Worker(new URL('worker.js', import.meta.url), { type: 'module' }));
  try {
    const r = await client.call<InitResult>({ op: 'init' });
    state.adapter = r.adapter;
    $('adapter').textContent = `WebGPU adapter: ${adapterName(r.adapter)}${r.adapter.isSoftware ? ' (software: slow; MobileSAM runs at 512 by default here)' : ''}`;
    if (r.adapter.isSoftware && !params.has('encoderSize')) select('encoder-size').value = '512';
    $('cache-status').textContent = `embedding cache: ${r.cacheEntries} entr${r.cacheEntries === 1 ? 'y' : 'ies'} in this browser`;
    document.body.dataset.ready = 'true';
  } catch (err) {
    $('adapter').textContent = 'WebGPU: no usable device';
    showCaught(err);
    document.body.dataset.ready = 'no-device';
  }
  refreshButtons();
}

function wire(): void {
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer?.files.length) void addFiles(e.dataTransfer.files).catch(showCaught);
  });
  input('files').addEventListener('change', () => void addFiles(input('files').files!).catch(showCaught).finally(() => (input('files').value = '')));
  input('label-files').addEventListener('change', () => void addFiles(input('label-files').files!, 'label').catch(showCaught).finally(() => (input('label-files').value = '')));
  $('demo').addEventListener('click', () => void task(loadDemo));
  $('clear-data').addEventListener('click', () => {
    state.classNames = [];
    setCases([]);
  });
  select('encoder').addEventListener('change', () => {
    const sam = select('encoder').value !== 'mobilesam';
    $('checkpoint-label').hidden = !sam;
    $('encoder-size-label').hidden = sam;
  });
  $('embed').addEventListener('click', () => void task(embed));
  $('train').addEventListener('click', () => void task(trainHead));
  $('stop').addEventListener('click', () => void client?.call({ op: 'cancel' }));
  $('predict').addEventListener('click', () => void task(predictAll));
  select('view-case').addEventListener('change', () => showSlice(true));
  select('axis').addEventListener('change', () => {
    state.embedded = false;
    state.predictions.clear();
    showSlice(true);
  });
  input('slice').addEventListener('input', () => showSlice(false));
  input('opacity').addEventListener('input', () => showSlice(false));
  $('export-head').addEventListener('click', () => void task(() => exportHead('weights')));
  $('export-run').addEventListener('click', () => void task(() => exportHead('run')));
  $('export-masks').addEventListener('click', exportMasks);
  $('clear-cache').addEventListener('click', () => void task(async () => {
    await client?.call({ op: 'cache-clear' });
    await refreshCacheStatus();
  }));
  window.addEventListener('resize', drawPlots);
}

wire();
void start();
