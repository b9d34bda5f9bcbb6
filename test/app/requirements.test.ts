// The adapter check the app runs before loading an encoder: nothing to report on the adapters we
// know run the models (SwiftShader in Chromium, lavapipe in Node; WebGPU's default limits), and one
// sentence per short limit otherwise, with what to try.
import { describe, expect, it } from 'vitest';
import { largestBinding, limitProblems, noWebGpuMessage } from '../../src/app/requirements.js';

// WebGPU's default limits: every conforming adapter offers at least these.
const WEBGPU_DEFAULTS = {
  maxStorageBufferBindingSize: 134217728, maxBufferSize: 268435456, maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256, maxStorageBuffersPerShaderStage: 8,
};

describe('app adapter requirements', () => {
  it('sizes the largest binding from the encoder', () => {
    expect(largestBinding({ kind: 'mobilesam', inputSize: 1024 })).toBe(64 * 2 ** 20); // (1, 256, 256, 256) f32
    expect(largestBinding({ kind: 'mobilesam', inputSize: 512 })).toBe(16 * 2 ** 20);
    expect(largestBinding({ kind: 'sam', variant: 'vit_h' })).toBe(4096 * 5120 * 4);
  });

  it('accepts an adapter with WebGPU default limits for every encoder', () => {
    for (const spec of [{ kind: 'mobilesam', inputSize: 1024 }, { kind: 'sam', variant: 'vit_b' }, { kind: 'sam', variant: 'vit_h' }] as const) {
      expect(limitProblems(WEBGPU_DEFAULTS, spec)).toEqual([]);
    }
  });

  it('names each short limit, what the encoder needs, and what to try', () => {
    const small = { ...WEBGPU_DEFAULTS, maxStorageBufferBindingSize: 32 * 2 ** 20, maxComputeWorkgroupStorageSize: 8192 };
    const problems = limitProblems(small, { kind: 'mobilesam', inputSize: 1024 });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toBe("This GPU adapter's maxStorageBufferBindingSize is 32 MiB; the MobileSAM encoder at 1024 needs 64 MiB. Choose a smaller MobileSAM input size, or use a browser or machine with a larger GPU.");
    expect(problems[1]).toBe("This GPU adapter's maxComputeWorkgroupStorageSize is 8 KiB; the MobileSAM encoder at 1024 needs 16 KiB. Use a browser or machine with a larger GPU.");
    expect(limitProblems(small, { kind: 'mobilesam', inputSize: 512 })).toHaveLength(1); // 16 MiB fits; the workgroup memory does not
  });

  it('explains a missing navigator.gpu', () => {
    expect(noWebGpuMessage(false)).toMatch(/secure context.*localhost/);
    expect(noWebGpuMessage(true)).toMatch(/does not offer WebGPU/);
  });
});
