// conv2d and its gradients as im2col + the subgroup matmul, for software adapters (lavapipe, SwiftShader), where
// the blocked direct kernels of conv2d.ts / conv-backward.ts spend most of their time in per-lane
// loads (see src/kernels/matmul-subgroup.ts). Each image's patches are laid out in a scratch buffer,
// at most SCRATCH_BYTES at a time (pixel chunks: the storage-binding limit is 128 MiB and the buffer
// would be Cin kh kw times the image), and multiplied with the weights as one matmul per chunk whose
// output lands in place in y, dx or dw (offsets and row strides in the matmul's uniforms).
//   forward: y[b][:, chunk]  = W (Cout, Cin kh kw) @ col(x[b])                          (+ bias per row)
//   dx:      dx[b][:, chunk] = Wt (Cin, Cout kh kw) @ col(dy[b]) read backwards  (stride 1 only)
//   dw:      dW (Cout, Cin kh kw) = sum over b, chunks of dy[b][:, chunk] @ col(x[b])ᵀ
// K is padded to a multiple of 4 with zero rows of col (and zero columns of W / dW).
import type { Engine } from '../engine.js';
import { copyColumnsKernel, im2colKernel, type Im2colParams } from '../kernels/im2col.js';
import { conv2dOutputShape, type Conv2dGeometry } from '../kernels/conv2d.js';
import { permuteKernel } from '../kernels/copy.js';
import { matmulUniforms, type MatmulParams } from '../kernels/matmul.js';
import { subgroupMatmulKernel } from '../kernels/matmul-subgroup.js';
import type { Tensor } from '../tensor/tensor.js';
import { subgroupMatmulLanes } from './matmul.js';

/** Scratch for one chunk of patches: well under the 128 MiB binding limit, and modest in memory (tests pass less to force chunking). */
const SCRATCH_BYTES = 64 * 1024 * 1024;

const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

/** Whether this convolution takes the GEMM path: an adapter the subgroup matmul runs on (lavapipe, SwiftShader), f32, no groups, >= 32 output channels, output planes a multiple of 4. */
export function convGemmEligible(engine: Engine, g: Conv2dGeometry, dtype: string): boolean {
  const [, , ho, wo] = conv2dOutputShape(g);
  return dtype === 'f32' && g.groups === 1 && (ho * wo) % 4 === 0 && g.wShape[0] >= MIN_ROWS && subgroupMatmulLanes(engine) !== null;
}

/** Channels below which im2col + GEMM lost to the direct kernels on lavapipe (16 -> 16 at 128x128, batch 4: 0.6-1.0x; 3 -> 16 dx: 0.1x; 64 -> 64: 1.4-2.5x). */
const MIN_ROWS = 32;

/** The input gradient as a GEMM needs stride 1 (then dx's grid is y's grid read backwards), >= 32 input channels and x's planes a multiple of 4. */
export function convInputGradGemmEligible(engine: Engine, g: Conv2dGeometry, dtype: string): boolean {
  return convGemmEligible(engine, g, dtype) && g.xShape[1] >= MIN_ROWS && g.stride[0] === 1 && g.stride[1] === 1 && (g.xShape[2] * g.xShape[3]) % 4 === 0;
}

/** Pixel chunks [p0, p0 + n) of a plane of `pixels`, each n a multiple of 4 with rows * n * 4 bytes <= SCRATCH_BYTES. */
function chunks(pixels: number, rows: number, scratchBytes: number): [number, number][] {
  const most = Math.max(4, Math.floor(scratchBytes / 4 / rows / 4) * 4);
  const out: [number, number][] = [];
  for (let p0 = 0; p0 < pixels; p0 += most) out.push([p0, Math.min(most, pixels - p0)]);
  return out;
}

function run(engine: Engine, p: MatmulParams, layout: Parameters<typeof matmulUniforms>[1], a: GPUBuffer, b: GPUBuffer, bias: GPUBuffer | null, r: GPUBuffer | null, c: GPUBuffer): void {
  const ph = engine.placeholderBuffer;
  const lanes = subgroupMatmulLanes(engine);
  if (lanes === null) throw new Error('conv-gemm: the subgroup matmul does not run on this engine (check convGemmEligible first)');
  engine.runtime.run(subgroupMatmulKernel(p, undefined, lanes), [
    { buffer: a }, { buffer: b }, { buffer: bias ?? ph }, { buffer: r ?? ph }, { buffer: c, write: true },
  ], matmulUniforms(p, layout));
}

function params(M: number, N: number, K: number, extra: Partial<MatmulParams> = {}): MatmulParams {
  return { batch: 1, M, N, K, transA: false, transB: false, batchA: 1, batchB: 1, bias: false, residual: false, activation: 'none', ...extra };
}

/** A (rows, cols) matrix with its columns padded (with zeros) or cropped to `to`; `t` itself when cols === to. */
function withColumns(engine: Engine, t: Tensor, rows: number, cols: number, to: number): Tensor {
  if (cols === to) return t;
  const out = engine.empty([rows, to], 'f32');
  engine.runtime.run(copyColumnsKernel(rows, to), [{ buffer: t.buffer }, { buffer: out.buffer, write: true }], new Uint32Array([rows, cols, to, 0]));
  return out;
}

/** im2col of image `b` of src (N, C, H, W) for output pixels [p0, p0 + n) into col (rows, n). */
function patches(engine: Engine, src: Tensor, col: Tensor, b: number, p0: number, n: number, rows: number, geometry: Omit<Im2colParams, 'rows' | 'columns' | 'firstPixel' | 'srcOffset'>): void {
  const spec = im2colKernel({ ...geometry, rows, columns: n, firstPixel: p0, srcOffset: b * geometry.channels * geometry.height * geometry.width });
  engine.runtime.run(spec, [{ buffer: src.buffer }, { buffer: col.buffer, write: true }], spec.uniforms);
}

function forwardPatchGeometry(g: Conv2dGeometry) {
  const [, cin, h, w] = g.xShape;
  const [, , kh, kw] = g.wShape;
  const [, , , wo] = conv2dOutputShape(g);
  return {
    channels: cin, height: h, width: w, outWidth: wo, kernel: [kh, kw] as [number, number], stride: g.stride,
    offset: [-g.padding[0], -g.padding[1]] as [number, number], step: g.dilation,
  };
}

/** y (N, Cout, Ho, Wo) = conv2d(x, w) + bias, written into y. */
export function conv2dGemm(x: Tensor, w: Tensor, bias: Tensor | null, g: Conv2dGeometry, y: Tensor, scratchBytes = SCRATCH_BYTES): void {
  const engine = x.engine;
  const [batch, cin] = g.xShape;
  const [cout, , kh, kw] = g.wShape;
  const [, , ho, wo] = conv2dOutputShape(g);
  const K = cin * kh * kw, Kp = roundUp4(K), P = ho * wo;
  const wp = withColumns(engine, w, cout, K, Kp); // (Cout, Kp)
  const geometry = forwardPatchGeometry(g);
  const plan = chunks(P, Kp, scratchBytes);
  const col = engine.empty([Kp, plan[0][1]], 'f32');
  for (let b = 0; b < batch; b++) {
    for (const [p0, n] of plan) {
      patches(engine, x, col, b, p0, n, Kp, geometry);
      const p = params(cout, n, Kp, { bias: bias !== null });
      run(engine, p, { ldc: P, cOffset: b * cout * P + p0, rowBias: bias !== null }, wp.buffer, col.buffer, bias?.buffer ?? null, null, y.buffer);
    }
  }
  col.dispose();
  if (wp !== w) wp.dispose();
}

/** dx (N, Cin, H, W) of a stride-1 conv2d from dy (N, Cout, Ho, Wo). */
export function conv2dInputGradGemm(dy: Tensor, w: Tensor, g: Conv2dGeometry, scratchBytes = SCRATCH_BYTES): Tensor {
  const engine = dy.engine;
  const [batch, cin, h, wd] = g.xShape;
  const [cout, , kh, kw] = g.wShape;
  const [, , ho, wo] = conv2dOutputShape(g);
  const K = cout * kh * kw, Kp = roundUp4(K), P = h * wd;
  // Wt[ci, (co, ky, kx)] = w[co, ci, ky, kx]: (Cout, Cin, taps) -> (Cin, Cout, taps), then K padded.
  const wt = engine.empty([cin, K], 'f32');
  engine.runtime.run(permuteKernel({ shape: [cout, cin, kh * kw], perm: [1, 0, 2], dtype: 'f32' }), [{ buffer: w.buffer }, { buffer: wt.buffer, write: true }]);
  const wtp = withColumns(engine, wt, cin, K, Kp);
  if (wtp !== wt) wt.dispose();
  // dx[ci, y, x] = sum over co, ky, kx of w[co, ci, ky, kx] dy[co, y + pad - ky dil, x + pad - kx dil].
  const geometry = {
    channels: cout, height: ho, width: wo, outWidth: wd, kernel: [kh, kw] as [number, number], stride: [1, 1] as [number, number],
    offset: g.padding, step: [-g.dilation[0], -g.dilation[1]] as [number, number],
  };
  const dx = engine.empty(g.xShape, 'f32');
  const plan = chunks(P, Kp, scratchBytes);
  const col = engine.empty([Kp, plan[0][1]], 'f32');
  for (let b = 0; b < batch; b++) {
    for (const [p0, n] of plan) {
      patches(engine, dy, col, b, p0, n, Kp, geometry);
      run(engine, params(cin, n, Kp), { ldc: P, cOffset: b * cin * P + p0 }, wtp.buffer, col.buffer, null, null, dx.buffer);
    }
  }
  col.dispose();
  wtp.dispose();
  return dx;
}

/** dW (Cout, Cin, kh, kw) of conv2d from x and dy: the per-(image, chunk) products accumulated through the residual epilogue. */
export function conv2dWeightGradGemm(x: Tensor, dy: Tensor, g: Conv2dGeometry, scratchBytes = SCRATCH_BYTES): Tensor {
  const engine = x.engine;
  const [batch, cin] = g.xShape;
  const [cout, , kh, kw] = g.wShape;
  const [, , ho, wo] = conv2dOutputShape(g);
  const K = cin * kh * kw, Kp = roundUp4(K), P = ho * wo;
  const geometry = forwardPatchGeometry(g);
  const plan = chunks(P, Kp, scratchBytes);
  const col = engine.empty([Kp, plan[0][1]], 'f32');
  // Two accumulators in turn: a dispatch may not read and write the same buffer.
  let acc: Tensor | null = null;
  for (let b = 0; b < batch; b++) {
    for (const [p0, n] of plan) {
      patches(engine, x, col, b, p0, n, Kp, geometry);
      const next = engine.empty([cout, Kp], 'f32');
      // (Cout, n) slice of dy[b] @ col (Kp, n)ᵀ -> (Cout, Kp)
      const p = params(cout, Kp, n, { transB: true, residual: acc !== null });
      run(engine, p, { aOffset: b * cout * P + p0, lda: P, ldb: n }, dy.buffer, col.buffer, null, acc?.buffer ?? null, next.buffer);
      acc?.dispose();
      acc = next;
    }
  }
  col.dispose();
  const dw = withColumns(engine, acc!, cout, Kp, K);
  if (dw !== acc) acc!.dispose();
  return reshaped(engine, dw, g.wShape);
}

function reshaped(engine: Engine, t: Tensor, shape: readonly number[]): Tensor {
  const out = engine.copyAs(t, shape);
  t.dispose();
  return out;
}

/**
 * convTranspose2d with kernel = stride (SAM's 2x2 upscaling; isNonOverlappingTranspose, groups 1):
 * tiles[b] (Cout kh kw, H W) = Wᵀ @ x[b] with W read as (Cin, Cout kh kw), as one batched matmul,
 * then depth-to-space: y[b, co, iy kh + ky, ix kw + kx] = tiles[b, (co, ky, kx), (iy, ix)].
 * Needs Cin, Cout kh kw and H W multiples of 4 and the tiles (the size of y) within one binding; null otherwise.
 */
export function convTranspose2dTiledGemm(x: Tensor, w: Tensor, bias: Tensor | null): Tensor | null {
  const engine = x.engine;
  const [batch, cin, h, wd] = x.shape;
  const [, cout, kh, kw] = w.shape;
  const rows = cout * kh * kw, P = h * wd;
  if (x.dtype !== 'f32' || cin % 4 !== 0 || rows % 4 !== 0 || P % 4 !== 0 || subgroupMatmulLanes(engine) === null) return null;
  if (batch * rows * P * 4 > engine.device.limits.maxStorageBufferBindingSize) return null;
  const tiles = engine.empty([batch, rows, P], 'f32');
  const p: MatmulParams = { ...params(rows, P, cin, { transA: true, bias: bias !== null }), batch, batchB: batch };
  run(engine, p, { rowBias: bias !== null, rowsPerBias: kh * kw }, w.buffer, x.buffer, bias?.buffer ?? null, null, tiles.buffer);
  const y = engine.empty([batch, cout, h * kh, wd * kw], 'f32');
  // (N, Cout, kh, kw, H, W) -> (N, Cout, H, kh, W, kw)
  engine.runtime.run(permuteKernel({ shape: [batch, cout, kh, kw, h, wd], perm: [0, 1, 4, 2, 5, 3], dtype: 'f32' }), [
    { buffer: tiles.buffer }, { buffer: y.buffer, write: true },
  ]);
  tiles.dispose();
  return y;
}
