// A size-bucketed pool of GPU storage buffers. Freed buffers are kept and reused for requests of
// the same bucket, so a training loop allocates nothing after its first step.
import { LimitError } from '../errors.js';

export interface PoolStats {
  /** Bytes in buffers handed out and not yet released. */
  liveBytes: number;
  peakLiveBytes: number;
  /** Bytes in released buffers kept for reuse. */
  pooledBytes: number;
  /** Live plus pooled: what the pool holds on the GPU. */
  allocatedBytes: number;
  peakAllocatedBytes: number;
  liveBuffers: number;
  createdBuffers: number;
}

export const STORAGE_USAGE = GPUBufferUsageFlags();

function GPUBufferUsageFlags(): number {
  // GPUBufferUsage is a global in browsers and installed by the Dawn module in Node; the values are fixed by the spec.
  const STORAGE = 0x80, COPY_SRC = 0x04, COPY_DST = 0x08;
  return STORAGE | COPY_SRC | COPY_DST;
}

/** Rounds a request up to its bucket: 4 steps per power of two above 4 KiB, so waste stays under 19%. */
export function bucketSize(bytes: number): number {
  const min = 256;
  if (bytes <= min) return min;
  const pow = 2 ** Math.floor(Math.log2(bytes));
  if (pow < 4096) return pow === bytes ? bytes : pow * 2;
  const step = pow / 4;
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private sizes = new WeakMap<GPUBuffer, number>();
  private stats: PoolStats = {
    liveBytes: 0, peakLiveBytes: 0, pooledBytes: 0, allocatedBytes: 0, peakAllocatedBytes: 0, liveBuffers: 0, createdBuffers: 0,
  };

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number): GPUBuffer {
    const size = bucketSize(Math.max(4, bytes));
    const maxBuffer = this.device.limits.maxBufferSize;
    if (size > maxBuffer) {
      throw new LimitError(`a buffer of ${formatBytes(bytes)} exceeds this adapter's maxBufferSize (${formatBytes(maxBuffer)})`);
    }
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.stats.pooledBytes -= size;
    } else {
      buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE });
      this.sizes.set(buffer, size);
      this.stats.createdBuffers++;
      this.stats.allocatedBytes += size;
      this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    }
    this.stats.liveBytes += size;
    this.stats.liveBuffers++;
    this.stats.peakLiveBytes = Math.max(this.stats.peakLiveBytes, this.stats.liveBytes);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size === undefined) throw new Error('BufferPool.release: buffer did not come from this pool');
    this.stats.liveBytes -= size;
    this.stats.liveBuffers--;
    this.stats.pooledBytes += size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
  }

  /** Destroys every pooled (released) buffer, returning the memory to the driver. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.stats.allocatedBytes -= this.stats.pooledBytes;
    this.stats.pooledBytes = 0;
    this.free.clear();
  }

  /** Starts a new peak measurement from the current level. */
  resetPeaks(): void {
    this.stats.peakLiveBytes = this.stats.liveBytes;
    this.stats.peakAllocatedBytes = this.stats.allocatedBytes;
  }

  snapshot(): PoolStats {
    return { ...this.stats };
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
