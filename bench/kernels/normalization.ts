// Bandwidth-bound cases at SAM's shapes: layernorm over ViT tokens, softmax over attention rows.
// GB/s counts the bytes an ideal kernel moves: x read once, y written once (plus weight and bias).
import type { Engine } from '../../src/engine.js';
import { layerNormReference } from '../../src/kernels/layernorm.js';
import { softmaxReference } from '../../src/kernels/softmax.js';
import { layerNorm } from '../../src/ops/layernorm.js';
import { softmax } from '../../src/ops/softmax.js';
import { compareValues, seededArray, type TimingPlan } from './measure.js';
import type { BenchCase, CheckResult, Prepared, Tf, TfTensor } from './types.js';

const BANDWIDTH_PLAN: TimingPlan = { warmup: 2, iterations: 10, budgetMs: 4000 };

interface RowsShape { rows: number; length: number; label: string }

const LAYERNORM_SHAPES: RowsShape[] = [
  { rows: 4096, length: 768, label: 'vit_b tokens (64x64, C=768)' },
  { rows: 4096, length: 1280, label: 'vit_h tokens (64x64, C=1280)' },
];

const SOFTMAX_SHAPES: RowsShape[] = [
  // 25 windows of 14x14 (64x64 padded to 70x70) x 12 heads, 196 keys per row.
  { rows: 25 * 12 * 196, length: 196, label: 'vit_b windowed attention' },
  // One head of global attention over 64x64 tokens.
  { rows: 4096, length: 4096, label: 'vit_b global attention, one head' },
];

const EPS = 1e-6; // segment-anything's ViT LayerNorm eps

export function layerNormCases(quick: boolean): BenchCase[] {
  return (quick ? LAYERNORM_SHAPES.slice(0, 1) : LAYERNORM_SHAPES).map((s, i) => ({
    family: 'layernorm', name: `layernorm ${s.rows}x${s.length}`,
    params: { ...s, elements: s.rows * s.length, eps: EPS }, unit: 'GB/s',
    work: 4 * (2 * s.rows * s.length + 2 * s.length),
    ours: BANDWIDTH_PLAN, tfjs: BANDWIDTH_PLAN,
    tfjsNote: 'tfjs has no layernorm kernel: tf.moments plus elementwise ops, as tfjs-layers composes it',
    prepare: (engine, tf) => prepareLayerNorm(engine, tf, s, 2000 + i),
  }));
}

export function softmaxCases(quick: boolean): BenchCase[] {
  return (quick ? SOFTMAX_SHAPES.slice(0, 1) : SOFTMAX_SHAPES).map((s, i) => ({
    family: 'softmax', name: `softmax ${s.rows}x${s.length}`,
    params: { ...s, elements: s.rows * s.length }, unit: 'GB/s',
    work: 4 * 2 * s.rows * s.length,
    ours: BANDWIDTH_PLAN, tfjs: BANDWIDTH_PLAN,
    prepare: (engine, tf) => prepareSoftmax(engine, tf, s, 3000 + i),
  }));
}

function prepareLayerNorm(engine: Engine, tf: Tf | null, s: RowsShape, seed: number): Prepared {
  const { rows, length } = s;
  // An offset mean, as ViT activations have, so a one-pass variance would show its error.
  const xHost = seededArray(rows * length, seed, -2, 3);
  const wHost = seededArray(length, seed + 1, 0.5, 1.5), bHost = seededArray(length, seed + 2, -0.5, 0.5);
  const x = engine.tensor(xHost, [rows, length]), w = engine.tensor(wHost, [length]), b = engine.tensor(bHost, [length]);
  const tx = tf?.tensor2d(xHost, [rows, length]), tw = tf?.tensor1d(wHost), tb = tf?.tensor1d(bHost);
  const expected = layerNormReference(xHost, length, wHost, bHost, EPS).out;
  const atol = 1e-4, rtol = 1e-4;
  const runTfjs = tf && tx && tw && tb
    ? () => tf.tidy(() => {
      const { mean, variance } = tf.moments(tx, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(tx, mean), tf.rsqrt(tf.add(variance, EPS))), tw), tb) as TfTensor;
    })
    : null;
  return {
    runOurs: () => layerNorm(x, w, b, EPS),
    runTfjs,
    checkOurs: (out) => ({ ...compareValues(out, expected, atol, rtol), against: 'ours vs float64 CPU reference, every element', atol, rtol }),
    checkTfjs: (tfjsOut, oursOut): CheckResult[] => [
      { ...compareValues(tfjsOut, expected, atol, rtol), against: 'tfjs vs float64 CPU reference, every element', atol, rtol },
      { ...compareValues(tfjsOut, oursOut, 2 * atol, 2 * rtol), against: 'tfjs vs ours, every element', atol: 2 * atol, rtol: 2 * rtol },
    ],
    dispose: () => [x, w, b, tx, tw, tb].forEach((t) => t?.dispose()),
  };
}

function prepareSoftmax(engine: Engine, tf: Tf | null, s: RowsShape, seed: number): Prepared {
  const { rows, length } = s;
  // Attention logits: a spread of several units, so the max subtraction matters.
  const xHost = seededArray(rows * length, seed, -6, 6);
  const x = engine.tensor(xHost, [rows, length]);
  const tx = tf?.tensor2d(xHost, [rows, length]);
  const expected = softmaxReference(xHost, length);
  // Outputs are around 1 / length; a relative bound is the meaningful one.
  const atol = 1e-8, rtol = 2e-5;
  return {
    runOurs: () => softmax(x, -1),
    runTfjs: tf && tx ? () => tf.softmax(tx) : null,
    checkOurs: (out) => ({ ...compareValues(out, expected, atol, rtol), against: 'ours vs float64 CPU reference, every element', atol, rtol }),
    checkTfjs: (tfjsOut, oursOut): CheckResult[] => [
      { ...compareValues(tfjsOut, expected, atol, rtol), against: 'tfjs vs float64 CPU reference, every element', atol, rtol },
      { ...compareValues(tfjsOut, oursOut, 2 * atol, 2 * rtol), against: 'tfjs vs ours, every element', atol: 2 * atol, rtol: 2 * rtol },
    ],
    dispose: () => [x, tx].forEach((t) => t?.dispose()),
  };
}
