// The UNet baseline as a TrainableModel: trained from scratch on the (1, S, S) images themselves.
import type { Engine } from '../engine.js';
import { UsageError } from '../errors.js';
import type { TrainableModel } from './model.js';

export function createUnetModel(_engine: Engine, _numClasses: number, _options: { seed: number; baseChannels: number }): TrainableModel {
  throw new UsageError('the UNet baseline is not wired in yet');
}
