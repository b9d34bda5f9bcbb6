// Instance normalisation of NCHW input, torch.nn.InstanceNorm2d / F.instance_norm semantics in
// training and evaluation alike when running statistics are not tracked (PyTorch's default,
// track_running_stats=False, which is what the AutoSAM UNet baseline uses):
//   y[n, c] = (x[n, c] - mean[n, c]) * rstd[n, c] (* weight[c] + bias[c] when affine),
//   mean and biased variance over the H * W pixels of each (n, c) plane, rstd = 1 / sqrt(var + eps).
// Each (n, c) plane is contiguous, so the planes are rows of a row reduction (reduce.ts RowLayout):
// one workgroup per plane on GPUs, one invocation per plane on CPU adapters. N * C planes give
// enough parallelism for lavapipe's 2 cores even at the UNet's first level (4 x 64 = 256 planes of
// 224 x 224). Statistics take two passes (mean, then mean squared deviation), as layernorm.ts does;
// the forward can also write mean and rstd (one f32 per plane) for the backward to reuse.
import { bindingDecls, f32Literal, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import {
  planRow, rowDispatch, wgslHorizontal, wgslRowCombine, wgslRowCombiners, wgslRowLeader, wgslRowLoop, wgslRowStart, wgslSum,
  WGSL_MAIN_BUILTINS, type RowPlan, type RowPlanOptions,
} from './reduce.js';

export interface InstanceNormParams {
  batch: number;
  channels: number;
  /** H * W: the length of each normalised plane. */
  pixels: number;
  eps: number;
  /** Per-channel weight and bias (bindings 1 and 2) as InstanceNorm2d(affine=True). */
  affine: boolean;
  /** Also write Mean and Rstd, one f32 per (n, c) plane, after Y. */
  saveStats: boolean;
  plan?: RowPlanOptions;
}

/** Sums along one invocation's loop run in chunks of this many terms, each chunk added to a running total. */
const SUM_CHUNK = 64;

/**
 * WGSL that adds, for every load i the invocation owns, `term(i, k)` into each accumulator variable
 * (f32 or vec4<f32>, declared by the caller). In the invocation layout one invocation walks a whole
 * plane (up to 12544 vec4 loads at 224 x 224), so it sums in chunks: the rounding error grows with
 * (n / CHUNK + CHUNK) instead of n.
 */
export function wgslRowAccumulate(plan: RowPlan, F: string, terms: [acc: string, term: (i: string, k: number | null) => string][]): string {
  if (plan.layout !== 'invocation') return wgslRowLoop(plan, (i, k) => terms.map(([acc, term]) => `${acc} += ${term(i, k)};`).join(' '));
  return `for (var start = 0u; start < ${plan.units}u; start += ${SUM_CHUNK}u) {
    ${terms.map(([acc]) => `var ${acc}Chunk = ${F}(0.0);`).join(' ')}
    for (var i = start; i < min(start + ${SUM_CHUNK}u, ${plan.units}u); i++) { ${terms.map(([acc, term]) => `${acc}Chunk += ${term('i', null)};`).join(' ')} }
    ${terms.map(([acc]) => `${acc} += ${acc}Chunk;`).join(' ')}
  }`;
}

export function instanceNormKernel(p: InstanceNormParams): KernelSpec {
  const { batch, channels: C, pixels } = p;
  const rows = batch * C;
  const plan = planRow(pixels, p.plan);
  const F = plan.vec === 4 ? 'vec4<f32>' : 'f32';
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type: `array<${F}>` },
    ...(p.affine ? [{ name: 'W', kind: 'read' as const, type: 'array<f32>' }, { name: 'B', kind: 'read' as const, type: 'array<f32>' }] : []),
    { name: 'Y', kind: 'read_write', type: `array<${F}>` },
    ...(p.saveStats ? [{ name: 'Mean', kind: 'read_write' as const, type: 'array<f32>' }, { name: 'Rstd', kind: 'read_write' as const, type: 'array<f32>' }] : []),
  ]);
  const cache = plan.inRegisters ? `var cached: array<${F}, ${plan.perInvocation}>;` : '';
  const value = (i: string, k: number | null) => (k === null ? `X[base + ${i}]` : `cached[${k}]`);
  // y = x * scale + shift folds the normalisation and the affine parameters into one multiply-add.
  const scale = p.affine ? 'rstd * W[row % ' + C + 'u]' : 'rstd';
  const shift = p.affine ? `B[row % ${C}u] - mean * scale` : '-mean * scale';
  const wgsl = `${decls}
${WGSL_LINEAR_WORKGROUP}
${wgslRowCombiners(plan, { workgroupSum: wgslSum })}
fn square(v: ${F}) -> ${F} { return v * v; }
@compute @workgroup_size(${plan.workgroup})
fn main(${WGSL_MAIN_BUILTINS}) {
  ${wgslRowStart(plan, rows)} // row = (n, c) plane
  ${cache}
  var localSum = ${F}(0.0);
  ${plan.inRegisters
    ? wgslRowLoop(plan, (i, k) => `cached[${k}] = X[base + ${i}]; localSum += cached[${k}];`)
    : wgslRowAccumulate(plan, F, [['localSum', (i) => `X[base + ${i}]`]])}
  let mean = ${wgslRowCombine(plan, 'workgroupSum', wgslHorizontal(plan, 'sum', 'localSum'))} / ${pixels}.0;
  var localSquares = ${F}(0.0);
  ${wgslRowAccumulate(plan, F, [['localSquares', (i, k) => `square(${value(i, k)} - mean)`]])}
  let variance = ${wgslRowCombine(plan, 'workgroupSum', wgslHorizontal(plan, 'sum', 'localSquares'))} / ${pixels}.0;
  let rstd = inverseSqrt(variance + ${f32Literal(p.eps)});
  let scale = ${scale};
  let shift = ${shift};
  ${wgslRowLoop(plan, (i, k) => `Y[base + ${i}] = ${value(i, k)} * scale + shift;`)}
  ${p.saveStats ? `if (${wgslRowLeader(plan)}) { Mean[row] = mean; Rstd[row] = rstd; }` : ''}
}`;
  return { name: p.saveStats ? 'instancenorm_stats' : 'instancenorm', wgsl, workgroupSize: [plan.workgroup, 1, 1], dispatch: rowDispatch(plan, rows) };
}

// ---- plain TypeScript reference (float64 arithmetic) ------------------------------------------

export interface InstanceNormReference {
  out: Float32Array;
  /** One per (n, c) plane. */
  mean: Float32Array;
  rstd: Float32Array;
}

/** F.instance_norm on NCHW input (no running statistics); weight and bias (C) when affine. */
export function instanceNormReference(
  x: ArrayLike<number>, shape: readonly number[], eps: number, weight?: ArrayLike<number>, bias?: ArrayLike<number>,
): InstanceNormReference {
  const [n, c, h, w] = shape;
  const pixels = h * w, planes = n * c;
  const out = new Float32Array(x.length), mean = new Float32Array(planes), rstd = new Float32Array(planes);
  for (let r = 0; r < planes; r++) {
    const base = r * pixels;
    let s = 0;
    for (let i = 0; i < pixels; i++) s += x[base + i];
    const m = s / pixels;
    let sq = 0;
    for (let i = 0; i < pixels; i++) sq += (x[base + i] - m) ** 2;
    const rs = 1 / Math.sqrt(sq / pixels + eps);
    const g = weight ? weight[r % c] : 1, b = bias ? bias[r % c] : 0;
    for (let i = 0; i < pixels; i++) out[base + i] = (x[base + i] - m) * rs * g + b;
    mean[r] = m;
    rstd[r] = rs;
  }
  return { out, mean, rstd };
}
