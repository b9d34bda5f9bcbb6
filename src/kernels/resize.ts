// Bilinear resize of NCHW tensors, as PyTorch's F.interpolate(x, size=(outH, outW), mode='bilinear',
// antialias=False) computes it on the CPU: the source coordinate of each output pixel, its clamping at
// the borders, and the weights all follow aten/src/ATen/native/UpSample.h (area_pixel_compute_scale,
// area_pixel_compute_source_index, guard_index_and_lambda, compute_source_index_and_lambda) in f32.
//
// The source coordinates come from the host, in a uniform: PyTorch's CPU build computes
// scale * (o + 0.5) - 0.5 with a fused multiply-add, and WGSL's fma() is allowed to round twice (it
// does on lavapipe). Rounding the product separately moves a coordinate by an ulp, which is 6e-5 at
// 1024 and shows up as 1e-6 errors on small goldens. The table is outH + outW floats, made per call.
import type { DType } from '../tensor/dtype.js';
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';

export interface ResizeParams {
  /** Input shape (N, C, H, W). */
  inShape: readonly [number, number, number, number];
  outH: number;
  outW: number;
  dtype: DType;
}

/**
 * The source-coordinate scale PyTorch uses when sizes (not scale factors) are given, rounded to f32
 * as PyTorch computes it in float for float inputs. align_corners maps the corner pixels onto each
 * other; otherwise pixel centres are scaled by in/out.
 */
export function bilinearScale(inSize: number, outSize: number, alignCorners: boolean): number {
  if (alignCorners) return outSize > 1 ? Math.fround((inSize - 1) / (outSize - 1)) : 0;
  return Math.fround(inSize / outSize);
}

/**
 * The source coordinate of every output index along one axis, in f32 as PyTorch computes it.
 * Without align_corners a negative coordinate (the first half pixel when upsampling) is clamped to 0;
 * the far border is clamped later, by the index guard.
 */
export function bilinearSourceCoordinates(inSize: number, outSize: number, alignCorners: boolean): Float32Array {
  const f = Math.fround;
  const scale = bilinearScale(inSize, outSize, alignCorners);
  const src = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    // An f32 product is exact in double, so this rounds once, like the fma (double rounding aside).
    src[o] = alignCorners ? f(scale * o) : Math.max(f(scale * (o + 0.5) - 0.5), 0);
  }
  return src;
}

/** The uniform resizeBilinearKernel reads: outH row coordinates, then outW column coordinates. */
export function resizeUniforms(inShape: readonly number[], outH: number, outW: number, alignCorners: boolean): Float32Array {
  const table = new Float32Array(resizeTableVectors(outH, outW) * 4);
  table.set(bilinearSourceCoordinates(inShape[2], outH, alignCorners), 0);
  table.set(bilinearSourceCoordinates(inShape[3], outW, alignCorners), outH);
  return table;
}

/** Uniform arrays have a 16-byte stride, so the table is packed four floats to a vec4. */
export function resizeTableVectors(outH: number, outW: number): number {
  return Math.ceil((outH + outW) / 4);
}

const WORKGROUP = 256;

/** One invocation per output element; each reads its four neighbours straight from X. */
export function resizeBilinearKernel(p: ResizeParams): KernelSpec {
  const [N, C, H, W] = p.inShape;
  const { outH, outW } = p;
  const size = N * C * outH * outW;
  const T = p.dtype;
  // An axis that keeps its size reads each pixel with weight 1 and no neighbour (PyTorch's
  // "scale_factor = 1, simply copy"). With both axes kept SRC would go unread, which layout 'auto'
  // rejects: the op copies the buffer instead.
  if (H === outH && W === outW) throw new Error('resizeBilinearKernel: same size on both axes is a plain copy');
  const taps = (o: string, tableIndex: string, inSize: number, outSize: number) =>
    inSize === outSize ? `Taps(${o}, ${o}, 1.0, 0.0)` : `taps(source(${tableIndex}), ${inSize}u)`;
  const wgsl = `${T === 'f16' ? 'enable f16;\n' : ''}${bindingDecls([
    { name: 'X', kind: 'read', type: `array<${T}>` },
    { name: 'Y', kind: 'read_write', type: `array<${T}>` },
    { name: 'SRC', kind: 'uniform', type: `array<vec4<f32>, ${resizeTableVectors(outH, outW)}>` },
  ])}
${WGSL_LINEAR_WORKGROUP}

fn source(k: u32) -> f32 { return SRC[k / 4u][k % 4u]; }

// PyTorch's guard_index_and_lambda: the lower neighbour is floor(src) kept inside the input, the
// upper one repeats it at the last row/column, and the weight of the upper one is clamped to [0, 1].
struct Taps { i0: u32, i1: u32, w0: f32, w1: f32 }
fn taps(src: f32, n: u32) -> Taps {
  let i0 = min(u32(src), n - 1u); // src >= 0, so truncation is floor
  let w1 = clamp(src - f32(i0), 0.0, 1.0);
  return Taps(i0, select(i0, i0 + 1u, i0 < n - 1u), 1.0 - w1, w1);
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= ${size}u) { return; }
  let ox = i % ${outW}u;
  let oy = (i / ${outW}u) % ${outH}u;
  let plane = (i / ${outH * outW}u) * ${H * W}u;
  let ty = ${taps('oy', 'oy', H, outH)};
  let tx = ${taps('ox', `${outH}u + ox`, W, outW)};
  let row0 = plane + ty.i0 * ${W}u;
  let row1 = plane + ty.i1 * ${W}u;
  let top = f32(X[row0 + tx.i0]) * tx.w0 + f32(X[row0 + tx.i1]) * tx.w1;
  let bottom = f32(X[row1 + tx.i0]) * tx.w0 + f32(X[row1 + tx.i1]) * tx.w1;
  Y[i] = ${T}(top * ty.w0 + bottom * ty.w1);
}`;
  return { name: 'resize_bilinear', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(size / WORKGROUP)) };
}

// ---- backward ----------------------------------------------------------------------------------

/**
 * For each input index along one axis, the run of output indices whose taps reach it: [first,
 * first + count). The lower tap floor(src) never decreases with the output index and the upper one
 * is the next index (or the same, at the last), so the outputs touching input r are exactly those
 * whose lower tap is r - 1 or r: one contiguous run, possibly holding outputs whose weight for r is
 * 0 (a coordinate landing exactly on r - 1), which the kernel multiplies by 0 as PyTorch's scatter does.
 */
export function bilinearAdjointRanges(inSize: number, outSize: number, alignCorners: boolean): { first: Uint32Array; count: Uint32Array } {
  const first = new Uint32Array(inSize).fill(outSize), last = new Int32Array(inSize).fill(-1);
  referenceTaps(inSize, outSize, alignCorners).forEach((t, o) => {
    for (const r of [t.i0, t.i1]) {
      first[r] = Math.min(first[r], o);
      last[r] = Math.max(last[r], o);
    }
  });
  const count = Uint32Array.from(last, (l, r) => (l < 0 ? 0 : l - first[r] + 1));
  first.forEach((f, r) => { if (count[r] === 0) first[r] = 0; });
  return { first, count };
}

/**
 * The weight each input index along one axis gives each output in its run, in run order: w0 where
 * the output's lower tap is r, w1 where its upper tap is, their sum where both are (the last index).
 * The f32 weights are the forward's (referenceTaps computes them as the shader does).
 */
export function bilinearAdjointWeights(inSize: number, outSize: number, alignCorners: boolean): Float32Array[] {
  const taps = referenceTaps(inSize, outSize, alignCorners);
  const { first, count } = bilinearAdjointRanges(inSize, outSize, alignCorners);
  return Array.from(first, (f, r) => Float32Array.from({ length: count[r] }, (_, k) => {
    const t = taps[f + k];
    return (t.i0 === r ? t.w0 : 0) + (t.i1 === r ? t.w1 : 0);
  }));
}

/**
 * u32 entries in the backward table: (first, count, weight offset) per input row and column, then
 * the weights. An output belongs to the runs of its two taps only, so each axis holds at most
 * 2 * outSize weights; the bound (not the exact count) sizes the table so that align_corners true and
 * false share a pipeline.
 */
export function resizeBackwardTableEntries(inShape: readonly number[], outH: number, outW: number): number {
  return 3 * (inShape[2] + inShape[3]) + 2 * (outH + outW);
}

/**
 * The uniform resizeBilinearBackwardKernel reads, as u32 (packed four to a vec4): (first output,
 * count, offset of the first weight) per input row, then per input column, then the weights' f32
 * bits, each axis's runs one after another.
 */
export function resizeBackwardUniforms(inShape: readonly number[], outH: number, outW: number, alignCorners: boolean): Uint32Array {
  const [, , H, W] = inShape;
  const table = new Uint32Array(Math.ceil(resizeBackwardTableEntries(inShape, outH, outW) / 4) * 4);
  const weightBits = new Uint32Array(1), weight = new Float32Array(weightBits.buffer);
  let range = 0, next = 3 * (H + W);
  for (const [inSize, outSize] of [[H, outH], [W, outW]]) {
    const { first } = bilinearAdjointRanges(inSize, outSize, alignCorners);
    bilinearAdjointWeights(inSize, outSize, alignCorners).forEach((run, r) => {
      table[range++] = first[r];
      table[range++] = run.length;
      table[range++] = next;
      for (const w of run) {
        weight[0] = w;
        table[next++] = weightBits[0];
      }
    });
  }
  return table;
}

/**
 * dX for dY of the resize: the adjoint of the interpolation, written as a gather so that no two
 * invocations write one element (WGSL has no float atomics). One invocation per input pixel sums
 * (weight_y * weight_x) * dY over the outputs in its row run x column run, with the weights read
 * from the host-built table rather than recomputed per tap (1.4-1.6x faster on lavapipe for
 * (4, 4, 256, 256) <-> 224, 512 and 1024 squared).
 * f32 in and out.
 */
export function resizeBilinearBackwardKernel(p: { inShape: readonly [number, number, number, number]; outH: number; outW: number }): KernelSpec {
  const [N, C, H, W] = p.inShape;
  const { outH, outW } = p;
  const size = N * C * H * W;
  if (H === outH && W === outW) throw new Error('resizeBilinearBackwardKernel: same size on both axes is a plain copy');
  // An axis that keeps its size is the identity (PyTorch's "simply copy" taps): one output, weight 1.
  const axis = (coord: string, inSize: number, outSize: number, rangeBase: number) => inSize === outSize
    ? { first: coord, count: '1u', weights: '0u', weight: () => '1.0' }
    : {
      first: `entry(${rangeBase}u + 3u * ${coord})`,
      count: `entry(${rangeBase}u + 3u * ${coord} + 1u)`,
      weights: `entry(${rangeBase}u + 3u * ${coord} + 2u)`,
      weight: (k: string) => `bitcast<f32>(entry(${k}))`,
    };
  const ay = axis('iy', H, outH, 0), ax = axis('ix', W, outW, 3 * H);
  const wgsl = `${bindingDecls([
    { name: 'DY', kind: 'read', type: 'array<f32>' },
    { name: 'DX', kind: 'read_write', type: 'array<f32>' },
    { name: 'TAB', kind: 'uniform', type: `array<vec4<u32>, ${Math.ceil(resizeBackwardTableEntries(p.inShape, outH, outW) / 4)}>` },
  ])}
${WGSL_LINEAR_WORKGROUP}

fn entry(k: u32) -> u32 { return TAB[k / 4u][k % 4u]; }

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= ${size}u) { return; }
  let ix = i % ${W}u;
  let iy = (i / ${W}u) % ${H}u;
  let plane = (i / ${H * W}u) * ${outH * outW}u;
  let firstY = ${ay.first};
  let countY = ${ay.count};
  let weightsY = ${ay.weights};
  let firstX = ${ax.first};
  let countX = ${ax.count};
  let weightsX = ${ax.weights};
  var acc = 0.0;
  for (var a = 0u; a < countY; a++) {
    let wy = ${ay.weight('weightsY + a')};
    let row = plane + (firstY + a) * ${outW}u + firstX;
    for (var b = 0u; b < countX; b++) {
      // (wy * wx) * dy, in PyTorch's order
      acc += wy * ${ax.weight('weightsX + b')} * DY[row + b];
    }
  }
  DX[i] = acc;
}`;
  return { name: 'resize_bilinear_backward', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(size / WORKGROUP)) };
}

// ---- plain TypeScript reference ---------------------------------------------------------------

export interface ReferenceTaps { i0: number; i1: number; w0: number; w1: number }

/** The two source indices and weights of each output index along one axis (compute_source_index_and_lambda). */
export function referenceTaps(inSize: number, outSize: number, alignCorners: boolean): ReferenceTaps[] {
  const src = bilinearSourceCoordinates(inSize, outSize, alignCorners);
  return Array.from(src, (s, o) => {
    if (inSize === outSize) return { i0: o, i1: o, w0: 1, w1: 0 };
    const i0 = Math.min(Math.floor(s), inSize - 1);
    const w1 = Math.min(Math.max(Math.fround(s - i0), 0), 1);
    return { i0, i1: i0 < inSize - 1 ? i0 + 1 : i0, w0: Math.fround(1 - w1), w1 };
  });
}

/**
 * F.interpolate(x, size=(outH, outW), mode='bilinear', align_corners=alignCorners) on NCHW data:
 * interpolate along W in each of the two source rows, then along H, rounding to f32 at every step
 * (PyTorch's generic CPU path; its channels-last path sums four products instead, an ulp away).
 */
export function resizeBilinearReference(
  x: ArrayLike<number>, inShape: readonly number[], outH: number, outW: number, alignCorners: boolean,
): Float32Array {
  const f = Math.fround;
  const [N, C, H, W] = inShape;
  const rows = referenceTaps(H, outH, alignCorners);
  const cols = referenceTaps(W, outW, alignCorners);
  const y = new Float32Array(N * C * outH * outW);
  let i = 0;
  for (let plane = 0; plane < N * C; plane++) {
    const base = plane * H * W;
    for (const r of rows) {
      for (const c of cols) {
        const at = (row: number, col: number) => x[base + row * W + col];
        const top = f(f(at(r.i0, c.i0) * c.w0) + f(at(r.i0, c.i1) * c.w1));
        const bottom = f(f(at(r.i1, c.i0) * c.w0) + f(at(r.i1, c.i1) * c.w1));
        y[i++] = f(top * r.w0) + f(bottom * r.w1);
      }
    }
  }
  return y;
}


/**
 * The backward of resizeBilinearReference as PyTorch's CPU kernel writes it: every output pixel
 * scatters (h_lambda * w_lambda) * dy into its four taps, in f32, in output order.
 */
export function resizeBilinearBackwardReference(
  dy: ArrayLike<number>, inShape: readonly number[], outH: number, outW: number, alignCorners: boolean,
): Float32Array {
  const f = Math.fround;
  const [N, C, H, W] = inShape;
  const rows = referenceTaps(H, outH, alignCorners);
  const cols = referenceTaps(W, outW, alignCorners);
  const dx = new Float32Array(N * C * H * W);
  let i = 0;
  for (let plane = 0; plane < N * C; plane++) {
    const base = plane * H * W;
    for (const r of rows) {
      for (const c of cols) {
        const g = dy[i++];
        const add = (row: number, col: number, w: number) => { dx[base + row * W + col] = f(dx[base + row * W + col] + f(w * g)); };
        add(r.i0, c.i0, f(r.w0 * c.w0));
        add(r.i0, c.i1, f(r.w0 * c.w1));
        add(r.i1, c.i0, f(r.w1 * c.w0));
        add(r.i1, c.i1, f(r.w1 * c.w1));
      }
    }
  }
  return dx;
}
