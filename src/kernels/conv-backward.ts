// Backward of conv2d and convTranspose2d (gradients are f32).
//
// Input gradients are the other convolution run on dy, so they reuse the forward kernels (gathers: each
// element of dx sums what reaches it, no atomics); the mappings below say which geometry does it:
//   conv2d:          dx = conv_transpose2d(dy, w) with w read as (Cin_t = Cout, Cout_t / g = Cin / g, kh, kw)
//                    and the output padding that restores H, W (always below the stride).
//   convTranspose2d: dx = conv2d(dy, w) with w read as (Cout_c = Cin, Cin_c / g = Cout / g, kh, kw). Its
//                    output has H + floor(outputPadding / stride) rows (more than H only when
//                    outputPadding >= stride, which PyTorch allows when dilation > stride): crop to H, W.
// Weight gradients are one correlation kernel here for both ops (weightGradKernel), bias gradients a
// per-channel sum (channelSumKernel).
//
// Tried and dropped: for kernel == stride (SAM's 2x2 upscaling), rearranging dy space-to-depth turns
// both gradients into 1x1 problems with contiguous loads; on lavapipe (256->64 at 64x64) that measured
// dx 52 vs 54 ms and dw 71 vs 70 ms against the general path, so the general path serves it.
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import { conv2dOutputShape, convOutputLength, type Conv2dGeometry, type Pair } from './conv2d.js';
import { convTranspose2dOutputShape, convTransposeOutputLength, type ConvTranspose2dGeometry } from './conv-transpose2d.js';

// ---- input gradients: geometry mappings onto the forward kernels -----------------------------

/** conv2d's dx as a transposed convolution of dy (N, Cout, Ho, Wo) whose output is exactly x's shape. */
export function conv2dInputGradGeometry(g: Conv2dGeometry): ConvTranspose2dGeometry {
  const [, , ho, wo] = conv2dOutputShape(g);
  const [, , kh, kw] = g.wShape;
  // Rows of x past the last one any output reads: 0 <= H - length < stride (see convOutputLength).
  const outputPadding: Pair = [
    g.xShape[2] - convTransposeOutputLength(ho, kh, g.stride[0], g.padding[0], 0, g.dilation[0]),
    g.xShape[3] - convTransposeOutputLength(wo, kw, g.stride[1], g.padding[1], 0, g.dilation[1]),
  ];
  return {
    xShape: [g.xShape[0], g.wShape[0], ho, wo], wShape: g.wShape,
    stride: g.stride, padding: g.padding, outputPadding, dilation: g.dilation, groups: g.groups,
  };
}

/**
 * convTranspose2d's dx as a conv2d of dy (N, Cout, Ho, Wo). The result is (N, Cin, H', W') with
 * H' >= H; `crop` says whether it must be cut back to x's (H, W).
 */
export function convTranspose2dInputGradGeometry(g: ConvTranspose2dGeometry): { geometry: Conv2dGeometry; crop: boolean } {
  const yShape = convTranspose2dOutputShape(g);
  const geometry: Conv2dGeometry = { xShape: yShape, wShape: g.wShape, stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups };
  const [, , h, w] = conv2dOutputShape(geometry);
  return { geometry, crop: h !== g.xShape[2] || w !== g.xShape[3] };
}

// ---- weight gradients -----------------------------------------------------------------------

/**
 * dW[r, c, ky, kx] = sum over b, gy, gx of R[b, r, gy, gx] * T[b, group(r) * cols + c, gy * stride - padding + ky * dilation, ...]
 * (zero outside T), for r over groups * rows, c over cols. Both ops' weight gradients have this form:
 *   conv2d:          R = dy (N, Cout, Ho, Wo), T = x  (N, Cin, H, W):   dW (Cout, Cin / g, kh, kw)
 *   convTranspose2d: R = x  (N, Cin, H, W),   T = dy (N, Cout, Ho, Wo): dW (Cin, Cout / g, kh, kw)
 * An implicit GEMM per group and tap: M = rows, N = cols, K = batch * Hr * Wr.
 */
export interface WeightGradGeometry {
  /** (N, groups * rows, Hr, Wr): its channels index the weight's first axis; read at every position. */
  rShape: readonly number[];
  /** (N, groups * cols, Ht, Wt): read at the tapped positions. */
  tShape: readonly number[];
  kernel: Pair;
  stride: Pair;
  padding: Pair;
  dilation: Pair;
  groups: number;
}

export function conv2dWeightGradGeometry(g: Conv2dGeometry): WeightGradGeometry {
  return { rShape: conv2dOutputShape(g), tShape: g.xShape, kernel: [g.wShape[2], g.wShape[3]], stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups };
}

export function convTranspose2dWeightGradGeometry(g: ConvTranspose2dGeometry): WeightGradGeometry {
  return { rShape: g.xShape, tShape: convTranspose2dOutputShape(g), kernel: [g.wShape[2], g.wShape[3]], stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups };
}

/** Register tile per invocation (rowTile x colTile weight elements of one tap) and invocations per workgroup. */
export interface WeightGradTile {
  rowTile: number;
  colTile: number;
  lanes: number;
}

/**
 * Default tile: 8 x 8 where the channels allow, 64 lanes (the partial tiles of all lanes must fit in
 * workgroup memory: 8 * 8 * 64 * 4 bytes = 16 KiB of the 32 KiB lavapipe has).
 */
export function weightGradTileFor(g: WeightGradGeometry): WeightGradTile {
  const rows = g.rShape[1] / g.groups, cols = g.tShape[1] / g.groups;
  return { rowTile: Math.min(8, rows), colTile: Math.min(8, cols), lanes: 64 };
}

/**
 * Each workgroup owns one tap (ky, kx) and a rowTile x colTile block of one group's weight gradient,
 * and its lanes split the reduction over (b, gy, gx): lane l takes positions l, l + lanes, ... .
 * Consecutive lanes read consecutive R elements and T elements `stride` apart; the tap is uniform, so
 * one bounds test and one T offset per position serve colTile channels, and each R value loaded feeds
 * colTile FMAs, each T value rowTile. Ends with a reduction of the lanes' partial tiles through
 * workgroup memory. Bindings: R, T (f32), DW (f32, (groups * rows, cols, kh, kw)).
 */
export function weightGradKernel(g: WeightGradGeometry, tile: WeightGradTile = weightGradTileFor(g)): KernelSpec {
  const [batch, rTotal, hr, wr] = g.rShape;
  const [, tTotal, ht, wt] = g.tShape;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const rows = rTotal / g.groups, cols = tTotal / g.groups, taps = kh * kw;
  const { rowTile: TM, colTile: TN, lanes: L } = tile;
  const rowTiles = Math.ceil(rows / TM), colTiles = Math.ceil(cols / TN);
  const workgroups = g.groups * rowTiles * colTiles * taps;
  const K = batch * hr * wr;
  // A tapped row can leave T only where padding shifts it below 0 or the furthest tap passes the end.
  const maskY = ph > 0 || (hr - 1) * sh - ph + (kh - 1) * dh >= ht;
  const maskX = pw > 0 || (wr - 1) * sw - pw + (kw - 1) * dw >= wt;
  const masked = maskY || maskX;
  const I = Array.from({ length: TM }, (_, i) => i), J = Array.from({ length: TN }, (_, j) => j);
  const S = masked ? 'i32' : 'u32';
  const bounds = [maskY ? `u32(ty) < ${ht}u` : '', maskX ? `u32(tx) < ${wt}u` : ''].filter(Boolean).join(' && ');
  const wgsl = `${bindingDecls([
    { name: 'R', kind: 'read', type: 'array<f32>' },
    { name: 'T', kind: 'read', type: 'array<f32>' },
    { name: 'DW', kind: 'read_write', type: 'array<f32>' },
  ])}
var<workgroup> partial: array<f32, ${TM * TN * L}>;
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${L})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = linearWorkgroup(wid, nwg);
  if (tile >= ${workgroups}u) { return; }
  let tap = tile % ${taps}u;
  let colTile = (tile / ${taps}u) % ${colTiles}u;
  let rowTile = (tile / ${taps * colTiles}u) % ${rowTiles}u;
  let group = tile / ${taps * colTiles * rowTiles}u;
  // The tap's offset from a position's top-left corner in T.
  let tapY = ${S}((tap / ${kw}u) * ${dh}u) - ${S}(${ph});
  let tapX = ${S}((tap % ${kw}u) * ${dw}u) - ${S}(${pw});
  // Clamped rows and columns keep every load in bounds; the stores are masked instead.
  ${I.map((i) => `let r${i} = (group * ${rows}u + min(rowTile * ${TM}u + ${i}u, ${rows - 1}u)) * ${hr * wr}u;`).join('\n  ')}
  ${J.map((j) => `let t${j} = (group * ${cols}u + min(colTile * ${TN}u + ${j}u, ${cols - 1}u)) * ${ht * wt}u;`).join('\n  ')}
  ${I.flatMap((i) => J.map((j) => `var a${i}_${j} = 0.0;`)).join(' ')}
  for (var k = lid; k < ${K}u; k += ${L}u) {
    let b = k / ${hr * wr}u;
    let pix = k % ${hr * wr}u;
    let ty = ${S}((pix / ${wr}u) * ${sh}u) + tapY;
    let tx = ${S}((pix % ${wr}u) * ${sw}u) + tapX;
    let rb = b * ${rTotal * hr * wr}u + pix;
    ${masked ? `let ok = ${bounds};
    let tb = select(0u, b * ${tTotal * ht * wt}u + u32(ty * ${wt} + tx), ok);
    let m = select(0.0, 1.0, ok);` : `let tb = b * ${tTotal * ht * wt}u + ty * ${wt}u + tx;`}
    ${I.map((i) => `let rv${i} = R[rb + r${i}];`).join(' ')}
    ${J.map((j) => `let tv${j} = ${masked ? 'm * ' : ''}T[tb + t${j}];`).join(' ')}
    ${I.map((i) => J.map((j) => `a${i}_${j} += rv${i} * tv${j};`).join(' ')).join('\n    ')}
  }
  ${I.flatMap((i) => J.map((j) => `partial[${(i * TN + j) * L}u + lid] = a${i}_${j};`)).join('\n  ')}
  workgroupBarrier();
  if (lid < ${TM * TN}u) {
    var s = 0.0;
    for (var l = 0u; l < ${L}u; l++) { s += partial[lid * ${L}u + l]; }
    let row = rowTile * ${TM}u + lid / ${TN}u;
    let col = colTile * ${TN}u + lid % ${TN}u;
    if (row < ${rows}u && col < ${cols}u) {
      DW[((group * ${rows}u + row) * ${cols}u + col) * ${taps}u + tap] = s;
    }
  }
}`;
  return { name: 'conv_weight_grad', wgsl, workgroupSize: [L, 1, 1], dispatch: dispatchLinear(workgroups) };
}

// ---- bias gradients -------------------------------------------------------------------------

const SUM_LANES = 256;

/** db[c] = sum over b, p of DY[b, c, p] for DY (batch, channels, pixels): one workgroup per channel. */
export function channelSumKernel(p: { batch: number; channels: number; pixels: number }): KernelSpec {
  const { batch, channels, pixels } = p;
  const strides: number[] = [];
  for (let s = SUM_LANES / 2; s >= 1; s /= 2) strides.push(s);
  const wgsl = `${bindingDecls([
    { name: 'DY', kind: 'read', type: 'array<f32>' },
    { name: 'DB', kind: 'read_write', type: 'array<f32>' },
  ])}
var<workgroup> partial: array<f32, ${SUM_LANES}>;
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${SUM_LANES})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = linearWorkgroup(wid, nwg);
  if (c >= ${channels}u) { return; }
  var s = 0.0;
  for (var k = lid; k < ${batch * pixels}u; k += ${SUM_LANES}u) {
    s += DY[((k / ${pixels}u) * ${channels}u + c) * ${pixels}u + k % ${pixels}u];
  }
  partial[lid] = s;
  workgroupBarrier();
  ${strides.map((s) => `if (lid < ${s}u) { partial[lid] += partial[lid + ${s}u]; }\n  workgroupBarrier();`).join('\n  ')}
  if (lid == 0u) { DB[c] = partial[0]; }
}`;
  return { name: 'conv_bias_grad', wgsl, workgroupSize: [SUM_LANES, 1, 1], dispatch: dispatchLinear(channels) };
}

// ---- plain TypeScript references (float64) ----------------------------------------------------

export interface ConvGradients {
  dx: Float64Array;
  dw: Float64Array;
  dbias: Float64Array;
}

/** Gradients of F.conv2d given dy (N, Cout, Ho, Wo): every (output pixel, tap) pair of the forward, differentiated. */
export function conv2dBackwardReference(x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>, g: Conv2dGeometry): ConvGradients {
  const [batch, cin, h, wd] = g.xShape;
  const [cout, cinG, kh, kw] = g.wShape;
  const ho = convOutputLength(h, kh, g.stride[0], g.padding[0], g.dilation[0]);
  const wo = convOutputLength(wd, kw, g.stride[1], g.padding[1], g.dilation[1]);
  const coutG = cout / g.groups;
  const dx = new Float64Array(batch * cin * h * wd), dw = new Float64Array(cout * cinG * kh * kw), dbias = new Float64Array(cout);
  for (let b = 0; b < batch; b++) {
    for (let co = 0; co < cout; co++) {
      const group = Math.floor(co / coutG);
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          const d = dy[((b * cout + co) * ho + oy) * wo + ox];
          dbias[co] += d;
          for (let c = 0; c < cinG; c++) {
            const ci = group * cinG + c;
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * g.stride[0] - g.padding[0] + ky * g.dilation[0];
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * g.stride[1] - g.padding[1] + kx * g.dilation[1];
                if (ix < 0 || ix >= wd) continue;
                const xi = ((b * cin + ci) * h + iy) * wd + ix, wi = ((co * cinG + c) * kh + ky) * kw + kx;
                dx[xi] += d * w[wi];
                dw[wi] += d * x[xi];
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw, dbias };
}

/** Gradients of F.conv_transpose2d given dy (N, Cout, Ho, Wo): every (input pixel, tap) pair of the scatter, differentiated. */
export function convTranspose2dBackwardReference(x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>, g: ConvTranspose2dGeometry): ConvGradients {
  const [batch, cin, h, wd] = g.xShape;
  const [, coutG, kh, kw] = g.wShape;
  const [, cout, ho, wo] = convTranspose2dOutputShape(g);
  const cinG = cin / g.groups;
  const dx = new Float64Array(batch * cin * h * wd), dw = new Float64Array(cin * coutG * kh * kw), dbias = new Float64Array(cout);
  for (let b = 0; b < batch; b++) {
    for (let co = 0; co < cout; co++) for (let p = 0; p < ho * wo; p++) dbias[co] += dy[(b * cout + co) * ho * wo + p];
    for (let ci = 0; ci < cin; ci++) {
      const group = Math.floor(ci / cinG);
      for (let iy = 0; iy < h; iy++) {
        for (let ix = 0; ix < wd; ix++) {
          const xi = ((b * cin + ci) * h + iy) * wd + ix;
          for (let c = 0; c < coutG; c++) {
            const co = group * coutG + c;
            for (let ky = 0; ky < kh; ky++) {
              const oy = iy * g.stride[0] - g.padding[0] + ky * g.dilation[0];
              if (oy < 0 || oy >= ho) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ox = ix * g.stride[1] - g.padding[1] + kx * g.dilation[1];
                if (ox < 0 || ox >= wo) continue;
                const d = dy[((b * cout + co) * ho + oy) * wo + ox], wi = ((ci * coutG + c) * kh + ky) * kw + kx;
                dx[xi] += d * w[wi];
                dw[wi] += d * x[xi];
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw, dbias };
}
