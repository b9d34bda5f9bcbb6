// Embedding lookup: Y[..., d] = table[indices[...], d] for a (V, D) table.
//
// Out-of-range indices (negative, or >= V) produce a row of zeros rather than reading outside the
// table. PyTorch raises instead, but indices that live on the GPU cannot be checked on the host
// without a read-back, so the shader guards every lookup itself; the op checks host-built indices
// before they ever reach the GPU where it can (see ops/copy.ts).
import type { DType, HostArray } from '../tensor/dtype.js';
import { copyElementType, copyShader, fillLiteral, like } from './copy.js';
import { bindingDecls, dispatchLinear, WGSL_LINEAR_WORKGROUP, type KernelSpec } from './kernel.js';

export function gatherKernel(p: { vocab: number; dim: number; count: number; dtype: DType; indexDtype: 'i32' | 'u32' }): KernelSpec {
  const T = copyElementType(p.dtype);
  // u32 indices past 2^31 turn negative here and so count as out of range, as they are.
  return copyShader({
    name: 'gather', dtype: p.dtype, size: p.count * p.dim,
    inputs: [{ name: 'X', type: `array<${T}>` }, { name: 'I', type: `array<${p.indexDtype}>` }],
    body: `let row = i / ${p.dim}u;
  let v = i32(I[row]);
  let inRange = v >= 0 && v < ${p.vocab};
  // The clamp keeps the (discarded) read of an out-of-range row inside the table.
  Y[i] = select(${fillLiteral(0, p.dtype)}, X[u32(clamp(v, 0, ${p.vocab - 1})) * ${p.dim}u + i % ${p.dim}u], inRange);`,
  });
}

const WORKGROUP = 256;

/**
 * The embedding backward: dTable[v, d] = sum of dY[n, d] over the positions n whose index is v, in
 * index order. Each table element loops over the whole index list and sums its own matches, so no
 * two invocations write one element and no float atomics are needed; the cost is vocab x dim x
 * count, fine for the small index lists lookups have here. An out-of-range index matches no row
 * and contributes nothing, as its forward row was zeros. f32 in and out.
 */
export function gatherBackwardKernel(p: { vocab: number; dim: number; count: number; indexDtype: 'i32' | 'u32' }): KernelSpec {
  const size = p.vocab * p.dim;
  const wgsl = `${bindingDecls([
    { name: 'DY', kind: 'read', type: 'array<f32>' },
    { name: 'I', kind: 'read', type: `array<${p.indexDtype}>` },
    { name: 'DX', kind: 'read_write', type: 'array<f32>' },
  ])}
${WGSL_LINEAR_WORKGROUP}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linearWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (i >= ${size}u) { return; }
  let row = i32(i / ${p.dim}u);
  let d = i % ${p.dim}u;
  var acc = 0.0;
  for (var n = 0u; n < ${p.count}u; n++) {
    // Neighbouring invocations share a row, so they agree on this branch.
    if (i32(I[n]) == row) { acc += DY[n * ${p.dim}u + d]; }
  }
  DX[i] = acc;
}`;
  return { name: 'gather_backward', wgsl, workgroupSize: [WORKGROUP, 1, 1], dispatch: dispatchLinear(Math.ceil(size / WORKGROUP)) };
}

/** Rows of `table` (vocab x dim, row-major) picked by `indices`; out-of-range indices give zero rows. */
export function gatherReference<T extends HostArray>(table: T, vocab: number, dim: number, indices: ArrayLike<number>): T {
  const y = like(table, indices.length * dim);
  for (let n = 0; n < indices.length; n++) {
    const v = indices[n];
    if (v < 0 || v >= vocab) continue;
    y.set(table.subarray(v * dim, (v + 1) * dim), n * dim);
  }
  return y;
}

/** The adjoint of gatherReference: dy's rows added into a zero table at their indices, in order. */
export function gatherBackwardReference(dy: Float32Array, vocab: number, dim: number, indices: ArrayLike<number>): Float32Array {
  const dt = new Float32Array(vocab * dim);
  for (let n = 0; n < indices.length; n++) {
    const v = indices[n];
    if (v < 0 || v >= vocab) continue;
    for (let d = 0; d < dim; d++) dt[v * dim + d] += dy[n * dim + d];
  }
  return dt;
}
