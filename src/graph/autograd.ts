// Reverse-mode autograd. Ops record a GradNode only when grad mode is on and an input requires a
// gradient; backward() walks the nodes in reverse topological order (never recursing through shared
// subgraphs twice) and accumulates gradients. Each op's backward rule sits beside its forward in
// src/ops/<family>.ts.
import { UsageError, ShapeError } from '../errors.js';
import { binaryKernel } from '../kernels/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';

export interface GradNode {
  /** For error messages and profiles. */
  op: string;
  inputs: readonly Tensor[];
  /** Given dL/d(output), returns dL/d(input) per input (null where the input needs none). */
  backward(gradOutput: Tensor): (Tensor | null)[];
  /** Tensors the node made only for its backward (e.g. layernorm's mean and rstd): freed right after it runs. */
  owned: Tensor[];
}

let gradDisabledDepth = 0;

export function isGradEnabled(): boolean {
  return gradDisabledDepth === 0;
}

/** Runs fn with recording off: the frozen encoder and evaluation run this way. */
export function noGrad<T>(fn: () => T): T {
  gradDisabledDepth++;
  try {
    const result = fn();
    if (result instanceof Promise) {
      return result.finally(() => gradDisabledDepth--) as T;
    }
    gradDisabledDepth--;
    return result;
  } catch (err) {
    gradDisabledDepth--;
    throw err;
  }
}

/** True when an op on these inputs must record a node. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  return gradDisabledDepth === 0 && inputs.some((t) => t?.requiresGrad);
}

/**
 * Called by an op after its forward: attaches the node to `output` when any input requires a
 * gradient. `owned` tensors are disposed after backward, or right away when nothing is recorded.
 */
export function record(output: Tensor, op: string, inputs: readonly Tensor[], backward: GradNode['backward'], owned: Tensor[] = []): Tensor {
  if (!needsGrad(...inputs)) {
    for (const t of owned) t.dispose();
    return output;
  }
  output.requiresGrad = true;
  output.creator = { op, inputs, backward, owned };
  return output;
}

/** Nodes reachable from `root`, ordered so that every tensor comes after all tensors it was computed from. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.creator?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next.requiresGrad && !visited.has(next)) {
        visited.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

/**
 * Computes gradients of `loss` with respect to every leaf that requires them, accumulating into
 * `leaf.grad` (as PyTorch does; zero them between steps). `gradOutput` defaults to 1 for a
 * one-element loss. The recorded graph is released: a second backward needs a new forward.
 */
export function backward(loss: Tensor, gradOutput?: Tensor): void {
  if (!loss.requiresGrad) throw new UsageError('backward(): the loss does not require a gradient (nothing recorded it; check requiresGrad on the parameters and noGrad scopes)');
  const engine = loss.engine;
  const ownsGradOutput = !gradOutput;
  if (!gradOutput) {
    if (loss.size !== 1) throw new ShapeError(`backward(): the loss has shape [${loss.shape.join(', ')}]; pass gradOutput for a non-scalar loss`);
    gradOutput = engine.fill(loss.shape, 1);
  } else if (gradOutput.size !== loss.size) {
    throw new ShapeError(`backward(): gradOutput shape [${gradOutput.shape.join(', ')}] does not match the loss [${loss.shape.join(', ')}]`);
  }
  const order = topologicalOrder(loss);
  const grads = new Map<Tensor, Tensor>([[loss, gradOutput]]);
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const g = grads.get(t);
    grads.delete(t);
    const node = t.creator;
    if (!node) {
      // A leaf: accumulate into .grad, which outlives every scope.
      if (!g) continue;
      if (t.grad) {
        const sum = sumOf(t.grad, g);
        t.grad.dispose();
        t.grad = sum;
        if (g !== gradOutput) g.dispose();
      } else {
        t.grad = g === gradOutput ? engine.copyAs(g) : g;
      }
      engine.keep(t.grad);
      continue;
    }
    if (g) {
      const inputGrads = node.backward(g);
      node.inputs.forEach((input, k) => {
        const gi = inputGrads[k];
        if (!gi || !input.requiresGrad) {
          if (gi && gi !== g) gi.dispose();
          return;
        }
        if (gi.size !== input.size) {
          throw new ShapeError(`backward of ${node.op}: gradient shape [${gi.shape.join(', ')}] does not match input [${input.shape.join(', ')}]`);
        }
        const prev = grads.get(input);
        if (prev) {
          grads.set(input, sumOf(prev, gi));
          prev.dispose();
          if (gi !== g) gi.dispose();
        } else {
          grads.set(input, gi === g ? engine.copyAs(g) : gi);
        }
      });
      if (g !== gradOutput) g.dispose();
    }
    for (const o of node.owned) o.dispose();
    t.creator = null;
  }
  if (ownsGradOutput) gradOutput.dispose();
}

/** a + b for gradients of one shape (accumulation), straight on the kernel to keep this layer below the ops. */
function sumOf(a: Tensor, b: Tensor): Tensor {
  const out = a.engine.empty(a.shape, a.dtype);
  a.engine.runtime.run(binaryKernel({ op: 'add', aShape: [a.size], bShape: [b.size], dtype: a.dtype }), [
    { buffer: a.buffer }, { buffer: b.buffer }, { buffer: out.buffer, write: true },
  ]);
  return out;
}
