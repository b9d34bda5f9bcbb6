// MobileSAM's image encoder: TinyViT (patch embedding, one MBConv stage, three windowed-attention
// stages) and SAM's neck, as modules of our engine. Forward-only and frozen: run it under noGrad.
import type { Engine } from '../../engine.js';
import { Conv2d } from '../../nn/conv.js';
import { LayerNorm2d } from '../../nn/layers.js';
import { Module, ModuleList, type HostTensor } from '../../nn/module.js';
import { gelu } from '../../ops/elementwise.js';
import type { Tensor } from '../../tensor/tensor.js';
import { noGrad } from '../../graph/autograd.js';
import { BasicLayer, TinyVitAttention } from './attention.js';
import { stageResolutions, TINY_VIT_5M, type TinyVitConfig } from './config.js';
import { Conv2dBN, ConvLayer, FrozenLinear, tokensToImage } from './layers.js';

/** Two stride-2 3x3 convolutions with a GELU between: (B, 3, 1024, 1024) -> (B, 64, 256, 256). */
export class PatchEmbed extends Module {
  readonly seq: PatchEmbedSeq;
  constructor(engine: Engine, inChannels: number, embedDim: number) {
    super(engine);
    this.seq = this.child('seq', new PatchEmbedSeq(engine, inChannels, embedDim));
  }
  forward(x: Tensor): Tensor {
    const h = gelu(this.seq.conv1.forward(x));
    const out = this.seq.conv2.forward(h);
    h.dispose();
    return out;
  }
}

/** Sequential(Conv2d_BN, GELU, Conv2d_BN): the parameter-free GELU is index 1, so the convs are 0 and 2. */
class PatchEmbedSeq extends Module {
  readonly conv1: Conv2dBN;
  readonly conv2: Conv2dBN;
  constructor(engine: Engine, inChannels: number, embedDim: number) {
    super(engine);
    this.conv1 = this.child('0', new Conv2dBN(engine, inChannels, embedDim / 2, 3, 2, 1));
    this.conv2 = this.child('2', new Conv2dBN(engine, embedDim / 2, embedDim, 3, 2, 1));
  }
}

/** SAM's neck: 1x1 conv to 256, LayerNorm2d, 3x3 conv, LayerNorm2d (no conv biases). */
export class Neck extends Module {
  readonly conv1: Conv2d;
  readonly norm1: LayerNorm2d;
  readonly conv2: Conv2d;
  readonly norm2: LayerNorm2d;
  constructor(engine: Engine, inChannels: number, outChannels: number) {
    super(engine);
    this.conv1 = this.child('0', new Conv2d(engine, inChannels, outChannels, 1, { bias: false }));
    this.norm1 = this.child('1', new LayerNorm2d(engine, outChannels));
    this.conv2 = this.child('2', new Conv2d(engine, outChannels, outChannels, 3, { padding: 1, bias: false }));
    this.norm2 = this.child('3', new LayerNorm2d(engine, outChannels));
  }
  forward(x: Tensor): Tensor {
    return this.engine.scope(() => this.norm2.forward(this.conv2.forward(this.norm1.forward(this.conv1.forward(x)))));
  }
}

export class TinyVit extends Module {
  readonly patchEmbed: PatchEmbed;
  readonly stage0: ConvLayer;
  readonly stages: BasicLayer[];
  readonly neck: Neck;
  readonly resolutions: number[];

  constructor(engine: Engine, readonly config: TinyVitConfig = TINY_VIT_5M) {
    super(engine);
    const { embedDims: dims, depths } = config;
    this.resolutions = stageResolutions(config);
    this.patchEmbed = this.child('patch_embed', new PatchEmbed(engine, config.inChannels, dims[0]));
    const next = (i: number) => (i + 1 < dims.length ? dims[i + 1] : null);
    const layers: Module[] = [];
    this.stage0 = new ConvLayer(engine, dims[0], this.resolutions[0], depths[0], config.mbconvExpandRatio, next(0));
    layers.push(this.stage0);
    this.stages = [];
    for (let i = 1; i < dims.length; i++) {
      const stage = new BasicLayer(engine, dims[i], this.resolutions[i], depths[i], config.numHeads[i], config.windowSizes[i], config.mlpRatio, config.localConvSize, next(i));
      this.stages.push(stage);
      layers.push(stage);
    }
    this.child('layers', new ModuleList(engine, layers));
    this.neck = this.child('neck', new Neck(engine, dims[dims.length - 1], config.outChannels));
    this.requiresGrad(false);
    this.eval();
  }

  /** Loads a state dict (e.g. from mobileSamStateDictFromOnnx) and rebuilds the attention-bias tables. */
  async load(entries: Map<string, HostTensor>): Promise<void> {
    this.loadStateDict(entries);
    for (const m of this.attentionModules()) await m.refreshBias();
    for (const [name, layer] of this.frozenLinears()) layer.setWeightTransposed(entries.get(`${name}.weight`)!.data);
  }

  private frozenLinears(): [string, FrozenLinear][] {
    return this.stages.flatMap((s, i) => s.blocks.items.flatMap((b, j) => {
      const p = `layers.${i + 1}.blocks.${j}`;
      return [[`${p}.attn.qkv`, b.attn.qkv], [`${p}.attn.proj`, b.attn.proj], [`${p}.mlp.fc1`, b.mlp.fc1], [`${p}.mlp.fc2`, b.mlp.fc2]] as [string, FrozenLinear][];
    }));
  }

  private attentionModules(): TinyVitAttention[] {
    return this.stages.flatMap((s) => s.blocks.items.map((b) => b.attn));
  }

  /**
   * x: (B, 3, 1024, 1024), preprocessed (see preprocess.ts) -> (B, 256, 64, 64).
   * `onStage`, when given, sees each stage's output (for comparisons); it must not keep the tensor.
   */
  forward(x: Tensor, onStage?: (name: string, t: Tensor) => void): Tensor {
    return noGrad(() => {
      let h = this.patchEmbed.forward(x); // (B, 64, 256, 256)
      onStage?.('patch_embed', h);
      const swap = (next: Tensor, name: string) => {
        h.dispose();
        h = next;
        onStage?.(name, h);
      };
      swap(this.stage0.forward(h), 'layers.0'); // tokens (B, 128*128, 128)
      this.stages.forEach((stage, i) => swap(stage.forward(h), `layers.${i + 1}`));
      const r = this.resolutions[this.resolutions.length - 1];
      swap(tokensToImage(h, r, r), 'features'); // (B, 320, 64, 64)
      swap(this.neck.forward(h), 'neck'); // (B, 256, 64, 64)
      return h;
    });
  }

  override dispose(): void {
    super.dispose();
    for (const m of this.attentionModules()) m.dispose();
    for (const [, l] of this.frozenLinears()) l.dispose();
  }
}
