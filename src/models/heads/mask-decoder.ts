// The AutoSAM reference's prompt-free MaskDecoder (xhu248/AutoSAM models/sam_decoder.py,
// predict_masks_1): segment-anything's mask decoder with the prompt encoder removed. Each class has
// its own output tokens, one IoU token and num_multimask_outputs + 1 mask tokens, and the
// TwoWayTransformer runs once per (image, class) pair on the image embedding repeated per class.
// The class's mask is the first mask token's hypernetwork output dotted with the upscaled image
// tokens. State-dict names as there: transformer.*, iou_token.weight (C, D), mask_tokens.weight
// (C * T, D), output_upscaling.{0,1,3}.*, output_hypernetworks_mlps.{t}.layers.{l}.*,
// iou_prediction_head.layers.{l}.*.
import type { Engine } from '../../engine.js';
import { ShapeError } from '../../errors.js';
import { ConvTranspose2d } from '../../nn/conv.js';
import { SeededRandom } from '../../nn/init.js';
import { LayerNorm2d, Linear } from '../../nn/layers.js';
import { Module, ModuleList } from '../../nn/module.js';
import { concat, permuteView, reshape, slice } from '../../ops/copy.js';
import { gelu } from '../../ops/elementwise.js';
import { matmul } from '../../ops/matmul.js';
import type { Tensor } from '../../tensor/tensor.js';
import { TwoWayTransformer, type TwoWayTransformerConfig } from './transformer.js';

/** nn.Embedding's table only (the decoder reads .weight directly): weight (num, dim), init N(0, 1). */
export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(engine: Engine, readonly numEmbeddings: number, readonly embeddingDim: number, seed = 0) {
    super(engine);
    this.weight = this.param('weight', engine.tensor(new SeededRandom(seed).normal(numEmbeddings * embeddingDim), [numEmbeddings, embeddingDim]));
  }
}

/** The MaskFormer-style MLP of segment-anything's mask decoder: ReLU between layers, none after the last. */
export class MLP extends Module {
  readonly layers: ModuleList<Linear>;
  constructor(engine: Engine, inputDim: number, hiddenDim: number, outputDim: number, readonly numLayers: number, seed = 0) {
    super(engine);
    const dims = [inputDim, ...Array<number>(numLayers - 1).fill(hiddenDim), outputDim];
    const linears = Array.from({ length: numLayers }, (_, i) => new Linear(engine, dims[i], dims[i + 1], { seed: seed + i + 1 }));
    this.layers = this.child('layers', new ModuleList(engine, linears));
  }
  forward(x: Tensor): Tensor {
    return this.layers.items.reduce((h, layer, i) => layer.forward(h, { activation: i < this.numLayers - 1 ? 'relu' : 'none' }), x);
  }
}

/** segment-anything's output_upscaling: ConvT D->D/4 k2s2, LayerNorm2d, GELU, ConvT D/4->D/8 k2s2, GELU (children 0, 1, 3). */
export class OutputUpscaling extends Module {
  readonly up1: ConvTranspose2d;
  readonly norm: LayerNorm2d;
  readonly up2: ConvTranspose2d;
  constructor(engine: Engine, dim: number, seed = 0) {
    super(engine);
    this.up1 = this.child('0', new ConvTranspose2d(engine, dim, dim / 4, 2, { stride: 2, seed: seed + 1 }));
    this.norm = this.child('1', new LayerNorm2d(engine, dim / 4));
    this.up2 = this.child('3', new ConvTranspose2d(engine, dim / 4, dim / 8, 2, { stride: 2, seed: seed + 2 }));
  }
  /** (N, D, h, w) -> (N, D/8, 4h, 4w). */
  forward(x: Tensor): Tensor {
    return gelu(this.up2.forward(gelu(this.norm.forward(this.up1.forward(x)))));
  }
}

export interface MaskDecoderConfig {
  numClasses: number;
  transformerDim: number;
  transformer: Omit<TwoWayTransformerConfig, 'embeddingDim'>;
  /** Mask tokens per class = numMultimaskOutputs + 1 (AutoSAM: 1, so two mask tokens). */
  numMultimaskOutputs: number;
  iouHeadDepth: number;
  iouHeadHiddenDim: number;
}

export interface MaskDecoderOutput {
  /** (B, C, 4h, 4w) logits from each class's first mask token. */
  masks: Tensor;
  /** (B, C) predicted IoU of those masks (only when asked for). */
  iouPred: Tensor | null;
}

export class MaskDecoder extends Module {
  readonly transformer: TwoWayTransformer;
  readonly iouToken: Embedding;
  readonly maskTokens: Embedding;
  readonly outputUpscaling: OutputUpscaling;
  readonly outputHypernetworksMlps: ModuleList<MLP>;
  readonly iouPredictionHead: MLP;
  readonly numMaskTokens: number;

  constructor(engine: Engine, readonly config: MaskDecoderConfig, seed = 0) {
    super(engine);
    const { numClasses: C, transformerDim: D } = config;
    if (D % 8 !== 0) throw new ShapeError(`MaskDecoder: transformer_dim ${D} must be a multiple of 8 (the upscaling divides it by 4 and 8)`);
    this.numMaskTokens = config.numMultimaskOutputs + 1;
    // Registration order = the reference's __init__ order.
    this.transformer = this.child('transformer', new TwoWayTransformer(engine, { ...config.transformer, embeddingDim: D }, seed + 1000));
    this.iouToken = this.child('iou_token', new Embedding(engine, C, D, seed + 2000));
    this.maskTokens = this.child('mask_tokens', new Embedding(engine, C * this.numMaskTokens, D, seed + 2001));
    this.outputUpscaling = this.child('output_upscaling', new OutputUpscaling(engine, D, seed + 3000));
    const mlps = Array.from({ length: this.numMaskTokens }, (_, t) => new MLP(engine, D, D, D / 8, 3, seed + 4000 + 10 * t));
    this.outputHypernetworksMlps = this.child('output_hypernetworks_mlps', new ModuleList(engine, mlps));
    this.iouPredictionHead = this.child('iou_prediction_head', new MLP(engine, D, config.iouHeadHiddenDim, this.numMaskTokens, config.iouHeadDepth, seed + 5000));
  }


  /**
   * imageEmbedding (B, D, h, w), imagePeTokens (h * w, D) -> masks (B, C, 4h, 4w). The IoU head
   * runs only with withIoU (the reference computes it and trains nothing with it).
   */
  forward(imageEmbedding: Tensor, imagePeTokens: Tensor, { withIoU = false }: { withIoU?: boolean } = {}): MaskDecoderOutput {
    const { numClasses: C, transformerDim: D } = this.config;
    const [B, d, h, w] = imageEmbedding.shape;
    if (d !== D || imageEmbedding.rank !== 4) throw new ShapeError(`MaskDecoder: image embedding (${imageEmbedding.shape.join(', ')}) must be (B, ${D}, h, w)`);
    if (imagePeTokens.shape[0] !== h * w || imagePeTokens.shape[1] !== D) {
      throw new ShapeError(`MaskDecoder: positional encoding (${imagePeTokens.shape.join(', ')}) must be (${h * w}, ${D}) for a ${h}x${w} embedding`);
    }
    // Every (image, class) pair runs the whole decoder, so its tensors grow with B * C: the upscaled
    // features alone are (B*C, D/8, 4h, 4w), 201 MB at B = 4, C = 6, h = 64, over a 128 MiB binding.
    // Images are independent, so a batch whose tensors would not bind runs in chunks of images.
    const perImage = C * this.largestPairBytes(h, w);
    const limit = this.bindingLimitBytes ?? this.engine.device.limits.maxStorageBufferBindingSize;
    const imagesPerChunk = Math.max(1, Math.floor(limit / perImage));
    if (B <= imagesPerChunk) return this.forwardPairs(imageEmbedding, imagePeTokens, withIoU);
    const parts: MaskDecoderOutput[] = [];
    for (let b0 = 0; b0 < B; b0 += imagesPerChunk) {
      const b1 = Math.min(B, b0 + imagesPerChunk);
      parts.push(this.forwardPairs(slice(imageEmbedding, [b0, 0, 0, 0], [b1, D, h, w]), imagePeTokens, withIoU));
    }
    return {
      masks: concat(parts.map((p) => p.masks), 0),
      iouPred: withIoU ? concat(parts.map((p) => p.iouPred!), 0) : null,
    };
  }

  /** For tests: pretend the adapter's storage bindings hold at most this many bytes (forces chunking). */
  bindingLimitBytes: number | undefined = undefined;

  /** Bytes of the largest tensor one (image, class) pair needs: its image tokens (h*w, D) or its upscaled features (D/8, 4h, 4w). */
  private largestPairBytes(h: number, w: number): number {
    const D = this.config.transformerDim;
    return 4 * Math.max(h * w * D, (D / 8) * 16 * h * w, (D / 4) * 4 * h * w);
  }

  private forwardPairs(imageEmbedding: Tensor, imagePeTokens: Tensor, withIoU: boolean): MaskDecoderOutput {
    const { numClasses: C, transformerDim: D } = this.config;
    const T = 1 + this.numMaskTokens;
    const [B, , h, w] = imageEmbedding.shape;

    // Output tokens per class: [iou_c, mask_c0, mask_c1, ...], then the same for every image.
    const iou = reshape(this.iouToken.weight, [C, 1, D]); // (C, 1, D)
    const masks = reshape(this.maskTokens.weight, [C, this.numMaskTokens, D]); // (C, T-1, D)
    const classTokens = reshape(concat([iou, masks], 1), [1, C * T * D]); // (1, C*T*D)
    const tokens = reshape(repeat(classTokens, B, 0), [B * C, T, D]); // (B*C, T, D)

    // The image tokens once per image, then repeated per class: permuting before repeating moves C times less data.
    const imageTokens = permuteView(imageEmbedding, [B, D, h * w], [0, 2, 1]); // (B, h*w, D)
    const perClass = reshape(repeat(reshape(imageTokens, [B, 1, h * w * D]), C, 1), [B * C, h * w, D]); // (B*C, h*w, D)

    const [hs, keys] = this.transformer.forwardTokens(perClass, imagePeTokens, tokens); // (B*C, T, D), (B*C, h*w, D)

    const src = permuteView(keys, keys.shape, [0, 2, 1], [B * C, D, h, w]); // (B*C, D, h, w)
    const upscaled = this.outputUpscaling.forward(src); // (B*C, D/8, 4h, 4w)
    const [, c8, H, W] = upscaled.shape;
    // Only the first mask token's mask is kept (multimask_output=False), so only its hypernetwork runs.
    const firstMaskToken = slice(hs, [0, 1], [B * C, 2]); // (B*C, 1, D)
    const hyperIn = this.outputHypernetworksMlps.items[0].forward(firstMaskToken); // (B*C, 1, D/8)
    const flat = matmul(hyperIn, reshape(upscaled, [B * C, c8, H * W])); // (B*C, 1, H*W)
    const logits = reshape(flat, [B, C, H, W]); // (B, C, H, W)

    let iouPred: Tensor | null = null;
    if (withIoU) {
      const iouOut = this.iouPredictionHead.forward(slice(hs, [0, 0], [B * C, 1])); // (B*C, 1, T-1)
      iouPred = reshape(slice(iouOut, [0, 0, 0], [B * C, 1, 1]), [B, C]); // (B, C)
    }
    return { masks: logits, iouPred };
  }
}

/** torch's repeat along one axis of size 1 (or repeat_interleave's block form): n copies concatenated on `axis`. */
function repeat(x: Tensor, n: number, axis: number): Tensor {
  return n === 1 ? x : concat(Array<Tensor>(n).fill(x), axis);
}
