// Composite modules against PyTorch autograd (tools/golden/modules.py): each module is built from our
// classes, loads the golden parameters by their state_dict keys, runs forward and backward with the
// golden upstream gradient, and must reproduce torch's output and every parameter and input gradient.
// Plus the state-dict checks, freezing, and a training loop that must not leak.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { backward, noGrad } from '../../src/graph/autograd.js';
import { readNpy } from '../../src/io/npy.js';
import { Attention } from '../../src/nn/attention.js';
import { Conv2d, ConvTranspose2d } from '../../src/nn/conv.js';
import { LayerNorm, LayerNorm2d, Linear } from '../../src/nn/layers.js';
import { Module, StateDictMismatchError, type HostTensor } from '../../src/nn/module.js';
import { gelu, mul, relu, sub } from '../../src/ops/elementwise.js';
import { softmax } from '../../src/ops/softmax.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { AdamW, SGD } from '../../src/train/optim.js';
import { testEngine } from '../helpers/engine.js';

// ---------------------------------------------------------------- fixtures

const MODULES_DIR = fileURLToPath(new URL('../fixtures/golden/modules/', import.meta.url));

interface ManifestCase {
  name: string;
  module: string;
  params: Record<string, string>;
  inputs: Record<string, string>;
  upstream: string;
  outputs: { out: string };
  param_grads: Record<string, string>;
  input_grads: Record<string, string>;
}

interface ModuleCase {
  name: string;
  params: Map<string, HostTensor>;
  inputs: Record<string, HostTensor>;
  upstream: HostTensor;
  out: HostTensor;
  paramGrads: Record<string, HostTensor>;
  inputGrads: Record<string, HostTensor>;
}

let manifest: ManifestCase[] | undefined;

function loadNpy(file: string): HostTensor {
  const a = readNpy(readFileSync(MODULES_DIR + file));
  if (a.dtype !== 'float32') throw new Error(`${file}: dtype ${a.dtype}, modules.py writes float32 only`);
  return { shape: a.shape, data: a.data };
}

function loadCase(name: string): ModuleCase {
  manifest ??= (JSON.parse(readFileSync(MODULES_DIR + 'manifest.json', 'utf8')) as { cases: ManifestCase[] }).cases;
  const c = manifest.find((m) => m.name === name);
  if (!c) throw new Error(`no golden module case '${name}' in ${MODULES_DIR}manifest.json`);
  const all = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).map(([k, f]) => [k, loadNpy(f)]));
  return {
    name,
    params: new Map(Object.entries(c.params).map(([k, f]) => [k, loadNpy(f)])),
    inputs: all(c.inputs),
    upstream: loadNpy(c.upstream),
    out: loadNpy(c.outputs.out),
    paramGrads: all(c.param_grads),
    inputGrads: all(c.input_grads),
  };
}

// ---------------------------------------------------------------- the composites, from our classes

type Layer = Module & { forward(x: Tensor): Tensor };

/** nn.Sequential: modules become children '0', '1', ... by position; parameter-free steps (functional ops) keep their index. */
class Sequential extends Module {
  constructor(engine: Engine, readonly steps: (Layer | ((x: Tensor) => Tensor))[]) {
    super(engine);
    steps.forEach((s, i) => {
      if (s instanceof Module) this.child(String(i), s);
    });
  }
  forward(x: Tensor): Tensor {
    return this.steps.reduce((h, s) => (s instanceof Module ? s.forward(h) : s(h)), x);
  }
}

/** nn.Linear followed by GELU, through Linear's fused-activation option (split into two recorded ops under autograd). */
class LinearGelu extends Module {
  readonly linear: Linear;
  constructor(engine: Engine, inFeatures: number, outFeatures: number) {
    super(engine);
    this.linear = this.child('0', new Linear(engine, inFeatures, outFeatures));
  }
  forward(x: Tensor): Tensor {
    return this.linear.forward(x, { activation: 'gelu' });
  }
}

interface Composite {
  build(engine: Engine): Module;
  forward(module: Module, inputs: Record<string, Tensor>): Tensor;
}

const single = (m: Module, i: Record<string, Tensor>) => (m as Layer).forward(i.x);
const attention = (m: Module, i: Record<string, Tensor>) => (m as Attention).forward(i.q, i.k, i.v);

const COMPOSITES: Record<string, Composite> = {
  linear_gelu: { build: (e) => new LinearGelu(e, 33, 20), forward: single },
  layernorm: { build: (e) => new LayerNorm(e, 48, 1e-5), forward: single },
  layernorm2d: { build: (e) => new LayerNorm2d(e, 6), forward: single },
  attention_ds2: { build: (e) => new Attention(e, 32, 4, 2), forward: attention },
  attention_ds1: { build: (e) => new Attention(e, 32, 4, 1), forward: attention },
  // q = k = v = x: x's gradient is the sum of three paths
  attention_self: { build: (e) => new Attention(e, 32, 4, 2), forward: (m, i) => (m as Attention).forward(i.x, i.x, i.x) },
  conv_stack: {
    build: (e) => new Sequential(e, [
      new Conv2d(e, 3, 8, 3, { padding: 1 }),
      relu,
      new ConvTranspose2d(e, 8, 4, 2, { stride: 2 }),
      new LayerNorm2d(e, 4),
      gelu,
      new Conv2d(e, 4, 3, 1),
    ]),
    forward: single,
  },
  head_chain: {
    build: (e) => new Sequential(e, [new Linear(e, 16, 12), new LayerNorm(e, 12), (x) => softmax(x, -1)]),
    forward: single,
  },
};

// ---------------------------------------------------------------- comparison

/**
 * |actual - expected| <= ATOL + RTOL * max|expected| over the whole tensor. Both sides are float32
 * with different summation orders (our tiled matmuls and tree reductions vs torch's CPU loops), so
 * the error scales with the tensor's magnitude, not each element's: a gradient element that is
 * nearly zero because its terms cancel carries the rounding of its large terms. The composites
 * chain 2-6 ops with reductions of at most a few hundred terms; measured errors sit at 2e-7..4e-6 of max|ref|
 * on lavapipe, so 1e-4 leaves a 25x margin or more while a wrong rule (a missing term, a transposed
 * operand, a dropped accumulation) is off by O(1) of the scale. ATOL covers tensors that are zero in
 * exact arithmetic: Attention's k_proj.bias gradient (adding a bias to every key shifts each score
 * row by a constant, which softmax ignores) is rounding noise of ~1e-8 on both sides.
 */
const ATOL = 1e-5;
const RTOL = 1e-4;

/** Per case: the compared tensor with the largest |a - e| / max|e|, for the summary printed at the end. */
const worst = new Map<string, { tensor: string; ratio: number }>();

/** Asserts the bound above; `caseName` also enters the tensor into that case's worst-error summary. */
function compare(label: string, actual: Float32Array, expected: HostTensor, caseName?: string): void {
  expect(actual.length, `${label}: element count`).toBe(expected.data.length);
  let scale = 0;
  for (const v of expected.data) scale = Math.max(scale, Math.abs(v));
  let maxErr = 0, at = -1;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected.data[i]);
    if (!(err <= maxErr)) {
      maxErr = err;
      at = i;
    }
  }
  // Tensors that are zero in exact arithmetic (scale below ATOL) would show noise / noise: left out.
  const ratio = scale > ATOL ? maxErr / scale : 0;
  if (caseName && ratio >= (worst.get(caseName)?.ratio ?? 0)) worst.set(caseName, { tensor: label, ratio });
  if (!(maxErr <= ATOL + RTOL * scale)) {
    throw new Error(`${label}: element ${at} is ${actual[at]}, torch gives ${expected.data[at]} (|err| ${maxErr.toExponential(2)} > ${ATOL} + ${RTOL} * max|ref| ${scale.toExponential(2)})`);
  }
}

function clearGrads(ts: Iterable<Tensor>): void {
  for (const t of ts) {
    t.grad?.dispose();
    t.grad = null;
  }
}

// ---------------------------------------------------------------- golden forward + backward

describe('composite modules against PyTorch autograd goldens', () => {
  for (const name of Object.keys(COMPOSITES)) {
    it(name, async () => {
      const engine = await testEngine();
      const golden = loadCase(name);
      const composite = COMPOSITES[name];
      const liveBefore = engine.memory().liveTensors;
      const module = composite.build(engine);
      const inputs: Record<string, Tensor> = {};
      try {
        // Strict: our key set and shapes must equal torch's state_dict exactly.
        module.loadStateDict(golden.params);
        expect(module.namedParameters().map(([k]) => k).sort()).toEqual(Object.keys(golden.paramGrads).sort());
        await engine.scopeAsync(async () => {
          for (const [k, h] of Object.entries(golden.inputs)) {
            inputs[k] = engine.keep(engine.tensor(h.data, h.shape));
            inputs[k].requiresGrad = true;
          }
          const out = composite.forward(module, inputs);
          expect(out.shape).toEqual(golden.out.shape);
          compare(`${name} out`, await out.readFloat(), golden.out, name);
          if (!out.requiresGrad) throw new Error(`${name}: the output was not recorded for autograd (an op in the chain has no backward rule yet?)`);
          backward(out, engine.tensor(golden.upstream.data, golden.upstream.shape));
        });
        for (const [k, ref] of Object.entries(golden.inputGrads)) {
          const g = inputs[k].grad;
          if (!g) throw new Error(`${name}: input ${k} got no gradient`);
          expect(g.shape).toEqual(ref.shape);
          compare(`${name} d${k}`, await g.readFloat(), ref, name);
        }
        for (const [k, p] of module.namedParameters()) {
          if (!p.grad) throw new Error(`${name}: parameter ${k} got no gradient`);
          compare(`${name} d${k}`, await p.grad.readFloat(), golden.paramGrads[k], name);
        }
      } finally {
        clearGrads(Object.values(inputs));
        for (const t of Object.values(inputs)) t.dispose();
        module.dispose();
      }
      // backward freed the graph (intermediates, saved stats): nothing of this case outlives it.
      expect(engine.memory().liveTensors).toBe(liveBefore);
    });
  }

  it('prints the worst relative error of each case', () => {
    const lines = [...worst.values()].map((w) => `${w.tensor}: ${w.ratio.toExponential(1)}`);
    if (lines.length) console.log(`largest max|err| / max|ref| per case (bound ${RTOL} + ${ATOL} / max|ref|):\n  ${lines.join('\n  ')}`);
  });
});

// ---------------------------------------------------------------- conv layers

describe('Conv2d and ConvTranspose2d layers', () => {
  it("have PyTorch's keys, shapes and default init bounds, and validate groups", async () => {
    const engine = await testEngine();
    const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    // [layer, weight shape, init bound 1/sqrt(fan_in)]: fan_in = weight.size(1) * kh * kw, as torch computes it for both.
    const layers: [Conv2d | ConvTranspose2d, number[], number][] = [
      [new Conv2d(engine, 6, 8, 3, { padding: 1, groups: 2, seed: 7 }), [8, 3, 3, 3], 1 / Math.sqrt(3 * 9)],
      [new Conv2d(engine, 4, 5, [1, 3], { bias: false }), [5, 4, 1, 3], 1 / Math.sqrt(4 * 3)],
      [new ConvTranspose2d(engine, 8, 4, 2, { stride: 2 }), [8, 4, 2, 2], 1 / Math.sqrt(4 * 4)],
      [new ConvTranspose2d(engine, 8, 6, 3, { groups: 2, stride: 2, padding: 1, outputPadding: 1 }), [8, 3, 3, 3], 1 / Math.sqrt(3 * 9)],
    ];
    try {
      for (const [layer, wShape, bound] of layers) {
        const dict = layer.stateDict();
        expect([...dict.keys()]).toEqual(layer.bias ? ['weight', 'bias'] : ['weight']);
        expect(layer.weight.shape).toEqual(wShape);
        const w = await layer.weight.readFloat();
        expect(maxAbs(w)).toBeLessThanOrEqual(Math.fround(bound));
        expect(maxAbs(w)).toBeGreaterThan(0.8 * bound); // drawn over the whole range, not a narrower one
        if (layer.bias) {
          expect(layer.bias.shape).toEqual([layer.outChannels]);
          expect(maxAbs(await layer.bias.readFloat())).toBeLessThanOrEqual(Math.fround(bound));
        }
      }
      // The grouped transposed conv's forward shape: (H - 1) * 2 - 2 + 3 + 1 = 2H.
      const y = engine.scope(() => noGrad(() => (layers[3][0] as ConvTranspose2d).forward(engine.zeros([1, 8, 5, 4]))));
      expect(y.shape).toEqual([1, 6, 10, 8]);
      y.dispose();
      expect(() => new Conv2d(engine, 6, 8, 3, { groups: 4 })).toThrow(/groups 4/);
      expect(() => new ConvTranspose2d(engine, 6, 5, 3, { groups: 2 })).toThrow(/groups 2/);
    } finally {
      for (const [layer] of layers) layer.dispose();
    }
  });
});

// ---------------------------------------------------------------- state dict checks

describe('loadStateDict', () => {
  const withChanges = (base: Map<string, HostTensor>, edit: (m: Map<string, HostTensor>) => void) => {
    const m = new Map(base);
    edit(m);
    return m;
  };

  function expectMismatch(fn: () => void): StateDictMismatchError {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(StateDictMismatchError);
      return err as StateDictMismatchError;
    }
    throw new Error('expected a StateDictMismatchError');
  }

  it('raises StateDictMismatchError naming a missing key, an unexpected key and a wrong shape, and writes nothing', async () => {
    const engine = await testEngine();
    const golden = loadCase('attention_ds2');
    const module = new Attention(engine, 32, 4, 2);
    try {
      const before = await module.kProj.bias!.readFloat();

      const missing = expectMismatch(() => module.loadStateDict(withChanges(golden.params, (m) => m.delete('q_proj.bias'))));
      expect(missing.missing).toEqual(['q_proj.bias']);
      expect(missing.unexpected).toEqual([]);
      expect(missing.message).toContain('q_proj.bias');

      const extra = { shape: [4], data: new Float32Array(4) };
      const unexpected = expectMismatch(() => module.loadStateDict(withChanges(golden.params, (m) => m.set('q_proj.scale', extra))));
      expect(unexpected.unexpected).toEqual(['q_proj.scale']);
      expect(unexpected.missing).toEqual([]);
      expect(unexpected.message).toContain('q_proj.scale');

      // k_proj.weight is (16, 32); the transposed (32, 16) layout is the classic checkpoint mistake.
      const transposed = { shape: [32, 16], data: golden.params.get('k_proj.weight')!.data };
      const shape = expectMismatch(() => module.loadStateDict(withChanges(golden.params, (m) => m.set('k_proj.weight', transposed))));
      expect(shape.mismatched).toEqual([{ key: 'k_proj.weight', expected: [16, 32], got: [32, 16] }]);
      expect(shape.message).toContain('k_proj.weight');

      const all = expectMismatch(() => module.loadStateDict(withChanges(golden.params, (m) => {
        m.delete('out_proj.weight');
        m.set('extra.bias', extra);
        m.set('v_proj.bias', { shape: [32], data: new Float32Array(32) });
      })));
      expect(all.missing).toEqual(['out_proj.weight']);
      expect(all.unexpected).toEqual(['extra.bias']);
      expect(all.mismatched.map((m) => m.key)).toEqual(['v_proj.bias']);
      for (const key of ['out_proj.weight', 'extra.bias', 'v_proj.bias']) expect(all.message).toContain(key);

      // Nothing was written by the failed loads (k_proj.bias is in every one of them).
      expect(await module.kProj.bias!.readFloat()).toEqual(before);

      // strict: false tolerates missing and unexpected keys (not shapes) and loads the rest.
      module.loadStateDict(withChanges(golden.params, (m) => {
        m.delete('q_proj.bias');
        m.set('extra.bias', extra);
      }), { strict: false });
      expect(await module.kProj.bias!.readFloat()).toEqual(golden.params.get('k_proj.bias')!.data);
      expectMismatch(() => module.loadStateDict(withChanges(golden.params, (m) => m.set('k_proj.weight', transposed)), { strict: false }));
    } finally {
      module.dispose();
    }
  });
});

// ---------------------------------------------------------------- freezing

describe('freezing', () => {
  it('requiresGrad(false) leaves a module without gradients while the input still gets one', async () => {
    const engine = await testEngine();
    const golden = loadCase('head_chain');
    const module = COMPOSITES.head_chain.build(engine) as Sequential;
    try {
      module.loadStateDict(golden.params);
      const run = async () => {
        const h = golden.inputs.x;
        const x = engine.keep(engine.tensor(h.data, h.shape));
        x.requiresGrad = true;
        engine.scope(() => backward(module.forward(x), engine.tensor(golden.upstream.data, golden.upstream.shape)));
        return x;
      };

      module.requiresGrad(false);
      expect(module.parameters()).toEqual([]);
      expect(module.parameterCount(true)).toBe(0);
      let x = await run();
      for (const [k, p] of module.namedParameters()) expect(p.grad, k).toBeNull();
      compare('frozen head_chain dx', await x.grad!.readFloat(), golden.inputGrads.x);
      clearGrads([x]);
      x.dispose();

      // Unfreeze, then freeze only the Linear (child '0'): the LayerNorm still trains.
      module.requiresGrad(true);
      (module.steps[0] as Linear).requiresGrad(false);
      expect(module.parameters().length).toBe(2);
      x = await run();
      for (const [k, p] of module.namedParameters()) {
        if (k.startsWith('0.')) expect(p.grad, k).toBeNull();
        else compare(`partly frozen head_chain d${k}`, await p.grad!.readFloat(), golden.paramGrads[k]);
      }
      compare('partly frozen head_chain dx', await x.grad!.readFloat(), golden.inputGrads.x);
      clearGrads([x, ...module.namedParameters().map(([, p]) => p)]);
      x.dispose();

      // Nothing requires a gradient: nothing records, and backward says so.
      module.requiresGrad(false);
      engine.scope(() => {
        const h = golden.inputs.x;
        const out = module.forward(engine.tensor(h.data, h.shape));
        expect(out.requiresGrad).toBe(false);
        expect(() => backward(out, engine.tensor(golden.upstream.data, golden.upstream.shape))).toThrow(/does not require a gradient/);
      });
    } finally {
      module.dispose();
    }
  });
});

// ---------------------------------------------------------------- training loop memory

/** One parameter update after backward, and the zeroing of the gradients (set to none, as PyTorch's zero_grad does). */
interface Updater {
  step(): void;
  dispose(): void;
}

const UPDATERS: Record<string, (engine: Engine, params: Tensor[]) => Updater> = {
  // p -= lr * dp through recorded-free ops, copied back into the parameter's own buffer.
  'manual SGD via ops': (engine, params) => {
    const lr = engine.keep(engine.tensor([0.01], [1]));
    return {
      step: () => engine.scope(() => noGrad(() => {
        for (const p of params) {
          const updated = sub(p, mul(p.grad!, lr)); // p - lr * dp
          engine.runtime.copy(updated.buffer, 0, p.buffer, 0, p.byteLength);
        }
        clearGrads(params);
      })),
      dispose: () => lr.dispose(),
    };
  },
  // The optimizers allocate their state on the first step; it must stay the only growth.
  'SGD with momentum (src/train/optim.ts)': (_engine, params) => {
    const opt = new SGD(params, { lr: 0.01, momentum: 0.9 });
    return { step: () => { opt.step(); opt.zeroGrad(); }, dispose: () => opt.dispose() };
  },
  'AdamW (src/train/optim.ts)': (_engine, params) => {
    const opt = new AdamW(params, { lr: 1e-3 });
    return { step: () => { opt.step(); opt.zeroGrad(); }, dispose: () => opt.dispose() };
  },
};

describe('training loop on Linear+GELU', () => {
  for (const [label, makeUpdater] of Object.entries(UPDATERS)) {
    it(`50 steps of forward + backward + ${label} keep live memory constant after the first and lower the loss`, async () => {
      const engine = await testEngine();
      const golden = loadCase('linear_gelu');
      const module = COMPOSITES.linear_gelu.build(engine);
      const x = engine.keep(engine.tensor(golden.inputs.x.data, golden.inputs.x.shape));
      const upstream = engine.keep(engine.tensor(golden.upstream.data, golden.upstream.shape));
      module.loadStateDict(golden.params);
      const updater = makeUpdater(engine, module.parameters());
      try {
        /** L = sum(upstream * out), the loss whose gradient backward(out, upstream) computes. */
        const loss = async () => {
          const out = await engine.scopeAsync(() => noGrad(() => COMPOSITES.linear_gelu.forward(module, { x })).readFloat());
          return out.reduce((s, v, i) => s + v * golden.upstream.data[i], 0);
        };
        const initialLoss = await loss();
        const step = () => {
          engine.scope(() => backward(COMPOSITES.linear_gelu.forward(module, { x }), upstream));
          updater.step();
        };

        step();
        await engine.sync();
        const first = engine.memory();
        const live = (m: { liveBytes: number; liveTensors: number }) => ({ liveBytes: m.liveBytes, liveTensors: m.liveTensors });
        for (let i = 2; i <= 50; i++) {
          step();
          if (i % 10 === 0) {
            await engine.sync();
            expect({ step: i, ...live(engine.memory()) }).toEqual({ step: i, ...live(first) });
          }
        }
        const finalLoss = await loss();
        // 50 small steps along -dL/dp on a smooth L: it must have gone down.
        expect(finalLoss).toBeLessThan(initialLoss);
        expect(live(engine.memory())).toEqual(live(first));
      } finally {
        updater.dispose();
        module.dispose();
        for (const t of [x, upstream]) t.dispose();
      }
    });
  }
});
