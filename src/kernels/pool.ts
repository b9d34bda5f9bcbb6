// Max pooling over NCHW planes, torch.nn.MaxPool2d(kernel, stride) semantics without padding,
// dilation or ceil_mode: Ho = floor((H - kh) / sh) + 1. The forward writes the output and, for the
// backward, the index of each maximum within its input plane (ih * W + iw, as PyTorch's
// return_indices gives); ties go to the first maximum in row-major window order (PyTorch CPU's
// `val > maxval`). The backward runs one invocation per input element and gathers dy from every
// window that chose it, so overlapping windows need no atomics and uncovered rows/columns (odd H or
// W) get an exact zero. NaN inputs are not handled specially (WGSL may assume there are none).
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';
import { WGSL_MAIN_BUILTINS } from './reduce.js';

export interface MaxPool2dParams {
  /** N * C: the number of independent planes. */
  planes: number;
  height: number;
  width: number;
  kernel: [number, number];
  stride: [number, number];
}

const WORKGROUP = 256;

export function maxPool2dOutputSize(p: Pick<MaxPool2dParams, 'height' | 'width' | 'kernel' | 'stride'>): [number, number] {
  return [Math.floor((p.height - p.kernel[0]) / p.stride[0]) + 1, Math.floor((p.width - p.kernel[1]) / p.stride[1]) + 1];
}

/** Bindings: X, Y, Indices (i32, one per output). One invocation per output element. */
export function maxPool2dKernel(p: MaxPool2dParams): KernelSpec {
  const { planes, height: H, width: W, kernel: [kh, kw], stride: [sh, sw] } = p;
  const [ho, wo] = maxPool2dOutputSize(p);
  const total = planes * ho * wo;
  const decls = bindingDecls([
    { name: 'X', kind: 'read', type: 'array<f32>' },
    { name: 'Y', kind: 'read_write', type: 'array<f32>' },
    { name: 'Indices', kind: 'read_write', type: 'array<i32>' },
  ]);
  const wgsl = `${decls}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${WORKGROUP})
fn main(${WGSL_MAIN_BUILTINS}) {
  let o = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (o >= ${total}u) { return; }
  let plane = o / ${ho * wo}u;
  let oh = (o / ${wo}u) % ${ho}u;
  let ow = o % ${wo}u;
  let h0 = oh * ${sh}u;
  let w0 = ow * ${sw}u;
  let base = plane * ${H * W}u;
  var best = X[base + h0 * ${W}u + w0];
  var bestIndex = h0 * ${W}u + w0;
  for (var dh = 0u; dh < ${kh}u; dh++) {
    for (var dw = 0u; dw < ${kw}u; dw++) {
      let at = (h0 + dh) * ${W}u + w0 + dw;
      let v = X[base + at];
      if (v > best) { best = v; bestIndex = at; }
    }
  }
  Y[o] = best;
  Indices[o] = i32(bestIndex);
}`;
  return { name: 'maxpool2d', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(total / WORKGROUP)) };
}

/** Bindings: DY, Indices, DX. One invocation per input element, summing dy over the windows that picked it. */
export function maxPool2dBackwardKernel(p: MaxPool2dParams): KernelSpec {
  const { planes, height: H, width: W, kernel: [kh, kw], stride: [sh, sw] } = p;
  const [ho, wo] = maxPool2dOutputSize(p);
  const total = planes * H * W;
  const decls = bindingDecls([
    { name: 'DY', kind: 'read', type: 'array<f32>' },
    { name: 'Indices', kind: 'read', type: 'array<i32>' },
    { name: 'DX', kind: 'read_write', type: 'array<f32>' },
  ]);
  // Windows containing row ih: oh * sh <= ih < oh * sh + kh, i.e. ceil((ih - kh + 1) / sh) <= oh <= ih / sh.
  const range = (i: string, k: number, s: number, n: number, v: string) =>
    `let ${v}Lo = select(0u, (${i} + ${s}u - ${k}u) / ${s}u, ${i} + 1u >= ${k}u);
  let ${v}Hi = min(${i} / ${s}u, ${n - 1}u);`;
  const wgsl = `${decls}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${WORKGROUP})
fn main(${WGSL_MAIN_BUILTINS}) {
  let e = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (e >= ${total}u) { return; }
  let plane = e / ${H * W}u;
  let at = e % ${H * W}u;
  let ih = at / ${W}u;
  let iw = at % ${W}u;
  ${range('ih', kh, sh, ho, 'oh')}
  ${range('iw', kw, sw, wo, 'ow')}
  var acc = 0.0;
  for (var oh = ohLo; oh <= ohHi; oh++) {
    for (var ow = owLo; ow <= owHi; ow++) {
      let o = plane * ${ho * wo}u + oh * ${wo}u + ow;
      if (Indices[o] == i32(at)) { acc += DY[o]; }
    }
  }
  DX[e] = acc;
}`;
  return { name: 'maxpool2d_backward', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(total / WORKGROUP)) };
}

// ---- plain TypeScript references --------------------------------------------------------------

/** MaxPool2d forward on NCHW data: the output and the in-plane index of each maximum. */
export function maxPool2dReference(x: ArrayLike<number>, shape: readonly number[], kernel: [number, number], stride: [number, number]): { out: Float32Array; indices: Int32Array } {
  const [n, c, H, W] = shape;
  const [ho, wo] = maxPool2dOutputSize({ height: H, width: W, kernel, stride });
  const out = new Float32Array(n * c * ho * wo), indices = new Int32Array(out.length);
  for (let p = 0; p < n * c; p++) {
    for (let oh = 0; oh < ho; oh++) {
      for (let ow = 0; ow < wo; ow++) {
        let best = -Infinity, bestAt = -1;
        for (let dh = 0; dh < kernel[0]; dh++) {
          for (let dw = 0; dw < kernel[1]; dw++) {
            const at = (oh * stride[0] + dh) * W + ow * stride[1] + dw;
            const v = x[p * H * W + at];
            if (bestAt < 0 || v > best) { best = v; bestAt = at; }
          }
        }
        const o = (p * ho + oh) * wo + ow;
        out[o] = best;
        indices[o] = bestAt;
      }
    }
  }
  return { out, indices };
}

/** MaxPool2d backward: dy of each output added to the input element its window picked. */
export function maxPool2dBackwardReference(dy: ArrayLike<number>, indices: ArrayLike<number>, shape: readonly number[], outSize: [number, number]): Float32Array {
  const [n, c, H, W] = shape;
  const dx = new Float64Array(n * c * H * W);
  const per = outSize[0] * outSize[1];
  for (let o = 0; o < dy.length; o++) dx[Math.floor(o / per) * H * W + indices[o]] += dy[o];
  return Float32Array.from(dx);
}
