// createEngine: the one entry point to the GPU. Either the engine acquires a device of its own
// (navigator.gpu in a page or a Web Worker, Dawn through npm `webgpu` in Node) or it runs on a
// device the host application already has, sharing it: no global state, dispose() frees only our
// buffers and never destroys the host's device.
import { Engine, type EngineOptions } from '../engine.js';

export interface CreateEngineOptions extends EngineOptions {
  /** A GPUDevice the host application owns; the engine uses it and leaves it alive on dispose(). */
  device?: GPUDevice;
}

export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  if (options.device) {
    const engine = Engine.fromDevice(options.device);
    if (options.profile) engine.runtime.setProfiling(true);
    return engine;
  }
  return Engine.create(options);
}
