// 2-D convolution (PyTorch's F.conv2d) as an implicit GEMM: for each group, Y[m, n] = sum_k W[m, k] X[k, n]
// with m an output channel, n = (b, oy, ox) an output pixel and k = (ci, ky, kx) an input channel and tap;
// X[k, n] is read straight from the NCHW input (no im2col buffer). Shapes are baked into the WGSL.
// Depthwise convolution has a direct kernel of its own; conv-transpose2d.ts reuses the blocked GEMM.
import type { DType } from '../tensor/dtype.js';
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';

export type Pair = [number, number];

export interface Conv2dGeometry {
  /** (N, Cin, H, W) */
  xShape: readonly number[];
  /** (Cout, Cin / groups, kh, kw) */
  wShape: readonly number[];
  stride: Pair;
  padding: Pair;
  dilation: Pair;
  groups: number;
}

/** PyTorch's output length: floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1 (may be <= 0 for bad input). */
export function convOutputLength(input: number, kernel: number, stride: number, padding: number, dilation: number): number {
  return Math.floor((input + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** (N, Cout, Ho, Wo) */
export function conv2dOutputShape(g: Conv2dGeometry): number[] {
  const [n, , h, w] = g.xShape;
  const [cout, , kh, kw] = g.wShape;
  return [n, cout, convOutputLength(h, kh, g.stride[0], g.padding[0], g.dilation[0]), convOutputLength(w, kw, g.stride[1], g.padding[1], g.dilation[1])];
}

function storageHeader(dtype: DType): string {
  return dtype === 'f16' ? 'enable f16;\n' : '';
}

/**
 * A convolution seen as a blocked GEMM: Y[row, column] = bias + sum over input channels ci and taps
 * (ky, kx) of W[row, ci, tap] * X[ci, tap, column], per group. Each workgroup owns `rowTile` rows of one
 * group and `lanes * columnTile` columns; each invocation accumulates a rowTile x columnTile register tile.
 *
 * Why no workgroup memory: on llvmpipe an invocation is a SIMD lane and a workgroup runs on one CPU
 * thread, so workgroup memory is only more cached memory plus barrier overhead (measured slower). Instead
 * the row block is shared by the whole workgroup, so every weight read has a uniform address (one scalar
 * load, broadcast to the lanes) and each input value a lane loads feeds rowTile FMAs from registers.
 * Per tap, a column's input offset and bounds mask are computed once and reused by every input channel.
 * The same scheme on a discrete GPU is a direct convolution with weights broadcast from cache.
 * Measured against a classic 64x64x16 workgroup-memory tiling on lavapipe: 3-4x faster.
 *
 * The loop trip counts (input channels, kernel height and width) are uniforms rather than constants:
 * given constants, the shader compiler unrolls the loops, and llvmpipe then took 15 s to compile the
 * 3x3 kernel and seconds for small ones (well under a second as loops).
 */
export interface BlockedConvPlan {
  name: string;
  dtype: DType;
  hasBias: boolean;
  groups: number;
  /** Rows per group: output channels (or output channel x tap); a workgroup's rows are uniform. */
  rows: number;
  /** Columns: output pixels over the batch (or input pixels for the transposed fast path). */
  columns: number;
  /** Input channels per group: the reduction's inner loop. */
  inputChannels: number;
  /** Elements between consecutive input channels in X and in W. */
  xChannelStride: number;
  wChannelStride: number;
  /** Extents of the tap loops; [1, 1] for none. */
  taps: Pair;
  /** WGSL declaring what column j needs, from its clamped column `nc${j}` and `group`. */
  columnSetup(j: number): string;
  /** WGSL declaring `w${i}` (W index at input channel 0, tap 0) for row i, from its clamped in-group row `r${i}` and `group`. */
  rowSetup(i: number): string;
  /** X index of column j at this tap for the group's first input channel, and when it is in bounds (null: always). */
  tapInput(j: number, ky: string, kx: string): { index: string; inBounds: string | null };
  /** W offset of a tap from `w${i}`. */
  wTapOffset(ky: string, kx: string): string;
  /** Y index of row i, column j, and the bias index of row i. */
  outIndex(i: number, j: number): string;
  biasIndex(i: number): string;
}

/** Register tile per invocation (rowTile x columnTile) and invocations per workgroup. */
export interface ConvTile {
  rowTile: number;
  columnTile: number;
  lanes: number;
}

/**
 * 8 x 8 per invocation, fewer columns when the problem is small. Measured on lavapipe (2 cores, 3x3
 * 256->256 and 1x1 768->256 at 64x64): 8x8 beat 8x4, 4x8, 4x4 and 16x4 by 10-60%; 64 or 256 lanes
 * made no difference. Bigger tiles cost shader compile time (about 1-3 s for 8x8 on llvmpipe).
 */
function tileFor(plan: BlockedConvPlan): ConvTile {
  const lanes = 256;
  return { rowTile: Math.min(8, plan.rows), columnTile: Math.max(1, Math.min(8, Math.ceil(plan.columns / lanes))), lanes };
}

/** A conv kernel plus its uniforms (the loop trip counts), to pass to runtime.run after the buffers. */
export type ConvKernelSpec = KernelSpec & { uniforms: Uint32Array };

export function blockedConvKernel(plan: BlockedConvPlan, tile?: ConvTile): ConvKernelSpec {
  const { rowTile: TM, columnTile: TN, lanes } = tile ?? tileFor(plan);
  const columnTiles = Math.ceil(plan.columns / (lanes * TN));
  const rowTiles = Math.ceil(plan.rows / TM);
  const T = plan.dtype;
  const I = Array.from({ length: TM }, (_, i) => i), J = Array.from({ length: TN }, (_, j) => j);

  const tap = (ky: string, kx: string) => {
    const setup = J.map((j) => {
      const { index, inBounds } = plan.tapInput(j, ky, kx);
      return inBounds === null
        ? `let t${j} = ${index};`
        : `let ok${j} = ${inBounds};
    let t${j} = select(0u, u32(${index}), ok${j});
    let m${j} = select(0.0, 1.0, ok${j});`;
    }).join('\n    ');
    const masked = J.map((j) => plan.tapInput(j, ky, kx).inBounds !== null);
    const loads = J.map((j) => `let x${j} = ${masked[j] ? `m${j} * ` : ''}f32(X[t${j} + ci * ${plan.xChannelStride}u]);`).join('\n      ');
    const wOffset = `ci * ${plan.wChannelStride}u + ${plan.wTapOffset(ky, kx)}`;
    const fmas = I.map((i) => `{ let wv = f32(Wt[w${i} + ${wOffset}]); ${J.map((j) => `a${i}_${j} += wv * x${j};`).join(' ')} }`).join('\n      ');
    return `{
    ${setup}
    for (var ci = 0u; ci < loops.x; ci++) {
      ${loads}
      ${fmas}
    }
  }`;
  };

  const wgsl = `${storageHeader(T)}${bindingDecls([
    { name: 'X', kind: 'read', type: `array<${T}>` },
    { name: 'Wt', kind: 'read', type: `array<${T}>` },
    ...(plan.hasBias ? [{ name: 'B', kind: 'read' as const, type: `array<${T}>` }] : []),
    { name: 'Y', kind: 'read_write', type: `array<${T}>` },
    { name: 'loops', kind: 'uniform', type: 'vec4<u32>' },
  ])}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${lanes})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = linearWorkgroup(wid, nwg);
  if (tile >= ${columnTiles * rowTiles * plan.groups}u) { return; }
  let columnTile = tile % ${columnTiles}u;
  let rowTile = (tile / ${columnTiles}u) % ${rowTiles}u;
  let group = tile / ${columnTiles * rowTiles}u;
  // Clamped rows and columns keep every load in bounds; the stores are masked instead.
  ${I.map((i) => `let r${i} = min(rowTile * ${TM}u + ${i}u, ${plan.rows - 1}u);\n  ${plan.rowSetup(i)}`).join('\n  ')}
  ${J.map((j) => `let n${j} = columnTile * ${lanes * TN}u + ${j * lanes}u + lid;
  let nc${j} = min(n${j}, ${plan.columns - 1}u);
  ${plan.columnSetup(j)}`).join('\n  ')}
  ${I.flatMap((i) => J.map((j) => `var a${i}_${j} = 0.0;`)).join(' ')}
  ${plan.taps[0] * plan.taps[1] === 1 ? tap('0u', '0u') : `for (var ky = 0u; ky < loops.y; ky++) {
  for (var kx = 0u; kx < loops.z; kx++) {
  ${tap('ky', 'kx')}
  }
  }`}
  ${I.map((i) => `let bias${i} = ${plan.hasBias ? `f32(B[${plan.biasIndex(i)}])` : '0.0'};`).join('\n  ')}
  ${J.map((j) => `if (n${j} < ${plan.columns}u) {
    ${I.map((i) => `if (rowTile * ${TM}u + ${i}u < ${plan.rows}u) { Y[${plan.outIndex(i, j)}] = ${T}(a${i}_${j} + bias${i}); }`).join('\n    ')}
  }`).join('\n  ')}
}`;
  return {
    name: plan.name, wgsl, workgroupSize: [lanes, 1, 1], dispatch: dispatchLinear(columnTiles * rowTiles * plan.groups),
    uniforms: new Uint32Array([plan.inputChannels, plan.taps[0], plan.taps[1], 0]),
  };
}

/** conv2d: rows are the group's output channels, columns the output pixels (b, oy, ox), taps (ky, kx). */
export function conv2dKernel(g: Conv2dGeometry & { dtype: DType; hasBias: boolean }, tile?: ConvTile): ConvKernelSpec {
  if (g.wShape[1] === 1) return depthwiseConv2dKernel(g, tile);
  const [batch, cin, h, w] = g.xShape;
  const [cout, cinG, kh, kw] = g.wShape;
  const [, , ho, wo] = conv2dOutputShape(g);
  const coutG = cout / g.groups;
  const px = pixelSetup(g);
  return blockedConvKernel({
    name: 'conv2d', dtype: g.dtype, hasBias: g.hasBias, groups: g.groups,
    rows: coutG, columns: batch * ho * wo, inputChannels: cinG,
    xChannelStride: h * w, wChannelStride: kh * kw, taps: [kh, kw],
    rowSetup: (i) => `let co${i} = group * ${coutG}u + r${i};\n  let w${i} = co${i} * ${cinG * kh * kw}u;`,
    columnSetup: (j) => px.setup(j, `(b${j} * ${cin}u + group * ${cinG}u) * ${h * w}u`),
    tapInput: (j, ky, kx) => px.tap(j, ky, kx),
    wTapOffset: (ky, kx) => `${ky} * ${kw}u + ${kx}`,
    outIndex: (i, j) => `(b${j} * ${cout}u + co${i}) * ${ho * wo}u + pix${j}`,
    biasIndex: (i) => `co${i}`,
  }, tile);
}

/**
 * Output pixel n = (b, oy, ox) of a conv2d: declares b, pix (oy * Wo + ox), the top-left input row and
 * column iy, ix and their offset xo from `base`; tap() gives a tap's input index and bounds test (none
 * without padding, where every tap of every output pixel lands inside the input).
 */
function pixelSetup(g: Conv2dGeometry) {
  const [, , h, w] = g.xShape;
  const [, , ho, wo] = conv2dOutputShape(g);
  const [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const padded = ph > 0 || pw > 0;
  // Signed offsets only where padding can make them negative.
  const S = padded ? 'i32' : 'u32';
  return {
    setup: (j: number, base: string) => `let b${j} = nc${j} / ${ho * wo}u;
  let pix${j} = nc${j} % ${ho * wo}u;
  let iy${j} = ${S}((pix${j} / ${wo}u) * ${sh}u) - ${S}(${ph});
  let ix${j} = ${S}((pix${j} % ${wo}u) * ${sw}u) - ${S}(${pw});
  let xo${j} = ${S}(${base}) + iy${j} * ${S}(${w}) + ix${j};`,
    tap: (j: number, ky: string, kx: string) => ({
      index: padded ? `u32(xo${j} + i32(${ky} * ${dh * w}u + ${kx} * ${dw}u))` : `xo${j} + ${ky} * ${dh * w}u + ${kx} * ${dw}u`,
      inBounds: padded ? `u32(iy${j} + i32(${ky} * ${dh}u)) < ${h}u && u32(ix${j} + i32(${kx} * ${dw}u)) < ${w}u` : null,
    }),
  };
}

/**
 * Depthwise convolution (one input channel per group, any channel multiplier). The GEMM view degenerates
 * (one row per group, so a tap's bounds test would serve a single FMA); instead a workgroup takes
 * `rowTile` output channels across groups and each lane `columnTile` pixels, so a tap's bounds test and
 * offset serve rowTile channels, each with its own input plane and a uniform weight.
 */
export function depthwiseConv2dKernel(g: Conv2dGeometry & { dtype: DType; hasBias: boolean }, tile?: ConvTile): ConvKernelSpec {
  const [batch, cin, h, w] = g.xShape;
  const [cout, , kh, kw] = g.wShape;
  const [, , ho, wo] = conv2dOutputShape(g);
  const coutG = cout / g.groups;
  const columns = batch * ho * wo;
  // 4 channels x 8 pixels measured best (3x3 over 256 channels at 256x256 on lavapipe: 1.2 GFLOP/s against
  // 0.6 for the blocked-GEMM plan with one row per group; 8x4, 8x2 and 2x8 were 5-40% slower).
  const { rowTile: TM, columnTile: TN, lanes } = tile ?? { rowTile: Math.min(4, cout), columnTile: Math.max(1, Math.min(8, Math.ceil(columns / 256))), lanes: 256 };
  const columnTiles = Math.ceil(columns / (lanes * TN)), rowTiles = Math.ceil(cout / TM);
  const T = g.dtype;
  const I = Array.from({ length: TM }, (_, i) => i), J = Array.from({ length: TN }, (_, j) => j);
  const px = pixelSetup(g);
  const taps = J.map((j) => px.tap(j, 'ky', 'kx'));
  const wgsl = `${storageHeader(T)}${bindingDecls([
    { name: 'X', kind: 'read', type: `array<${T}>` },
    { name: 'Wt', kind: 'read', type: `array<${T}>` },
    ...(g.hasBias ? [{ name: 'B', kind: 'read' as const, type: `array<${T}>` }] : []),
    { name: 'Y', kind: 'read_write', type: `array<${T}>` },
    { name: 'loops', kind: 'uniform', type: 'vec4<u32>' },
  ])}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${lanes})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = linearWorkgroup(wid, nwg);
  if (tile >= ${columnTiles * rowTiles}u) { return; }
  let columnTile = tile % ${columnTiles}u;
  let rowTile = tile / ${columnTiles}u;
  // Clamped channels and pixels keep every load in bounds; the stores are masked instead.
  ${I.map((i) => `let co${i} = min(rowTile * ${TM}u + ${i}u, ${cout - 1}u);
  let plane${i} = (co${i} / ${coutG}u) * ${h * w}u;
  let w${i} = co${i} * ${kh * kw}u;`).join('\n  ')}
  ${J.map((j) => `let n${j} = columnTile * ${lanes * TN}u + ${j * lanes}u + lid;
  let nc${j} = min(n${j}, ${columns - 1}u);
  ${px.setup(j, `b${j} * ${cin * h * w}u`)}`).join('\n  ')}
  ${I.flatMap((i) => J.map((j) => `var a${i}_${j} = 0.0;`)).join(' ')}
  for (var ky = 0u; ky < loops.y; ky++) {
    for (var kx = 0u; kx < loops.z; kx++) {
      ${J.map((j) => taps[j].inBounds === null ? `let t${j} = ${taps[j].index};` : `let ok${j} = ${taps[j].inBounds};
      let t${j} = select(0u, ${taps[j].index}, ok${j});
      let m${j} = select(0.0, 1.0, ok${j});`).join('\n      ')}
      ${I.map((i) => `{ let wv = f32(Wt[w${i} + ky * ${kw}u + kx]); ${J.map((j) => `a${i}_${j} += wv * ${taps[j].inBounds === null ? '' : `m${j} * `}f32(X[plane${i} + t${j}]);`).join(' ')} }`).join('\n      ')}
    }
  }
  ${I.map((i) => `let bias${i} = ${g.hasBias ? `f32(B[co${i}])` : '0.0'};`).join('\n  ')}
  ${J.map((j) => `if (n${j} < ${columns}u) {
    ${I.map((i) => `if (rowTile * ${TM}u + ${i}u < ${cout}u) { Y[(b${j} * ${cout}u + co${i}) * ${ho * wo}u + pix${j}] = ${T}(a${i}_${j} + bias${i}); }`).join('\n    ')}
  }`).join('\n  ')}
}`;
  return {
    name: 'conv2d_depthwise', wgsl, workgroupSize: [lanes, 1, 1], dispatch: dispatchLinear(columnTiles * rowTiles),
    uniforms: new Uint32Array([1, kh, kw, 0]),
  };
}

// ---- plain TypeScript reference -------------------------------------------------------------

/** F.conv2d in nested loops with float64 accumulation; `bias` may be null. Output (N, Cout, Ho, Wo). */
export function conv2dReference(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, g: Conv2dGeometry): Float32Array {
  const [batch, cin, h, wd] = g.xShape;
  const [cout, cinG, kh, kw] = g.wShape;
  const [, , ho, wo] = conv2dOutputShape(g);
  const coutG = cout / g.groups;
  const y = new Float32Array(batch * cout * ho * wo);
  for (let b = 0; b < batch; b++) {
    for (let co = 0; co < cout; co++) {
      const group = Math.floor(co / coutG);
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          let acc = bias ? bias[co] : 0;
          for (let c = 0; c < cinG; c++) {
            const ci = group * cinG + c;
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * g.stride[0] - g.padding[0] + ky * g.dilation[0];
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * g.stride[1] - g.padding[1] + kx * g.dilation[1];
                if (ix < 0 || ix >= wd) continue;
                acc += x[((b * cin + ci) * h + iy) * wd + ix] * w[((co * cinG + c) * kh + ky) * kw + kx];
              }
            }
          }
          y[((b * cout + co) * ho + oy) * wo + ox] = acc;
        }
      }
    }
  }
  return y;
}
