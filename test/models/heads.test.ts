// The three heads against PyTorch (tools/golden/heads.py builds them as the AutoSAM reference does):
// each small head loads the golden state dict strictly by the reference's key names, and its
// forward, every parameter and input gradient, and the parameters after one Adam step (lr 5e-4)
// must match torch's. The default builds' key sets, shapes and parameter counts must equal what
// PyTorch reports for the reference's own sizes.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { backward, noGrad } from '../../src/graph/autograd.js';
import { readNpy } from '../../src/io/npy.js';
import {
  AutoSamHead, autoSamHeadConfig, CnnHead, cnnHeadConfig, createHead, LinearHead, linearHeadConfig, type HeadKind, type SegmentationHead,
} from '../../src/models/heads/index.js';
import type { HostTensor } from '../../src/nn/module.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Adam } from '../../src/train/optim.js';
import { maxAbsDiff, randomArray, testEngine } from '../helpers/engine.js';
import { mul } from '../../src/ops/elementwise.js';
import { sum } from '../../src/ops/reduce.js';
import { reshape } from '../../src/ops/copy.js';

const DIR = fileURLToPath(new URL('../fixtures/golden/heads/', import.meta.url));

interface ManifestCase {
  name: string;
  kind: HeadKind;
  config: Record<string, number | boolean>;
  output_size: [number, number] | null;
  state: Record<string, string>;
  trainable: string[];
  frozen: string[];
  inputs: { x: string };
  upstream: string;
  outputs: { out: string; iou_pred?: string };
  param_grads: Record<string, string>;
  input_grads: { x: string };
  params_after_adam: Record<string, string>;
}

interface Manifest {
  optimizer: { lr: number; betas: [number, number]; eps: number };
  default_num_classes: number;
  default_parameter_counts: Record<HeadKind, { total: number; trainable: number; buffers: number }>;
  default_state_dicts: Record<HeadKind, Record<string, number[]>>;
  default_trainable: Record<HeadKind, string[]>;
  cases: ManifestCase[];
}

const manifest = JSON.parse(readFileSync(DIR + 'manifest.json', 'utf8')) as Manifest;

function load(file: string): HostTensor {
  const a = readNpy(readFileSync(DIR + file));
  if (a.dtype !== 'float32') throw new Error(`${file}: dtype ${a.dtype}, heads.py writes float32 only`);
  return { shape: a.shape, data: a.data as Float32Array };
}
const loadAll = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).map(([k, f]) => [k, load(f)]));

/** Our head for a golden case's PyTorch config (heads.py's argument names). */
function build(engine: Engine, c: ManifestCase): SegmentationHead {
  const k = c.config;
  switch (c.kind) {
    case 'autosam':
      return new AutoSamHead(engine, autoSamHeadConfig(k.num_classes as number, {
        transformerDim: k.dim as number,
        transformer: { depth: k.depth as number, numHeads: k.num_heads as number, mlpDim: k.mlp_dim as number, attentionDownsampleRate: k.downsample as number },
        iouHeadHiddenDim: k.iou_hidden as number,
        numPosFeats: (k.dim as number) / 2,
      }), 11);
    case 'cnn':
      return new CnnHead(engine, cnnHeadConfig(k.num_classes as number, {
        embedDim: k.embed_dim as number, numDepth: k.num_depth as number, topChannel: k.top_channel as number,
      }), 12);
    case 'linear':
      return new LinearHead(engine, linearHeadConfig(k.num_classes as number, { embDim: k.emb_dim as number, finalRelu: k.final_relu as boolean }), 13);
  }
}

/**
 * |actual - expected| <= ATOL + RTOL * max|expected| over each tensor (as test/graph/modules.test.ts):
 * float32 on both sides with different summation orders, so the error scales with the tensor's
 * magnitude. The AutoSAM head chains ~60 ops (two transformer blocks, softmaxes over 256 keys,
 * five layer norms, two transposed convs and a resize); the measured worst ratio is printed at the
 * end (5.4e-6 on lavapipe, output_upscaling.3.weight's gradient), so 2e-4 leaves over an order of margin while a wrong rule or a misrouted
 * tensor is off by O(1) of the scale. ATOL covers gradients that are zero in exact arithmetic (every
 * attention's k_proj.bias: a constant added to each key shifts a score row by a constant).
 */
const ATOL = 1e-5;
const RTOL = 2e-4;
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
  const ratio = scale > ATOL ? maxErr / scale : 0;
  if (ratio >= (worst.get(caseName)?.ratio ?? 0)) worst.set(caseName, { tensor: label, ratio });
  if (!(maxErr <= ATOL + RTOL * scale)) {
    throw new Error(`${label}: element ${at} is ${actual[at]}, torch gives ${expected.data[at]} (|err| ${maxErr.toExponential(2)} > ${ATOL} + ${RTOL} * max|ref| ${scale.toExponential(2)})`);
  }
}

/**
 * Adam's first step moves each element by lr * g / (|g| + eps), i.e. by ±lr wherever |g| >> eps: it
 * tests the sign of every gradient element, the wiring of each parameter to its state, and the
 * update rule. Where torch's gradient is within the gradient tolerance of zero its sign is rounding
 * noise on either side, so there both updates only have to stay within lr; elsewhere the parameters
 * after the step must agree to float32 rounding of the parameter (1e-6 absolute + 1e-6 relative).
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

describe('heads against PyTorch: forward, backward, one Adam step', () => {
  for (const c of manifest.cases) {
    it(c.name, async () => {
      const engine = await testEngine();
      const state = new Map(Object.entries(loadAll(c.state)));
      const grads = loadAll(c.param_grads);
      const liveBefore = engine.memory().liveTensors;
      const head = build(engine, c);
      let x: Tensor | null = null;
      let opt: Adam | null = null;
      try {
        // Strict: the reference's key set and shapes, exactly; and the same parameters train.
        head.loadStateDict(state);
        expect([...head.stateDict().keys()]).toEqual(Object.keys(c.state));
        expect(head.namedParameters().filter(([, p]) => p.requiresGrad).map(([k]) => k)).toEqual(c.trainable);

        const xh = load(c.inputs.x);
        x = engine.keep(engine.tensor(xh.data, xh.shape));
        x.requiresGrad = true;
        const outputSize = c.output_size ?? undefined;
        await engine.scopeAsync(async () => {
          let out: Tensor;
          if (head instanceof AutoSamHead) {
            const r = head.forwardWithIoU(x!, { outputSize });
            out = r.masks;
            compare(`${c.name} iou_pred`, await r.iouPred!.readFloat(), load(c.outputs.iou_pred!), c.name);
          } else {
            out = head.forward(x!, { outputSize });
          }
          const ref = load(c.outputs.out);
          expect(out.shape).toEqual(ref.shape);
          compare(`${c.name} out`, await out.readFloat(), ref, c.name);
          const up = load(c.upstream);
          backward(out, engine.tensor(up.data, up.shape));
        });
        compare(`${c.name} dx`, await x.grad!.readFloat(), load(c.input_grads.x), c.name);
        for (const [k, p] of head.namedParameters()) {
          if (!p.requiresGrad) {
            expect(p.grad, `${k} is frozen`).toBeNull();
            continue;
          }
          // A parameter outside the loss's graph has no gradient here; torch's is then all zeros
          // (the AutoSAM head's second hypernetwork MLP, whose mask the reference slices away).
          if (!p.grad) expect(maxAbs(grads[k].data), `${k} got no gradient but torch's is nonzero`).toBe(0);
          else compare(`${c.name} d${k}`, await p.grad.readFloat(), grads[k], c.name);
        }

        const { lr, betas, eps } = manifest.optimizer;
        opt = new Adam(head.parameters(), { lr, betas, eps });
        opt.step();
        const named = new Map(head.namedParameters());
        for (const k of c.trainable) {
          compareAdam(`${c.name} ${k} after Adam`, state.get(k)!, await named.get(k)!.readFloat(), load(c.params_after_adam[k]), grads[k], lr);
        }
        opt.zeroGrad();
      } finally {
        opt?.dispose();
        if (x) {
          x.grad?.dispose();
          x.dispose();
        }
        head.dispose();
      }
      expect(engine.memory().liveTensors).toBe(liveBefore);
    });
  }

  it('prints the worst relative error of each case', () => {
    const lines = [...worst.entries()].map(([name, w]) => `${name}: ${w.tensor} ${w.ratio.toExponential(1)}`);
    console.log(`largest max|err| / max|ref| per case (bound ${RTOL} + ${ATOL} / max|ref|):\n  ${lines.join('\n  ')}`);
  });
});

describe('default heads', () => {
  it("have the reference's state-dict keys, shapes, frozen set and parameter counts (PyTorch's counts)", async () => {
    const engine = await testEngine();
    const C = manifest.default_num_classes;
    for (const kind of ['autosam', 'linear', 'cnn'] as HeadKind[]) {
      const head = createHead(engine, kind, C);
      try {
        const shapes = Object.fromEntries([...head.stateDict()].map(([k, t]) => [k, [...t.shape]]));
        expect(shapes, kind).toEqual(manifest.default_state_dicts[kind]);
        expect(Object.keys(shapes), `${kind} key order`).toEqual(Object.keys(manifest.default_state_dicts[kind]));
        expect(head.namedParameters().filter(([, p]) => p.requiresGrad).map(([k]) => k)).toEqual(manifest.default_trainable[kind]);
        const counts = manifest.default_parameter_counts[kind];
        expect(head.parameterCount(), `${kind} total`).toBe(counts.total);
        expect(head.parameterCount(true), `${kind} trainable`).toBe(counts.trainable);
        expect(head.namedBuffers().reduce((n, [, t]) => n + t.size, 0), `${kind} buffers`).toBe(counts.buffers);
      } finally {
        head.dispose();
      }
    }
    // The design's round numbers: AutoSAM ~3.7M (3.78M with its frozen IoU parts), CNN ~20.7M, linear ~75k.
    expect(manifest.default_parameter_counts.autosam.total).toBeGreaterThan(3.6e6);
    expect(manifest.default_parameter_counts.cnn.total).toBeCloseTo(20.7e6, -5);
    expect(manifest.default_parameter_counts.linear.total).toBeCloseTo(75e3, -3);
  });

  it('the default AutoSAM head maps a (1, 256, 8, 8) embedding to (1, C, 32, 32) and the labels size', async () => {
    const engine = await testEngine();
    const head = createHead(engine, 'autosam', 4, 3);
    try {
      const shapes = await engine.scopeAsync(async () => noGrad(() => {
        const x = engine.zeros([1, 256, 8, 8]);
        return [head.forward(x).shape, head.forward(x, { outputSize: [20, 24] }).shape];
      }));
      expect(shapes).toEqual([[1, 4, 32, 32], [1, 4, 20, 24]]);
    } finally {
      head.dispose();
    }
  });
});

describe('AutoSAM head on batches whose (image, class) tensors exceed a storage binding', () => {
  it('runs in chunks of images with the same logits and gradients as one pass', async () => {
    const engine = await testEngine();
    const head = new AutoSamHead(engine, autoSamHeadConfig(3, { transformerDim: 32, transformer: { depth: 2, numHeads: 2, mlpDim: 64, attentionDownsampleRate: 2 }, iouHeadHiddenDim: 24 }), 11);
    const x = engine.keep(engine.tensor(randomArray(3 * 32 * 8 * 8, 5), [3, 32, 8, 8]));
    const upstream = engine.keep(engine.tensor(randomArray(3 * 3 * 32 * 32, 6), [3, 3, 32, 32]));
    const run = async (limit: number | undefined) => {
      head.maskDecoder.bindingLimitBytes = limit;
      return engine.scopeAsync(async () => {
        const out = head.forward(x);
        backward(sum(reshape(mul(out, upstream), [out.size]), 0));
        const grads = new Map<string, Float32Array>();
        for (const [k, p] of head.namedParameters()) if (p.grad) grads.set(k, await p.grad.readFloat());
        for (const p of head.parameters()) { p.grad?.dispose(); p.grad = null; }
        return { out: await out.readFloat(), grads };
      });
    };
    try {
      const whole = await run(undefined);
      // One pair's largest tensor is (D/8, 4h, 4w) = 4 * 32 * 32 floats = 16 KiB; 3 classes = 48 KiB per image.
      const chunked = await run(60 * 1024);
      expect(maxAbsDiff(chunked.out, whole.out)).toBeLessThan(1e-5 * Math.max(...Array.from(whole.out, Math.abs)));
      expect([...chunked.grads.keys()]).toEqual([...whole.grads.keys()]);
      for (const [k, g] of whole.grads) {
        // k_proj biases have zero gradient in exact arithmetic (softmax ignores a per-row shift): rounding noise.
        expect(maxAbsDiff(chunked.grads.get(k)!, g), k).toBeLessThan(1e-6 + 1e-5 * Math.max(...Array.from(g, Math.abs)));
      }
    } finally {
      head.maskDecoder.bindingLimitBytes = undefined;
      head.dispose();
      x.dispose();
      upstream.dispose();
    }
  });
});
