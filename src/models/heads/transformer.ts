// segment-anything's TwoWayTransformer (modeling/transformer.py): queries (the output tokens) and
// keys (the image tokens) updated in turn by self-attention, token-to-image attention, an MLP and
// image-to-token attention, then a final token-to-image attention. State-dict names as there:
// layers.{i}.{self_attn,norm1,cross_attn_token_to_image,norm2,mlp.lin1,mlp.lin2,norm3,norm4,
// cross_attn_image_to_token}, final_attn_token_to_image, norm_final_attn.
import type { Engine } from '../../engine.js';
import { Attention } from '../../nn/attention.js';
import { LayerNorm, Linear } from '../../nn/layers.js';
import { Module, ModuleList } from '../../nn/module.js';
import { permute, reshape } from '../../ops/copy.js';
import { add } from '../../ops/elementwise.js';
import type { Tensor } from '../../tensor/tensor.js';

/** segment-anything's MLPBlock (modeling/common.py): lin2(act(lin1(x))); the transformer's act is ReLU. */
export class MLPBlock extends Module {
  readonly lin1: Linear;
  readonly lin2: Linear;
  constructor(engine: Engine, readonly embeddingDim: number, readonly mlpDim: number, seed = 0) {
    super(engine);
    this.lin1 = this.child('lin1', new Linear(engine, embeddingDim, mlpDim, { seed: seed + 1 }));
    this.lin2 = this.child('lin2', new Linear(engine, mlpDim, embeddingDim, { seed: seed + 2 }));
  }
  forward(x: Tensor): Tensor {
    return this.lin2.forward(this.lin1.forward(x, { activation: 'relu' }));
  }
}

export interface TwoWayTransformerConfig {
  depth: number;
  embeddingDim: number;
  numHeads: number;
  mlpDim: number;
  attentionDownsampleRate: number;
}

export class TwoWayAttentionBlock extends Module {
  readonly selfAttn: Attention;
  readonly norm1: LayerNorm;
  readonly crossAttnTokenToImage: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: MLPBlock;
  readonly norm3: LayerNorm;
  readonly norm4: LayerNorm;
  readonly crossAttnImageToToken: Attention;

  constructor(engine: Engine, c: Omit<TwoWayTransformerConfig, 'depth'>, readonly skipFirstLayerPe: boolean, seed = 0) {
    super(engine);
    const { embeddingDim: d, numHeads, mlpDim, attentionDownsampleRate: ds } = c;
    // Registration order = PyTorch's __init__ order, so stateDict() lists keys as torch does.
    this.selfAttn = this.child('self_attn', new Attention(engine, d, numHeads, 1, seed + 10));
    this.norm1 = this.child('norm1', new LayerNorm(engine, d));
    this.crossAttnTokenToImage = this.child('cross_attn_token_to_image', new Attention(engine, d, numHeads, ds, seed + 20));
    this.norm2 = this.child('norm2', new LayerNorm(engine, d));
    this.mlp = this.child('mlp', new MLPBlock(engine, d, mlpDim, seed + 30));
    this.norm3 = this.child('norm3', new LayerNorm(engine, d));
    this.norm4 = this.child('norm4', new LayerNorm(engine, d));
    this.crossAttnImageToToken = this.child('cross_attn_image_to_token', new Attention(engine, d, numHeads, ds, seed + 40));
  }

  /** queries (B, Nq, D), keys (B, Nk, D), queryPe like queries, keyPe (B or 1, Nk, D) or (Nk, D). */
  forward(queries: Tensor, keys: Tensor, queryPe: Tensor, keyPe: Tensor): [Tensor, Tensor] {
    if (this.skipFirstLayerPe) {
      queries = this.selfAttn.forward(queries, queries, queries);
    } else {
      const q = add(queries, queryPe);
      queries = add(queries, this.selfAttn.forward(q, q, queries));
    }
    queries = this.norm1.forward(queries);

    let q = add(queries, queryPe);
    let k = add(keys, keyPe);
    queries = this.norm2.forward(add(queries, this.crossAttnTokenToImage.forward(q, k, keys)));

    queries = this.norm3.forward(add(queries, this.mlp.forward(queries)));

    q = add(queries, queryPe);
    k = add(keys, keyPe);
    keys = this.norm4.forward(add(keys, this.crossAttnImageToToken.forward(k, q, queries)));
    return [queries, keys];
  }
}

export class TwoWayTransformer extends Module {
  readonly layers: ModuleList<TwoWayAttentionBlock>;
  readonly finalAttnTokenToImage: Attention;
  readonly normFinalAttn: LayerNorm;

  constructor(engine: Engine, readonly config: TwoWayTransformerConfig, seed = 0) {
    super(engine);
    const blocks = Array.from({ length: config.depth }, (_, i) => new TwoWayAttentionBlock(engine, config, i === 0, seed + 100 * (i + 1)));
    this.layers = this.child('layers', new ModuleList(engine, blocks));
    const { embeddingDim: d, numHeads, attentionDownsampleRate: ds } = config;
    this.finalAttnTokenToImage = this.child('final_attn_token_to_image', new Attention(engine, d, numHeads, ds, seed + 50));
    this.normFinalAttn = this.child('norm_final_attn', new LayerNorm(engine, d));
  }


  /**
   * As the reference: imageEmbedding (B, D, h, w), imagePe (B or 1, D, h, w), pointEmbedding
   * (B, N, D) -> [queries (B, N, D), keys (B, h * w, D)].
   */
  forward(imageEmbedding: Tensor, imagePe: Tensor, pointEmbedding: Tensor): [Tensor, Tensor] {
    const [b, d, h, w] = imageEmbedding.shape;
    const keys = permute(reshape(imageEmbedding, [b, d, h * w]), [0, 2, 1]); // (B, h*w, D)
    const pb = imagePe.shape[0];
    const keyPe = permute(reshape(imagePe, [pb, d, h * w]), [0, 2, 1]); // (B or 1, h*w, D)
    return this.forwardTokens(keys, keyPe, pointEmbedding);
  }

  /** The same on token-major image tensors: keys (B, Nk, D), keyPe broadcastable to it. */
  forwardTokens(keys: Tensor, keyPe: Tensor, pointEmbedding: Tensor): [Tensor, Tensor] {
    let queries = pointEmbedding;
    for (const layer of this.layers.items) [queries, keys] = layer.forward(queries, keys, pointEmbedding, keyPe);
    const q = add(queries, pointEmbedding);
    const k = add(keys, keyPe);
    queries = this.normFinalAttn.forward(add(queries, this.finalAttnTokenToImage.forward(q, k, keys)));
    return [queries, keys];
  }
}
