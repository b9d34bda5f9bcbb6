// im2col: a convolution's input patches laid out as a matrix, so the convolution becomes a plain
// matmul (src/ops/conv-gemm.ts). Column p of the result is output pixel p0 + p of one image; row
// r = (c, ky, kx) holds the input value that tap (ky, kx) of channel c reads for that pixel:
//   col[r, p] = src[c, oy * stride + offset + ky * step, ...]  (zero outside the input),
// with (oy, ox) the pixel's position on the output grid. Forward: offset = -padding, step = dilation.
// The input gradient of a stride-1 convolution reads dy the other way round: offset = +padding,
// step = -dilation. Rows from C * kh * kw up to `rows` are zero (K padded to a multiple of 4).
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';

export interface Im2colParams {
  /** Source planes (channels) and their size. */
  channels: number;
  height: number;
  width: number;
  /** Output grid width (pixels per output row) and kernel size. */
  outWidth: number;
  kernel: [number, number];
  stride: [number, number];
  offset: [number, number];
  step: [number, number];
  /** Rows of the result (>= channels * kh * kw; the rest are zero) and its columns (a multiple of 4). */
  rows: number;
  columns: number;
  /** First output pixel (a multiple of 4) and the source's offset in elements (the image). */
  firstPixel: number;
  srcOffset: number;
}

const LANES = 64;

/**
 * Each invocation writes 4 adjacent columns of one row (one vec4 store). The geometry is baked into
 * the WGSL and only the chunk's first pixel and the image offset are uniforms: llvmpipe runs an
 * integer division by a uniform as one scalar divide per lane, which made the uniform-only version
 * cost more than the GEMM it feeds (64 -> 64 channels at 256x256); by a constant, LLVM turns it
 * into multiplies. One pipeline per convolution shape, a small one.
 */
export function im2colKernel(p: Im2colParams): KernelSpec & { uniforms: Int32Array } {
  if (p.columns % 4 !== 0 || p.firstPixel % 4 !== 0) throw new Error('im2colKernel: columns and firstPixel must be multiples of 4');
  const quadsPerRow = p.columns / 4, quads = p.rows * quadsPerRow;
  const [kh, kw] = p.kernel, taps = kh * kw;
  const wgsl = `${bindingDecls([
    { name: 'Src', kind: 'read', type: 'array<f32>' },
    { name: 'Col', kind: 'read_write', type: 'array<vec4<f32>>' },
    { name: 'u', kind: 'uniform', type: 'vec4<i32>' },
  ])}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let q = i32(linearWorkgroup(wid, nwg) * ${LANES}u + lid);
  if (q >= ${quads}) { return; }
  let r = q / ${quadsPerRow};
  let p = u.x + (q % ${quadsPerRow}) * 4;
  var v = vec4<f32>(0.0);
  if (r < ${p.channels * taps}) {
    let c = r / ${taps};
    let ky = (r % ${taps}) / ${kw};
    let kx = r % ${kw};
    let plane = u.y + c * ${p.height * p.width};
    for (var j = 0; j < 4; j++) {
      let oy = (p + j) / ${p.outWidth};
      let ox = (p + j) % ${p.outWidth};
      let iy = oy * ${p.stride[0]} + ${p.offset[0]} + ky * ${p.step[0]};
      let ix = ox * ${p.stride[1]} + ${p.offset[1]} + kx * ${p.step[1]};
      if (iy >= 0 && iy < ${p.height} && ix >= 0 && ix < ${p.width}) { v[j] = Src[plane + iy * ${p.width} + ix]; }
    }
  }
  Col[q] = v;
}`;
  return {
    name: 'im2col', wgsl, workgroupSize: [LANES, 1, 1], dispatch: dispatchLinear(Math.ceil(quads / LANES)),
    uniforms: new Int32Array([p.firstPixel, p.srcOffset, 0, 0]),
  };
}

/** dst (rows, dstCols) from src (rows, srcCols): copied where c < srcCols, zero beyond (pads or crops the columns). */
export function copyColumnsKernel(rows: number, dstCols: number): KernelSpec {
  const wgsl = `${bindingDecls([
    { name: 'Src', kind: 'read', type: 'array<f32>' },
    { name: 'Dst', kind: 'read_write', type: 'array<f32>' },
    { name: 'u', kind: 'uniform', type: 'vec4<u32>' },
  ])}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${LANES}u + lid;
  if (i >= u.x * u.z) { return; }
  let r = i / u.z;
  let c = i % u.z;
  Dst[i] = select(0.0, Src[r * u.y + min(c, u.y - 1u)], c < u.y);
}`;
  return { name: 'copy_columns', wgsl, workgroupSize: [LANES, 1, 1], dispatch: dispatchLinear(Math.ceil((rows * dstCols) / LANES)) };
}

/** Plain reference of im2colKernel on one image's source planes (src starts at srcOffset). */
export function im2colReference(src: ArrayLike<number>, p: Im2colParams): Float32Array {
  const out = new Float32Array(p.rows * p.columns);
  const [kh, kw] = p.kernel;
  for (let r = 0; r < Math.min(p.rows, p.channels * kh * kw); r++) {
    const c = Math.floor(r / (kh * kw)), ky = Math.floor((r % (kh * kw)) / kw), kx = r % kw;
    for (let j = 0; j < p.columns; j++) {
      const pix = p.firstPixel + j, oy = Math.floor(pix / p.outWidth), ox = pix % p.outWidth;
      const iy = oy * p.stride[0] + p.offset[0] + ky * p.step[0], ix = ox * p.stride[1] + p.offset[1] + kx * p.step[1];
      if (iy >= 0 && iy < p.height && ix >= 0 && ix < p.width) out[r * p.columns + j] = src[p.srcOffset + (c * p.height + iy) * p.width + ix];
    }
  }
  return out;
}
