import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ShapeError, UsageError } from '../../src/errors.js';
import { adamReference, clipGradNormReference, sgdReference } from '../../src/kernels/optim.js';
import { Adam, AdamW, clipGradNorm, SGD, type Optimizer } from '../../src/train/optim.js';
import type { Engine } from '../../src/engine.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { GOLDEN_KERNELS_DIR, loadGoldenTensor, type GoldenCase, type GoldenManifest } from '../golden.js';
import { expectClose, randomArray, testEngine } from '../helpers/engine.js';

// tools/golden/train.py writes beside the kernel goldens; test/golden.ts's pieces read it from there.
function loadTrainCases(op: string): GoldenCase[] {
  const manifest = JSON.parse(readFileSync(`${GOLDEN_KERNELS_DIR}../train/manifest.json`, 'utf8')) as GoldenManifest;
  const cases = manifest.cases.filter((c) => c.op === op);
  if (cases.length === 0) throw new Error(`no '${op}' cases in the train goldens`);
  const load = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).map(([k, f]) => [k, loadGoldenTensor(`../train/${f}`)]));
  return cases.map((c) => ({ name: c.name, params: c.params, inputs: load(c.inputs), outputs: load(c.outputs) }));
}

interface OptimParams {
  kind: 'sgd' | 'adam' | 'adamw';
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weight_decay?: number;
  betas?: [number, number];
  eps?: number;
  lrs: number[];
  skip: [number, number][];
}

function makeOptimizer(p: OptimParams, params: Tensor[]): Optimizer {
  if (p.kind === 'sgd') {
    return new SGD(params, { lr: p.lr, momentum: p.momentum, dampening: p.dampening, nesterov: p.nesterov, weightDecay: p.weight_decay });
  }
  const options = { lr: p.lr, betas: p.betas, eps: p.eps, weightDecay: p.weight_decay };
  return p.kind === 'adam' ? new Adam(params, options) : new AdamW(params, options);
}

/** Slice `step` of a (steps, ...shape) stacked array. */
function stepSlice(data: Float32Array, steps: number, step: number): Float32Array {
  const n = data.length / steps;
  return data.subarray(step * n, (step + 1) * n);
}

// f32 everywhere, in PyTorch's operation order, so only rounding differs (FMA contraction on either
// side): |a - e| <= 1e-7 + 1e-6 |e|. The worst seen is ~6e-8 absolute, on SGD momentum after 7+ steps,
// where one ulp of a momentum buffer of magnitude ~2 (2.4e-7) times lr 0.1 lands on a parameter
// that cancelled to ~0.03; Adam's parameters agree to ~1e-9.
const ATOL = 1e-7, RTOL = 1e-6;

describe('optimizers: 10 steps against torch.optim (for-loop implementation)', () => {
  for (const c of loadTrainCases('optim')) {
    it(c.name, async () => {
      const engine = await testEngine();
      const p = c.params as unknown as OptimParams;
      const count = Object.keys(c.inputs).filter((k) => k.startsWith('p')).length;
      const steps = p.lrs.length;
      const initial = Array.from({ length: count }, (_, i) => c.inputs[`p${i}`]);
      const params = initial.map((t) => engine.tensor(t.data as Float32Array, t.shape));
      const optimizer = makeOptimizer(p, params);
      // Host oracle running beside the GPU (src/kernels/optim.ts references).
      const host = initial.map((t) => Float32Array.from(t.data));
      const hostState = initial.map((t) => ({ m: new Float32Array(t.data.length), v: new Float32Array(t.data.length), buf: null as Float32Array | null, step: 0 }));
      for (let step = 0; step < steps; step++) {
        optimizer.lr = p.lrs[step];
        optimizer.zeroGrad();
        const skipped = (i: number) => p.skip.some(([s, k]) => s === step && k === i);
        params.forEach((param, i) => {
          if (skipped(i)) return;
          const g = stepSlice(c.inputs[`g${i}`].data as Float32Array, steps, step);
          param.grad = engine.tensor(g, param.shape);
          const s = hostState[i];
          if (p.kind === 'sgd') {
            const first = (p.momentum ?? 0) !== 0 && !s.buf;
            if (first) s.buf = new Float32Array(g.length);
            sgdReference(host[i], g, (p.momentum ?? 0) !== 0 ? s.buf : null, {
              lr: p.lrs[step], weightDecay: p.weight_decay ?? 0, momentum: p.momentum ?? 0, dampening: p.dampening ?? 0, nesterov: !!p.nesterov, first,
            });
          } else {
            s.step++;
            adamReference(host[i], g, s.m, s.v, {
              lr: p.lrs[step], beta1: p.betas?.[0] ?? 0.9, beta2: p.betas?.[1] ?? 0.999, eps: p.eps ?? 1e-8,
              weightDecay: p.weight_decay ?? (p.kind === 'adamw' ? 1e-2 : 0), decoupled: p.kind === 'adamw', step: s.step,
            });
          }
        });
        optimizer.step();
        for (let i = 0; i < count; i++) {
          const got = await params[i].readFloat();
          const want = stepSlice(c.outputs[`p${i}_after`].data as Float32Array, steps, step);
          expectClose(got, want, ATOL, RTOL, `${c.name} step ${step} p${i} vs torch`);
          expectClose(host[i], want, ATOL, RTOL, `${c.name} step ${step} p${i} host reference vs torch`);
        }
      }
      optimizer.zeroGrad();
      optimizer.dispose();
      for (const t of params) t.dispose();
    });
  }
});

describe('optimizer mechanics', () => {
  it('zeroGrad disposes every gradient and sets it to null', async () => {
    const engine = await testEngine();
    const a = engine.tensor([1, 2], [2]), b = engine.tensor([3], [1]);
    const opt = new SGD([a, b], { lr: 0.1 });
    const ga = engine.tensor([1, 1], [2]);
    a.grad = ga;
    opt.zeroGrad();
    expect(a.grad).toBeNull();
    expect(b.grad).toBeNull();
    expect(ga.disposed).toBe(true);
    a.dispose();
    b.dispose();
  });

  it('keeps its state outside scopes, skips parameters without a gradient, frees state on dispose', async () => {
    const engine = await testEngine();
    const a = engine.tensor([1, 2, 3], [3]), b = engine.tensor([4], [1]);
    const opt = new Adam([a, b], { lr: 0.1 });
    const live = engine.memory().liveTensors;
    engine.scope(() => {
      a.grad = engine.keep(engine.tensor([1, -1, 0.5], [3])); // as backward() leaves it
      opt.step();
    });
    opt.zeroGrad();
    expect(opt.stateOf(a)?.step).toBe(1);
    expect(opt.stateOf(b)).toBeUndefined();
    expect(opt.stateOf(a)!.expAvg.disposed).toBe(false);
    // Adam's first step moves each element by lr * sign(grad) (up to eps), and b is untouched.
    expectClose(await a.readFloat(), [0.9, 2.1, 2.9], 1e-6, 0, 'a after one step');
    expect(Array.from(await b.readFloat())).toEqual([4]);
    expect(engine.memory().liveTensors).toBe(live + 2); // exp_avg and exp_avg_sq outlived the scope
    opt.dispose();
    expect(engine.memory().liveTensors).toBe(live);
    a.dispose();
    b.dispose();
  });

  it('one pipeline per optimizer kind, whatever the tensor sizes and steps', async () => {
    const engine = await testEngine();
    const params = [[5], [300], [17, 3]].map((s, i) => engine.tensor(randomArray(s.reduce((x, y) => x * y, 1), i), s));
    const opt = new AdamW(params, { lr: 1e-2 });
    for (let i = 0; i < 2; i++) {
      for (const p of params) p.grad = engine.tensor(randomArray(p.size, 9), p.shape);
      opt.step();
      opt.zeroGrad();
    }
    await engine.sync();
    const before = engine.runtime.pipelineCount();
    for (const p of params) p.grad = engine.tensor(randomArray(p.size, 10), p.shape);
    opt.lr = 5e-3;
    opt.step();
    await engine.sync();
    expect(engine.runtime.pipelineCount()).toBe(before);
    opt.zeroGrad();
    opt.dispose();
    for (const p of params) p.dispose();
  });

  it('rejects bad hyperparameters and mismatched gradients with typed errors', async () => {
    const engine = await testEngine();
    const a = engine.tensor([1, 2], [2]);
    expect(() => new SGD([a], { lr: -1 })).toThrow(UsageError);
    expect(() => new SGD([a], { lr: 0.1, nesterov: true })).toThrow(/nesterov/);
    expect(() => new Adam([a], { betas: [1, 0.999] })).toThrow(/betas\[0\]/);
    expect(() => new Adam([])).toThrow(/empty parameter list/);
    expect(() => new Adam([a, a])).toThrow(/twice/);
    const opt = new Adam([a]);
    a.grad = engine.tensor([1, 2, 3], [3]);
    expect(() => opt.step()).toThrow(ShapeError);
    opt.zeroGrad();
    expect(() => clipGradNorm([a], 0)).toThrow(/maxNorm/);
    a.dispose();
  });
});

describe('clipGradNorm', () => {
  async function clip(engine: Engine, grads: { data: Float32Array; shape: number[] }[], maxNorm: number, extra: Tensor[] = []) {
    const params = grads.map((g) => engine.tensor(new Float32Array(g.data.length), g.shape));
    params.forEach((p, i) => (p.grad = engine.tensor(grads[i].data, grads[i].shape)));
    const norm = clipGradNorm([...params, ...extra], maxNorm);
    const result = { norm: (await norm.readFloat())[0], grads: await Promise.all(params.map((p) => p.grad!.readFloat())) };
    norm.dispose();
    for (const p of params) {
      p.grad!.dispose();
      p.dispose();
    }
    return result;
  }

  for (const c of loadTrainCases('clip')) {
    it(`${c.name} against torch.nn.utils.clip_grad_norm_`, async () => {
      const engine = await testEngine();
      const keys = Object.keys(c.inputs).sort();
      const grads = keys.map((k) => ({ data: c.inputs[k].data as Float32Array, shape: c.inputs[k].shape }));
      const noGrad = engine.tensor([5, 5], [2]); // a parameter without a gradient is skipped
      const got = await clip(engine, grads, c.params.maxNorm as number, [noGrad]);
      noGrad.dispose();
      expect(Math.abs(got.norm - c.outputs.norm.data[0])).toBeLessThanOrEqual(1e-6 * c.outputs.norm.data[0]);
      keys.forEach((k, i) => expectClose(got.grads[i], c.outputs[`${k}_clipped`].data, 1e-7, 1e-6, `${c.name} ${k}`));
    });
  }

  it('matches the host computation over many tensors and large sizes', async () => {
    const engine = await testEngine();
    const shapes = [[3], [70000], [256, 256], [1], [33, 7]];
    const grads = shapes.map((s, i) => ({ data: randomArray(s.reduce((x, y) => x * y, 1), 40 + i, -0.05, 0.05), shape: s }));
    const host = grads.map((g) => Float32Array.from(g.data));
    const norm = clipGradNormReference(host, 2);
    expect(norm).toBeGreaterThan(2); // clipping is active
    const got = await clip(engine, grads, 2);
    expect(Math.abs(got.norm - norm)).toBeLessThanOrEqual(1e-5 * norm);
    got.grads.forEach((g, i) => expectClose(g, host[i], 1e-8, 1e-5, `grad ${i}`));
  });

  it('returns 0 and changes nothing when no parameter has a gradient', async () => {
    const engine = await testEngine();
    const a = engine.tensor([1], [1]);
    const norm = clipGradNorm([a], 1);
    expect(Array.from(await norm.readFloat())).toEqual([0]);
    norm.dispose();
    a.dispose();
  });
});
