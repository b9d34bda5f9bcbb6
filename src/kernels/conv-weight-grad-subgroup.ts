// conv2d's weight gradient as a direct subgroup kernel with split-K, for CPU-backed adapters with
// 8-wide subgroups (lavapipe); the counterpart of conv-subgroup.ts:
//
//   dW[s, r, c, ky, kx] = sum over the output rows (b, oy) of split s, and ox, of
//                         dY[b, r, oy, ox] * X[b, c, oy * stride + offset + ky * step, ox * ... ]   (X zero outside),
//
// and dW = the sum over splits s (a reduce kernel, when there is more than one).
// A workgroup is one subgroup of 8 lanes sharing 16 rows r (output channels): per output pixel each lane
// loads one dY value per 8 rows, which subgroupBroadcast shares, and the 4 X values of its own column
// quad (4 input channels at one tap), for 16 vec4 multiply-adds. No im2col matrix is written or read.
// Split-K: the reduction (batch x output rows) is cut into `splits` ranges, so that small weights
// (16 -> 16 channels: 5 workgroups without splits) still give both CPU threads work.
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import type { SubgroupConvGeometry } from './conv-subgroup.js';
import { SUBGROUP_LANES } from './matmul-subgroup.js';

/** X (batch, channels, height, width) and dY (batch, rows, outHeight, outWidth): the forward's geometry. */
export interface SubgroupWeightGradParams extends SubgroupConvGeometry {
  /** Ranges the batch x outHeight output rows are cut into (>= 1); the result is (splits, rows, channels, kh, kw). */
  splits: number;
}

const ROWS = 16;

/** Workgroups without splits, to size them (splitsFor). */
export function weightGradTiles(p: Pick<SubgroupWeightGradParams, 'channels' | 'rows' | 'kernel'>): number {
  const columns4 = p.kernel[0] * p.kernel[1] * Math.ceil(p.channels / 4);
  return Math.ceil(columns4 / SUBGROUP_LANES) * Math.ceil(p.rows / Math.min(ROWS, Math.ceil(p.rows / 8) * 8));
}

export function subgroupWeightGradKernel(p: SubgroupWeightGradParams): KernelSpec {
  const TM = Math.min(ROWS, Math.ceil(p.rows / SUBGROUP_LANES) * SUBGROUP_LANES), G = TM / SUBGROUP_LANES;
  const [kh, kw] = p.kernel, taps = kh * kw, cin4 = Math.ceil(p.channels / 4), columns4 = taps * cin4;
  const H = p.height, W = p.width, HW = H * W, Po = p.outHeight * p.outWidth;
  const colTiles = Math.ceil(columns4 / SUBGROUP_LANES), rowTiles = Math.ceil(p.rows / TM);
  const tiles = colTiles * rowTiles * p.splits, R = p.batch * p.outHeight, perSplit = Math.ceil(R / p.splits);
  const I = Array.from({ length: TM }, (_, i) => i), Gs = Array.from({ length: G }, (_, g) => g), J = [0, 1, 2, 3];
  const wgsl = `enable subgroups;
${bindingDecls([
    { name: 'X', kind: 'read', type: 'array<f32>' },
    { name: 'DY', kind: 'read', type: 'array<f32>' },
    { name: 'DW', kind: 'read_write', type: 'array<f32>' },
  ])}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${SUBGROUP_LANES})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = linearWorkgroup(wid, nwg);
  if (tile >= ${tiles}u) { return; }
  let colTile = tile % ${colTiles}u;
  let r0 = ((tile / ${colTiles}u) % ${rowTiles}u) * ${TM}u;
  let split = tile / ${colTiles * rowTiles}u;
  // This lane's column quad: input channels ci0..ci0+3 at tap (ky, kx) (clamped: loads stay in bounds, never stored).
  let c4 = min(colTile * ${SUBGROUP_LANES}u + lid, ${columns4 - 1}u);
  let tap = c4 / ${cin4}u;
  let ci0 = (c4 % ${cin4}u) * 4u;
  let ky = i32(tap / ${kw}u);
  let kx = i32(tap % ${kw}u);
  ${J.map((j) => `let ch${j} = min(ci0 + ${j}u, ${p.channels - 1}u) * ${HW}u;`).join('\n  ')}
  ${Gs.map((g) => `let dr${g} = min(r0 + ${g * 8}u + lid, ${p.rows - 1}u) * ${Po}u;`).join('\n  ')}
  ${I.map((i) => `var acc${i} = vec4<f32>(0.0);`).join(' ')}
  let rowEnd = min(${R}u, (split + 1u) * ${perSplit}u);
  for (var rr = split * ${perSplit}u; rr < rowEnd; rr++) {
    let b = rr / ${p.outHeight}u;
    let oy = rr % ${p.outHeight}u;
    let iy = i32(oy) * ${p.stride[0]} + ${p.offset[0]} + ky * ${p.step[0]};
    let rowOk = u32(iy) < ${H}u;
    let xRow = b * ${p.channels * HW}u + u32(select(0, iy * ${W}, rowOk));
    let dyRow = b * ${p.rows * Po}u + oy * ${p.outWidth}u;
    var ix = ${p.offset[1]} + kx * ${p.step[1]};
    for (var ox = 0u; ox < ${p.outWidth}u; ox++) {
      let ok = rowOk && u32(ix) < ${W}u;
      let t = select(0u, xRow + u32(ix), ok);
      let m = select(0.0, 1.0, ok);
      let xv = m * vec4<f32>(${J.map((j) => `X[t + ch${j}]`).join(', ')});
      ${Gs.map((g) => `let d${g} = DY[dyRow + dr${g} + ox];`).join('\n      ')}
      ${I.map((i) => `acc${i} += subgroupBroadcast(d${Math.floor(i / 8)}, ${i % 8}u) * xv;`).join('\n      ')}
      ix += ${p.stride[1]};
    }
  }
  if (colTile * ${SUBGROUP_LANES}u + lid >= ${columns4}u) { return; }
  let base = split * ${p.rows * p.channels * taps}u + tap;
  ${I.map((i) => `if (r0 + ${i}u < ${p.rows}u) {
    ${J.map((j) => `if (ci0 + ${j}u < ${p.channels}u) { DW[base + ((r0 + ${i}u) * ${p.channels}u + ci0 + ${j}u) * ${taps}u] = acc${i}[${j}]; }`).join('\n    ')}
  }`).join('\n  ')}
}`;
  return { name: 'conv2d_weight_grad_subgroup', wgsl, workgroupSize: [SUBGROUP_LANES, 1, 1], dispatch: dispatchLinear(tiles) };
}

/** Plain reference of subgroupWeightGradKernel: the per-split sums in float64, (splits, rows, channels, kh, kw). */
export function subgroupWeightGradReference(x: ArrayLike<number>, dy: ArrayLike<number>, p: SubgroupWeightGradParams): Float32Array {
  const [kh, kw] = p.kernel, R = p.batch * p.outHeight, perSplit = Math.ceil(R / p.splits), size = p.rows * p.channels * kh * kw;
  const out = new Float32Array(p.splits * size);
  for (let s = 0; s < p.splits; s++) {
    for (let r = 0; r < p.rows; r++) {
      for (let c = 0; c < p.channels; c++) {
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            let acc = 0;
            for (let rr = s * perSplit; rr < Math.min(R, (s + 1) * perSplit); rr++) {
              const b = Math.floor(rr / p.outHeight), oy = rr % p.outHeight;
              const iy = oy * p.stride[0] + p.offset[0] + ky * p.step[0];
              if (iy < 0 || iy >= p.height) continue;
              for (let ox = 0; ox < p.outWidth; ox++) {
                const ix = ox * p.stride[1] + p.offset[1] + kx * p.step[1];
                if (ix < 0 || ix >= p.width) continue;
                acc += dy[((b * p.rows + r) * p.outHeight + oy) * p.outWidth + ox] * x[((b * p.channels + c) * p.height + iy) * p.width + ix];
              }
            }
            out[s * size + ((r * p.channels + c) * kh + ky) * kw + kx] = acc;
          }
        }
      }
    }
  }
  return out;
}
