// The bandwidth yardstick: a plain WGSL copy (one vec4 per invocation) run through our runtime, so
// layernorm and softmax are judged against what a trivial memory-bound kernel reaches on the adapter.
import type { Engine } from '../../src/engine.js';
import { dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from '../../src/kernels/kernel.js';

const WORKGROUP = 256;

export function copyKernel(elements: number): KernelSpec {
  if (elements % 4 !== 0) throw new Error(`copyKernel: ${elements} elements is not a multiple of 4`);
  const vec4s = elements / 4;
  const wgsl = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i < ${vec4s}u) { dst[i] = src[i]; }
}`;
  return { name: 'bench_copy', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(vec4s / WORKGROUP)) };
}

export interface CopySides {
  /** The copy kernel through runtime.run, then sync. */
  runKernel(): Promise<void>;
  /** copyBufferToBuffer of the same bytes (the driver's memcpy), then sync; for information. */
  runBufferCopy(): Promise<void>;
  kernelFirstRunMs: number;
  bufferCopyFirstRunMs: number;
  dispose(): void;
}

/**
 * Sets up a copy of `elements` f32 (GB/s = 8 bytes per element) and checks both copies once; the
 * suite times them interleaved with the case they are the yardstick for.
 */
export async function prepareCopies(engine: Engine, elements: number): Promise<CopySides> {
  const host = new Float32Array(elements);
  for (let i = 0; i < elements; i++) host[i] = i % 9973;
  const src = engine.tensor(host, [elements]);
  const dst = engine.empty([elements]);
  const zeros = engine.zeros([elements]);
  const spec = copyKernel(elements);
  const dispatchKernel = () => engine.runtime.run(spec, [{ buffer: src.buffer }, { buffer: dst.buffer, write: true }]);
  const dispatchBufferCopy = () => engine.runtime.copy(src.buffer, 0, dst.buffer, 0, 4 * elements);
  const firstRun = async (dispatch: () => void, what: string) => {
    engine.runtime.copy(zeros.buffer, 0, dst.buffer, 0, 4 * elements); // so a copy that does nothing fails the check
    const t0 = performance.now();
    dispatch();
    const copied = await dst.readFloat();
    const ms = performance.now() - t0;
    for (let i = 0; i < elements; i++) {
      if (copied[i] !== host[i]) throw new Error(`${what} is wrong at element ${i}: ${copied[i]} instead of ${host[i]}`);
    }
    return ms;
  };
  const dispose = () => [src, dst, zeros].forEach((t) => t.dispose());
  let kernelFirstRunMs: number, bufferCopyFirstRunMs: number;
  try {
    kernelFirstRunMs = await firstRun(dispatchKernel, 'the copy kernel');
    bufferCopyFirstRunMs = await firstRun(dispatchBufferCopy, 'copyBufferToBuffer');
  } catch (err) {
    dispose();
    throw err;
  }
  return {
    runKernel: async () => {
      dispatchKernel();
      await engine.sync();
    },
    runBufferCopy: async () => {
      dispatchBufferCopy();
      await engine.sync();
    },
    kernelFirstRunMs, bufferCopyFirstRunMs, dispose,
  };
}
