// Fused segmentation losses: cross-entropy and batch soft Dice over softmax(logits), each alone or
// summed, in three kernels that never materialise the softmax:
//   1. lossPartialsKernel: each workgroup walks a strided share of the pixels and reduces the sums
//      the losses need (CE numerator and weight sum; per class sum p*g, sum p^2, sum g^2) into one row
//      of a (groups, values) partials buffer.
//   2. lossFinalizeKernel: one workgroup adds the rows, writes the loss and the per-class
//      coefficients that the backward needs (a few floats, kept for backward).
//   3. lossBackwardKernel: one invocation per pixel recomputes its softmax and writes dL/dlogits.
//
// Layout: logits (B, C, S) with S the product of the dimensions after C (S = 1 for (N, C)), target
// (B, S), both row-major. A pixel whose target is ignoreIndex, or outside [0, C), is skipped by both
// losses (CE: weight 0; Dice: neither p nor the one-hot counts). The GPU cannot raise an error, so
// out-of-range targets that come from GPU tensors contribute nothing; src/ops/loss.ts validates
// targets that come from host data.
//
// The soft Dice follows the AutoSAM reference (xhu248/AutoSAM, loss_functions/dice_loss.py,
// SoftDiceLoss(batch_dice=True, do_bg=False) on F.softmax(logits, 1), as scripts/main_autosam_seg.py
// calls it). Its soft_dice_per_batch_2 sums over the batch and spatial axes (axes 0, 2, 3) and computes
//     result = 1 - (2*intersect + smooth_in_nom) / (net_output_sqaure + gt_square + smooth)
//     result = result[result > 0]; result = result.mean()
// with intersect = sum(p*g), net_output_sqaure = sum(p*p), gt_square = sum(g*g), the background column
// dropped first, smooth = 1 and smooth_in_nom passed as the boolean True, i.e. 1 in the numerator
// whatever `smooth` is. Here: loss = mean over classes with r_c > 0 of
//     r_c = 1 - (2 I_c + smoothNumerator) / (P_c + G_c + smooth).
// One deliberate difference: when no class has r_c > 0 (a perfect prediction), the reference takes the
// mean of an empty tensor (NaN); we return 0 with a zero gradient.
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';

export type LossKind = 'ce' | 'dice' | 'ce_dice';

/** What the three kernels have baked in: the class count and which terms are on. */
export interface LossConfig {
  kind: LossKind;
  numClasses: number;
  /** CE class weights bound as an extra (C) buffer. */
  hasWeight: boolean;
  /** Dice over classes 1..C-1 only. */
  excludeBackground: boolean;
}

const WORKGROUP = 256;
const FINALIZE_WORKGROUP = 64;
/** The most workgroups the partial-sum pass uses; the finalize pass adds this many rows at most. */
export const LOSS_MAX_GROUPS = 256;

const hasCe = (c: LossConfig) => c.kind !== 'dice';
const hasDice = (c: LossConfig) => c.kind !== 'ce';
const firstDiceClass = (c: LossConfig) => (c.excludeBackground ? 1 : 0);

/** Values per partials row: [ceNumerator, ceWeightSum] when CE is on, then (I, P, G) per Dice class. */
export function lossValueCount(c: LossConfig): number {
  return (hasCe(c) ? 2 : 0) + (hasDice(c) ? 3 * (c.numClasses - firstDiceClass(c)) : 0);
}

/** Backward coefficients: [ceScale, a_0..a_{C-1}, b_0..b_{C-1}] (see lossFinalizeKernel). */
export const lossStatsCount = (numClasses: number) => 1 + 2 * numClasses;

/** The most values a partials row may hold: Dice over about 80 classes. */
export const LOSS_MAX_VALUES = 256;

/**
 * Invocations per workgroup of the partial-sum pass: the workgroup reduces all its values at once in
 * a (values x invocations) shared array, kept within 16 KiB (half of the 32 KiB lavapipe offers).
 */
export function lossPartialsWorkgroup(values: number): number {
  let wg = WORKGROUP;
  while (wg > 16 && values * wg * 4 > 16384) wg /= 2;
  return wg;
}

/** Workgroups for the partial sums: about 4 pixels per invocation, at most LOSS_MAX_GROUPS. */
export function lossGroupCount(pixels: number, workgroup: number): number {
  return Math.max(1, Math.min(LOSS_MAX_GROUPS, Math.ceil(pixels / (workgroup * 4))));
}

/** Uniform of the per-pixel kernels: pixel count, spatial size S, ignoreIndex. */
export function lossPixelUniforms(pixels: number, spatial: number, ignoreIndex: number): ArrayBuffer {
  const u = new ArrayBuffer(16);
  new Uint32Array(u, 0, 2).set([pixels, spatial]);
  new Int32Array(u, 8, 1)[0] = ignoreIndex;
  return u;
}

/** Uniform of the finalize kernel: group count, smooth, smoothNumerator. */
export function lossFinalizeUniforms(groups: number, smooth: number, smoothNumerator: number): ArrayBuffer {
  const u = new ArrayBuffer(16);
  new Uint32Array(u, 0, 1)[0] = groups;
  new Float32Array(u, 4, 2).set([smooth, smoothNumerator]);
  return u;
}

const PIXEL_UNIFORM_STRUCT = 'struct PixelParams { pixels: u32, spatial: u32, ignoreIndex: i32, pad: u32 }';

/** WGSL shared by the per-pixel kernels: target validity, the logits index, max and sum of exponentials. */
function pixelHelpers(c: LossConfig): string {
  return `
const C = ${c.numClasses}u;
fn isValidTarget(t: i32) -> bool { return t >= 0 && t < i32(C) && t != U.ignoreIndex; }
// Index of class 0 of pixel pix (class c is at + c * S).
fn logitBase(pix: u32) -> u32 {
  let b = pix / U.spatial;
  return b * C * U.spatial + (pix - b * U.spatial);
}
fn logitMax(base: u32) -> f32 {
  var m = Z[base];
  for (var c = 1u; c < C; c++) { m = max(m, Z[base + c * U.spatial]); }
  return m;
}
fn sumExp(base: u32, m: f32) -> f32 {
  var s = 0.0;
  for (var c = 0u; c < C; c++) { s += exp(Z[base + c * U.spatial] - m); }
  return s;
}`;
}

function inputDecls(c: LossConfig): { name: string; kind: 'read'; type: string }[] {
  const decls = [
    { name: 'Z', kind: 'read' as const, type: 'array<f32>' },
    { name: 'T', kind: 'read' as const, type: 'array<i32>' },
  ];
  if (hasCe(c) && c.hasWeight) decls.push({ name: 'Wt', kind: 'read', type: 'array<f32>' });
  return decls;
}

const classWeight = (c: LossConfig, t: string) => (c.hasWeight ? `Wt[${t}]` : '1.0');

/**
 * Bindings: logits, target, [weight], partials (groups x lossValueCount) written; uniform PixelParams.
 * The class loop is unrolled (C is baked in) so every running sum is a register; the workgroup then
 * adds all its sums through one shared (values x invocations) array behind a single barrier.
 */
export function lossPartialsKernel(c: LossConfig, groups: number): KernelSpec {
  const nv = lossValueCount(c);
  const wg = lossPartialsWorkgroup(nv);
  const c0 = firstDiceClass(c);
  const sums: string[] = [];
  const body: string[] = [];
  if (hasCe(c)) {
    sums.push('ceLoss', 'ceWeight');
    body.push(`    let w = ${classWeight(c, 't')};`,
      '    ceLoss += w * (m + log(se) - Z[base + u32(t) * U.spatial]);',
      '    ceWeight += w;');
  }
  if (hasDice(c)) {
    body.push('    let inv = 1.0 / se;');
    for (let k = c0; k < c.numClasses; k++) {
      sums.push(`inter${k}`, `pSq${k}`, `count${k}`);
      body.push(`    { let p = exp(Z[base + ${k}u * U.spatial] - m) * inv; let g = select(0.0, 1.0, t == ${k});`,
        `      inter${k} += p * g; pSq${k} += p * p; count${k} += g; }`);
    }
  }
  const wgsl = `${PIXEL_UNIFORM_STRUCT}
${bindingDecls([...inputDecls(c), { name: 'Partials', kind: 'read_write', type: 'array<f32>' }, { name: 'U', kind: 'uniform', type: 'PixelParams' }])}
${pixelHelpers(c)}
const NV = ${nv}u;
const WG = ${wg}u;
var<workgroup> red: array<f32, ${nv * wg}>; // value k of invocation i at k * WG + i
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
${sums.map((v) => `  var ${v} = 0.0;`).join('\n')}
  for (var pix = wid.x * WG + lid; pix < U.pixels; pix += nwg.x * WG) {
    let t = T[pix];
    if (!isValidTarget(t)) { continue; }
    let base = logitBase(pix);
    let m = logitMax(base);
    let se = sumExp(base, m);
${body.join('\n')}
  }
${sums.map((v, k) => `  red[${k}u * WG + lid] = ${v};`).join('\n')}
  workgroupBarrier();
  // One invocation per value adds its WG entries: a single barrier (a tree over all values costs
  // lavapipe seconds of compile time per class); four interleaved sums keep the rounding small.
  for (var k = lid; k < NV; k += WG) {
    let row = k * WG;
    var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
    for (var i = 0u; i < WG; i += 4u) {
      s0 += red[row + i]; s1 += red[row + i + 1u]; s2 += red[row + i + 2u]; s3 += red[row + i + 3u];
    }
    Partials[wid.x * NV + k] = (s0 + s1) + (s2 + s3);
  }
}`;
  return { name: `loss_${c.kind}_partials`, wgsl, workgroupSize: [wg, 1, 1], dispatch: [groups, 1, 1] };
}

/**
 * Bindings: partials (read), loss (1) and stats (lossStatsCount) written; uniform {groups, smooth,
 * smoothNumerator}. Stats for the backward, with K the number of Dice classes kept (r_c > 0):
 *   ceScale = 1 / sum of weights;  dDice/dp_c = a_c g_c + b_c p_c with
 *   a_c = -2 / (K den_c),  b_c = 2 num_c / (K den_c^2)  (zero for classes left out).
 */
export function lossFinalizeKernel(c: LossConfig): KernelSpec {
  const nv = lossValueCount(c);
  const c0 = firstDiceClass(c);
  const diceOffset = hasCe(c) ? 2 : 0;
  const wgsl = `struct FinalParams { groups: u32, denominatorSmooth: f32, numeratorSmooth: f32, pad: u32 }
${bindingDecls([
    { name: 'Partials', kind: 'read', type: 'array<f32>' },
    { name: 'Loss', kind: 'read_write', type: 'array<f32>' },
    { name: 'Stats', kind: 'read_write', type: 'array<f32>' },
    { name: 'U', kind: 'uniform', type: 'FinalParams' },
  ])}
const C = ${c.numClasses}u;
const NV = ${nv}u;
fn nan() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }
var<workgroup> totals: array<f32, NV>;
@compute @workgroup_size(${FINALIZE_WORKGROUP})
fn main(@builtin(local_invocation_index) lid: u32) {
  // One invocation per value adds its column over the groups (at most LOSS_MAX_GROUPS rows).
  for (var k = lid; k < NV; k += ${FINALIZE_WORKGROUP}u) {
    var s = 0.0;
    for (var g = 0u; g < U.groups; g++) { s += Partials[g * NV + k]; }
    totals[k] = s;
  }
  workgroupBarrier();
  if (lid != 0u) { return; }
  var loss = 0.0;
  for (var k = 0u; k < 2u * C + 1u; k++) { Stats[k] = 0.0; }
${hasCe(c) ? `  // PyTorch: a batch whose every target is ignored has loss 0/0 = NaN (and zero gradients).
  let weightSum = totals[1];
  if (weightSum == 0.0) { loss = nan(); } else {
    loss = totals[0] / weightSum;
    Stats[0] = 1.0 / weightSum;
  }` : ''}
${hasDice(c) ? `  var kept = 0.0;
  var diceSum = 0.0;
  for (var k = ${c0}u; k < C; k++) {
    let j = ${diceOffset}u + 3u * (k - ${c0}u);
    let num = 2.0 * totals[j] + U.numeratorSmooth;
    let den = totals[j + 1u] + totals[j + 2u] + U.denominatorSmooth;
    let r = 1.0 - num / den;
    if (r > 0.0) { kept += 1.0; diceSum += r; }
  }
  if (kept > 0.0) {
    loss += diceSum / kept;
    for (var k = ${c0}u; k < C; k++) {
      let j = ${diceOffset}u + 3u * (k - ${c0}u);
      let num = 2.0 * totals[j] + U.numeratorSmooth;
      let den = totals[j + 1u] + totals[j + 2u] + U.denominatorSmooth;
      if (1.0 - num / den > 0.0) {
        Stats[1u + k] = -2.0 / (kept * den);
        Stats[1u + C + k] = 2.0 * num / (kept * den * den);
      }
    }
  }` : ''}
  Loss[0] = loss;
}`;
  return { name: `loss_${c.kind}_finalize`, wgsl, workgroupSize: [FINALIZE_WORKGROUP, 1, 1], dispatch: [1, 1, 1] };
}

/**
 * dL/dlogits for one pixel per invocation. Bindings: logits, target, [weight], stats, dy (1 value),
 * dlogits written; uniform PixelParams. With p = softmax(z) and g the one-hot target:
 *   CE:   dy * ceScale * w_t * (p_c - g_c)
 *   Dice: dy * p_c * (q_c - sum_k p_k q_k), q_c = a_c g_c + b_c p_c (the softmax Jacobian applied to dDice/dp)
 */
export function lossBackwardKernel(c: LossConfig, pixels: number): KernelSpec {
  const wgsl = `${PIXEL_UNIFORM_STRUCT}
${bindingDecls([
    ...inputDecls(c),
    { name: 'Stats', kind: 'read', type: 'array<f32>' },
    { name: 'DY', kind: 'read', type: 'array<f32>' },
    { name: 'DZ', kind: 'read_write', type: 'array<f32>' },
    { name: 'U', kind: 'uniform', type: 'PixelParams' },
  ])}
${pixelHelpers(c)}
${WGSL_LINEAR_WORKGROUP}
fn diceQ(k: u32, p: f32, g: f32) -> f32 { return Stats[1u + k] * g + Stats[1u + C + k] * p; }
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let pix = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (pix >= U.pixels) { return; }
  let t = T[pix];
  let base = logitBase(pix);
  if (!isValidTarget(t)) {
    for (var k = 0u; k < C; k++) { DZ[base + k * U.spatial] = 0.0; }
    return;
  }
  let dy = DY[0];
  let m = logitMax(base);
  let inv = 1.0 / sumExp(base, m);
${hasCe(c) ? `  let ceScale = dy * Stats[0] * ${classWeight(c, 't')};` : ''}
${hasDice(c) ? `  var dot = 0.0;
  for (var k = 0u; k < C; k++) {
    let p = exp(Z[base + k * U.spatial] - m) * inv;
    dot += p * diceQ(k, p, select(0.0, 1.0, u32(t) == k));
  }` : ''}
  for (var k = 0u; k < C; k++) {
    let p = exp(Z[base + k * U.spatial] - m) * inv;
    let g = select(0.0, 1.0, u32(t) == k);
    var d = 0.0;
${hasCe(c) ? '    d += ceScale * (p - g);' : ''}
${hasDice(c) ? '    d += dy * p * (diceQ(k, p, g) - dot);' : ''}
    DZ[base + k * U.spatial] = d;
  }
}`;
  return { name: `loss_${c.kind}_backward`, wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(pixels / WORKGROUP)) };
}

// ---- plain TypeScript reference (float64) ----------------------------------------------------

export interface LossReferenceOptions {
  weight?: ArrayLike<number>;
  ignoreIndex: number;
  excludeBackground: boolean;
  smooth: number;
  smoothNumerator: number;
}

/**
 * The loss the kernels compute, in float64: logits (B, C, ...rest) and target (B, ...rest) row-major.
 * The readable definition, the test oracle and the function finite differences differentiate.
 */
export function lossReference(
  kind: LossKind, logits: ArrayLike<number>, shape: readonly number[], target: ArrayLike<number>, o: LossReferenceOptions,
): number {
  const C = shape[1];
  const S = shape.slice(2).reduce((a, b) => a * b, 1);
  const pixels = shape[0] * S;
  let ceNum = 0, ceDen = 0;
  const I = new Float64Array(C), P = new Float64Array(C), G = new Float64Array(C);
  for (let pix = 0; pix < pixels; pix++) {
    const t = target[pix];
    if (!(t >= 0 && t < C && t !== o.ignoreIndex)) continue;
    const base = Math.floor(pix / S) * C * S + (pix % S);
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, logits[base + c * S]);
    let se = 0;
    for (let c = 0; c < C; c++) se += Math.exp(logits[base + c * S] - m);
    const w = o.weight ? o.weight[t] : 1;
    ceNum += w * (m + Math.log(se) - logits[base + t * S]);
    ceDen += w;
    for (let c = 0; c < C; c++) {
      const p = Math.exp(logits[base + c * S] - m) / se;
      const g = c === t ? 1 : 0;
      I[c] += p * g;
      P[c] += p * p;
      G[c] += g;
    }
  }
  let loss = 0;
  if (kind !== 'dice') loss += ceDen === 0 ? NaN : ceNum / ceDen;
  if (kind !== 'ce') {
    let kept = 0, sum = 0;
    for (let c = o.excludeBackground ? 1 : 0; c < C; c++) {
      const r = 1 - (2 * I[c] + o.smoothNumerator) / (P[c] + G[c] + o.smooth);
      if (r > 0) { kept++; sum += r; }
    }
    loss += kept > 0 ? sum / kept : 0;
  }
  return loss;
}
