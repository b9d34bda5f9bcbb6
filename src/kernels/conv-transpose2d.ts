// Transposed 2-D convolution (PyTorch's F.conv_transpose2d): every input pixel scatters its kernel-weighted
// value into the output, out[oy] += x[iy] w[ky] where oy = iy * stride - padding + ky * dilation. The GPU
// kernels gather instead (each output sums what reaches it), on the blocked-GEMM scheme of conv2d.ts.
import type { DType } from '../tensor/dtype.js';
import { blockedConvKernel, type ConvKernelSpec, type ConvTile, type Pair } from './conv2d.js';

export interface ConvTranspose2dGeometry {
  /** (N, Cin, H, W) */
  xShape: readonly number[];
  /** (Cin, Cout / groups, kh, kw) */
  wShape: readonly number[];
  stride: Pair;
  padding: Pair;
  outputPadding: Pair;
  dilation: Pair;
  groups: number;
}

/** (in - 1) stride - 2 padding + dilation (k - 1) + outputPadding + 1 (may be <= 0 for bad input). */
export function convTransposeOutputLength(input: number, kernel: number, stride: number, padding: number, outputPadding: number, dilation: number): number {
  return (input - 1) * stride - 2 * padding + dilation * (kernel - 1) + outputPadding + 1;
}

/** (N, Cout, Ho, Wo) */
export function convTranspose2dOutputShape(g: ConvTranspose2dGeometry): number[] {
  const [n, , h, w] = g.xShape;
  const [, coutG, kh, kw] = g.wShape;
  return [
    n, coutG * g.groups,
    convTransposeOutputLength(h, kh, g.stride[0], g.padding[0], g.outputPadding[0], g.dilation[0]),
    convTransposeOutputLength(w, kw, g.stride[1], g.padding[1], g.outputPadding[1], g.dilation[1]),
  ];
}

/**
 * Kernel equal to stride, no padding, no dilation (SAM's 2x2 stride-2 upscaling): the kernel windows
 * tile the output without overlap, so each output pixel comes from exactly one input pixel and one tap.
 */
export function isNonOverlappingTranspose(g: ConvTranspose2dGeometry): boolean {
  const [, , kh, kw] = g.wShape;
  return kh === g.stride[0] && kw === g.stride[1] && g.padding.every((p) => p === 0) &&
    g.outputPadding.every((p) => p === 0) && g.dilation.every((d) => d === 1);
}

export function convTranspose2dKernel(g: ConvTranspose2dGeometry & { dtype: DType; hasBias: boolean }, tile?: ConvTile): ConvKernelSpec {
  return isNonOverlappingTranspose(g) ? nonOverlappingKernel(g, tile) : gatherKernel(g, tile);
}

/**
 * The non-overlapping case is a matmul per group: rows r = (co, ky, kx) are the weight's trailing axes
 * read as one (Cin, Cout/groups * kh * kw) matrix, columns are input pixels, the reduction runs over
 * input channels; each result lands at output pixel (iy * kh + ky, ix * kw + kx).
 */
function nonOverlappingKernel(g: ConvTranspose2dGeometry & { dtype: DType; hasBias: boolean }, tile?: ConvTile): ConvKernelSpec {
  const [batch, cin, h, w] = g.xShape;
  const [, coutG, kh, kw] = g.wShape;
  const [, cout, ho, wo] = convTranspose2dOutputShape(g);
  const cinG = cin / g.groups, taps = kh * kw;
  return blockedConvKernel({
    name: 'conv_transpose2d_nonoverlapping', dtype: g.dtype, hasBias: g.hasBias, groups: g.groups,
    rows: coutG * taps, columns: batch * h * w, inputChannels: cinG,
    xChannelStride: h * w, wChannelStride: coutG * taps, taps: [1, 1],
    rowSetup: (i) => `let co${i} = group * ${coutG}u + r${i} / ${taps}u;
  let ky${i} = (r${i} % ${taps}u) / ${kw}u;
  let kx${i} = r${i} % ${kw}u;
  let w${i} = group * ${cinG * coutG * taps}u + r${i};`,
    columnSetup: (j) => `let b${j} = nc${j} / ${h * w}u;
  let pix${j} = nc${j} % ${h * w}u;
  let iy${j} = pix${j} / ${w}u;
  let ix${j} = pix${j} % ${w}u;
  let xo${j} = (b${j} * ${cin}u + group * ${cinG}u) * ${h * w}u + pix${j};`,
    tapInput: (j) => ({ index: `xo${j}`, inBounds: null }),
    wTapOffset: () => '0u',
    outIndex: (i, j) => `(b${j} * ${cout}u + co${i}) * ${ho * wo}u + (iy${j} * ${kh}u + ky${i}) * ${wo}u + ix${j} * ${kw}u + kx${i}`,
    biasIndex: (i) => `co${i}`,
  }, tile);
}

/**
 * Any geometry: output pixel oy receives tap ky from input row iy = (oy + padding - ky * dilation) / stride
 * when that division is exact and in range; the same test in x. Taps that miss are masked loads.
 */
function gatherKernel(g: ConvTranspose2dGeometry & { dtype: DType; hasBias: boolean }, tile?: ConvTile): ConvKernelSpec {
  const [batch, cin, h, w] = g.xShape;
  const [, coutG, kh, kw] = g.wShape;
  const [, cout, ho, wo] = convTranspose2dOutputShape(g);
  const [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const cinG = cin / g.groups, taps = kh * kw;
  // Source row/column of a tap as i32 (negative when the tap reaches before the input).
  const sy = (j: number, ky: string) => `(ty${j} - i32(${ky} * ${dh}u))`;
  const sx = (j: number, kx: string) => `(tx${j} - i32(${kx} * ${dw}u))`;
  const hits = (s: string, stride: number, extent: number) =>
    `${s} >= 0 && ${stride > 1 ? `u32(${s}) % ${stride}u == 0u && ` : ''}u32(${s}) / ${stride}u < ${extent}u`;
  return blockedConvKernel({
    name: 'conv_transpose2d', dtype: g.dtype, hasBias: g.hasBias, groups: g.groups,
    rows: coutG, columns: batch * ho * wo, inputChannels: cinG,
    xChannelStride: h * w, wChannelStride: coutG * taps, taps: [kh, kw],
    rowSetup: (i) => `let co${i} = group * ${coutG}u + r${i};\n  let w${i} = group * ${cinG * coutG * taps}u + r${i} * ${taps}u;`,
    columnSetup: (j) => `let b${j} = nc${j} / ${ho * wo}u;
  let pix${j} = nc${j} % ${ho * wo}u;
  let ty${j} = i32(pix${j} / ${wo}u) + ${ph};
  let tx${j} = i32(pix${j} % ${wo}u) + ${pw};
  let xb${j} = (b${j} * ${cin}u + group * ${cinG}u) * ${h * w}u;`,
    tapInput: (j, ky, kx) => ({
      index: `xb${j} + (u32(${sy(j, ky)}) / ${sh}u) * ${w}u + u32(${sx(j, kx)}) / ${sw}u`,
      inBounds: `${hits(sy(j, ky), sh, h)} && ${hits(sx(j, kx), sw, w)}`,
    }),
    wTapOffset: (ky, kx) => `${ky} * ${kw}u + ${kx}`,
    outIndex: (i, j) => `(b${j} * ${cout}u + co${i}) * ${ho * wo}u + pix${j}`,
    biasIndex: (i) => `co${i}`,
  }, tile);
}

// ---- plain TypeScript reference -------------------------------------------------------------

/** F.conv_transpose2d as the scatter it is defined by, float64 accumulation; `bias` may be null. */
export function convTranspose2dReference(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, g: ConvTranspose2dGeometry): Float32Array {
  const [batch, cin, h, wd] = g.xShape;
  const [, coutG, kh, kw] = g.wShape;
  const [, cout, ho, wo] = convTranspose2dOutputShape(g);
  const cinG = cin / g.groups;
  const acc = new Float64Array(batch * cout * ho * wo);
  for (let b = 0; b < batch; b++) {
    for (let ci = 0; ci < cin; ci++) {
      const group = Math.floor(ci / cinG);
      for (let iy = 0; iy < h; iy++) {
        for (let ix = 0; ix < wd; ix++) {
          const v = x[((b * cin + ci) * h + iy) * wd + ix];
          for (let c = 0; c < coutG; c++) {
            const co = group * coutG + c;
            for (let ky = 0; ky < kh; ky++) {
              const oy = iy * g.stride[0] - g.padding[0] + ky * g.dilation[0];
              if (oy < 0 || oy >= ho) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ox = ix * g.stride[1] - g.padding[1] + kx * g.dilation[1];
                if (ox < 0 || ox >= wo) continue;
                acc[((b * cout + co) * ho + oy) * wo + ox] += v * w[((ci * coutG + c) * kh + ky) * kw + kx];
              }
            }
          }
        }
      }
    }
  }
  if (bias) for (let i = 0; i < acc.length; i++) acc[i] += bias[Math.floor(i / (ho * wo)) % cout];
  return Float32Array.from(acc);
}
