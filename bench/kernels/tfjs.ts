// What the suite needs from tfjs-backend-webgpu beyond tfjs-core's API: a wait that covers the GPU
// work without reading anything back, and the adapter's name.
import type { Tf } from './types.js';

/** The backend's own methods that submit pending work (public on WebGPUBackend, not in tfjs-core's types). */
interface TfjsWebGpuBackend {
  device: GPUDevice;
  adapterInfo?: { vendor?: string; architecture?: string };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

function webgpuBackend(tf: Tf): TfjsWebGpuBackend {
  const backend = tf.backend() as unknown as TfjsWebGpuBackend;
  if (typeof backend.submitQueue !== 'function') throw new Error(`tfjs backend is ${tf.getBackend()}, not webgpu`);
  return backend;
}

/**
 * Submits everything tfjs has recorded and waits for the GPU to finish it. tfjs batches dispatches
 * and submits every few ops, so awaiting the queue alone could return before the last op ran.
 */
export async function tfjsSync(tf: Tf): Promise<void> {
  const backend = webgpuBackend(tf);
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

export function tfjsAdapterName(tf: Tf): string {
  const backend = webgpuBackend(tf);
  const info = (backend.device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const parts = info
    ? [info.vendor, info.architecture, info.description || info.device]
    : [backend.adapterInfo?.vendor, backend.adapterInfo?.architecture];
  return parts.filter((s) => s).join(' / ') || 'unknown adapter';
}
