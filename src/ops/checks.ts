// Argument checks shared by the ops: errors name the op and the shapes involved.
import { ShapeError, UsageError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';

export function shapeText(t: Tensor | readonly number[]): string {
  const shape = Array.isArray(t) ? t : (t as Tensor).shape;
  return `[${shape.join(', ')}]`;
}

export function assertSameEngine(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.engine !== ts[0].engine) throw new UsageError(`${op}: tensors belong to different engines`);
}

export function assertFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'f32' && t.dtype !== 'f16') throw new ShapeError(`${op}: expects a float tensor, got ${t.dtype} ${shapeText(t)}`);
}

export function assertRank(op: string, t: Tensor, rank: number, what = 'input'): void {
  if (t.rank !== rank) throw new ShapeError(`${op}: ${what} must have rank ${rank}, got ${shapeText(t)}`);
}

/** Resolves a possibly negative axis, as PyTorch does. */
export function normalizeAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) throw new ShapeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}
