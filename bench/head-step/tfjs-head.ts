// The same AutoSAM head training step written with tfjs-core ops on tfjs-backend-webgpu: the full
// forward (token-major NHWC layout, tfjs's native one), the CE + batch soft Dice loss, tfjs's
// autograd, and tf.train.adam. Weights come from our head's state dict, converted to tfjs layouts
// (Linear (out, in) used transposed; ConvTranspose (in, out, kh, kw) -> [kh, kw, out, in]).
// Like ours, it computes neither the frozen IoU head nor the second hypernetwork MLP (their outputs
// do not reach the loss).
import type { HostTensor } from '../../src/nn/module.js';
import type { Tf, TfTensor } from '../kernels/types.js';

type Variable = import('@tensorflow/tfjs-core').Variable;

export interface TfjsHeadConfig {
  numClasses: number;
  batch: number;
  dim: number;
  numHeads: number;
  depth: number;
  grid: number;
  labelSize: number;
  lr: number;
}

export interface TfjsHeadStep {
  /** One forward + backward + Adam step; resolves to the loss (read back, which waits for the GPU). */
  step(): Promise<number>;
  /** The gradient of one of our state-dict keys at the current weights (for the check), in our layout. */
  gradOf(keys: string[]): Promise<Map<string, Float32Array>>;
  dispose(): void;
}

/** torch ConvTranspose2d weight (in, out, kh, kw) -> tfjs conv2dTranspose filter [kh, kw, out, in]. */
function convTransposeFilter(w: HostTensor): { data: Float32Array; shape: number[] } {
  const [ci, co, kh, kw] = w.shape;
  const out = new Float32Array(w.data.length);
  for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
    out[((y * kw + x) * co + o) * ci + i] = w.data[((i * co + o) * kh + y) * kw + x];
  }
  return { data: out, shape: [kh, kw, co, ci] };
}

export function buildTfjsHeadStep(tf: Tf, state: Map<string, HostTensor>, peTokens: Float32Array, embeddingTokens: Float32Array, labels: Int32Array, c: TfjsHeadConfig): TfjsHeadStep {
  const P = 'mask_decoder.';
  const vars = new Map<string, Variable>();
  const v = (key: string): Variable => {
    let t = vars.get(key);
    if (!t) {
      const h = state.get(P + key);
      if (!h) throw new Error(`tfjs head: no ${P + key} in the state dict`);
      const conv = /output_upscaling\.[03]\.weight$/.test(key) ? convTransposeFilter(h) : { data: h.data, shape: h.shape };
      t = tf.variable(tf.tensor(conv.data, conv.shape), true, key);
      vars.set(key, t);
    }
    return t;
  };
  const { numClasses: C, batch: B, dim: D, numHeads, grid, labelSize } = c;
  const N = grid * grid, BC = B * C;
  // Frozen and inputs: constants.
  const iouToken = tf.tensor(state.get(P + 'iou_token.weight')!.data, [C, 1, D]);
  const pe = tf.tensor(peTokens, [1, N, D]);
  const image = tf.tensor(embeddingTokens, [B, 1, N * D]);
  const oneHot = tf.cast(tf.oneHot(tf.tensor(labels, [B, labelSize, labelSize], 'int32'), C), 'float32'); // (B, H, W, C)

  const linear = (x: TfTensor, key: string, act?: 'relu'): TfTensor => {
    const shape = x.shape;
    const w = v(`${key}.weight`), b = v(`${key}.bias`);
    const y = tf.add(tf.matMul(tf.reshape(x, [-1, shape[shape.length - 1]]), w, false, true), b);
    const out = tf.reshape(y, [...shape.slice(0, -1), w.shape[0]!]);
    return act ? tf.relu(out) : out;
  };
  const layerNorm = (x: TfTensor, key: string, eps: number): TfTensor => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), v(`${key}.weight`)), v(`${key}.bias`));
  };
  const gelu = (x: TfTensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  const attention = (key: string, q: TfTensor, k: TfTensor, val: TfTensor): TfTensor => {
    const heads = (x: TfTensor) => {
      const [n, t, d] = x.shape;
      return tf.transpose(tf.reshape(x, [n, t, numHeads, d / numHeads]), [0, 2, 1, 3]); // (n, heads, t, dh)
    };
    const qh = heads(linear(q, `${key}.q_proj`)), kh = heads(linear(k, `${key}.k_proj`)), vh = heads(linear(val, `${key}.v_proj`));
    const scale = 1 / Math.sqrt(qh.shape[3]!);
    const attn = tf.softmax(tf.mul(tf.matMul(qh, kh, false, true), scale));
    const o = tf.transpose(tf.matMul(attn, vh), [0, 2, 1, 3]); // (n, t, heads, dh)
    return linear(tf.reshape(o, [o.shape[0], o.shape[1]!, -1]), `${key}.out_proj`);
  };

  const forwardLoss = (): TfTensor => {
    const maskTokens = tf.reshape(v('mask_tokens.weight'), [C, 2, D]);
    const tokens = tf.reshape(tf.tile(tf.reshape(tf.concat([iouToken, maskTokens], 1), [1, C * 3 * D]), [B, 1]), [BC, 3, D]);
    let keys = tf.reshape(tf.tile(image, [1, C, 1]), [BC, N, D]);
    let queries = tokens;
    for (let i = 0; i < c.depth; i++) {
      const L = `transformer.layers.${i}`;
      if (i === 0) queries = attention(`${L}.self_attn`, queries, queries, queries);
      else {
        const q = tf.add(queries, tokens);
        queries = tf.add(queries, attention(`${L}.self_attn`, q, q, queries));
      }
      queries = layerNorm(queries, `${L}.norm1`, 1e-5);
      let q = tf.add(queries, tokens), k = tf.add(keys, pe);
      queries = layerNorm(tf.add(queries, attention(`${L}.cross_attn_token_to_image`, q, k, keys)), `${L}.norm2`, 1e-5);
      queries = layerNorm(tf.add(queries, linear(linear(queries, `${L}.mlp.lin1`, 'relu'), `${L}.mlp.lin2`)), `${L}.norm3`, 1e-5);
      q = tf.add(queries, tokens);
      k = tf.add(keys, pe);
      keys = layerNorm(tf.add(keys, attention(`${L}.cross_attn_image_to_token`, k, q, queries)), `${L}.norm4`, 1e-5);
    }
    const q = tf.add(queries, tokens), k = tf.add(keys, pe);
    const hs = layerNorm(tf.add(queries, attention('transformer.final_attn_token_to_image', q, k, keys)), 'transformer.norm_final_attn', 1e-5);

    const up = (x: TfTensor, key: string): TfTensor => {
      const f = v(`${key}.weight`); // [2, 2, out, in]
      const [n, h, w] = x.shape;
      return tf.add(tf.conv2dTranspose(x as import('@tensorflow/tfjs-core').Tensor4D, f as unknown as import('@tensorflow/tfjs-core').Tensor4D, [n, 2 * h!, 2 * w!, f.shape[2]!], 2, 'valid'), v(`${key}.bias`));
    };
    const src = tf.reshape(keys, [BC, grid, grid, D]); // NHWC
    const u1 = gelu(layerNorm(up(src, 'output_upscaling.0'), 'output_upscaling.1', 1e-6));
    const u2 = gelu(up(u1, 'output_upscaling.3')); // (BC, 4g, 4g, D/8)
    const token = tf.reshape(tf.slice(hs, [0, 1, 0], [BC, 1, D]), [BC, D]);
    let hyper = linear(token, 'output_hypernetworks_mlps.0.layers.0', 'relu');
    hyper = linear(hyper, 'output_hypernetworks_mlps.0.layers.1', 'relu');
    hyper = linear(hyper, 'output_hypernetworks_mlps.0.layers.2'); // (BC, D/8)
    const S = 4 * grid;
    const masks = tf.matMul(tf.reshape(u2, [BC, S * S, D / 8]), tf.reshape(hyper, [BC, D / 8, 1])); // (BC, S*S, 1)
    const nhwc = tf.transpose(tf.reshape(masks, [B, C, S, S]), [0, 2, 3, 1]); // (B, S, S, C)
    const logits = tf.image.resizeBilinear(nhwc as import('@tensorflow/tfjs-core').Tensor4D, [labelSize, labelSize], false, true);

    const ce = tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1)));
    const p = tf.softmax(logits);
    const fg = (t: TfTensor) => tf.slice(t, [0, 0, 0, 1], [-1, -1, -1, C - 1]);
    const pf = fg(p), gf = fg(oneHot);
    const inter = tf.sum(tf.mul(pf, gf), [0, 1, 2]);
    const denom = tf.add(tf.add(tf.sum(tf.mul(pf, pf), [0, 1, 2]), tf.sum(tf.mul(gf, gf), [0, 1, 2])), 1);
    const r = tf.sub(1, tf.div(tf.add(tf.mul(inter, 2), 1), denom)); // every r_c > 0 with random labels, so the reference's r[r > 0] keeps all
    return tf.add(ce, tf.mean(r));
  };

  // Build the variables once (a first forward creates them lazily), outside any timing.
  tf.tidy(() => { forwardLoss(); });
  const varList = [...vars.values()];
  const optimizer = tf.train.adam(c.lr, 0.9, 0.999, 1e-8);

  return {
    async step() {
      const loss = optimizer.minimize(() => forwardLoss() as import('@tensorflow/tfjs-core').Scalar, true, varList)!;
      const value = (await loss.data())[0];
      loss.dispose();
      return value;
    },
    async gradOf(keys) {
      const { grads, value } = tf.variableGrads(() => forwardLoss() as import('@tensorflow/tfjs-core').Scalar, varList);
      const out = new Map<string, Float32Array>();
      for (const k of keys) out.set(k, (await grads[k.slice(P.length)].data()) as Float32Array);
      out.set('loss', (await value.data()) as Float32Array);
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
      return out;
    },
    dispose() {
      optimizer.dispose();
      for (const t of [...varList, iouToken, pe, image, oneHot]) t.dispose();
    },
  };
}
