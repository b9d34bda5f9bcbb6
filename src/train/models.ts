// The trainable models of the experiment behind one interface: the three prompt-free heads (input:
// the frozen encoder's embedding) and the UNet baseline (input: the image itself).
import type { Engine } from '../engine.js';
import { UsageError } from '../errors.js';
import {
  AutoSamHead, autoSamHeadConfig, CnnHead, cnnHeadConfig, LinearHead, linearHeadConfig, type HeadKind, type SegmentationHead,
} from '../models/heads/index.js';
import type { HostTensor } from '../nn/module.js';
import type { TrainableModel } from './model.js';

export type ModelKind = HeadKind | 'unet';
export const MODEL_KINDS: readonly ModelKind[] = ['autosam', 'cnn', 'linear', 'unet'];

export function parseModelKind(text: string): ModelKind {
  if ((MODEL_KINDS as readonly string[]).includes(text)) return text as ModelKind;
  throw new UsageError(`unknown head '${text}': use ${MODEL_KINDS.join(', ')}`);
}

/** True for the heads that train on encoder embeddings; false for the UNet, which sees images. */
export function usesEncoder(kind: ModelKind): boolean {
  return kind !== 'unet';
}

export function headModel(head: SegmentationHead): TrainableModel {
  return {
    module: head,
    numClasses: head.numClasses,
    forward: (x, labelSize) => head.forward(x, { outputSize: [labelSize[0], labelSize[1]] }),
  };
}

/** Keys never taken from SAM: AutoSAM's per-class tokens start fresh (their shapes differ from SAM's anyway, except mask_tokens when C = 2). */
const FRESH_KEYS = new Set(['mask_decoder.iou_token.weight', 'mask_decoder.mask_tokens.weight']);

/**
 * AutoSAM's initialisation: every mask_decoder.* tensor of SAM's decoder whose name and shape match
 * the head's is copied (transformer, output upscaling, hypernetwork MLPs 0 and 1, IoU head layers
 * but its last); the IoU and mask tokens stay fresh. Returns what was copied and what was not.
 */
export function initAutoSamHeadFromSam(head: AutoSamHead, samDecoder: Map<string, HostTensor>): { copied: string[]; fresh: string[] } {
  const own = head.stateDict();
  const chosen = new Map<string, HostTensor>();
  const fresh: string[] = [];
  for (const [key, t] of own) {
    const sam = samDecoder.get(key);
    if (sam && !FRESH_KEYS.has(key) && sam.shape.length === t.shape.length && sam.shape.every((d, i) => d === t.shape[i])) chosen.set(key, sam);
    else fresh.push(key);
  }
  if (chosen.size === 0) throw new UsageError('AutoSAM initialisation: no mask_decoder.* tensor of the SAM weights matches the head (is it a SAM mask decoder?)');
  head.loadStateDict(chosen, { strict: false });
  return { copied: [...chosen.keys()], fresh };
}

export interface ModelOptions {
  seed: number;
  /** Channels of the encoder's embedding: 256 for every SAM encoder; small test configurations differ. */
  embedChannels?: number;
  /** SAM mask-decoder weights for the AutoSAM head (mask_decoder.* names); used when the widths agree. */
  samDecoder?: Map<string, HostTensor>;
}

/** A head with the reference's sizes, its input width set to the embedding's channel count. */
export function createTrainable(engine: Engine, kind: ModelKind, numClasses: number, options: ModelOptions): TrainableModel {
  const d = options.embedChannels ?? 256;
  if (kind === 'unet') throw new UsageError('the UNet baseline is created by createUnetModel');
  if (kind === 'linear') return headModel(new LinearHead(engine, linearHeadConfig(numClasses, { embDim: d }), options.seed));
  if (kind === 'cnn') return headModel(new CnnHead(engine, cnnHeadConfig(numClasses, { embedDim: d }), options.seed));
  if (!(d % 16 === 0)) throw new UsageError(`the AutoSAM head needs an embedding width divisible by 16, got ${d}`);
  const head = new AutoSamHead(engine, autoSamHeadConfig(numClasses, { transformerDim: d }), options.seed);
  // SAM's decoder is 256 wide: it initialises the head only when the encoder's embedding is too.
  if (options.samDecoder && d === 256) initAutoSamHeadFromSam(head, options.samDecoder);
  return headModel(head);
}
