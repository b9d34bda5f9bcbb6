// The AutoSAM UNet baseline against PyTorch (tools/golden/unet.py builds SupConUnet as the reference
// does): the golden state dict loads strictly by the reference's key names; the train-mode logits,
// the CE and Dice losses, every parameter gradient and the image gradient, the parameters after one
// Adam step (lr 5e-4) and the eval-mode logits after it must match torch's. The default build's
// key set, shapes and parameter count must equal PyTorch's SupConUnet(4, in_channels=3).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { backward, noGrad } from '../../src/graph/autograd.js';
import { readNpy } from '../../src/io/npy.js';
import { UNet, unetConfig } from '../../src/models/unet.js';
import type { HostTensor } from '../../src/nn/module.js';
import { ceDiceLoss, crossEntropy, softDiceLoss } from '../../src/ops/loss.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Adam } from '../../src/train/optim.js';
import { testEngine } from '../helpers/engine.js';

const DIR = fileURLToPath(new URL('../fixtures/golden/unet/', import.meta.url));

interface ManifestCase {
  name: string;
  config: { num_classes: number; in_channels: number; initial_filter_size: number; do_instancenorm: boolean; depth: number };
  state: Record<string, string>;
  image: string;
  labels: string;
  logits: string;
  ce: number;
  dice: number;
  loss: number;
  param_grads: Record<string, string>;
  image_grad: string;
  params_after_adam: Record<string, string>;
  eval_logits_after_adam: string;
}

interface Manifest {
  optimizer: { lr: number; betas: [number, number]; eps: number };
  default_num_classes: number;
  default_parameter_count: number;
  default_state_dict: Record<string, number[]>;
  cases: ManifestCase[];
}

const manifest = JSON.parse(readFileSync(DIR + 'manifest.json', 'utf8')) as Manifest;

function load(file: string): HostTensor {
  const a = readNpy(readFileSync(DIR + file));
  if (a.dtype !== 'float32') throw new Error(`${file}: dtype ${a.dtype}, expected float32`);
  return { shape: a.shape, data: a.data as Float32Array };
}

function loadLabels(file: string): Int32Array {
  const a = readNpy(readFileSync(DIR + file));
  if (a.dtype !== 'int32') throw new Error(`${file}: dtype ${a.dtype}, expected int32`);
  return a.data as Int32Array;
}

/**
 * |actual - expected| <= ATOL + RTOL * max|expected| over each tensor: float32 on both sides with
 * different summation orders (convs of up to 288 products, instance-norm statistics over up to
 * 1024 pixels, a softmax-based loss), so errors scale with each tensor's magnitude. The measured
 * worst ratio is printed at the end (2.0e-6 on lavapipe, contr_1_2.0.weight's gradient); RTOL 1e-4
 * leaves 50x margin, while a
 * wrong rule or a misrouted tensor is off by O(1) of the scale. ATOL covers gradients whose
 * reference is ~0: every bias of a conv feeding an InstanceNorm2d has an exactly zero gradient (the
 * norm subtracts the plane's mean), which float32 leaves at ~1e-9.
 */
const ATOL = 1e-6;
const RTOL = 1e-4;
const worst = new Map<string, { tensor: string; ratio: number }>();

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function compare(label: string, actual: Float32Array, expected: HostTensor, caseName: string): void {
  expect(actual.length, `${label}: element count`).toBe(expected.data.length);
  const scale = maxAbs(expected.data);
  let maxErr = 0, at = -1;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected.data[i]);
    if (!(err <= maxErr)) {
      maxErr = err;
      at = i;
    }
  }
  const ratio = scale > 100 * ATOL ? maxErr / scale : 0;
  if (ratio >= (worst.get(caseName)?.ratio ?? 0)) worst.set(caseName, { tensor: label, ratio });
  if (!(maxErr <= ATOL + RTOL * scale)) {
    throw new Error(`${label}: element ${at} is ${actual[at]}, torch gives ${expected.data[at]} (|err| ${maxErr.toExponential(2)} > ${ATOL} + ${RTOL} * max|ref| ${scale.toExponential(2)})`);
  }
}

/**
 * Adam's first step moves each element by lr * g / (|g| + eps), i.e. by ±lr wherever |g| >> eps (as
 * test/models/heads.test.ts): where torch's gradient is within 10x the gradient tolerance of zero,
 * its sign is rounding noise and both steps only have to stay within lr; elsewhere the parameters
 * must agree to float32 rounding (1e-6 absolute + 1e-6 relative).
 */
function compareAdam(label: string, before: HostTensor, after: Float32Array, ref: HostTensor, grad: HostTensor, lr: number): void {
  const gTol = 10 * (ATOL + RTOL * maxAbs(grad.data));
  for (let i = 0; i < after.length; i++) {
    const stepOurs = Math.abs(after[i] - before.data[i]), stepRef = Math.abs(ref.data[i] - before.data[i]);
    if (Math.abs(grad.data[i]) <= gTol) {
      if (!(stepOurs <= lr * 1.001 && stepRef <= lr * 1.001)) throw new Error(`${label}[${i}]: a step of ${stepOurs} (torch ${stepRef}) for a near-zero gradient exceeds lr ${lr}`);
    } else if (!(Math.abs(after[i] - ref.data[i]) <= 1e-6 + 1e-6 * Math.abs(ref.data[i]))) {
      throw new Error(`${label}[${i}]: ${after[i]} after the step, torch gives ${ref.data[i]} (before ${before.data[i]}, gradient ${grad.data[i]})`);
    }
  }
}

describe('UNet baseline against PyTorch: forward, loss, backward, one Adam step, eval forward', () => {
  for (const c of manifest.cases) {
    it(c.name, async () => {
      const engine = await testEngine();
      const state = new Map(Object.entries(c.state).map(([k, f]) => [k, load(f)]));
      const grads = Object.fromEntries(Object.entries(c.param_grads).map(([k, f]) => [k, load(f)]));
      const liveBefore = engine.memory().liveTensors;
      const k = c.config;
      const model = new UNet(engine, unetConfig(k.num_classes, {
        inChannels: k.in_channels, baseChannels: k.initial_filter_size, depth: k.depth, instanceNorm: k.do_instancenorm,
      }), 5);
      let image: Tensor | null = null;
      let opt: Adam | null = null;
      try {
        model.loadStateDict(state); // strict: the reference's keys and shapes exactly
        expect([...model.stateDict().keys()]).toEqual(Object.keys(c.state));
        model.train();
        const ih = load(c.image);
        image = engine.keep(engine.tensor(ih.data, ih.shape));
        image.requiresGrad = true;
        const labels = loadLabels(c.labels);
        const logitsRef = load(c.logits);
        await engine.scopeAsync(async () => {
          const logits = model.forward(image!);
          expect(logits.shape).toEqual(logitsRef.shape);
          compare(`${c.name} logits`, await logits.readFloat(), logitsRef, c.name);
          const ce = noGrad(() => crossEntropy(logits, labels)), dice = noGrad(() => softDiceLoss(logits, labels));
          const loss = ceDiceLoss(logits, labels);
          // Losses are O(1) scalars: 1e-5 relative.
          expect(Math.abs((await ce.readFloat())[0] - c.ce)).toBeLessThan(1e-5 * c.ce);
          expect(Math.abs((await dice.readFloat())[0] - c.dice)).toBeLessThan(1e-5 * c.dice);
          expect(Math.abs((await loss.readFloat())[0] - c.loss)).toBeLessThan(1e-5 * c.loss);
          backward(loss);
        });
        compare(`${c.name} d image`, await image.grad!.readFloat(), load(c.image_grad), c.name);
        for (const [key, p] of model.namedParameters()) {
          expect(p.grad, `${key} has a gradient`).not.toBeNull();
          compare(`${c.name} d${key}`, await p.grad!.readFloat(), grads[key], c.name);
        }

        const { lr, betas, eps } = manifest.optimizer;
        opt = new Adam(model.parameters(), { lr, betas, eps });
        opt.step();
        const named = new Map(model.namedParameters());
        for (const key of Object.keys(c.params_after_adam)) {
          compareAdam(`${c.name} ${key} after Adam`, state.get(key)!, await named.get(key)!.readFloat(), load(c.params_after_adam[key]), grads[key], lr);
        }
        opt.zeroGrad();

        // Eval mode with the stepped weights: InstanceNorm2d without running statistics normalises
        // as in training, so this is the same computation PyTorch's eval() runs.
        model.eval();
        await engine.scopeAsync(async () => {
          const logits = noGrad(() => model.forward(image!));
          compare(`${c.name} eval logits after Adam`, await logits.readFloat(), load(c.eval_logits_after_adam), c.name);
        });
      } finally {
        opt?.dispose();
        if (image) {
          image.grad?.dispose();
          image.dispose();
        }
        model.dispose();
      }
      expect(engine.memory().liveTensors).toBe(liveBefore);
    });
  }

  it('prints the worst relative error of each case', () => {
    const lines = [...worst.entries()].map(([name, w]) => `${name}: ${w.tensor} ${w.ratio.toExponential(1)}`);
    console.log(`UNet vs PyTorch, worst max|err| / max|ref| per case:\n  ${lines.join('\n  ')}`);
    expect(worst.size).toBe(manifest.cases.length);
  });
});

describe('UNet default build', () => {
  it('has exactly the state dict keys, shapes and parameter count of the reference SupConUnet(4, in_channels=3)', async () => {
    const engine = await testEngine();
    const model = new UNet(engine, unetConfig(manifest.default_num_classes));
    try {
      expect([...model.stateDict()].map(([k, t]) => [k, [...t.shape]])).toEqual(Object.entries(manifest.default_state_dict));
      expect(model.parameterCount()).toBe(manifest.default_parameter_count);
      expect(model.numClasses).toBe(4);
    } finally {
      model.dispose();
    }
  });

  it('refuses images with the wrong channel count or too small for its depth, and resizes to outputSize', async () => {
    const engine = await testEngine();
    const model = new UNet(engine, unetConfig(3, { baseChannels: 2, depth: 2 }));
    try {
      expect(() => model.forward(engine.zeros([1, 1, 16, 16]))).toThrow(ShapeError);
      expect(() => model.forward(engine.zeros([1, 3, 3, 16]))).toThrow('at least 4x4');
      const out = noGrad(() => model.forward(engine.zeros([1, 3, 10, 14]), { outputSize: [10, 14] }));
      expect(out.shape).toEqual([1, 3, 10, 14]); // 8 x 12 logits resized to the labels
    } finally {
      model.dispose();
    }
  });
});
