import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { fromHuggingFaceSam, loadCheckpoint, samKeyFromHuggingFace } from '../../src/io/checkpoint.js';
import { readPth } from '../../src/io/pth.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { expectMatchesReference, expectSameBits, fixture, float32Bytes, manifest, safetensorsFile } from './checkpoint-fixtures.js';

// save_file orders its header by dtype and name, not as the state dict did: compare in name order.
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function sortedByKey<T extends { key: string }>(entries: T[]): T[] {
  return [...entries].sort((a, b) => byName(a.key, b.key));
}

function sortedMap<T>(map: Map<string, T>): Map<string, T> {
  return new Map([...map].sort(([a], [b]) => byName(a, b)));
}

describe('readSafetensors on files safetensors.torch.save_file wrote', () => {
  it('loads the tiny SAM bit for bit, metadata included', () => {
    const file = readSafetensors(fixture('sam_tiny.safetensors'));
    expect(file.metadata).toEqual({ format: 'pt' });
    expectMatchesReference(sortedMap(file.tensors), sortedByKey(manifest.sam_tiny), 'float32');
  });

  it('reads every dtype (F32 F16 BF16 F64 I64 I32 U8 BOOL) with special values', () => {
    const file = readSafetensors(fixture('dtypes.safetensors'));
    expectMatchesReference(sortedMap(file.tensors), sortedByKey(manifest.dtypes));
    expect(file.tensors.get('bf16')!.dtype).toBe('bfloat16');
    expect(file.tensors.get('f16')!.dtype).toBe('float16');
  });

  it('agrees with the .pth of the same state dict', () => {
    const pth = readPth(fixture('dtypes.pth'));
    for (const [key, t] of readSafetensors(fixture('dtypes.safetensors')).tensors) {
      expect(t.shape, key).toEqual(pth.get(key)!.shape);
      expectSameBits(t.data, pth.get(key)!.data, key);
    }
  });
});

describe('Hugging Face facebook/sam-vit-* key names', () => {
  it('maps every key of the converted file back to segment-anything names, values unchanged', () => {
    const hf = readSafetensors(fixture('sam_tiny_hf.safetensors')).tensors;
    expect(hf.has('vision_encoder.layers.0.layer_norm1.weight')).toBe(true);
    expect(hf.has('shared_image_embedding.positional_embedding')).toBe(true);
    const loaded = loadCheckpoint(fixture('sam_tiny_hf.safetensors'));
    const reference = loadCheckpoint(fixture('sam_tiny.pth'));
    expect([...loaded.keys()].sort()).toEqual([...reference.keys()].sort());
    for (const [key, t] of reference) {
      expect(loaded.get(key)!.shape, key).toEqual(t.shape);
      expectSameBits(loaded.get(key)!.data, t.data, key);
    }
  });

  it('inverts the conversion script names one by one', () => {
    for (const [hfKey, samKey] of Object.entries(manifest.hf_key_map)) expect(samKeyFromHuggingFace(hfKey), hfKey).toBe(samKey);
    // Names the tiny model shares with vit-b/l/h but at other indices.
    expect(samKeyFromHuggingFace('vision_encoder.layers.11.attn.rel_pos_w')).toBe('image_encoder.blocks.11.attn.rel_pos_w');
    expect(samKeyFromHuggingFace('mask_decoder.output_hypernetworks_mlps.3.proj_out.bias')).toBe('mask_decoder.output_hypernetworks_mlps.3.layers.2.bias');
    expect(samKeyFromHuggingFace('mask_decoder.transformer.layer_norm_final_attn.weight')).toBe('mask_decoder.transformer.norm_final_attn.weight');
  });

  it('keeps a file that stores only the top-level shared embedding', () => {
    const pe = { shape: [2, 8] };
    const out = fromHuggingFaceSam(new Map([['shared_image_embedding.positional_embedding', pe]]));
    expect(out.get('prompt_encoder.pe_layer.positional_encoding_gaussian_matrix')).toBe(pe);
  });

  it('leaves segment-anything names alone', () => {
    const loaded = loadCheckpoint(fixture('sam_tiny.safetensors'));
    expect(loaded.has('image_encoder.blocks.0.norm1.weight')).toBe(true);
  });
});

describe('readSafetensors on malformed files', () => {
  const header = { w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } };
  const data = float32Bytes([1, 2, 3, 4]);

  it('reads the hand-built file the malformed ones derive from', () => {
    expectSameBits(readSafetensors(safetensorsFile(header, data)).tensors.get('w')!.data, new Float32Array([1, 2, 3, 4]), 'w');
  });

  it('refuses a header length larger than the file, quickly', () => {
    const file = safetensorsFile(header, data);
    new DataView(file.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => readSafetensors(file)).toThrow(/claims 1099511627776 bytes but the file has/);
    expect(() => readSafetensors(new Uint8Array(5))).toThrow(FormatError);
  });

  it('refuses truncation, bad JSON and a non-object header', () => {
    const file = safetensorsFile(header, data);
    for (const cut of [0, 7, 8, 20, file.length - 1]) expect(() => readSafetensors(file.subarray(0, cut)), `cut ${cut}`).toThrow(FormatError);
    expect(() => readSafetensors(safetensorsFile([1, 2], data))).toThrow(/not a JSON object/);
    const broken = safetensorsFile(header, data);
    broken[8] = 0x5b; // '[' instead of '{'
    expect(() => readSafetensors(broken)).toThrow(/not valid UTF-8 JSON/);
  });

  it('refuses offsets out of range, overlapping, or leaving holes', () => {
    expect(() => readSafetensors(safetensorsFile({ w: { dtype: 'F32', shape: [5], data_offsets: [0, 20] } }, data))).toThrow(/fall outside the 16-byte data buffer/);
    expect(() => readSafetensors(safetensorsFile({ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, data))).toThrow(/fall outside/);
    const overlap = { a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } };
    expect(() => readSafetensors(safetensorsFile(overlap, data))).toThrow(/overlaps/);
    const hole = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
    expect(() => readSafetensors(safetensorsFile(hole, data))).toThrow(/belong to no tensor/);
    const tail = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    expect(() => readSafetensors(safetensorsFile(tail, data))).toThrow(/tensors cover 8/);
  });

  it('refuses a shape x dtype size that disagrees with the offsets', () => {
    expect(() => readSafetensors(safetensorsFile({ w: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 16] } }, data))).toThrow(/needs 8 bytes, its offsets span 16/);
  });

  it('refuses shapes claiming gigabytes and exabytes without allocating them', () => {
    const started = performance.now();
    const giga = { w: { dtype: 'F32', shape: [100000, 100000, 100], data_offsets: [0, 16] } };
    expect(() => readSafetensors(safetensorsFile(giga, data))).toThrow(/needs 4000000000000 bytes/);
    const exa = { w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 16] } };
    expect(() => readSafetensors(safetensorsFile(exa, data))).toThrow(/more elements than any file can hold/);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('refuses unknown dtypes, bad shapes and bad metadata', () => {
    expect(() => readSafetensors(safetensorsFile({ w: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, data.subarray(0, 4)))).toThrow(/unsupported dtype "F8_E4M3"/);
    expect(() => readSafetensors(safetensorsFile({ w: { dtype: 'constructor', shape: [4], data_offsets: [0, 16] } }, data))).toThrow(/unsupported dtype "constructor"/);
    expect(() => readSafetensors(safetensorsFile({ w: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }, data))).toThrow(/not a non-negative integer/);
    expect(() => readSafetensors(safetensorsFile({ w: { dtype: 'F32', shape: [4.5], data_offsets: [0, 16] } }, data))).toThrow(FormatError);
    expect(() => readSafetensors(safetensorsFile({ ...header, __metadata__: { n: 1 } }, data))).toThrow(/__metadata__/);
  });
});
