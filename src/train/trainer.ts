// The training loop: seeded epochs over the sample bank, CE + batch soft Dice, Adam, an lr schedule
// computed from the step alone, and integrity checks. Everything that decides the result is a pure
// function of (config, step), so a run resumed from a checkpoint continues exactly as the
// uninterrupted run would have: the epoch's sample order comes from the seed and the epoch number,
// the lr from the step number, the weights and Adam moments from the checkpoint.
import { DataError, UsageError } from '../errors.js';
import { backward } from '../graph/autograd.js';
import { createRng, shuffled } from '../data/random.js';
import { ceDiceLoss } from '../ops/loss.js';
import { Adam, clipGradNorm } from './optim.js';
import type { Sample, TrainableModel } from './model.js';

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** 'constant' (the reference) or 'cosine' (half cosine to 0 over all steps). */
  schedule: 'constant' | 'cosine';
  /** Write a checkpoint every this many steps (and at the end); 0 = only at the end. */
  checkpointEvery: number;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = { epochs: 20, batchSize: 4, lr: 5e-4, seed: 0, schedule: 'constant', checkpointEvery: 50 };

/** NaN or Inf in the loss or the gradients: training stops before the update, weights untouched. */
export class NonFiniteError extends DataError {
  constructor(readonly step: number, readonly what: string) {
    super(`step ${step}: the ${what} is not finite; training stopped before this step's update (the last checkpoint is kept)`);
    this.name = 'NonFiniteError';
  }
}

export interface StepInfo {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  gradNorm: number;
  lr: number;
}

export interface EpochInfo {
  epoch: number;
  step: number;
  /** Mean loss of the epoch's steps. */
  loss: number;
  lr: number;
  seconds: number;
}

/** Where the loop is: `step` steps are done. */
export interface TrainPosition {
  step: number;
  /** Sum and count of losses in the current epoch so far (so a resumed epoch reports the same mean). */
  epochLossSum: number;
  epochSteps: number;
}

export interface TrainHooks {
  onStep?(info: StepInfo): void;
  onEpoch?(info: EpochInfo): Promise<void> | void;
  /** Called every checkpointEvery steps and after the last step, with the optimizer to save. */
  checkpoint?(position: TrainPosition, optimizer: Adam): Promise<void>;
  signal?: AbortSignal;
}

export function stepsPerEpoch(samples: number, batchSize: number): number {
  return Math.ceil(samples / Math.min(batchSize, samples));
}

export function lrAt(config: TrainConfig, step: number, totalSteps: number): number {
  if (config.schedule === 'constant') return config.lr;
  return (config.lr * (1 + Math.cos((Math.PI * step) / totalSteps))) / 2;
}

/** The sample indices of every batch of an epoch: a seeded shuffle, cut into batches (the last may be smaller). */
export function epochBatches(count: number, batchSize: number, seed: number, epoch: number): number[][] {
  const order = shuffled(Array.from({ length: count }, (_, i) => i), createRng(`${seed}:epoch:${epoch}`));
  const size = Math.min(batchSize, count);
  const out: number[][] = [];
  for (let i = 0; i < count; i += size) out.push(order.slice(i, i + size));
  return out;
}

export function validateTrainConfig(config: TrainConfig): void {
  const positiveInt = (name: string, v: number) => {
    if (!(Number.isInteger(v) && v >= 1)) throw new UsageError(`${name} must be a positive integer, got ${v}`);
  };
  positiveInt('epochs', config.epochs);
  positiveInt('batch size', config.batchSize);
  if (!(Number.isFinite(config.lr) && config.lr > 0)) throw new UsageError(`lr must be a finite number > 0, got ${config.lr}`);
  if (!Number.isInteger(config.seed)) throw new UsageError(`seed must be an integer, got ${config.seed}`);
  if (!(Number.isInteger(config.checkpointEvery) && config.checkpointEvery >= 0)) throw new UsageError(`checkpoint interval must be an integer >= 0, got ${config.checkpointEvery}`);
  if (config.schedule !== 'constant' && config.schedule !== 'cosine') throw new UsageError(`schedule must be constant or cosine, got ${config.schedule}`);
}

function checkSamples(samples: readonly Sample[], numClasses: number): void {
  if (samples.length === 0) throw new DataError('training: no samples');
  const [first] = samples;
  for (const s of samples) {
    if (s.inputShape.join() !== first.inputShape.join() || s.labelSize.join() !== first.labelSize.join()) {
      throw new DataError(`training: sample ${s.id} is (${s.inputShape}) / ${s.labelSize.join('x')}, ${first.id} is (${first.inputShape}) / ${first.labelSize.join('x')}: all samples must share one shape`);
    }
    for (let i = 0; i < s.label.length; i++) {
      if (s.label[i] >= numClasses) throw new DataError(`training: sample ${s.id} has label ${s.label[i]} at pixel ${i}, outside 0..${numClasses - 1}`);
    }
  }
}

/**
 * The first half of a training step: forward, CE + batch soft Dice, backward, and the loss and total
 * gradient norm read back (the integrity check needs both before the update). Gradients are left in
 * the parameters' .grad for optimizer.step(). Exported so benchmarks time exactly this step.
 */
export async function lossAndGradients(
  model: TrainableModel, optimizer: Adam, inputs: Float32Array, inputShape: readonly number[], labels: Int32Array, labelSize: readonly [number, number],
): Promise<{ loss: number; gradNorm: number }> {
  const { engine } = model.module;
  return engine.scopeAsync(async () => {
    const x = engine.tensor(inputs, inputShape);
    const lossT = ceDiceLoss(model.forward(x, labelSize), labels);
    backward(lossT);
    // The total gradient norm, for the integrity check and the log (clipping at 1e30 never scales).
    const norm = clipGradNorm(optimizer.params, 1e30);
    const [lossValue, normValue] = await Promise.all([lossT.readFloat(), norm.readFloat()]);
    return { loss: lossValue[0], gradNorm: normValue[0] };
  });
}

/**
 * Trains `model` on `samples` from `start` (a fresh run: step 0) to config.epochs epochs.
 * The optimizer is created here (Adam over the module's trainable parameters) and, when resuming,
 * loaded by the caller through `prepareOptimizer`.
 */
export async function train(
  model: TrainableModel,
  samples: readonly Sample[],
  config: TrainConfig,
  hooks: TrainHooks = {},
  resume?: { position: TrainPosition; prepareOptimizer(optimizer: Adam): void },
): Promise<{ position: TrainPosition; optimizer: Adam }> {
  validateTrainConfig(config);
  checkSamples(samples, model.numClasses);
  const { engine } = model.module;
  const perEpoch = stepsPerEpoch(samples.length, config.batchSize);
  const totalSteps = perEpoch * config.epochs;
  const optimizer = new Adam(model.module.parameters(), { lr: config.lr });
  if (resume) resume.prepareOptimizer(optimizer);
  const position: TrainPosition = resume ? { ...resume.position } : { step: 0, epochLossSum: 0, epochSteps: 0 };
  if (position.step > totalSteps) throw new UsageError(`resume: the checkpoint is at step ${position.step}, past this run's ${totalSteps} steps`);
  const [inputSize, labelSize] = [samples[0].input.length, samples[0].label.length];
  const labelHW = samples[0].labelSize;
  model.module.train();

  let epochStarted = performance.now();
  try {
    while (position.step < totalSteps) {
      hooks.signal?.throwIfAborted();
      const epoch = Math.floor(position.step / perEpoch);
      const batchIndex = position.step % perEpoch;
      const batch = epochBatches(samples.length, config.batchSize, config.seed, epoch)[batchIndex];
      const inputs = new Float32Array(batch.length * inputSize);
      const labels = new Int32Array(batch.length * labelSize);
      batch.forEach((k, b) => {
        inputs.set(samples[k].input, b * inputSize);
        labels.set(samples[k].label, b * labelSize);
      });
      const lr = lrAt(config, position.step, totalSteps);
      optimizer.lr = lr;
      const step = position.step + 1;
      const { loss, gradNorm } = await lossAndGradients(model, optimizer, inputs, [batch.length, ...samples[0].inputShape], labels, labelHW);
      if (!Number.isFinite(loss)) {
        optimizer.zeroGrad();
        throw new NonFiniteError(step, `loss (${loss})`);
      }
      if (!Number.isFinite(gradNorm)) {
        optimizer.zeroGrad();
        throw new NonFiniteError(step, `gradient norm (${gradNorm})`);
      }
      optimizer.step();
      optimizer.zeroGrad();
      position.step = step;
      position.epochLossSum += loss;
      position.epochSteps++;
      hooks.onStep?.({ step, totalSteps, epoch, loss, gradNorm, lr });
      const epochDone = step % perEpoch === 0;
      if (epochDone) {
        const info: EpochInfo = { epoch: epoch + 1, step, loss: position.epochLossSum / position.epochSteps, lr, seconds: (performance.now() - epochStarted) / 1000 };
        position.epochLossSum = 0;
        position.epochSteps = 0;
        await hooks.onEpoch?.(info);
        model.module.train();
        epochStarted = performance.now();
      }
      if (hooks.checkpoint && ((config.checkpointEvery > 0 && step % config.checkpointEvery === 0) || step === totalSteps)) {
        await hooks.checkpoint({ ...position }, optimizer);
      }
    }
  } catch (err) {
    optimizer.dispose();
    throw err;
  }
  return { position, optimizer };
}
