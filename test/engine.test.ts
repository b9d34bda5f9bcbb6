import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.js';
import { DeviceError, DisposedTensorError, ShapeError } from '../src/errors.js';
import { add, relu } from '../src/ops/elementwise.js';
import { bucketSize } from '../src/tensor/pool.js';
import { floatToHalfBits, halfBitsToFloat } from '../src/tensor/dtype.js';
import { kernelKey } from '../src/kernels/kernel.js';
import { unaryKernel } from '../src/kernels/elementwise.js';
import { testEngine } from './helpers/engine.js';

describe('device', () => {
  it('reports the adapter, features and raised limits', async () => {
    const engine = await testEngine();
    const r = engine.report;
    expect(r.runtime).toBe('node-dawn');
    expect(r.description.length + r.device.length + r.vendor.length).toBeGreaterThan(0);
    expect(r.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(r.features).toEqual([...r.features].sort());
  });

  it('turns device loss into a DeviceError on the next read, not a hang', async () => {
    const engine = await Engine.create();
    const t = engine.tensor([1, 2, 3], [3]);
    engine.device.destroy();
    await expect((async () => { await relu(t).read(); })()).rejects.toThrow(DeviceError);
    engine.dispose();
  });
});

describe('tensors and memory', () => {
  it('round-trips f32, i32, u32 and f16 data', async () => {
    const engine = await testEngine();
    expect(Array.from(await engine.tensor(new Float32Array([1.5, -2, 3e30]), [3]).read())).toEqual([1.5, -2, Math.fround(3e30)]);
    expect(Array.from(await engine.tensor(new Int32Array([-7, 2 ** 31 - 1]), [2]).read())).toEqual([-7, 2 ** 31 - 1]);
    expect(Array.from(await engine.tensor(new Uint32Array([7, 2 ** 32 - 1]), [2]).read())).toEqual([7, 2 ** 32 - 1]);
    // Values exactly representable in f16 survive; 1/3 rounds to the nearest half.
    const half = await engine.tensor(new Float32Array([1, -0.5, 65504, 1 / 3, 6e-8]), [5], 'f16').read();
    expect(Array.from(half.slice(0, 3))).toEqual([1, -0.5, 65504]);
    expect(half[3]).toBeCloseTo(0.33325, 5);
    expect(half[4]).toBeCloseTo(5.96e-8, 9);
  });

  it('converts halves like IEEE 754 (round to nearest even, subnormals, overflow)', () => {
    expect(floatToHalfBits(1)).toBe(0x3c00);
    expect(floatToHalfBits(65520)).toBe(0x7c00); // rounds up past the largest half: Inf
    expect(floatToHalfBits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(floatToHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie to even
    expect(floatToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(halfBitsToFloat(0xfc00)).toBe(-Infinity);
    for (let bits = 0; bits < 0x7c00; bits += 97) expect(floatToHalfBits(halfBitsToFloat(bits))).toBe(bits);
  });

  it('rejects data that does not fill the shape, naming both', async () => {
    const engine = await testEngine();
    expect(() => engine.tensor([1, 2, 3], [2, 2])).toThrow(ShapeError);
    expect(() => engine.tensor([1, 2, 3], [2, 2])).toThrow('3 values do not fill shape [2, 2]');
  });

  it('makes use after dispose an error, not garbage', async () => {
    const engine = await testEngine();
    const t = engine.tensor([1, 2], [2]);
    t.dispose();
    expect(() => t.buffer).toThrow(DisposedTensorError);
    await expect(t.read()).rejects.toThrow(DisposedTensorError);
  });

  it('scope frees everything created inside except the result', async () => {
    const engine = await testEngine();
    const x = engine.tensor([1, -2, 3], [3]);
    const before = engine.memory();
    const inner: ReturnType<typeof relu>[] = [];
    const y = engine.scope(() => {
      const a = relu(x);
      const b = add(a, x);
      inner.push(a);
      return { b };
    }).b;
    expect(inner[0].disposed).toBe(true);
    expect(y.disposed).toBe(false);
    expect(engine.memory().liveTensors).toBe(before.liveTensors + 1);
    expect(Array.from(await y.read())).toEqual([2, -2, 6]);
  });

  it('scope frees everything when the function throws', async () => {
    const engine = await testEngine();
    const before = engine.memory().liveTensors;
    expect(() => engine.scope(() => {
      relu(engine.zeros([4]));
      throw new Error('boom');
    })).toThrow('boom');
    expect(engine.memory().liveTensors).toBe(before);
  });

  it('pool reuses buffers: a repeated step allocates nothing new and live bytes return to their level', async () => {
    const engine = await testEngine();
    const x = engine.tensor(new Float32Array(1000).fill(1), [1000]);
    const step = () => engine.scope(() => add(relu(x), x).dispose());
    step();
    await engine.sync();
    const after1 = engine.memory();
    for (let i = 0; i < 20; i++) step();
    await engine.sync();
    const after21 = engine.memory();
    expect(after21.createdBuffers).toBe(after1.createdBuffers);
    expect(after21.liveBytes).toBe(after1.liveBytes);
    expect(after21.peakLiveBytes).toBeGreaterThan(after21.liveBytes - 1);
  });

  it('buckets sizes with bounded waste', () => {
    for (const n of [1, 255, 256, 257, 4095, 4097, 1e6, 123456789]) {
      const b = bucketSize(n);
      expect(b).toBeGreaterThanOrEqual(n);
      if (n > 4096) expect(b / n).toBeLessThan(1.25);
    }
  });
});

describe('kernel runtime', () => {
  it('derives pipeline keys from the WGSL text, so different kernels never collide', () => {
    const a = unaryKernel({ op: 'relu', size: 10, dtype: 'f32' });
    const b = unaryKernel({ op: 'relu', size: 11, dtype: 'f32' });
    const c = unaryKernel({ op: 'relu', size: 10, dtype: 'f32' });
    expect(kernelKey(a)).not.toBe(kernelKey(b));
    expect(kernelKey(a)).toBe(kernelKey(c));
  });

  it('creates each pipeline once and submits a whole step at once', async () => {
    const engine = await testEngine();
    const x = engine.tensor([1, 2, 3, 4], [4]);
    relu(x);
    await engine.sync();
    const pipelines = engine.runtime.pipelineCount(), submits = engine.runtime.submitCount;
    let y = x;
    for (let i = 0; i < 10; i++) y = relu(y);
    await y.read();
    expect(engine.runtime.pipelineCount()).toBe(pipelines);
    expect(engine.runtime.submitCount - submits).toBe(1);
  });

  it('profiles per-kernel GPU time with timestamps', async () => {
    const engine = await Engine.create({ profile: true });
    const x = engine.tensor(new Float32Array(1 << 16).fill(1), [1 << 16]);
    relu(add(x, x));
    await engine.sync();
    const names = engine.runtime.profileReport().map((e) => e.name).sort();
    expect(names).toEqual(['binary_add', 'unary_relu']);
    for (const e of engine.runtime.profileReport()) expect(e.totalMs).toBeGreaterThanOrEqual(0);
    engine.dispose();
  });

  it('surfaces invalid WGSL as a DeviceError', async () => {
    const engine = await testEngine();
    const out = engine.empty([4]);
    engine.runtime.run({ name: 'broken', wgsl: 'this is not wgsl', workgroupSize: [1, 1, 1], dispatch: [1, 1, 1] }, [{ buffer: out.buffer, write: true }]);
    await expect(engine.sync()).rejects.toThrow(DeviceError);
  });
});
