import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DataError, ShapeError } from '../../src/errors.js';
import { backward } from '../../src/graph/autograd.js';
import { lossReference, type LossKind } from '../../src/kernels/loss.js';
import { ceDiceLoss, crossEntropy, softDiceLoss, validateTargets } from '../../src/ops/loss.js';
import type { Engine } from '../../src/engine.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { GOLDEN_KERNELS_DIR, loadGoldenTensor, type GoldenCase, type GoldenManifest } from '../golden.js';
import { expectClose, randomArray, testEngine } from '../helpers/engine.js';
import { checkGradients } from '../helpers/gradcheck.js';

// tools/golden/train.py writes beside the kernel goldens; test/golden.ts's pieces read it from there.
function loadTrainCases(op: string): GoldenCase[] {
  const manifest = JSON.parse(readFileSync(`${GOLDEN_KERNELS_DIR}../train/manifest.json`, 'utf8')) as GoldenManifest;
  const cases = manifest.cases.filter((c) => c.op === op);
  if (cases.length === 0) throw new Error(`no '${op}' cases in the train goldens`);
  const load = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).map(([k, f]) => [k, loadGoldenTensor(`../train/${f}`)]));
  return cases.map((c) => ({ name: c.name, params: c.params, inputs: load(c.inputs), outputs: load(c.outputs) }));
}

interface LossParams {
  kind: LossKind;
  ignoreIndex: number;
  smooth: number;
  smoothNumerator: number;
  excludeBackground: boolean;
}

function runLoss(kind: LossKind, logits: Tensor, target: Tensor | Int32Array, p: Omit<LossParams, 'kind'>, weight?: Tensor): Tensor {
  const dice = { ignoreIndex: p.ignoreIndex, smooth: p.smooth, smoothNumerator: p.smoothNumerator, excludeBackground: p.excludeBackground };
  if (kind === 'ce') return crossEntropy(logits, target, { weight, ignoreIndex: p.ignoreIndex });
  if (kind === 'dice') return softDiceLoss(logits, target, dice);
  return ceDiceLoss(logits, target, { ...dice, weight });
}

const DEFAULTS = { ignoreIndex: -100, smooth: 1, smoothNumerator: 1, excludeBackground: true };

/** Integer labels in [0, C), with `ignored` of them replaced by ignoreIndex (every `ignoreEvery`-th). */
function labels(n: number, numClasses: number, seed: number, ignoreEvery = 0, ignoreIndex = 255): Int32Array {
  const r = randomArray(n, seed, 0, numClasses);
  return Int32Array.from(r, (v, i) => (ignoreEvery && i % ignoreEvery === 3 ? ignoreIndex : Math.min(numClasses - 1, Math.floor(v))));
}

async function lossAndGrad(engine: Engine, kind: LossKind, logitsData: Float32Array, shape: number[], target: Int32Array, p: Omit<LossParams, 'kind'>, weightData?: Float32Array) {
  return engine.scopeAsync(async () => {
    const logits = engine.tensor(logitsData, shape);
    logits.requiresGrad = true;
    const t = engine.tensor(target, [shape[0], ...shape.slice(2)], 'i32');
    const w = weightData ? engine.tensor(weightData, [shape[1]]) : undefined;
    const loss = runLoss(kind, logits, t, p, w);
    backward(loss);
    const value = (await loss.readFloat())[0];
    const grad = await logits.grad!.readFloat();
    logits.grad!.dispose();
    return { value, grad };
  });
}

describe('losses against PyTorch goldens (tools/golden/train.py)', () => {
  // f32 on both sides; sums over 70 pixels in a different order: ~1e-7 relative. Gradients are
  // compared elementwise with atol = 1e-5 * max|grad| so near-zero entries do not demand 1e-5 relative.
  for (const c of loadTrainCases('loss')) {
    it(c.name, async () => {
      const engine = await testEngine();
      const p = c.params as unknown as LossParams;
      const logits = c.inputs.logits.data as Float32Array;
      const target = c.inputs.target.data as Int32Array;
      const weight = c.inputs.weight?.data as Float32Array | undefined;
      const { value, grad } = await lossAndGrad(engine, p.kind, logits, c.inputs.logits.shape, target, p, weight);
      const expected = c.outputs.loss.data[0];
      expect(Math.abs(value - expected), `${c.name}: loss ${value} vs torch ${expected}`).toBeLessThanOrEqual(1e-5 * Math.abs(expected) + 1e-7);
      const g = c.outputs.grad.data as Float32Array;
      const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expectClose(grad, g, 1e-5 * scale, 1e-5, `${c.name} dloss/dlogits`);
      // The float64 reference agrees with torch too (it is the definition the FD checks use).
      const ref = lossReference(p.kind, logits, c.inputs.logits.shape, target, { ...p, weight });
      expect(Math.abs(ref - expected)).toBeLessThanOrEqual(1e-5 * Math.abs(expected));
    });
  }
});

describe('loss backward rules against float64 finite differences', () => {
  const shape = [2, 3, 2, 3]; // 36 logits, 12 pixels
  const logits = randomArray(36, 11, -2, 2);
  const target = labels(12, 3, 12, 5);
  const weight = Float32Array.from([0.5, 1.5, 1]);
  const gradCase = (kind: LossKind, p: Omit<LossParams, 'kind'>, withWeight: boolean, s = shape, x = logits, t = target) =>
    async () => {
      const engine = await testEngine();
      const inputs = [{ data: x, shape: s }];
      const targetShape = [s[0], ...s.slice(2)];
      await checkGradients(engine, kind, inputs, ([z]) => {
        const w = withWeight ? engine.tensor(weight, [s[1]]) : undefined;
        return runLoss(kind, z, engine.tensor(t, targetShape, 'i32'), p, w);
      }, ([z]) => [lossReference(kind, z, s, t, { ...p, weight: withWeight ? weight : undefined })], { atol: 1e-5, rtol: 1e-3, h: 1e-3 });
    };
  it('crossEntropy', gradCase('ce', DEFAULTS, false));
  it('crossEntropy with weights and ignoreIndex', gradCase('ce', { ...DEFAULTS, ignoreIndex: 255 }, true));
  it('crossEntropy on (N, C)', gradCase('ce', { ...DEFAULTS, ignoreIndex: 255 }, true, [12, 3], randomArray(36, 5, -2, 2), labels(12, 3, 6, 5)));
  it('softDiceLoss', gradCase('dice', DEFAULTS, false));
  it('softDiceLoss with background, smooth 0.1, ignoreIndex', gradCase('dice', { ignoreIndex: 255, smooth: 0.1, smoothNumerator: 0.1, excludeBackground: false }, false));
  it('ceDiceLoss with weights and ignoreIndex', gradCase('ce_dice', { ...DEFAULTS, ignoreIndex: 255 }, true));
});

describe('losses on larger inputs against the float64 reference', () => {
  // Many workgroups in the partial-sum pass, several pixels per invocation.
  it('ceDiceLoss on (2, 4, 150, 160) with weights and ignored pixels', async () => {
    const engine = await testEngine();
    const shape = [2, 4, 150, 160];
    const n = shape.reduce((a, b) => a * b, 1);
    const x = randomArray(n, 21, -4, 4);
    const t = labels(n / 4, 4, 22, 17);
    const w = Float32Array.from([0.3, 1, 2, 0.8]);
    const p = { ...DEFAULTS, ignoreIndex: 255 };
    const { value, grad } = await lossAndGrad(engine, 'ce_dice', x, shape, t, p, w);
    const ref = lossReference('ce_dice', x, shape, t, { ...p, weight: w });
    expect(Math.abs(value - ref)).toBeLessThanOrEqual(2e-5 * Math.abs(ref));
    // Spot check the gradient at a few pixels by central differences of the float64 reference.
    const x64 = Float64Array.from(x);
    for (const i of [0, 12345, 99999, n - 1]) {
      const keep = x64[i];
      x64[i] = keep + 1e-2;
      const up = lossReference('ce_dice', x64, shape, t, { ...p, weight: w });
      x64[i] = keep - 1e-2;
      const down = lossReference('ce_dice', x64, shape, t, { ...p, weight: w });
      x64[i] = keep;
      expect(Math.abs(grad[i] - (up - down) / 2e-2), `grad[${i}]`).toBeLessThanOrEqual(1e-9 + 1e-3 * Math.abs(grad[i]));
    }
  });
});

describe('loss targets and errors', () => {
  const shape = [2, 3, 2, 3];
  const x = randomArray(36, 31, -2, 2);

  it('host targets (Int32Array) give the same loss as a target tensor', async () => {
    const engine = await testEngine();
    const t = labels(12, 3, 32);
    const fromHost = await engine.scopeAsync(async () => (await ceDiceLoss(engine.tensor(x, shape), t).readFloat())[0]);
    const fromTensor = await engine.scopeAsync(async () => (await ceDiceLoss(engine.tensor(x, shape), engine.tensor(t, [2, 2, 3], 'i32')).readFloat())[0]);
    expect(fromHost).toBe(fromTensor);
  });

  it('out-of-range host targets raise a DataError naming the value', async () => {
    const engine = await testEngine();
    const t = labels(12, 3, 33);
    t[5] = 3;
    expect(() => crossEntropy(engine.tensor(x, shape), t)).toThrow(DataError);
    expect(() => crossEntropy(engine.tensor(x, shape), t)).toThrow(/target value 3 at index 5 is outside \[0, 3\)/);
    t[5] = -1;
    expect(() => softDiceLoss(engine.tensor(x, shape), t)).toThrow(/target value -1/);
    t[5] = 255;
    expect(() => ceDiceLoss(engine.tensor(x, shape), t, { ignoreIndex: 255 })).not.toThrow();
    expect(() => validateTargets('op', [0, 2, 7], 3)).toThrow(DataError);
  });

  it('out-of-range targets in a GPU tensor contribute nothing (as if ignored)', async () => {
    const engine = await testEngine();
    const t = labels(12, 3, 34);
    const bad = Int32Array.from(t);
    bad[2] = 9;
    bad[7] = -5;
    const ignored = Int32Array.from(t);
    ignored[2] = -100;
    ignored[7] = -100;
    const a = await lossAndGrad(engine, 'ce_dice', x, shape, bad, DEFAULTS);
    const b = await lossAndGrad(engine, 'ce_dice', x, shape, ignored, DEFAULTS);
    expect(a.value).toBe(b.value);
    expect(Array.from(a.grad)).toEqual(Array.from(b.grad));
    // pixel 2 is (b 0, s 2): its logits get no gradient
    for (let c = 0; c < 3; c++) expect(a.grad[c * 6 + 2]).toBe(0);
  });

  it('shape and dtype mismatches raise ShapeErrors naming the shapes', async () => {
    const engine = await testEngine();
    await engine.scopeAsync(async () => {
      const logits = engine.tensor(x, shape);
      expect(() => crossEntropy(logits, engine.tensor(new Int32Array(12), [2, 3, 2], 'i32'))).toThrow(ShapeError);
      expect(() => crossEntropy(logits, engine.tensor(new Int32Array(12), [2, 3, 2], 'i32'))).toThrow(/target \[2, 3, 2\] does not match logits \[2, 3, 2, 3\]; expected \[2, 2, 3\]/);
      expect(() => crossEntropy(logits, engine.tensor(new Float32Array(12), [2, 2, 3]))).toThrow(/must be i32/);
      expect(() => crossEntropy(logits, new Int32Array(11))).toThrow(/11 host target values/);
      expect(() => crossEntropy(logits, new Int32Array(12), { weight: engine.tensor([1, 1], [2]) })).toThrow(/weight must be f32 \[3\]/);
      expect(() => softDiceLoss(logits, new Int32Array(12), { numClasses: 4 })).toThrow(/numClasses is 4/);
      expect(() => softDiceLoss(engine.tensor([1, 2], [2, 1]), new Int32Array(2))).toThrow(/at least 2 classes/);
      expect(() => crossEntropy(engine.tensor([1, 2], [2]), new Int32Array(2))).toThrow(ShapeError);
    });
  });

  it('soft Dice of a perfect prediction is 0 with a zero gradient (the reference: mean of nothing, NaN)', async () => {
    const engine = await testEngine();
    const t = labels(12, 3, 36);
    // (2, 3, 2, 3): logit 60 for the target class, -60 elsewhere: softmax is exactly one-hot in f32
    const perfect = new Float32Array(36);
    for (let pix = 0; pix < 12; pix++) {
      const b = Math.floor(pix / 6), s = pix % 6;
      for (let c = 0; c < 3; c++) perfect[b * 18 + c * 6 + s] = c === t[pix] ? 60 : -60;
    }
    const { value, grad } = await lossAndGrad(engine, 'dice', perfect, shape, t, DEFAULTS);
    expect(value).toBe(0);
    expect(grad.every((v) => v === 0)).toBe(true);
  });

  it('frees its temporaries: forward + backward leave only the gradient', async () => {
    const engine = await testEngine();
    const t = labels(12, 3, 35);
    const logits = engine.tensor(x, shape);
    logits.requiresGrad = true;
    const before = engine.memory().liveTensors;
    engine.scope(() => {
      backward(ceDiceLoss(logits, t));
    });
    await engine.sync();
    expect(engine.memory().liveTensors).toBe(before + 1); // logits.grad
    logits.grad!.dispose();
    logits.dispose();
  });
});
