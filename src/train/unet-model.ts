// The UNet baseline as a TrainableModel: trained from scratch on the (1, S, S) images themselves, the
// reference's SupConUnet (src/models/unet.ts) with one input channel (the reference repeats the grey
// slice to three identical channels, which a first convolution sees as one channel with summed
// weights) and a configurable width (the reference's 64 is 16x the work of our default 16).
import type { Engine } from '../engine.js';
import { UNet, unetConfig } from '../models/unet.js';
import { headModel } from './models.js';
import type { TrainableModel } from './model.js';

export function createUnetModel(engine: Engine, numClasses: number, options: { seed: number; baseChannels: number }): TrainableModel {
  return headModel(new UNet(engine, unetConfig(numClasses, { inChannels: 1, baseChannels: options.baseChannels }), options.seed));
}
