// Embedding lookup: Y[..., d] = table[indices[...], d] for a (V, D) table.
//
// Out-of-range indices (negative, or >= V) produce a row of zeros rather than reading outside the
// table. PyTorch raises instead, but indices that live on the GPU cannot be checked on the host
// without a read-back, so the shader guards every lookup itself; the op checks host-built indices
// before they ever reach the GPU where it can (see ops/copy.ts).
import type { DType, HostArray } from '../tensor/dtype.js';
import { copyElementType, copyShader, fillLiteral, like } from './copy.js';
import type { KernelSpec } from './kernel.js';

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
