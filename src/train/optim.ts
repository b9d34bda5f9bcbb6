// Optimizers (SGD with momentum, Adam, AdamW) and gradient-norm clipping, with PyTorch's update rules.
// Updates run on the GPU in place: one dispatch per parameter tensor, reading its .grad and state,
// writing the parameter and state. Nothing is read back. State tensors live outside every scope
// (engine.keep) until dispose().
import { ShapeError, UsageError } from '../errors.js';
import {
  adamKernel, adamUniforms, clipFactorKernel, scaleByFactorKernel, sgdKernel, sgdUniforms, sumSquaresGroups, sumSquaresKernel,
} from '../kernels/optim.js';
import type { Engine } from '../engine.js';
import type { Tensor } from '../tensor/tensor.js';

function checkParams(op: string, params: readonly Tensor[]): Engine {
  if (params.length === 0) throw new UsageError(`${op}: got an empty parameter list`);
  const engine = params[0].engine;
  const seen = new Set<Tensor>();
  for (const p of params) {
    if (p.engine !== engine) throw new UsageError(`${op}: parameters belong to different engines`);
    if (p.dtype !== 'f32') throw new ShapeError(`${op}: parameters must be f32, got ${p.dtype} [${p.shape.join(', ')}]`);
    if (seen.has(p)) throw new UsageError(`${op}: parameter ${p} appears twice`);
    seen.add(p);
  }
  return engine;
}

function checkGrad(op: string, p: Tensor, grad: Tensor): void {
  if (grad.dtype !== 'f32' || grad.size !== p.size) {
    throw new ShapeError(`${op}: gradient ${grad} does not match parameter ${p}`);
  }
}

function checkNumber(op: string, name: string, value: number, ok: (v: number) => boolean, what: string): void {
  if (!ok(value)) throw new UsageError(`${op}: ${name} must be ${what}, got ${value}`);
}
const finiteNonNegative = (v: number) => Number.isFinite(v) && v >= 0;

export abstract class Optimizer {
  /** The learning rate of the next step(); schedules (src/train/schedule.ts) set it. */
  lr: number;
  readonly params: readonly Tensor[];
  protected readonly engine: Engine;

  protected constructor(op: string, params: readonly Tensor[], lr: number) {
    this.engine = checkParams(op, params);
    checkNumber(op, 'lr', lr, finiteNonNegative, 'a finite number >= 0');
    this.params = [...params];
    this.lr = lr;
  }

  /** Updates every parameter that has a gradient; parameters whose .grad is null are skipped (their state does not advance). */
  abstract step(): void;

  /** Disposes every parameter's gradient and sets it to null (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Frees the state tensors. The optimizer must not step afterwards. */
  abstract dispose(): void;

  /** A zero-filled state tensor shaped like p, outside every scope. */
  protected stateLike(p: Tensor, zero: boolean): Tensor {
    return this.engine.keep(zero ? this.engine.zeros(p.shape) : this.engine.empty(p.shape));
  }
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient. */
  weightDecay?: number;
}

/** torch.optim.SGD: momentum buffer starts as the first gradient; nesterov optional. */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  private readonly buffers = new Map<Tensor, Tensor>();

  constructor(params: readonly Tensor[], options: SgdOptions) {
    super('SGD', params, options.lr);
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    checkNumber('SGD', 'momentum', this.momentum, finiteNonNegative, 'a finite number >= 0');
    checkNumber('SGD', 'dampening', this.dampening, Number.isFinite, 'finite');
    checkNumber('SGD', 'weightDecay', this.weightDecay, finiteNonNegative, 'a finite number >= 0');
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new UsageError('SGD: nesterov momentum requires momentum > 0 and dampening 0');
    }
  }

  /** The momentum buffer of p, or null before its first step (for inspection and tests). */
  momentumBuffer(p: Tensor): Tensor | null {
    return this.buffers.get(p) ?? null;
  }

  step(): void {
    const { runtime } = this.engine;
    for (const p of this.params) {
      const grad = p.grad;
      if (!grad) continue;
      checkGrad('SGD', p, grad);
      const hasMomentum = this.momentum !== 0;
      let buf = this.buffers.get(p);
      const first = hasMomentum && !buf;
      if (first) {
        buf = this.stateLike(p, false); // written with the gradient by this step
        this.buffers.set(p, buf);
      }
      const uniforms = sgdUniforms({
        size: p.size, lr: this.lr, weightDecay: this.weightDecay, momentum: this.momentum,
        dampening: this.dampening, nesterov: this.nesterov, first,
      });
      const bindings = [{ buffer: grad.buffer }, { buffer: p.buffer, write: true }];
      if (hasMomentum) bindings.push({ buffer: buf!.buffer, write: true });
      runtime.run(sgdKernel({ momentum: hasMomentum, size: p.size }), bindings, uniforms);
    }
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  /** Adam: L2 penalty added to the gradient. AdamW: decoupled decay, param *= 1 - lr * weightDecay. */
  weightDecay?: number;
}

interface AdamState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

/** torch.optim.Adam (amsgrad, maximize and capturable are not supported). */
export class Adam extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private readonly state = new Map<Tensor, AdamState>();

  constructor(params: readonly Tensor[], options: AdamOptions = {}, protected readonly decoupled = false) {
    const op = decoupled ? 'AdamW' : 'Adam';
    super(op, params, options.lr ?? 1e-3);
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? (decoupled ? 1e-2 : 0);
    for (const [i, b] of this.betas.entries()) checkNumber(op, `betas[${i}]`, b, (v) => v >= 0 && v < 1, 'in [0, 1)');
    checkNumber(op, 'eps', this.eps, finiteNonNegative, 'a finite number >= 0');
    checkNumber(op, 'weightDecay', this.weightDecay, finiteNonNegative, 'a finite number >= 0');
  }

  /** Step count and moment estimates of p (undefined before its first step), for inspection and tests. */
  stateOf(p: Tensor): Readonly<AdamState> | undefined {
    return this.state.get(p);
  }

  /** Per-parameter state copied to the host, in params order (null: no step taken yet), for checkpoints. */
  async stateToHost(): Promise<({ step: number; expAvg: Float32Array; expAvgSq: Float32Array } | null)[]> {
    const out: ({ step: number; expAvg: Float32Array; expAvgSq: Float32Array } | null)[] = [];
    for (const p of this.params) {
      const s = this.state.get(p);
      out.push(s ? { step: s.step, expAvg: await s.expAvg.readFloat(), expAvgSq: await s.expAvgSq.readFloat() } : null);
    }
    return out;
  }

  /** Restores what stateToHost() returned (same parameter order and sizes), replacing the current state. */
  loadStateFromHost(states: readonly ({ step: number; expAvg: Float32Array; expAvgSq: Float32Array } | null)[]): void {
    if (states.length !== this.params.length) throw new ShapeError(`Adam state: ${states.length} entries for ${this.params.length} parameters`);
    states.forEach((s, i) => {
      const p = this.params[i];
      if (s && (s.expAvg.length !== p.size || s.expAvgSq.length !== p.size || !(Number.isInteger(s.step) && s.step >= 1))) {
        throw new ShapeError(`Adam state ${i}: moments of ${s.expAvg.length}/${s.expAvgSq.length} values (step ${s.step}) for a parameter of ${p.size}`);
      }
    });
    this.dispose();
    states.forEach((s, i) => {
      if (!s) return;
      const p = this.params[i];
      const expAvg = this.stateLike(p, false), expAvgSq = this.stateLike(p, false);
      this.engine.writeTensor(expAvg, s.expAvg);
      this.engine.writeTensor(expAvgSq, s.expAvgSq);
      this.state.set(p, { step: s.step, expAvg, expAvgSq });
    });
  }

  step(): void {
    const op = this.decoupled ? 'AdamW' : 'Adam';
    for (const p of this.params) {
      const grad = p.grad;
      if (!grad) continue;
      checkGrad(op, p, grad);
      let s = this.state.get(p);
      if (!s) {
        s = { step: 0, expAvg: this.stateLike(p, true), expAvgSq: this.stateLike(p, true) };
        this.state.set(p, s);
      }
      s.step++;
      const uniforms = adamUniforms({
        size: p.size, lr: this.lr, beta1: this.betas[0], beta2: this.betas[1], eps: this.eps,
        weightDecay: this.weightDecay, decoupled: this.decoupled, step: s.step,
      });
      this.engine.runtime.run(adamKernel(p.size), [
        { buffer: grad.buffer }, { buffer: p.buffer, write: true }, { buffer: s.expAvg.buffer, write: true }, { buffer: s.expAvgSq.buffer, write: true },
      ], uniforms);
    }
  }

  dispose(): void {
    for (const s of this.state.values()) {
      s.expAvg.dispose();
      s.expAvgSq.dispose();
    }
    this.state.clear();
  }
}

/** torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2). */
export class AdamW extends Adam {
  constructor(params: readonly Tensor[], options: AdamOptions = {}) {
    super(params, options, true);
  }
}

/**
 * torch.nn.utils.clip_grad_norm_ (L2): the norm over all gradients together; every gradient is
 * multiplied by min(maxNorm / (norm + 1e-6), 1). Runs entirely on the GPU (per-tensor sums of
 * squares, one combine, one scale per tensor). Returns the total norm before clipping as a new
 * 1-element tensor the caller owns. Parameters without a gradient are skipped.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  const engine = checkParams('clipGradNorm', params);
  checkNumber('clipGradNorm', 'maxNorm', maxNorm, (v) => Number.isFinite(v) && v > 0, 'a finite number > 0');
  const grads = params.flatMap((p) => (p.grad && p.grad.size > 0 ? [p.grad] : []));
  for (const g of grads) if (g.dtype !== 'f32') throw new ShapeError(`clipGradNorm: gradients must be f32, got ${g}`);
  const norm = engine.empty([1]);
  const slots = grads.map((g) => sumSquaresGroups(g.size));
  const count = slots.reduce((a, b) => a + b, 0);
  const partials = engine.empty([Math.max(1, count)]);
  const factor = engine.empty([1]);
  const { runtime } = engine;
  let slot = 0;
  grads.forEach((g, k) => {
    runtime.run(sumSquaresKernel(g.size), [{ buffer: g.buffer }, { buffer: partials.buffer, write: true }], new Uint32Array([g.size, slot]));
    slot += slots[k];
  });
  const clipUniforms = new Float32Array([0, maxNorm]);
  new Uint32Array(clipUniforms.buffer, 0, 1)[0] = count;
  runtime.run(clipFactorKernel(), [{ buffer: partials.buffer }, { buffer: norm.buffer, write: true }, { buffer: factor.buffer, write: true }], clipUniforms);
  for (const g of grads) {
    runtime.run(scaleByFactorKernel(g.size), [{ buffer: g.buffer, write: true }, { buffer: factor.buffer }], new Uint32Array([g.size]));
  }
  // Recorded dispatches keep what they bound; later writes to reused buffers are ordered after them.
  partials.dispose();
  factor.dispose();
  return norm;
}
