// nn.Module: named parameters, buffers and children whose dotted names match PyTorch's state_dict,
// so checkpoints load by name with exact key and shape checks (as nanoGPT's from_pretrained does).
import type { Engine } from '../engine.js';
import { FormatError, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export class StateDictMismatchError extends FormatError {
  constructor(readonly missing: string[], readonly unexpected: string[], readonly mismatched: { key: string; expected: number[]; got: number[] }[]) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing keys (${missing.length}): ${missing.join(', ')}`);
    if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${unexpected.join(', ')}`);
    if (mismatched.length) parts.push(`shape mismatches: ${mismatched.map((m) => `${m.key} expected [${m.expected}] got [${m.got}]`).join('; ')}`);
    super(`state dict does not match the model: ${parts.join('; ')}`);
  }
}

export abstract class Module {
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  constructor(readonly engine: Engine) {}

  /** Registers a trainable parameter under `name` (kept outside every engine scope). */
  protected param(name: string, t: Tensor): Tensor {
    this.engine.keep(t);
    t.requiresGrad = true;
    this.ownParams.set(name, t);
    return t;
  }

  /** Registers a non-trainable tensor that is part of the state dict (e.g. running statistics). */
  protected buffer(name: string, t: Tensor): Tensor {
    this.engine.keep(t);
    this.ownBuffers.set(name, t);
    return t;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.ownParams].map(([k, t]) => [prefix + k, t]);
    for (const [name, m] of this.children) out.push(...m.namedParameters(`${prefix}${name}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.ownBuffers].map(([k, t]) => [prefix + k, t]);
    for (const [name, m] of this.children) out.push(...m.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  /** Parameters that currently train (requiresGrad), for an optimizer. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t).filter((t) => t.requiresGrad);
  }

  parameterCount(trainableOnly = false): number {
    return this.namedParameters().filter(([, t]) => !trainableOnly || t.requiresGrad).reduce((n, [, t]) => n + t.size, 0);
  }

  /** Freezes (false) or unfreezes (true) every parameter of this module and its children. */
  requiresGrad(flag: boolean): this {
    for (const [, t] of this.namedParameters()) t.requiresGrad = flag;
    return this;
  }

  train(mode = true): this {
    this.training = mode;
    for (const m of this.children.values()) m.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Parameters and buffers by dotted name, as PyTorch's state_dict() orders them (own first, then children). */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const walk = (m: Module, prefix: string) => {
      for (const [k, t] of m.ownParams) out.set(prefix + k, t);
      for (const [k, t] of m.ownBuffers) out.set(prefix + k, t);
      for (const [name, c] of m.children) walk(c, `${prefix}${name}.`);
    };
    walk(this, '');
    return out;
  }

  /** Copies every tensor of the state dict to the host. */
  async stateDictToHost(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [k, t] of this.stateDict()) out.set(k, { shape: [...t.shape], data: await t.readFloat() });
    return out;
  }

  /**
   * Loads host tensors by name. strict: the key sets must match exactly; shapes must always match.
   * Nothing is written unless every check passes.
   */
  loadStateDict(entries: Map<string, HostTensor> | Record<string, HostTensor>, { strict = true }: { strict?: boolean } = {}): void {
    const given = entries instanceof Map ? entries : new Map(Object.entries(entries));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !given.has(k));
    const unexpected = [...given.keys()].filter((k) => !own.has(k));
    const mismatched: { key: string; expected: number[]; got: number[] }[] = [];
    for (const [k, t] of own) {
      const g = given.get(k);
      if (!g) continue;
      const sameShape = g.shape.length === t.shape.length && g.shape.every((d, i) => d === t.shape[i]);
      if (!sameShape) mismatched.push({ key: k, expected: [...t.shape], got: [...g.shape] });
      else if (g.data.length !== t.size) throw new ShapeError(`loadStateDict: ${k} has ${g.data.length} values for shape [${g.shape}]`);
    }
    if (mismatched.length || (strict && (missing.length || unexpected.length))) throw new StateDictMismatchError(missing, unexpected, mismatched);
    for (const [k, t] of own) {
      const g = given.get(k);
      if (g) this.engine.writeTensor(t, g.data);
    }
  }

  /** Frees every parameter, buffer and gradient, calling each child's dispose() so overrides that free more run too. */
  dispose(): void {
    for (const t of [...this.ownParams.values(), ...this.ownBuffers.values()]) {
      t.grad?.dispose();
      t.grad = null;
      t.dispose();
    }
    for (const m of this.children.values()) m.dispose();
  }
}

/** Children named 0, 1, 2... as torch.nn.ModuleList and Sequential name them. */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(engine: Engine, items: M[]) {
    super(engine);
    this.items = items.map((m, i) => this.child(String(i), m));
  }
}
