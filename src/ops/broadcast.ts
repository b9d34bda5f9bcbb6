// Gradients of broadcast operands: sum the output-shaped gradient back down to the operand's shape.
import type { Tensor } from '../tensor/tensor.js';
import { reduce } from './reduce.js';

/**
 * Sums `g` over the dimensions that broadcasting expanded, returning a tensor of `shape`.
 * Takes ownership of `g`: it is disposed when a new tensor is returned.
 */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  const lead = g.rank - shape.length;
  let current = g;
  // Leading dimensions that `shape` lacks, then dimensions where `shape` has 1.
  for (let i = 0; i < lead; i++) current = replace(current, reduce('sum', current, 0, false));
  for (let axis = 0; axis < shape.length; axis++) {
    if (shape[axis] === 1 && current.shape[axis] !== 1) current = replace(current, reduce('sum', current, axis, true));
  }
  if (current === g) return g;
  // The reduced tensor has `shape`'s element count; give it exactly that shape.
  const out = current.engine.copyAs(current, shape);
  current.dispose();
  return out;
}

function replace(previous: Tensor, next: Tensor): Tensor {
  previous.dispose();
  return next;
}
