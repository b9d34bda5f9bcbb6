// The three prompt-free heads of the AutoSAM paper, each taking the frozen encoder's embedding
// (B, 256, 64, 64) and returning (B, C, H, W) class logits at the label size. Each head's state dict
// is the reference model's (AutoSamSeg / SamFeatSeg) without image_encoder.*, so a reference
// checkpoint loads by name after dropping the encoder's keys.
import type { Engine } from '../../engine.js';
import { ShapeError } from '../../errors.js';
import { Module, type HostTensor } from '../../nn/module.js';
import { resizeBilinear } from '../../ops/resize.js';
import type { Tensor } from '../../tensor/tensor.js';
import { SegDecoderCNN, SegDecoderLinear, type SegDecoderCNNConfig, type SegDecoderLinearConfig } from './feat-decoders.js';
import { MaskDecoder, type MaskDecoderConfig } from './mask-decoder.js';
import { PositionEmbeddingRandom } from './position-embedding.js';

export interface HeadForwardOptions {
  /** [H, W] of the labels: the logits are bilinearly resized to it (align_corners=False) when they differ. */
  outputSize?: readonly [number, number];
}

export interface SegmentationHead extends Module {
  readonly numClasses: number;
  /** embedding (B, D, h, w) -> logits (B, C, H, W). */
  forward(embedding: Tensor, options?: HeadForwardOptions): Tensor;
}

function toSize(logits: Tensor, size: readonly [number, number] | undefined): Tensor {
  if (!size) return logits;
  const [, , h, w] = logits.shape;
  return size[0] === h && size[1] === w ? logits : resizeBilinear(logits, [size[0], size[1]]);
}

export interface AutoSamHeadConfig extends MaskDecoderConfig {
  /** PositionEmbeddingRandom's feature count: transformerDim / 2 (128 in the reference). */
  numPosFeats: number;
}

/** The reference's build (build_autosam_seg_model.py): SAM's decoder sizes, one mask output. */
export function autoSamHeadConfig(numClasses: number, overrides: Partial<AutoSamHeadConfig> = {}): AutoSamHeadConfig {
  const transformerDim = overrides.transformerDim ?? 256;
  return {
    numClasses,
    transformerDim,
    transformer: { depth: 2, numHeads: 8, mlpDim: 2048, attentionDownsampleRate: 2 },
    numMultimaskOutputs: 1,
    iouHeadDepth: 3,
    iouHeadHiddenDim: 256,
    numPosFeats: transformerDim / 2,
    ...overrides,
  };
}

/**
 * AutoSAM's ViT head: mask_decoder (the prompt-free MaskDecoder) and pe_layer
 * (PositionEmbeddingRandom over the embedding grid, a random buffer: the reference does not load
 * SAM's prompt_encoder.pe_layer into it). As the reference trains it, the IoU token and the IoU
 * head are frozen (every parameter with "iou" in its name).
 */
export class AutoSamHead extends Module implements SegmentationHead {
  readonly maskDecoder: MaskDecoder;
  readonly peLayer: PositionEmbeddingRandom;

  constructor(engine: Engine, readonly config: AutoSamHeadConfig, seed = 0) {
    super(engine);
    if (2 * config.numPosFeats !== config.transformerDim) {
      throw new ShapeError(`AutoSamHead: 2 * numPosFeats (${2 * config.numPosFeats}) must equal transformerDim (${config.transformerDim})`);
    }
    this.maskDecoder = this.child('mask_decoder', new MaskDecoder(engine, config, seed));
    this.peLayer = this.child('pe_layer', new PositionEmbeddingRandom(engine, config.numPosFeats, 1, seed + 7));
    this.maskDecoder.iouToken.requiresGrad(false);
    this.maskDecoder.iouPredictionHead.requiresGrad(false);
  }

  get numClasses(): number {
    return this.config.numClasses;
  }

  override loadStateDict(entries: Map<string, HostTensor> | Record<string, HostTensor>, options: { strict?: boolean } = {}): void {
    super.loadStateDict(entries, options);
    this.peLayer.syncHostMatrix(entries, 'pe_layer.');
  }


  forward(embedding: Tensor, options: HeadForwardOptions = {}): Tensor {
    return this.forwardWithIoU(embedding, options, false).masks;
  }

  /** The logits and, with withIoU, the frozen IoU head's (B, C) predictions (resized logits, unresized IoU). */
  forwardWithIoU(embedding: Tensor, options: HeadForwardOptions = {}, withIoU = true): { masks: Tensor; iouPred: Tensor | null } {
    if (embedding.rank !== 4) throw new ShapeError(`AutoSamHead: embedding must be (B, D, h, w), got (${embedding.shape.join(', ')})`);
    const [, , h, w] = embedding.shape;
    const out = this.maskDecoder.forward(embedding, this.peLayer.tokens(h, w), { withIoU });
    return { masks: toSize(out.masks, options.outputSize), iouPred: out.iouPred };
  }
}

/** The reference's CNN head build: SegDecoderCNN(num_classes, num_depth=4), top_channel 64. */
export function cnnHeadConfig(numClasses: number, overrides: Partial<SegDecoderCNNConfig> = {}): SegDecoderCNNConfig {
  return { numClasses, embedDim: 256, numDepth: 4, topChannel: 64, ...overrides };
}

export function linearHeadConfig(numClasses: number, overrides: Partial<SegDecoderLinearConfig> = {}): SegDecoderLinearConfig {
  return { numClasses, embDim: 256, finalRelu: false, ...overrides };
}

/** SamFeatSeg without its encoder: mask_decoder = SegDecoderCNN. */
export class CnnHead extends Module implements SegmentationHead {
  readonly maskDecoder: SegDecoderCNN;
  constructor(engine: Engine, readonly config: SegDecoderCNNConfig, seed = 0) {
    super(engine);
    this.maskDecoder = this.child('mask_decoder', new SegDecoderCNN(engine, config, seed));
  }
  get numClasses(): number {
    return this.config.numClasses;
  }
  forward(embedding: Tensor, options: HeadForwardOptions = {}): Tensor {
    return toSize(this.maskDecoder.forward(embedding), options.outputSize);
  }
}

/** SamFeatSeg without its encoder: mask_decoder = SegDecoderLinear. */
export class LinearHead extends Module implements SegmentationHead {
  readonly maskDecoder: SegDecoderLinear;
  constructor(engine: Engine, readonly config: SegDecoderLinearConfig, seed = 0) {
    super(engine);
    this.maskDecoder = this.child('mask_decoder', new SegDecoderLinear(engine, config, seed));
  }
  get numClasses(): number {
    return this.config.numClasses;
  }
  forward(embedding: Tensor, options: HeadForwardOptions = {}): Tensor {
    return toSize(this.maskDecoder.forward(embedding), options.outputSize);
  }
}

export type HeadKind = 'autosam' | 'cnn' | 'linear';

/** A head of the given kind with the reference's default sizes. */
export function createHead(engine: Engine, kind: HeadKind, numClasses: number, seed = 0): SegmentationHead {
  switch (kind) {
    case 'autosam': return new AutoSamHead(engine, autoSamHeadConfig(numClasses), seed);
    case 'cnn': return new CnnHead(engine, cnnHeadConfig(numClasses), seed);
    case 'linear': return new LinearHead(engine, linearHeadConfig(numClasses), seed);
  }
}
