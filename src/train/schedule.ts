// Learning-rate schedules with PyTorch's arithmetic (torch.optim.lr_scheduler), in plain TypeScript.
// A schedule drives anything with an `lr` field (an Optimizer from ./optim.ts). As in PyTorch, the
// lr at construction is the base lr (epoch 0), and each step() moves to the next epoch and writes the
// new lr. PyTorch computes CosineAnnealingLR and StepLR recursively from the current lr (not in closed
// form); we do the same in float64, so the sequences agree to the last bit or two.
import { UsageError } from '../errors.js';

export interface LrTarget {
  lr: number;
}

export interface LrSchedule {
  /** The lr in effect now (what the target holds). */
  readonly lr: number;
  /** Epochs stepped so far (PyTorch's last_epoch). */
  readonly epoch: number;
  /** Advances one epoch; ReduceLROnPlateau needs the monitored metric. Returns the new lr. */
  step(metric?: number): number;
}

function positive(op: string, name: string, v: number, integer = false): void {
  if (!(Number.isFinite(v) && v > 0 && (!integer || Number.isInteger(v)))) {
    throw new UsageError(`${op}: ${name} must be a ${integer ? 'positive integer' : 'finite number > 0'}, got ${v}`);
  }
}

abstract class EpochSchedule implements LrSchedule {
  epoch = 0;
  readonly baseLr: number;

  constructor(protected readonly target: LrTarget) {
    this.baseLr = target.lr;
  }

  get lr(): number {
    return this.target.lr;
  }

  step(): number {
    this.epoch++;
    this.target.lr = this.next(this.target.lr);
    return this.target.lr;
  }

  /** The lr at this.epoch (>= 1) from the lr at the epoch before. */
  protected abstract next(lr: number): number;
}

/** The lr never changes. */
export class ConstantSchedule extends EpochSchedule {
  protected next(lr: number): number {
    return lr;
  }
}

export interface CosineOptions {
  /** Epochs of the half cosine from base lr down to etaMin (PyTorch's T_max). */
  tMax: number;
  etaMin?: number;
}

/**
 * CosineAnnealingLR: approximately etaMin + (base - etaMin) (1 + cos(pi epoch / tMax)) / 2, computed
 * with PyTorch's recursion (past tMax the lr climbs back up, as PyTorch's does).
 */
export class CosineSchedule extends EpochSchedule {
  readonly tMax: number;
  readonly etaMin: number;

  constructor(target: LrTarget, options: CosineOptions) {
    super(target);
    positive('CosineSchedule', 'tMax', options.tMax, true);
    this.tMax = options.tMax;
    this.etaMin = options.etaMin ?? 0;
  }

  protected next(lr: number): number {
    const e = this.epoch, T = this.tMax;
    // Python's % is non-negative for a positive modulus; JavaScript's keeps the dividend's sign.
    const phase = (((e - 1 - T) % (2 * T)) + 2 * T) % (2 * T);
    if (phase === 0) return lr + ((this.baseLr - this.etaMin) * (1 - Math.cos(Math.PI / T))) / 2;
    return ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (lr - this.etaMin) + this.etaMin;
  }
}

export interface StepOptions {
  /** Multiply the lr by gamma every stepSize epochs. */
  stepSize: number;
  gamma?: number;
}

/** StepLR: lr = base * gamma^floor(epoch / stepSize), by repeated multiplication as PyTorch does. */
export class StepSchedule extends EpochSchedule {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(target: LrTarget, options: StepOptions) {
    super(target);
    positive('StepSchedule', 'stepSize', options.stepSize, true);
    this.stepSize = options.stepSize;
    this.gamma = options.gamma ?? 0.1;
  }

  protected next(lr: number): number {
    return this.epoch % this.stepSize === 0 ? lr * this.gamma : lr;
  }
}

export interface PlateauOptions {
  mode?: 'min' | 'max';
  /** lr *= factor on a plateau (default 0.1; must be < 1). */
  factor?: number;
  /** Epochs without improvement tolerated before reducing (default 10). */
  patience?: number;
  /** Improvement needed to count as better (default 1e-4). */
  threshold?: number;
  /** 'rel': better than best * (1 -/+ threshold); 'abs': better than best -/+ threshold (default 'rel'). */
  thresholdMode?: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting bad epochs again (default 0). */
  cooldown?: number;
  minLr?: number;
  /** Reductions smaller than this are not applied (default 1e-8). */
  eps?: number;
}

/** ReduceLROnPlateau: reduce the lr when the metric has not improved for `patience` epochs. */
export class PlateauSchedule implements LrSchedule {
  epoch = 0;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;
  readonly options: Required<PlateauOptions>;

  constructor(private readonly target: LrTarget, options: PlateauOptions = {}) {
    this.options = {
      mode: options.mode ?? 'min',
      factor: options.factor ?? 0.1,
      patience: options.patience ?? 10,
      threshold: options.threshold ?? 1e-4,
      thresholdMode: options.thresholdMode ?? 'rel',
      cooldown: options.cooldown ?? 0,
      minLr: options.minLr ?? 0,
      eps: options.eps ?? 1e-8,
    };
    const o = this.options;
    if (!(o.factor < 1 && o.factor >= 0)) throw new UsageError(`PlateauSchedule: factor must be in [0, 1), got ${o.factor}`);
    if (o.mode !== 'min' && o.mode !== 'max') throw new UsageError(`PlateauSchedule: mode must be 'min' or 'max', got ${String(o.mode)}`);
    if (o.thresholdMode !== 'rel' && o.thresholdMode !== 'abs') throw new UsageError(`PlateauSchedule: thresholdMode must be 'rel' or 'abs', got ${String(o.thresholdMode)}`);
    for (const k of ['patience', 'cooldown'] as const) {
      if (!(Number.isInteger(o[k]) && o[k] >= 0)) throw new UsageError(`PlateauSchedule: ${k} must be an integer >= 0, got ${o[k]}`);
    }
    this.best = o.mode === 'min' ? Infinity : -Infinity;
  }

  get lr(): number {
    return this.target.lr;
  }

  isBetter(a: number, best: number): boolean {
    const { mode, thresholdMode, threshold } = this.options;
    if (mode === 'min') return thresholdMode === 'rel' ? a < best * (1 - threshold) : a < best - threshold;
    return thresholdMode === 'rel' ? a > best * (threshold + 1) : a > best + threshold;
  }

  step(metric?: number): number {
    if (typeof metric !== 'number') throw new UsageError('PlateauSchedule.step(): pass the monitored metric (e.g. the validation loss)');
    this.epoch++;
    if (this.isBetter(metric, this.best)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs++;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.numBadEpochs = 0; // bad epochs in cooldown do not count
    }
    if (this.numBadEpochs > this.options.patience) {
      const old = this.target.lr;
      const reduced = Math.max(old * this.options.factor, this.options.minLr);
      if (old - reduced > this.options.eps) this.target.lr = reduced;
      this.cooldownCounter = this.options.cooldown;
      this.numBadEpochs = 0;
    }
    return this.target.lr;
  }
}

/** A schedule as a configuration value (CLI flags, saved training settings). */
export type ScheduleSpec =
  | { kind: 'constant' }
  | ({ kind: 'cosine' } & CosineOptions)
  | ({ kind: 'step' } & StepOptions)
  | ({ kind: 'plateau' } & PlateauOptions);

export function makeSchedule(target: LrTarget, spec: ScheduleSpec): LrSchedule {
  switch (spec.kind) {
    case 'constant': return new ConstantSchedule(target);
    case 'cosine': return new CosineSchedule(target, spec);
    case 'step': return new StepSchedule(target, spec);
    case 'plateau': return new PlateauSchedule(target, spec);
    default: throw new UsageError(`unknown schedule kind '${(spec as { kind: string }).kind}' (constant, cosine, step, plateau)`);
  }
}
