// Segmentation losses on logits (B, C, ...spatial) or (N, C): cross-entropy with PyTorch's
// F.cross_entropy semantics (mean reduction), the AutoSAM reference's batch soft Dice, and their sum.
// Each is one fused forward (two dispatches) plus one fused backward; the softmax is never stored.
// See src/kernels/loss.ts for the formulas and the reference's Dice quoted.
import { DataError, ShapeError, UsageError } from '../errors.js';
import { record } from '../graph/autograd.js';
import {
  LOSS_MAX_VALUES, lossBackwardKernel, lossFinalizeKernel, lossFinalizeUniforms, lossGroupCount, lossPartialsKernel, lossPartialsWorkgroup,
  lossPixelUniforms, lossStatsCount, lossValueCount, type LossConfig, type LossKind,
} from '../kernels/loss.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertSameEngine, shapeText } from './checks.js';

/** PyTorch's default ignore_index. */
export const DEFAULT_IGNORE_INDEX = -100;

export interface CrossEntropyOptions {
  /** Per-class weights (C), f32. The weighted mean divides by the summed weights of the counted targets. */
  weight?: Tensor;
  /** Targets equal to this are left out of the loss and of the mean's denominator (default -100). */
  ignoreIndex?: number;
  reduction?: 'mean';
}

export interface SoftDiceOptions {
  /** When given, must equal the logits' C (a guard against mismatched heads and labels). */
  numClasses?: number;
  /** Leave class 0 out of the mean over classes (default true, as the reference's do_bg=False). */
  excludeBackground?: boolean;
  /** Added to each class's denominator (default 1). */
  smooth?: number;
  /** Added to each class's numerator (default: smooth). The reference adds 1 here whatever smooth is. */
  smoothNumerator?: number;
  /** Pixels with this target are left out of every sum (default -100). */
  ignoreIndex?: number;
}

export type CeDiceOptions = Omit<CrossEntropyOptions, 'ignoreIndex'> & SoftDiceOptions;

/**
 * Target labels: an i32 tensor, or host labels (Int32Array, shaped like the logits without C),
 * which are validated before upload. A GPU tensor cannot be checked without a read back, so
 * out-of-range values in it are skipped by the kernels (they count as ignored).
 */
export type LossTarget = Tensor | Int32Array;

/** Mean cross-entropy of softmax(logits) over C against integer targets, as F.cross_entropy. */
export function crossEntropy(logits: Tensor, target: LossTarget, options: CrossEntropyOptions = {}): Tensor {
  return fusedLoss('crossEntropy', 'ce', logits, target, {
    weight: options.weight,
    ignoreIndex: options.ignoreIndex ?? DEFAULT_IGNORE_INDEX,
    excludeBackground: true,
    smooth: 1,
    smoothNumerator: 1,
    numClasses: undefined,
  });
}

/** Batch soft Dice of softmax(logits) against one-hot targets (the AutoSAM reference's SoftDiceLoss). */
export function softDiceLoss(logits: Tensor, target: LossTarget, options: SoftDiceOptions = {}): Tensor {
  return fusedLoss('softDiceLoss', 'dice', logits, target, diceOptions(options));
}

/** crossEntropy + softDiceLoss in one pass: the reference's training loss. */
export function ceDiceLoss(logits: Tensor, target: LossTarget, options: CeDiceOptions = {}): Tensor {
  return fusedLoss('ceDiceLoss', 'ce_dice', logits, target, { ...diceOptions(options), weight: options.weight });
}

function diceOptions(o: SoftDiceOptions): FusedOptions {
  const smooth = o.smooth ?? 1;
  return {
    weight: undefined,
    ignoreIndex: o.ignoreIndex ?? DEFAULT_IGNORE_INDEX,
    excludeBackground: o.excludeBackground ?? true,
    smooth,
    smoothNumerator: o.smoothNumerator ?? smooth,
    numClasses: o.numClasses,
  };
}

interface FusedOptions {
  weight: Tensor | undefined;
  ignoreIndex: number;
  excludeBackground: boolean;
  smooth: number;
  smoothNumerator: number;
  numClasses: number | undefined;
}

/**
 * Throws a DataError naming the first label outside [0, numClasses) that is not ignoreIndex.
 * Exported for data pipelines that upload labels themselves.
 */
export function validateTargets(op: string, target: ArrayLike<number>, numClasses: number, ignoreIndex = DEFAULT_IGNORE_INDEX): void {
  for (let i = 0; i < target.length; i++) {
    const t = target[i];
    if (t === ignoreIndex) continue;
    if (!(t >= 0 && t < numClasses)) {
      throw new DataError(`${op}: target value ${t} at index ${i} is outside [0, ${numClasses}) and is not ignoreIndex (${ignoreIndex})`);
    }
  }
}

function fusedLoss(op: string, kind: LossKind, logits: Tensor, target: LossTarget, o: FusedOptions): Tensor {
  const engine = logits.engine;
  if (logits.dtype !== 'f32') throw new ShapeError(`${op}: logits must be f32, got ${logits.dtype} ${shapeText(logits)}`);
  if (logits.rank < 2) throw new ShapeError(`${op}: logits must be (N, C) or (B, C, ...spatial), got ${shapeText(logits)}`);
  const C = logits.shape[1];
  const targetShape = [logits.shape[0], ...logits.shape.slice(2)];
  const spatial = logits.shape.slice(2).reduce((a, b) => a * b, 1);
  const pixels = logits.shape[0] * spatial;
  if (C < 1) throw new ShapeError(`${op}: logits ${shapeText(logits)} have no classes`);
  if (o.numClasses !== undefined && o.numClasses !== C) {
    throw new ShapeError(`${op}: numClasses is ${o.numClasses} but the logits ${shapeText(logits)} have ${C} classes (dimension 1)`);
  }
  if (kind !== 'ce' && o.excludeBackground && C < 2) {
    throw new ShapeError(`${op}: Dice without the background needs at least 2 classes, logits are ${shapeText(logits)}`);
  }
  if (!Number.isInteger(o.ignoreIndex)) throw new UsageError(`${op}: ignoreIndex must be an integer, got ${o.ignoreIndex}`);
  if (!(o.smooth >= 0) || !(o.smoothNumerator >= 0)) throw new UsageError(`${op}: smooth terms must be >= 0, got ${o.smooth} and ${o.smoothNumerator}`);

  let targetTensor: Tensor;
  const owned: Tensor[] = [];
  if (target instanceof Int32Array) {
    if (target.length !== pixels) {
      throw new ShapeError(`${op}: ${target.length} host target values do not fill the target shape [${targetShape.join(', ')}] of logits ${shapeText(logits)}`);
    }
    validateTargets(op, target, C, o.ignoreIndex);
    targetTensor = engine.tensor(target, targetShape, 'i32');
    owned.push(targetTensor);
  } else {
    assertSameEngine(op, logits, target);
    if (target.dtype !== 'i32') throw new ShapeError(`${op}: target must be i32 class indices, got ${target.dtype} ${shapeText(target)}`);
    if (target.rank !== targetShape.length || target.shape.some((d, i) => d !== targetShape[i])) {
      throw new ShapeError(`${op}: target ${shapeText(target)} does not match logits ${shapeText(logits)}; expected [${targetShape.join(', ')}]`);
    }
    targetTensor = target;
  }
  const weight = kind === 'dice' ? undefined : o.weight;
  if (weight) {
    assertSameEngine(op, logits, weight);
    if (weight.dtype !== 'f32' || weight.rank !== 1 || weight.shape[0] !== C) {
      throw new ShapeError(`${op}: weight must be f32 [${C}] (one per class of logits ${shapeText(logits)}), got ${weight.dtype} ${shapeText(weight)}`);
    }
  }

  const config: LossConfig = { kind, numClasses: C, hasWeight: !!weight, excludeBackground: o.excludeBackground };
  if (lossValueCount(config) > LOSS_MAX_VALUES) {
    throw new ShapeError(`${op}: Dice over ${C} classes (logits ${shapeText(logits)}) is more than the fused kernel keeps in workgroup memory (about 80)`);
  }
  const inputs = [{ buffer: logits.buffer }, { buffer: targetTensor.buffer }, ...(weight ? [{ buffer: weight.buffer }] : [])];
  const pixelUniforms = lossPixelUniforms(pixels, spatial, o.ignoreIndex);
  const values = lossValueCount(config);
  const groups = lossGroupCount(pixels, lossPartialsWorkgroup(values));
  const partials = engine.empty([groups, values]);
  const loss = engine.empty([1]);
  const stats = engine.empty([lossStatsCount(C)]);
  engine.runtime.run(lossPartialsKernel(config, groups), [...inputs, { buffer: partials.buffer, write: true }], new Uint8Array(pixelUniforms));
  engine.runtime.run(lossFinalizeKernel(config), [
    { buffer: partials.buffer }, { buffer: loss.buffer, write: true }, { buffer: stats.buffer, write: true },
  ], new Uint8Array(lossFinalizeUniforms(groups, o.smooth, o.smoothNumerator)));
  // Recorded dispatches keep their buffers' contents: later writes to a reused buffer are ordered after them.
  partials.dispose();

  const recordInputs = [logits, targetTensor, ...(weight ? [weight] : [])];
  return record(loss, op, recordInputs, (dy) => {
    const dlogits = engine.empty(logits.shape);
    if (pixels > 0) {
      engine.runtime.run(lossBackwardKernel(config, pixels), [
        ...inputs, { buffer: stats.buffer }, { buffer: dy.buffer }, { buffer: dlogits.buffer, write: true },
      ], new Uint8Array(pixelUniforms));
    }
    return [dlogits, null, ...(weight ? [null] : [])];
  }, [stats, ...owned]);
}
