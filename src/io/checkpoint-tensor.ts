// The tensors checkpoint readers return, and the conversion from stored little-endian bytes.
// Floating-point dtypes (float16, bfloat16, float64) are widened or narrowed to float32, the one float
// type the engine computes in; integers and booleans keep their own arrays.

import { FormatError } from '../errors.js';
import { halfBitsToFloat } from '../tensor/dtype.js';

/** The dtype a tensor was stored with. */
export type CheckpointDtype = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';

export type CheckpointData = Float32Array | BigInt64Array | Int32Array | Uint8Array;

export interface CheckpointTensor {
  shape: number[];
  /** As stored in the file; float dtypes arrive as float32 in `data`. */
  dtype: CheckpointDtype;
  data: CheckpointData;
}

export const BYTES_PER_ELEMENT: Record<CheckpointDtype, number> = {
  float32: 4, float16: 2, bfloat16: 2, float64: 8, int64: 8, int32: 4, uint8: 1, bool: 1,
};

/** Product of the dimensions, or a FormatError when it is not a safe integer (a shape claiming exabytes). */
export function checkedNumel(shape: readonly number[], what: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new FormatError(`${what}: dimension ${d} in shape [${shape}] is not a non-negative integer`);
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new FormatError(`${what}: shape [${shape}] has more elements than any file can hold`);
  return n;
}

/**
 * Decodes `count` contiguous little-endian elements. The caller has checked that `bytes` holds exactly
 * count * BYTES_PER_ELEMENT[dtype] bytes, so the allocation below is bounded by the file itself.
 */
export function decodeElements(bytes: Uint8Array, dtype: CheckpointDtype, count: number): CheckpointData {
  const expected = count * BYTES_PER_ELEMENT[dtype];
  if (bytes.length !== expected) throw new FormatError(`${count} ${dtype} elements need ${expected} bytes, got ${bytes.length}`);
  switch (dtype) {
    case 'float32':
      return copyInto(new Float32Array(count), bytes);
    case 'int32':
      return copyInto(new Int32Array(count), bytes);
    case 'int64':
      return copyInto(new BigInt64Array(count), bytes);
    case 'uint8':
    case 'bool':
      return bytes.slice();
    case 'float64':
      return Float32Array.from(copyInto(new Float64Array(count), bytes));
    case 'float16': {
      const half = copyInto(new Uint16Array(count), bytes);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfBitsToFloat(half[i]);
      return out;
    }
    case 'bfloat16': {
      // bfloat16 is the top half of a float32: shift the bits up, exact.
      const half = copyInto(new Uint16Array(count), bytes);
      const out = new Float32Array(count);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = half[i] << 16;
      return out;
    }
  }
}

/** Copies possibly unaligned bytes into a fresh (aligned) typed array. */
function copyInto<T extends Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array>(out: T, bytes: Uint8Array): T {
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}
