// The page's side of the worker protocol: one promise per request, its events to a callback.
import type { Reply, Request, WorkerEvent } from './protocol.js';

export class WorkerError extends Error {
  constructor(readonly errorName: string, message: string) {
    super(message);
    this.name = errorName;
  }
}

export class WorkerClient {
  private nextId = 1;
  private pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; onEvent?(e: WorkerEvent): void }>();

  constructor(private readonly worker: Worker) {
    worker.onmessage = (ev: MessageEvent<Reply>) => {
      const reply = ev.data;
      const p = this.pending.get(reply.id);
      if (!p) return;
      if (reply.type === 'event') p.onEvent?.(reply.event);
      else {
        this.pending.delete(reply.id);
        if (reply.type === 'done') p.resolve(reply.result);
        else p.reject(new WorkerError(reply.name, reply.message));
      }
    };
    worker.onerror = (ev) => {
      // A worker that fails to start or throws at top level: fail every pending request with its message.
      const err = new WorkerError('WorkerError', ev.message || 'the app worker failed');
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }

  call<T = unknown>(req: Request, onEvent?: (e: WorkerEvent) => void, transfer: Transferable[] = []): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent });
      this.worker.postMessage({ id, req }, transfer);
    });
  }
}
