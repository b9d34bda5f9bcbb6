// Backward of instancenorm.ts, reusing the forward's mean and rstd. Per (n, c) plane of P pixels,
// with xhat = (x - mean) * rstd and g = weight[c] (1 without affine):
//   dx = rstd * g * (dy - sum(dy) / P - xhat * sum(dy * xhat) / P)
// (llm.c's layernorm_backward with a per-plane constant weight). The two per-plane sums are the
// affine parameters' per-plane contributions too: dweight[c] = sum_n sum(dy * xhat), dbias[c] =
// sum_n sum(dy); with affine the kernel writes them, (N, C) each, and the op sums over N.
// Same walk as the forward (one workgroup per plane on GPUs, one invocation on CPU adapters).
import { bindingDecls, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import { wgslRowAccumulate } from './instancenorm.js';
import {
  planRow, rowDispatch, wgslHorizontal, wgslRowCombine, wgslRowCombiners, wgslRowLeader, wgslRowLoop, wgslRowStart, wgslSum,
  WGSL_MAIN_BUILTINS, type RowPlanOptions,
} from './reduce.js';

export interface InstanceNormBackwardParams {
  batch: number;
  channels: number;
  pixels: number;
  /** Bind W after X, and write the per-plane sums PlaneDW and PlaneDB after DX. */
  affine: boolean;
  plan?: RowPlanOptions;
}

/** Bindings: X, [W], DY, Mean, Rstd, DX, [PlaneDW, PlaneDB]. */
export function instanceNormBackwardKernel(p: InstanceNormBackwardParams): KernelSpec {
  const { batch, channels: C, pixels } = p;
  const rows = batch * C;
  // Both passes re-read x and dy: keeping two rows in registers is not worth the pressure.
  const plan = planRow(pixels, { ...p.plan, maxRegisterLoads: 0 });
  const F = plan.vec === 4 ? 'vec4<f32>' : 'f32';
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type: `array<${F}>` },
    ...(p.affine ? [{ name: 'W', kind: 'read' as const, type: 'array<f32>' }] : []),
    { name: 'DY', kind: 'read', type: `array<${F}>` },
    { name: 'Mean', kind: 'read', type: 'array<f32>' },
    { name: 'Rstd', kind: 'read', type: 'array<f32>' },
    { name: 'DX', kind: 'read_write', type: `array<${F}>` },
    ...(p.affine ? [{ name: 'PlaneDW', kind: 'read_write' as const, type: 'array<f32>' }, { name: 'PlaneDB', kind: 'read_write' as const, type: 'array<f32>' }] : []),
  ]);
  const xhat = (i: string) => `(X[base + ${i}] - mean) * rstd`;
  const wgsl = `${decls}
${WGSL_LINEAR_WORKGROUP}
${wgslRowCombiners(plan, { workgroupSum: wgslSum })}
@compute @workgroup_size(${plan.workgroup})
fn main(${WGSL_MAIN_BUILTINS}) {
  ${wgslRowStart(plan, rows)} // row = (n, c) plane
  let mean = Mean[row];
  let rstd = Rstd[row];
  var localDy = ${F}(0.0);
  var localDot = ${F}(0.0);
  ${wgslRowAccumulate(plan, F, [['localDy', (i) => `DY[base + ${i}]`], ['localDot', (i) => `DY[base + ${i}] * ${xhat(i)}`]])}
  let sumDy = ${wgslRowCombine(plan, 'workgroupSum', wgslHorizontal(plan, 'sum', 'localDy'))};
  let sumDot = ${wgslRowCombine(plan, 'workgroupSum', wgslHorizontal(plan, 'sum', 'localDot'))};
  let meanDy = sumDy / ${pixels}.0;
  let meanDot = sumDot / ${pixels}.0;
  let scale = rstd${p.affine ? ` * W[row % ${C}u]` : ''};
  ${wgslRowLoop(plan, (i) => `DX[base + ${i}] = scale * (DY[base + ${i}] - meanDy - ${xhat(i)} * meanDot);`)}
  ${p.affine ? `if (${wgslRowLeader(plan)}) { PlaneDW[row] = sumDot; PlaneDB[row] = sumDy; }` : ''}
}`;
  return { name: p.affine ? 'instancenorm_affine_backward' : 'instancenorm_backward', wgsl, workgroupSize: [plan.workgroup, 1, 1], dispatch: rowDispatch(plan, rows) };
}

// ---- plain TypeScript reference (float64 arithmetic) ------------------------------------------

export interface InstanceNormBackwardReference {
  dx: Float32Array;
  /** (C): summed over the batch. */
  dweight: Float32Array;
  dbias: Float32Array;
}

/** Gradients of instanceNormReference (NCHW) from dy; mean and rstd as the forward saved them. */
export function instanceNormBackwardReference(
  x: ArrayLike<number>, shape: readonly number[], dy: ArrayLike<number>, mean: ArrayLike<number>, rstd: ArrayLike<number>,
  weight?: ArrayLike<number>,
): InstanceNormBackwardReference {
  const [n, c, h, w] = shape;
  const pixels = h * w;
  const dx = new Float32Array(x.length);
  const dw = new Float64Array(c), db = new Float64Array(c);
  for (let r = 0; r < n * c; r++) {
    const base = r * pixels;
    let sumDy = 0, sumDot = 0;
    for (let i = 0; i < pixels; i++) {
      sumDy += dy[base + i];
      sumDot += dy[base + i] * (x[base + i] - mean[r]) * rstd[r];
    }
    const g = weight ? weight[r % c] : 1;
    for (let i = 0; i < pixels; i++) {
      const xhat = (x[base + i] - mean[r]) * rstd[r];
      dx[base + i] = rstd[r] * g * (dy[base + i] - sumDy / pixels - xhat * (sumDot / pixels));
    }
    dw[r % c] += sumDot;
    db[r % c] += sumDy;
  }
  return { dx, dweight: Float32Array.from(dw), dbias: Float32Array.from(db) };
}
