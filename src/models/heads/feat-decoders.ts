// The reference's two convolutional heads on the frozen image embedding (xhu248/AutoSAM
// models/SamFeatSeg.py): SegDecoderCNN and SegDecoderLinear, with its state-dict names
// (input_block.{0,2}, blocks.{i}.{0,2[,4]}, final.{0,1}; output_upscaling.{0,1,3}, final.{0,2}).
import type { Engine } from '../../engine.js';
import { ShapeError } from '../../errors.js';
import { Conv2d, ConvTranspose2d } from '../../nn/conv.js';
import { Module, ModuleList } from '../../nn/module.js';
import { relu } from '../../ops/elementwise.js';
import type { Tensor } from '../../tensor/tensor.js';
import { OutputUpscaling } from './mask-decoder.js';

type Step = Module & { forward(x: Tensor): Tensor };

/**
 * nn.Sequential with parameter-free steps (ReLU) in between: layers keep their positional index as
 * the child name, so "Conv, ReLU, Conv" registers children 0 and 2, as PyTorch's state_dict has them.
 */
export class Sequential extends Module {
  constructor(engine: Engine, readonly steps: (Step | ((x: Tensor) => Tensor))[]) {
    super(engine);
    steps.forEach((s, i) => {
      if (s instanceof Module) this.child(String(i), s);
    });
  }
  forward(x: Tensor): Tensor {
    return this.steps.reduce((h, s) => (s instanceof Module ? s.forward(h) : s(h)), x);
  }
}

export interface SegDecoderCNNConfig {
  numClasses: number;
  embedDim: number;
  /** Number of blocks; the reference builds the CNN head with 4. */
  numDepth: number;
  topChannel: number;
}

/**
 * 1x1 convs embed -> top * 2^depth (ReLU after each), then `numDepth` blocks at width
 * c = top * 2^(depth - i): the first two (when depth > 2) are 3x3 c->c, 3x3 c->c/2; the others
 * 3x3 c->c twice then ConvT c->c/2 k2s2 (no ReLU after it); every 3x3 is followed by ReLU.
 * Then 3x3 top->top and 1x1 top->C, with no activation between them (as the reference).
 */
export class SegDecoderCNN extends Module {
  readonly inputBlock: Sequential;
  readonly blocks: ModuleList<Sequential>;
  readonly final: Sequential;

  constructor(engine: Engine, readonly config: SegDecoderCNNConfig, seed = 0) {
    super(engine);
    const { numClasses, embedDim, numDepth, topChannel } = config;
    let s = seed;
    const conv = (i: number, o: number, k: number) => new Conv2d(engine, i, o, k, { padding: (k - 1) / 2, seed: ++s });
    const wide = topChannel * 2 ** numDepth;
    this.inputBlock = this.child('input_block', new Sequential(engine, [conv(embedDim, wide, 1), relu, conv(wide, wide, 1), relu]));
    const blocks: Sequential[] = [];
    for (let i = 0; i < numDepth; i++) {
      const c = topChannel * 2 ** (numDepth - i);
      blocks.push(new Sequential(engine, numDepth > 2 && i < 2
        ? [conv(c, c, 3), relu, conv(c, c / 2, 3), relu]
        : [conv(c, c, 3), relu, conv(c, c, 3), relu, new ConvTranspose2d(engine, c, c / 2, 2, { stride: 2, seed: ++s })]));
    }
    this.blocks = this.child('blocks', new ModuleList(engine, blocks));
    this.final = this.child('final', new Sequential(engine, [conv(topChannel, topChannel, 3), conv(topChannel, numClasses, 1)]));
  }

  /** (B, embed, h, w) -> (B, C, h * 2^k, w * 2^k), k = blocks with a transposed conv (2 in the reference's build). */
  forward(x: Tensor): Tensor {
    const h = this.blocks.items.reduce((y, b) => b.forward(y), this.inputBlock.forward(x));
    return this.final.forward(h);
  }
}

export interface SegDecoderLinearConfig {
  numClasses: number;
  embDim: number;
  /**
   * The reference ends with a ReLU after the last 1x1 conv, which clamps every logit at 0. The
   * design leaves it out (default false); true reproduces the reference exactly.
   */
  finalRelu: boolean;
}

/** The SAM upscaling path (ConvT, LayerNorm2d, GELU, ConvT, GELU), then 1x1 D/8->D/8 + ReLU, 1x1 D/8->C. */
export class SegDecoderLinear extends Module {
  readonly outputUpscaling: OutputUpscaling;
  readonly final: Sequential;

  constructor(engine: Engine, readonly config: SegDecoderLinearConfig, seed = 0) {
    super(engine);
    const { numClasses, embDim, finalRelu } = config;
    if (embDim % 8 !== 0) throw new ShapeError(`SegDecoderLinear: emb_dim ${embDim} must be a multiple of 8`);
    const c = embDim / 8;
    this.outputUpscaling = this.child('output_upscaling', new OutputUpscaling(engine, embDim, seed + 1));
    const steps: (Step | ((x: Tensor) => Tensor))[] = [
      new Conv2d(engine, c, c, 1, { seed: seed + 10 }), relu, new Conv2d(engine, c, numClasses, 1, { seed: seed + 11 }),
    ];
    if (finalRelu) steps.push(relu);
    this.final = this.child('final', new Sequential(engine, steps));
  }

  /** (B, D, h, w) -> (B, C, 4h, 4w). */
  forward(x: Tensor): Tensor {
    return this.final.forward(this.outputUpscaling.forward(x));
  }
}
