// The bandwidth yardstick: a plain WGSL copy (one vec4 per invocation) run through our runtime, so
// layernorm and softmax are judged against what a trivial memory-bound kernel reaches on the adapter.
// Two spellings of the same copy are timed: runtime-sized arrays (array<vec4<f32>>) and arrays sized
// to the shape (array<vec4<f32>, N>), which SwiftShader runs 1.4-1.7x faster (cheaper bounds checks).
// Our layernorm and softmax declare sized arrays, so they are judged against the faster copy.
import type { Engine } from '../../src/engine.js';
import { dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from '../../src/kernels/kernel.js';

const WORKGROUP = 256;

export function copyKernel(elements: number, sized = false): KernelSpec {
  if (elements % 4 !== 0) throw new Error(`copyKernel: ${elements} elements is not a multiple of 4`);
  const vec4s = elements / 4;
  const type = sized ? `array<vec4<f32>, ${vec4s}>` : 'array<vec4<f32>>';
  const wgsl = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: ${type};
@group(0) @binding(1) var<storage, read_write> dst: ${type};
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i < ${vec4s}u) { dst[i] = src[i]; }
}`;
  return { name: sized ? 'bench_copy_sized' : 'bench_copy', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(vec4s / WORKGROUP)) };
}

export interface CopySides {
  /** The copy kernel through runtime.run, then sync. */
  runKernel(): Promise<void>;
  /** The same copy with arrays sized to the shape. */
  runSizedKernel(): Promise<void>;
  /** copyBufferToBuffer of the same bytes (the driver's memcpy), then sync; for information. */
  runBufferCopy(): Promise<void>;
  kernelFirstRunMs: number;
  sizedKernelFirstRunMs: number;
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
  const spec = copyKernel(elements), sizedSpec = copyKernel(elements, true);
  const dispatchKernel = () => engine.runtime.run(spec, [{ buffer: src.buffer }, { buffer: dst.buffer, write: true }]);
  const dispatchSizedKernel = () => engine.runtime.run(sizedSpec, [{ buffer: src.buffer }, { buffer: dst.buffer, write: true }]);
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
  let kernelFirstRunMs: number, sizedKernelFirstRunMs: number, bufferCopyFirstRunMs: number;
  try {
    kernelFirstRunMs = await firstRun(dispatchKernel, 'the copy kernel');
    sizedKernelFirstRunMs = await firstRun(dispatchSizedKernel, 'the sized-array copy kernel');
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
    runSizedKernel: async () => {
      dispatchSizedKernel();
      await engine.sync();
    },
    runBufferCopy: async () => {
      dispatchBufferCopy();
      await engine.sync();
    },
    kernelFirstRunMs, sizedKernelFirstRunMs, bufferCopyFirstRunMs, dispose,
  };
}
