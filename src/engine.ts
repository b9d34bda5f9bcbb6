// The engine ties the layers together: one device, its buffer pool and its kernel runtime.
// Tensors are created through it; scopes free everything made inside them except what is returned.
import { acquireDevice, adoptDevice, type AcquireOptions, type AcquiredDevice, type AdapterReport } from './device/device.js';
import { ShapeError, UsageError } from './errors.js';
import { KernelRuntime } from './kernels/runtime.js';
import { BufferPool, type PoolStats } from './tensor/pool.js';
import { Tensor } from './tensor/tensor.js';
import { byteSize, floatToHalfBits, numel, type DType, type HostArray } from './tensor/dtype.js';

export interface EngineOptions extends AcquireOptions {
  /** Per-kernel GPU timestamps (needs timestamp-query). */
  profile?: boolean;
}

export class Engine {
  readonly device: GPUDevice;
  readonly report: AdapterReport;
  readonly pool: BufferPool;
  readonly runtime: KernelRuntime;
  readonly hasF16: boolean;
  private readonly ownsDevice: boolean;
  private scopes: Set<Tensor>[] = [];
  private live = new Set<Tensor>();
  private destroyed = false;

  private constructor(acquired: AcquiredDevice, ownsDevice: boolean) {
    this.device = acquired.device;
    this.report = acquired.report;
    this.hasF16 = acquired.hasF16;
    this.ownsDevice = ownsDevice;
    this.pool = new BufferPool(this.device);
    this.runtime = new KernelRuntime(this.device);
    // A lost device fails every later read and sync with this error instead of hanging or returning garbage.
    void acquired.lost.then((err) => {
      if (!this.destroyed) this.runtime.markLost(err);
    });
  }

  /** Acquires a device of its own (browser or Node, chosen automatically). */
  static async create(options: EngineOptions = {}): Promise<Engine> {
    const engine = new Engine(await acquireDevice(options), true);
    if (options.profile) engine.runtime.setProfiling(true);
    return engine;
  }

  /** Runs on a device the host application owns; dispose() frees our buffers but never destroys it. */
  static fromDevice(device: GPUDevice): Engine {
    return new Engine(adoptDevice(device), false);
  }

  // ---- tensor creation --------------------------------------------------------------------

  /** An uninitialised tensor (contents are whatever the pooled buffer held). */
  empty(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    validateShape(shape);
    const buffer = this.pool.acquire(byteSize(shape, dtype));
    const t = new Tensor(this, [...shape], dtype, buffer);
    this.live.add(t);
    this.scopes[this.scopes.length - 1]?.add(t);
    return t;
  }

  /** Uploads host data. Float32Array data for an f16 tensor is converted on the way. */
  tensor(data: HostArray | number[], shape: readonly number[], dtype?: DType): Tensor {
    const type: DType = dtype ?? (data instanceof Int32Array ? 'i32' : data instanceof Uint32Array ? 'u32' : 'f32');
    if (data.length !== numel(shape)) {
      throw new ShapeError(`tensor(): ${data.length} values do not fill shape [${shape.join(', ')}] (${numel(shape)} elements)`);
    }
    const t = this.empty(shape, type);
    let bytes: ArrayBufferView;
    if (type === 'f16') {
      const halves = new Uint16Array(Math.ceil(data.length / 2) * 2);
      for (let i = 0; i < data.length; i++) halves[i] = floatToHalfBits(data[i]);
      bytes = halves;
    } else if (Array.isArray(data)) {
      bytes = type === 'f32' ? new Float32Array(data) : type === 'i32' ? new Int32Array(data) : new Uint32Array(data);
    } else {
      bytes = data;
    }
    this.write(t.buffer, bytes);
    return t;
  }

  /** A new tensor holding t's data, optionally under another shape of the same size (a buffer copy, no kernel). */
  copyAs(t: Tensor, shape: readonly number[] = t.shape): Tensor {
    if (numel(shape) !== t.size) throw new ShapeError(`copyAs: shape [${shape.join(', ')}] does not hold the ${t.size} elements of ${t}`);
    const out = this.empty(shape, t.dtype);
    if (out.size > 0) this.runtime.copy(t.buffer, 0, out.buffer, 0, t.byteLength);
    return out;
  }

  zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return this.fill(shape, 0, dtype);
  }

  fill(shape: readonly number[], value: number, dtype: DType = 'f32'): Tensor {
    const n = numel(shape);
    const host = dtype === 'i32' ? new Int32Array(n).fill(value) : dtype === 'u32' ? new Uint32Array(n).fill(value) : new Float32Array(n).fill(value);
    return this.tensor(host, shape, dtype);
  }

  /** Overwrites a tensor's contents with host data of the same element count (f32 data for f16 tensors). */
  writeTensor(t: Tensor, data: HostArray): void {
    if (data.length !== t.size) throw new ShapeError(`writeTensor: ${data.length} values for tensor ${t} of ${t.size} elements`);
    if (t.dtype === 'f16') {
      const halves = new Uint16Array(Math.ceil(data.length / 2) * 2);
      for (let i = 0; i < data.length; i++) halves[i] = floatToHalfBits(data[i]);
      this.write(t.buffer, halves);
    } else {
      this.write(t.buffer, data);
    }
  }

  /** Writes host bytes into a buffer. Pending dispatches are submitted first, so a pooled buffer
   * that an earlier dispatch still reads is not overwritten before that dispatch runs. */
  private write(buffer: GPUBuffer, bytes: ArrayBufferView): void {
    this.runtime.flush();
    const padded = bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes);
    this.device.queue.writeBuffer(buffer, 0, padded.buffer, padded.byteOffset, padded.byteLength);
  }

  /** A small zeroed buffer to bind where a kernel's optional operand is absent (never written). */
  get placeholderBuffer(): GPUBuffer {
    this.placeholder ??= this.device.createBuffer({ size: 256, usage: 0x80 /* STORAGE */ });
    return this.placeholder;
  }
  private placeholder: GPUBuffer | null = null;

  // ---- memory -------------------------------------------------------------------------------

  /** Runs fn; disposes every tensor created inside it except those reachable from its result. */
  scope<T>(fn: () => T): T {
    const created = new Set<Tensor>();
    this.scopes.push(created);
    let result: T;
    try {
      result = fn();
    } catch (err) {
      this.scopes.pop();
      for (const t of created) t.dispose();
      throw err;
    }
    this.scopes.pop();
    if (result instanceof Promise) throw new UsageError('engine.scope() takes a synchronous function; use scopeAsync() for async work');
    return this.closeScope(created, result);
  }

  /**
   * scope() for async work (reading results back, awaiting the GPU). Tensors created by anything
   * else running concurrently on this engine are attributed to this scope too: run one at a time.
   */
  async scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
    const created = new Set<Tensor>();
    this.scopes.push(created);
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      for (const t of created) t.dispose();
      throw err;
    } finally {
      const i = this.scopes.lastIndexOf(created);
      if (i >= 0) this.scopes.splice(i, 1);
    }
    return this.closeScope(created, result);
  }

  private closeScope<T>(created: Set<Tensor>, result: T): T {
    const kept = new Set<Tensor>();
    collectTensors(result, kept);
    const parent = this.scopes[this.scopes.length - 1];
    for (const t of created) {
      if (kept.has(t)) parent?.add(t);
      else t.dispose();
    }
    return result;
  }

  /** Moves a tensor out of every enclosing scope so it outlives them. */
  keep<T extends Tensor>(t: T): T {
    for (const s of this.scopes) s.delete(t);
    return t;
  }

  /** @internal called by Tensor.dispose */
  releaseTensor(t: Tensor, buffer: GPUBuffer): void {
    this.live.delete(t);
    this.pool.release(buffer);
  }

  memory(): PoolStats & { liveTensors: number } {
    return { ...this.pool.snapshot(), liveTensors: this.live.size };
  }

  /** Submits pending work and waits for the GPU. */
  sync(): Promise<void> {
    return this.runtime.sync();
  }

  /** Frees every tensor and pooled buffer; destroys the device only if we created it. */
  dispose(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.runtime.flush();
    for (const t of [...this.live]) t.dispose();
    this.pool.trim();
    this.placeholder?.destroy();
    this.runtime.detach();
    if (this.ownsDevice) this.device.destroy();
  }
}

function padTo4(bytes: ArrayBufferView): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return out;
}

function validateShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`invalid shape [${shape.join(', ')}]: dimensions must be non-negative integers`);
  }
}

function collectTensors(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 8 || value === null || typeof value !== 'object') return;
  if (value instanceof Tensor) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collectTensors(v, out, depth + 1);
  else if (value instanceof Map) for (const v of value.values()) collectTensors(v, out, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collectTensors(v, out, depth + 1);
}
