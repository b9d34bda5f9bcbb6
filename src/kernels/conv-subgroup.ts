// A direct (implicit-GEMM) convolution for CPU-backed adapters with 8-wide subgroups (Mesa's llvmpipe),
// used for conv2d's forward and, with the taps read backwards, its stride-1 input gradient.
//
//   Y[b, r, o] = bias[r] + sum over c, ky, kx of W[r, c, ky, kx] * X[b, c, iy, ix],
//   iy = oy * stride + offset + ky * step (likewise ix), X zero outside the plane,
//
// with W read through strides (W index = r * rowStride + c * channelStride + ky * kw + kx), so that
// both uses take the weights as PyTorch stores them, without a permuted copy:
//   forward: r = output channel, c = input channel, offset = -padding, step = dilation;
//   dx:      r = input channel, c = output channel, X = dy, offset = +padding, step = -dilation, stride 1.
//
// Why: on llvmpipe every storage-buffer load is a per-lane loop (about 10 instructions per lane and value,
// see matmul-subgroup.ts), so what counts is loads per multiply-add. im2col + the subgroup matmul paid
// for a full patch matrix written and read back; here nothing is staged. A workgroup is one subgroup of
// 8 lanes sharing TM output rows; each lane owns 4 adjacent output pixels (one vec4 of Y). Per input
// channel and tap a lane loads its 4 input values (masked where padding reaches outside the plane) and
// one weight per 8 rows, which subgroupBroadcast hands to all lanes: (TM / 8 + 4) loads for TM vec4
// multiply-adds. The bounds test and offset of each pixel are computed per tap, outside the channel
// loop, and no integer division by a non-constant runs inside the loops (the grid is baked in).
//
// Requirements (subgroupConvSupported): output planes a multiple of 4 (a lane's quad never straddles
// two images or rows of Y), and 8-wide subgroups (checked by the caller).
import type { Pair } from './conv2d.js';
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import { SUBGROUP_LANES } from './matmul-subgroup.js';

/** X (batch, channels, height, width) and Y (batch, rows, outHeight, outWidth) with the convolution's window. */
export interface SubgroupConvGeometry {
  batch: number;
  /** Reduction channels of X, and X's plane. */
  channels: number;
  height: number;
  width: number;
  /** Output rows (channels of Y) and Y's plane. */
  rows: number;
  outHeight: number;
  outWidth: number;
  kernel: Pair;
  stride: Pair;
  offset: Pair;
  step: Pair;
}

export interface SubgroupConvParams extends SubgroupConvGeometry {
  /** W index = r * rowStride + c * channelStride + ky * kw + kx. */
  rowStride: number;
  channelStride: number;
  bias: boolean;
}

/**
 * Output rows per workgroup (a multiple of 8). 32 rows compiled 2-3x slower (4-6 s for a 3x3 kernel) and
 * was not measurably faster on the loaded 2-core machine (64 -> 64 at 256x256: best runs 325 ms at 16, 585 ms at 32).
 */
export const SUBGROUP_CONV_ROWS = 16;

export function subgroupConvSupported(p: Pick<SubgroupConvParams, 'outHeight' | 'outWidth'>): boolean {
  return (p.outHeight * p.outWidth) % 4 === 0;
}

/** A kernel plus its uniforms (the loop trip counts: channels, kh, kw), to pass to runtime.run after the buffers. */
export function subgroupConvKernel(p: SubgroupConvParams, rowTile: number = SUBGROUP_CONV_ROWS): KernelSpec & { uniforms: Uint32Array } {
  if (!subgroupConvSupported(p)) throw new Error('subgroupConvKernel: output planes must be a multiple of 4 pixels');
  const TM = Math.min(rowTile, Math.ceil(p.rows / SUBGROUP_LANES) * SUBGROUP_LANES);
  if (TM % SUBGROUP_LANES !== 0) throw new Error('subgroupConvKernel: rowTile must be a multiple of 8');
  const G = TM / SUBGROUP_LANES;
  const [kh, kw] = p.kernel;
  const H = p.height, W = p.width, P = p.outHeight * p.outWidth, quads = P / 4;
  const quadTiles = Math.ceil(quads / SUBGROUP_LANES), rowTiles = Math.ceil(p.rows / TM);
  const tiles = quadTiles * rowTiles * p.batch;
  const I = Array.from({ length: TM }, (_, i) => i), Gs = Array.from({ length: G }, (_, g) => g), J = [0, 1, 2, 3];
  // Whether some tap of some pixel can fall outside X (then loads are clamped to 0 and masked).
  const reach = (d: 0 | 1, size: number, out: number) => {
    const ends = [0, out - 1].flatMap((o) => [0, p.kernel[d] - 1].map((k) => o * p.stride[d] + p.offset[d] + k * p.step[d]));
    return Math.min(...ends) < 0 || Math.max(...ends) >= size;
  };
  const masked = reach(0, H, p.outHeight) || reach(1, W, p.outWidth);

  // Row windows: with stride 1 and unit step along x, a lane's quad at taps kx = 0..kw-1 reads the kw + 3
  // adjacent values from ix0 + lo on (lo = min(0, (kw - 1) * step)); loading them once per input row
  // serves every kx, (kw + 3) loads instead of 4 kw. Needs whole quads per output row (outWidth % 4 == 0).
  const windowed = p.stride[1] === 1 && Math.abs(p.step[1]) === 1 && p.outWidth % 4 === 0 && kw > 1;
  const lo = Math.min(0, (kw - 1) * p.step[1]), E = Array.from({ length: kw + 3 }, (_, e) => e);
  const KX = Array.from({ length: kw }, (_, kx) => kx);
  let loops: string;
  if (windowed) {
    // Window value e sits at column ix0 + lo + e; tap kx of pixel j reads value j + kx * step - lo.
    const colSetup = E.map((e) => `let cx${e} = ix0 + ${lo + e};${masked ? `
  let cm${e} = u32(cx${e}) < ${W}u;` : ''}`);
    const rowSetup = masked
      ? `let yy = iy0 + ky * ${p.step[0]};
    let rowOk = u32(yy) < ${H}u;
    let rowBase = xBase + u32(select(0, yy * ${W}, rowOk));
    ${E.map((e) => `let ok${e} = rowOk && cm${e};
    var t${e} = select(0u, rowBase + u32(cx${e}), ok${e});
    let m${e} = select(0.0, 1.0, ok${e});`).join('\n    ')}`
      : `let rowBase = xBase + u32((iy0 + ky * ${p.step[0]}) * ${W});
    ${E.map((e) => `var t${e} = rowBase + u32(cx${e});`).join('\n    ')}`;
    const body = KX.map((kx) => `{
          ${Gs.map((g) => `let w${g} = Wt[wr${g} + wc + ${kx}u];`).join('\n          ')}
          let xv = vec4<f32>(${J.map((j) => `v${j + kx * p.step[1] - lo}`).join(', ')});
          ${I.map((i) => `acc${i} += subgroupBroadcast(w${Math.floor(i / 8)}, ${i % 8}u) * xv;`).join('\n          ')}
        }`);
    loops = `${colSetup.join('\n  ')}
  for (var ky = 0; ky < i32(loops.y); ky++) {
    ${rowSetup}
    var wc = u32(ky * ${kw});
    for (var c = 0u; c < loops.x; c++) {
      ${E.map((e) => `let v${e} = ${masked ? `m${e} * ` : ''}X[t${e}];`).join('\n      ')}
      ${body.join('\n      ')}
      ${E.map((e) => `t${e} += ${H * W}u;`).join(' ')}
      wc += ${p.channelStride}u;
    }
  }`;
  } else {
    const tapSetup = J.map((j) => masked
      ? `let yy${j} = iy${j} + ky * ${p.step[0]};
      let xx${j} = ix${j} + kx * ${p.step[1]};
      let ok${j} = u32(yy${j}) < ${H}u && u32(xx${j}) < ${W}u;
      var t${j} = select(0u, xBase + u32(yy${j} * ${W} + xx${j}), ok${j});
      let m${j} = select(0.0, 1.0, ok${j});`
      : `var t${j} = xBase + u32((iy${j} + ky * ${p.step[0]}) * ${W} + ix${j} + kx * ${p.step[1]});`);
    loops = `for (var ky = 0; ky < i32(loops.y); ky++) {
    for (var kx = 0; kx < i32(loops.z); kx++) {
      ${tapSetup.join('\n      ')}
      var wc = u32(ky * ${kw} + kx);
      for (var c = 0u; c < loops.x; c++) {
        let xv = vec4<f32>(${J.map((j) => `${masked ? `m${j} * ` : ''}X[t${j}]`).join(', ')});
        ${Gs.map((g) => `let w${g} = Wt[wr${g} + wc];`).join('\n        ')}
        ${I.map((i) => `acc${i} += subgroupBroadcast(w${Math.floor(i / 8)}, ${i % 8}u) * xv;`).join('\n        ')}
        ${J.map((j) => `t${j} += ${H * W}u;`).join(' ')}
        wc += ${p.channelStride}u;
      }
    }
  }`;
  }
  const store = I.map((i) => `if (r0 + ${i}u < ${p.rows}u) { Y[(yBase + (r0 + ${i}u)) * ${quads}u + q] = acc${i}${p.bias ? ` + vec4<f32>(Bias[r0 + ${i}u])` : ''}; }`);

  const wgsl = `enable subgroups;
${bindingDecls([
    { name: 'X', kind: 'read', type: 'array<f32>' },
    { name: 'Wt', kind: 'read', type: 'array<f32>' },
    ...(p.bias ? [{ name: 'Bias', kind: 'read' as const, type: 'array<f32>' }] : []),
    { name: 'Y', kind: 'read_write', type: 'array<vec4<f32>>' },
    { name: 'loops', kind: 'uniform', type: 'vec4<u32>' },
  ])}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${SUBGROUP_LANES})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = linearWorkgroup(wid, nwg);
  if (tile >= ${tiles}u) { return; }
  // Pixel tiles vary fastest: neighbouring workgroups share their weights.
  let quadTile = tile % ${quadTiles}u;
  let r0 = ((tile / ${quadTiles}u) % ${rowTiles}u) * ${TM}u;
  let b = tile / ${quadTiles * rowTiles}u;
  let q = min(quadTile * ${SUBGROUP_LANES}u + lid, ${quads - 1}u);
  let xBase = b * ${p.channels * H * W}u;
  let yBase = b * ${p.rows}u;
  ${J.map((j) => `let pix${j} = i32(q * 4u + ${j}u);
  let iy${j} = (pix${j} / ${p.outWidth}) * ${p.stride[0]} + ${p.offset[0]};
  let ix${j} = (pix${j} % ${p.outWidth}) * ${p.stride[1]} + ${p.offset[1]};`).join('\n  ')}
  // This lane's weight row in each group of 8 (clamped: loads stay in bounds, its rows are never stored).
  ${Gs.map((g) => `let wr${g} = min(r0 + ${g * 8}u + lid, ${p.rows - 1}u) * ${p.rowStride}u;`).join('\n  ')}
  ${I.map((i) => `var acc${i} = vec4<f32>(0.0);`).join(' ')}
  ${loops}
  if (quadTile * ${SUBGROUP_LANES}u + lid >= ${quads}u) { return; }
  ${store.join('\n  ')}
}`;
  return {
    name: 'conv2d_subgroup', wgsl, workgroupSize: [SUBGROUP_LANES, 1, 1], dispatch: dispatchLinear(tiles),
    uniforms: new Uint32Array([p.channels, kh, kw, 0]),
  };
}

/** Plain reference of subgroupConvKernel: the sum above in float64, W read through its strides. */
export function subgroupConvReference(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, p: SubgroupConvParams): Float32Array {
  const [kh, kw] = p.kernel, P = p.outHeight * p.outWidth;
  const y = new Float32Array(p.batch * p.rows * P);
  for (let b = 0; b < p.batch; b++) {
    for (let r = 0; r < p.rows; r++) {
      for (let oy = 0; oy < p.outHeight; oy++) {
        for (let ox = 0; ox < p.outWidth; ox++) {
          let acc = bias ? bias[r] : 0;
          for (let c = 0; c < p.channels; c++) {
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * p.stride[0] + p.offset[0] + ky * p.step[0];
              if (iy < 0 || iy >= p.height) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * p.stride[1] + p.offset[1] + kx * p.step[1];
                if (ix < 0 || ix >= p.width) continue;
                acc += x[((b * p.channels + c) * p.height + iy) * p.width + ix] * w[r * p.rowStride + c * p.channelStride + ky * kw + kx];
              }
            }
          }
          y[(b * p.rows + r) * P + oy * p.outWidth + ox] = acc;
        }
      }
    }
  }
  return y;
}
