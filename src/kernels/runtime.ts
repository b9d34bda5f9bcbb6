// Runs KernelSpecs: creates each pipeline once (keyed by its WGSL text), records every dispatch of a
// step into one command encoder, and submits once per flush. Optional per-dispatch GPU timestamps.
import { DeviceError, LimitError } from '../errors.js';
import { kernelKey, type KernelSpec } from './kernel.js';

export interface KernelProfileEntry {
  name: string;
  calls: number;
  totalMs: number;
}

const UNIFORM = 0x40, MAP_READ = 0x01, COPY_DST = 0x08, QUERY_RESOLVE = 0x200, COPY_SRC = 0x04;
const MAX_QUERIES = 4096;

function envValue(name: string): string | undefined {
  return typeof process !== 'undefined' ? process.env?.[name] : undefined;
}

export class KernelRuntime {
  private pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private transient: GPUBuffer[] = [];
  private firstError: Error | null = null;
  private readonly printWgsl = envValue('AUTOSAM_PRINT_WGSL');
  // Profiling state.
  private profiling = false;
  private querySet: GPUQuerySet | null = null;
  private queryNames: string[] = [];
  /** Per query pair: the pipeline key and workgroup counts, for profileDetail(). */
  private queryDetails: string[] = [];
  private pendingProfiles: Promise<void>[] = [];
  private profile = new Map<string, KernelProfileEntry>();
  private detail = new Map<string, KernelProfileEntry>();
  dispatchCount = 0;
  submitCount = 0;

  private readonly onUncapturedError = (event: Event) => {
    const e = (event as GPUUncapturedErrorEvent).error;
    this.firstError ??= new DeviceError(`GPU error: ${e.message}`);
  };

  constructor(readonly device: GPUDevice) {
    device.addEventListener('uncapturederror', this.onUncapturedError);
  }

  /** Stops listening to the device's errors (a host app's device outlives the engine). */
  detach(): void {
    this.device.removeEventListener('uncapturederror', this.onUncapturedError);
  }

  /** Turns per-dispatch GPU timestamps on or off (needs the timestamp-query feature). */
  setProfiling(on: boolean): void {
    if (on && !this.device.features.has('timestamp-query')) {
      throw new DeviceError('profiling needs the timestamp-query feature, which this adapter does not offer');
    }
    this.flush();
    this.profiling = on;
    if (on && !this.querySet) this.querySet = this.device.createQuerySet({ type: 'timestamp', count: MAX_QUERIES });
  }

  pipelineCount(): number {
    return this.pipelines.size;
  }

  /** The WGSL behind a printed key, for debugging (`autosam` prints keys in profiles). */
  wgslForKey(key: string): string | undefined {
    for (const wgsl of this.pipelines.keys()) if (kernelKey({ name: key.split('#')[0], wgsl }) === key) return wgsl;
    return undefined;
  }

  private pipelineFor(spec: KernelSpec): GPUComputePipeline {
    let pipeline = this.pipelines.get(spec.wgsl);
    if (!pipeline) {
      const key = kernelKey(spec);
      if (this.printWgsl && (this.printWgsl === '1' || this.printWgsl === 'all' || key.includes(this.printWgsl))) {
        console.error(`// ---- kernel ${key}\n${spec.wgsl}`);
      }
      const module = this.device.createShaderModule({ code: spec.wgsl, label: key });
      pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(spec.wgsl, pipeline);
    }
    return pipeline;
  }

  private currentEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /**
   * Records one dispatch. `buffers[i]` is bound at @binding(i); `uniforms`, when given, is bound
   * after them. Read-only and writable bindings must be distinct buffers (WebGPU forbids aliasing).
   */
  run(spec: KernelSpec, buffers: { buffer: GPUBuffer; write?: boolean }[], uniforms?: ArrayBufferView): void {
    if (this.lostError) throw this.lostError;
    const maxBinding = this.device.limits.maxStorageBufferBindingSize;
    for (const b of buffers) {
      if (b.buffer.size > maxBinding) {
        throw new LimitError(
          `${spec.name}: a ${b.buffer.size}-byte operand exceeds this adapter's maxStorageBufferBindingSize (${maxBinding} bytes); split the work into smaller tensors`,
        );
      }
    }
    for (let i = 0; i < buffers.length; i++) {
      if (!buffers[i].write) continue;
      for (let j = 0; j < buffers.length; j++) {
        if (i !== j && buffers[j].buffer === buffers[i].buffer) {
          throw new Error(`${spec.name}: the output buffer is also bound as an input; WebGPU forbids aliasing within a dispatch`);
        }
      }
    }
    const pipeline = this.pipelineFor(spec);
    const entries: GPUBindGroupEntry[] = buffers.map((b, i) => ({ binding: i, resource: { buffer: b.buffer } }));
    if (uniforms) {
      const size = Math.max(16, Math.ceil(uniforms.byteLength / 16) * 16);
      const ubuf = this.device.createBuffer({ size, usage: UNIFORM, mappedAtCreation: true });
      new Uint8Array(ubuf.getMappedRange()).set(new Uint8Array(uniforms.buffer, uniforms.byteOffset, uniforms.byteLength));
      ubuf.unmap();
      this.transient.push(ubuf);
      entries.push({ binding: buffers.length, resource: { buffer: ubuf } });
    }
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const encoder = this.currentEncoder();
    let pass: GPUComputePassEncoder;
    if (this.profiling && this.querySet) {
      this.endPass();
      if (this.queryNames.length + 2 > MAX_QUERIES) this.flush();
      const q = this.queryNames.length * 2;
      this.queryNames.push(spec.name);
      this.queryDetails.push(`${kernelKey(spec)} [${spec.dispatch.join('x')}]x[${spec.workgroupSize.join('x')}]`);
      pass = this.currentEncoder().beginComputePass({
        timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 },
      });
      this.pass = pass;
    } else {
      this.pass ??= encoder.beginComputePass();
      pass = this.pass;
    }
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(spec.dispatch[0], spec.dispatch[1], spec.dispatch[2]);
    if (this.profiling) this.endPass();
    this.dispatchCount++;
  }

  /** Records a buffer-to-buffer copy in the current step. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.endPass();
    this.currentEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    let profileRead: (() => Promise<void>) | null = null;
    if (this.profiling && this.querySet && this.queryNames.length) {
      const count = this.queryNames.length * 2;
      const resolve = this.device.createBuffer({ size: count * 8, usage: QUERY_RESOLVE | COPY_SRC });
      const readback = this.device.createBuffer({ size: count * 8, usage: MAP_READ | COPY_DST });
      this.encoder.resolveQuerySet(this.querySet, 0, count, resolve, 0);
      this.encoder.copyBufferToBuffer(resolve, 0, readback, 0, count * 8);
      const names = this.queryNames;
      const details = this.queryDetails;
      this.queryNames = [];
      this.queryDetails = [];
      profileRead = async () => {
        await readback.mapAsync(MAP_READ);
        const t = new BigUint64Array(readback.getMappedRange().slice(0));
        readback.unmap();
        readback.destroy();
        resolve.destroy();
        names.forEach((name, i) => {
          const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
          const e = this.profile.get(name) ?? { name, calls: 0, totalMs: 0 };
          e.calls++;
          e.totalMs += ms;
          this.profile.set(name, e);
          const d = this.detail.get(details[i]) ?? { name: details[i], calls: 0, totalMs: 0 };
          d.calls++;
          d.totalMs += ms;
          this.detail.set(details[i], d);
        });
      };
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.submitCount++;
    this.encoder = null;
    for (const b of this.transient) b.destroy();
    this.transient = [];
    if (profileRead) this.pendingProfiles.push(profileRead());
  }

  /** Called when the device is lost: every later run, read and sync throws this error. */
  markLost(err: DeviceError): void {
    this.lostError = err;
  }
  private lostError: DeviceError | null = null;

  /** Throws the first GPU error seen since the last check (validation, out of memory, device loss). */
  throwIfFailed(): void {
    if (this.lostError) throw this.lostError;
    if (this.firstError) {
      const e = this.firstError;
      this.firstError = null;
      throw e;
    }
  }

  /** Flushes, waits for the GPU to finish, and reports any error it raised. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await Promise.all(this.pendingProfiles);
    this.pendingProfiles = [];
    this.throwIfFailed();
  }

  /** Copies a buffer range back to the CPU (flushes pending work first). */
  async readBuffer(src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    const staging = this.device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: MAP_READ | COPY_DST });
    this.copy(src, 0, staging, 0, Math.ceil(bytes / 4) * 4);
    this.flush();
    if (this.lostError) throw this.lostError;
    try {
      await staging.mapAsync(MAP_READ);
    } catch (err) {
      this.throwIfFailed();
      throw new DeviceError(`reading a result back from the GPU failed: ${(err as Error).message}`, { cause: err });
    }
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    this.throwIfFailed();
    return out;
  }

  /** Per-kernel GPU time collected since profiling started (call after sync()). */
  profileReport(): KernelProfileEntry[] {
    return [...this.profile.values()].sort((a, b) => b.totalMs - a.totalMs);
  }

  /** profileReport() split by pipeline (name#hash of its WGSL) and dispatch size, to tell one family's shapes apart. */
  profileDetail(): KernelProfileEntry[] {
    return [...this.detail.values()].sort((a, b) => b.totalMs - a.totalMs);
  }

  resetProfile(): void {
    this.profile.clear();
    this.detail.clear();
  }
}
