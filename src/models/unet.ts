// The AutoSAM paper's UNet baseline, trained from scratch on images.
//
// What the reference uses (xhu248/AutoSAM, read for this file): scripts/main_baseline.py with
// --model_type unet builds `SupConUnet(in_channels=3, num_classes=args.num_classes)` from
// models/unet_con.py (mode "cls"): `encoder` = its UNet, `head` = Conv2d(64, num_classes, 1).
// - initial_filter_size 64, four 2x2/2 max-pool levels (depth 4): widths 64, 128, 256, 512, and
//   1024 in the centre.
// - contract blocks (down path): Conv2d 3x3 pad 1 -> InstanceNorm2d (PyTorch defaults: affine=False,
//   track_running_stats=False, eps 1e-5, so no state and train == eval) -> LeakyReLU(0.01); two per level.
// - center: Conv 3x3 -> ReLU -> Conv 3x3 -> ReLU -> ConvTranspose2d(2, stride 2) -> ReLU.
// - expand blocks (up path): Conv2d 3x3 pad 1 -> LeakyReLU, no normalisation; two per level, then
//   upscale{i} = ConvTranspose2d(2, stride 2) with no activation. Skips are concatenated after the
//   upsampled tensor, torch.cat([up, center_crop(skip)], 1).
// - no BatchNorm, no dropout, no bilinear upsampling; the unused Softmax2d has no state.
// - input: the grey slice repeated to 3 channels, 224x224 for ACDC (dataset/utils.py sets img_size).
// - trained with CE + batch soft Dice (background excluded), Adam lr 5e-4, batch 4.
// Our depth is a setting (the reference's is fixed at 4): depth d gives contr_1_* .. contr_d_*,
// expand_d_* .. expand_1_* and upscale{d} .. upscale2, exactly the reference's names at d = 4.
import type { Engine } from '../engine.js';
import { ShapeError } from '../errors.js';
import { Conv2d, ConvTranspose2d } from '../nn/conv.js';
import { InstanceNorm2d } from '../nn/instancenorm.js';
import { Module } from '../nn/module.js';
import { concat, slice } from '../ops/copy.js';
import { relu } from '../ops/elementwise.js';
import { leakyRelu } from '../ops/leaky-relu.js';
import { maxPool2d } from '../ops/pool.js';
import { resizeBilinear } from '../ops/resize.js';
import type { Tensor } from '../tensor/tensor.js';
import { Sequential } from './heads/feat-decoders.js';
import type { HeadForwardOptions, SegmentationHead } from './heads/heads.js';

export interface UNetConfig {
  inChannels: number;
  numClasses: number;
  /** initial_filter_size: the width of the first level, doubled at each level below it. */
  baseChannels: number;
  /** Max-pool levels (4 in the reference). */
  depth: number;
  /** InstanceNorm2d in the contract blocks (the reference's do_instancenorm, default true). */
  instanceNorm: boolean;
}

/** The reference's baseline build: SupConUnet(in_channels=3, num_classes) with its defaults. */
export function unetConfig(numClasses: number, overrides: Partial<UNetConfig> = {}): UNetConfig {
  return { inChannels: 3, numClasses, baseChannels: 64, depth: 4, instanceNorm: true, ...overrides };
}

/** The reference's input size for ACDC. */
export const UNET_DEFAULT_IMAGE_SIZE = 224;

/** UNet.contract(): Conv 3x3 [-> InstanceNorm2d] -> LeakyReLU, children 0 [and 1]. */
function contract(engine: Engine, inC: number, outC: number, instanceNorm: boolean, seed: number): Sequential {
  const conv = new Conv2d(engine, inC, outC, 3, { padding: 1, seed });
  const act = (x: Tensor) => leakyRelu(x);
  return new Sequential(engine, instanceNorm ? [conv, new InstanceNorm2d(engine, outC), act] : [conv, act]);
}

/** UNet.expand(): Conv 3x3 -> LeakyReLU. */
function expand(engine: Engine, inC: number, outC: number, seed: number): Sequential {
  return new Sequential(engine, [new Conv2d(engine, inC, outC, 3, { padding: 1, seed }), (x: Tensor) => leakyRelu(x)]);
}

/** UNet.center_crop: the middle (h, w) of x's planes (a no-op when the sizes already agree). */
function centerCrop(x: Tensor, h: number, w: number): Tensor {
  const [b, c, xh, xw] = x.shape;
  if (xh === h && xw === w) return x;
  const top = Math.floor((xh - h) / 2), left = Math.floor((xw - w) / 2);
  return slice(x, [0, 0, top, left], [b, c, top + h, left + w]);
}

/** models/unet_con.py's UNet without a final layer: image (B, in, H, W) -> features (B, base, H', W'). */
export class UNetEncoder extends Module {
  readonly contracts: [Sequential, Sequential][] = [];
  readonly center: Sequential;
  /** Index 0 is level 1; expands[i] = [expand_{i+1}_1, expand_{i+1}_2]. */
  readonly expands: [Sequential, Sequential][] = [];
  /** upscales[i] is upscale{i+1} (defined for levels 2..depth). */
  readonly upscales: (ConvTranspose2d | null)[] = [];

  constructor(engine: Engine, readonly config: Omit<UNetConfig, 'numClasses'>, seed = 0) {
    super(engine);
    const { inChannels, baseChannels: f, depth, instanceNorm } = config;
    if (!Number.isInteger(depth) || depth < 1) throw new ShapeError(`UNet: depth must be a positive integer, got ${depth}`);
    if (!Number.isInteger(f) || f < 1) throw new ShapeError(`UNet: baseChannels must be a positive integer, got ${f}`);
    let s = seed;
    const width = (level: number) => f * 2 ** (level - 1); // level 1..depth; depth + 1 is the centre
    // Children are registered in the reference's __init__ order, so stateDict() lists keys as PyTorch does.
    for (let level = 1; level <= depth; level++) {
      const first = this.child(`contr_${level}_1`, contract(engine, level === 1 ? inChannels : width(level - 1), width(level), instanceNorm, ++s));
      const second = this.child(`contr_${level}_2`, contract(engine, width(level), width(level), instanceNorm, ++s));
      this.contracts.push([first, second]);
    }
    const mid = width(depth + 1);
    this.center = this.child('center', new Sequential(engine, [
      new Conv2d(engine, width(depth), mid, 3, { padding: 1, seed: ++s }), relu,
      new Conv2d(engine, mid, mid, 3, { padding: 1, seed: ++s }), relu,
      new ConvTranspose2d(engine, mid, width(depth), 2, { stride: 2, seed: ++s }), relu,
    ]));
    const expands: [Sequential, Sequential][] = [];
    const upscales: (ConvTranspose2d | null)[] = new Array(depth).fill(null);
    for (let level = depth; level >= 1; level--) {
      const first = this.child(`expand_${level}_1`, expand(engine, width(level + 1), width(level), ++s));
      const second = this.child(`expand_${level}_2`, expand(engine, width(level), width(level), ++s));
      expands[level - 1] = [first, second];
      if (level > 1) upscales[level - 1] = this.child(`upscale${level}`, new ConvTranspose2d(engine, width(level), width(level - 1), 2, { stride: 2, seed: ++s }));
    }
    this.expands = expands;
    this.upscales = upscales;
  }

  forward(x: Tensor): Tensor {
    const skips: Tensor[] = [];
    let h = x;
    for (const [first, second] of this.contracts) {
      const c = second.forward(first.forward(h)); // (B, width(level), H / 2^(level-1), ...)
      skips.push(c);
      h = maxPool2d(c, 2, 2);
    }
    let up = this.center.forward(h); // (B, width(depth), ...) at the deepest skip's size (or one smaller)
    for (let level = this.config.depth; level >= 1; level--) {
      const skip = skips[level - 1];
      const merged = concat([up, centerCrop(skip, up.shape[2], up.shape[3])], 1); // (B, 2 * width(level), h, w)
      const [first, second] = this.expands[level - 1];
      const e = second.forward(first.forward(merged));
      up = level > 1 ? this.upscales[level - 1]!.forward(e) : e;
    }
    return up;
  }
}

/**
 * SupConUnet(mode="cls"): encoder (the UNet) and head (1x1 conv to the classes). Takes images, not
 * embeddings; otherwise it answers the SegmentationHead interface, so training code drives it the
 * same way.
 */
export class UNet extends Module implements SegmentationHead {
  readonly encoder: UNetEncoder;
  readonly head: Conv2d;

  constructor(engine: Engine, readonly config: UNetConfig, seed = 0) {
    super(engine);
    this.encoder = this.child('encoder', new UNetEncoder(engine, config, seed));
    this.head = this.child('head', new Conv2d(engine, config.baseChannels, config.numClasses, 1, { seed: seed + 1000 }));
  }

  get numClasses(): number {
    return this.config.numClasses;
  }

  /**
   * image (B, inChannels, H, W) -> logits (B, C, H', W'). H' = H when H is a multiple of 2^depth;
   * otherwise the reference's floor pooling and centre crops give a smaller map, which
   * options.outputSize resizes bilinearly (as the heads do).
   */
  forward(image: Tensor, options: HeadForwardOptions = {}): Tensor {
    if (image.rank !== 4 || image.shape[1] !== this.config.inChannels) {
      throw new ShapeError(`UNet: image must be (B, ${this.config.inChannels}, H, W), got (${image.shape.join(', ')})`);
    }
    const minSize = 2 ** this.config.depth;
    if (image.shape[2] < minSize || image.shape[3] < minSize) {
      throw new ShapeError(`UNet: depth ${this.config.depth} needs images of at least ${minSize}x${minSize}, got ${image.shape[2]}x${image.shape[3]}`);
    }
    const logits = this.head.forward(this.encoder.forward(image));
    const size = options.outputSize;
    if (!size || (size[0] === logits.shape[2] && size[1] === logits.shape[3])) return logits;
    return resizeBilinear(logits, [size[0], size[1]]);
  }
}
