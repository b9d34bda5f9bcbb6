import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { FormatError } from '../../src/errors.js';
import { asHostTensors, loadCheckpoint, loadSamPart, selectPart } from '../../src/io/checkpoint.js';
import { Module, StateDictMismatchError } from '../../src/nn/module.js';
import { testEngine } from '../helpers/engine.js';
import { PickleSecurityError } from '../../src/io/pickle.js';
import { readPth } from '../../src/io/pth.js';
import { expectMatchesReference, expectSameBits, fixture, float32Bytes, manifest, pthArchive, reference, tensorPickle } from './checkpoint-fixtures.js';

describe('readPth on files torch.save wrote', () => {
  it('loads the tiny SAM state dict bit for bit, in torch order', () => {
    expectMatchesReference(readPth(fixture('sam_tiny.pth')), manifest.sam_tiny, 'float32');
  });

  it('loads the float16 checkpoint as float32 equal to the float16 values', () => {
    expectMatchesReference(readPth(fixture('sam_tiny_f16.pth')), manifest.sam_tiny_f16, 'float16');
  });

  it('reads every dtype, special values, 0-d and empty tensors, strided and shared-storage views', () => {
    const loaded = readPth(fixture('dtypes.pth'));
    expectMatchesReference(loaded, manifest.dtypes);
    expect(loaded.get('bf16')!.dtype).toBe('bfloat16');
    expect(loaded.get('f64')!.dtype).toBe('float64');
    expect([...(loaded.get('i64')!.data as BigInt64Array)]).toEqual([-(2n ** 40n), -1n, 0n, 7n, 2n ** 53n + 1n]);
    expect([...loaded.get('transposed')!.data]).toEqual([-5.5, -1.5, 2.5, -4.5, -0.5, 3.5, -3.5, 0.5, 4.5, -2.5, 1.5, 5.5]);
  });

  it('finds the state dict nested under "model" beside training metadata', () => {
    expectMatchesReference(readPth(fixture('wrapped.pth')), manifest.wrapped, 'float32');
  });

  it('verifies storage CRCs on request', () => {
    const bytes = fixture('sam_tiny.pth');
    expect(readPth(bytes, { verifyCrc: true }).size).toBe(manifest.sam_tiny.length);
  });
});

describe('loadCheckpoint and selectPart', () => {
  it('detects the zip format and splits the three SAM parts, prefix stripped', () => {
    const all = loadCheckpoint(fixture('sam_tiny.pth'));
    let total = 0;
    for (const part of ['image_encoder', 'prompt_encoder', 'mask_decoder'] as const) {
      const entries = selectPart(all, part);
      total += entries.size;
      for (const [key, value] of entries) expect(all.get(`${part}.${key}`)).toBe(value);
    }
    expect(total).toBe(all.size);
    const encoder = selectPart(all, 'image_encoder');
    expect(encoder.has('blocks.0.attn.rel_pos_h')).toBe(true);
    expect(encoder.get('patch_embed.proj.weight')!.shape).toEqual([16, 3, 16, 16]);
  });

  it('names what the checkpoint does hold when the part is absent', () => {
    const wrapped = loadCheckpoint(fixture('wrapped.pth'));
    expect(() => selectPart(wrapped, 'image_encoder')).toThrow(/no image_encoder\.\* keys.*prompt_encoder/);
  });

  it('refuses bytes that are neither format', () => {
    expect(() => loadCheckpoint(new Uint8Array([1, 2, 3, 4, 5]))).toThrow(FormatError);
    expect(() => loadCheckpoint(new Uint8Array([0x80, 2, 0x8a, 0x0a]))).toThrow(/legacy/);
  });
});

describe('readPth on malformed archives', () => {
  const good = () => pthArchive({ 'data.pkl': tensorPickle({ numel: 4, size: [2, 2] }), 'data/0': float32Bytes([1, 2, 3, 4]) });

  it('reads the hand-built archive the malformed ones derive from', () => {
    const t = readPth(good()).get('w')!;
    expect(t.shape).toEqual([2, 2]);
    expectSameBits(t.data, new Float32Array([1, 2, 3, 4]), 'w');
  });

  it('refuses truncations anywhere with FormatError', () => {
    const bytes = fixture('sam_tiny.pth');
    for (const cut of [0, 3, 30, 1000, bytes.length >> 1, bytes.length - 100, bytes.length - 22, bytes.length - 1]) {
      expect(() => readPth(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow(FormatError);
    }
  });

  it('refuses a bad magic number and an archive without data.pkl', () => {
    const bytes = fixture('sam_tiny.pth').slice();
    bytes[0] = 0x51;
    expect(() => readPth(bytes)).toThrow(/no zip signature/);
    expect(() => readPth(pthArchive({ 'data/0': float32Bytes([1]) }))).toThrow(/no <name>\/data\.pkl/);
  });

  it('refuses a storage whose record does not hold numel elements', () => {
    const archive = pthArchive({ 'data.pkl': tensorPickle({ numel: 5, size: [5] }), 'data/0': float32Bytes([1, 2, 3, 4]) });
    expect(() => readPth(archive)).toThrow(/claims 5 float32 elements but its record holds 16 bytes/);
  });

  it('refuses a tensor reaching past its storage (shape x dtype larger than the data)', () => {
    const archive = pthArchive({ 'data.pkl': tensorPickle({ numel: 4, size: [2, 3] }), 'data/0': float32Bytes([1, 2, 3, 4]) });
    expect(() => readPth(archive)).toThrow(/reaches past its storage of 4 elements/);
    const offset = pthArchive({ 'data.pkl': tensorPickle({ numel: 4, size: [2], offset: 3 }), 'data/0': float32Bytes([1, 2, 3, 4]) });
    expect(() => readPth(offset)).toThrow(/reaches past its storage/);
  });

  it('refuses gigabyte claims quickly, before allocating them', () => {
    const started = performance.now();
    const hugeStorage = pthArchive({ 'data.pkl': tensorPickle({ numel: 2 ** 40, size: [2 ** 20, 2 ** 20] }), 'data/0': float32Bytes([1, 2, 3, 4]) });
    expect(() => readPth(hugeStorage)).toThrow(/claims 1099511627776 float32 elements/);
    const hugeShape = pthArchive({ 'data.pkl': tensorPickle({ numel: 4, size: [2 ** 26, 2 ** 26] }), 'data/0': float32Bytes([1, 2, 3, 4]) });
    expect(() => readPth(hugeShape)).toThrow(/reaches past its storage/);
    // Stride 0 repeats one element 2^40 times: inside the storage, but a decode that size is refused.
    const expanded = pthArchive({ 'data.pkl': tensorPickle({ numel: 4, size: [2 ** 20, 2 ** 20], stride: [0, 0] }), 'data/0': float32Bytes([1, 2, 3, 4]) });
    expect(() => readPth(expanded)).toThrow(/far more elements/);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses a central directory whose sizes or count lie', () => {
    const bytes = good();
    const view = new DataView(bytes.buffer);
    const eocd = bytes.length - 22;
    const count = bytes.slice();
    new DataView(count.buffer).setUint16(eocd + 10, 0xffff, true);
    expect(() => readPth(count)).toThrow(/claims 65535 entries/);
    // First central entry: claim a 4 GB stored record.
    const central = view.getUint32(eocd + 16, true);
    const size = bytes.slice();
    new DataView(size.buffer).setUint32(central + 20, 0xfffffff0, true);
    new DataView(size.buffer).setUint32(central + 24, 0xfffffff0, true);
    expect(() => readPth(size)).toThrow(FormatError);
    // Deflate claiming 4 GB out of a few bytes.
    const deflate = bytes.slice();
    new DataView(deflate.buffer).setUint16(central + 10, 8, true);
    new DataView(deflate.buffer).setUint32(central + 24, 0xfffffff0, true);
    expect(() => readPth(deflate)).toThrow(/claims 4294967280 bytes from/);
  });

  it('inflates deflated records, and refuses a zip bomb before inflating it', () => {
    const deflated = zipSync({
      'archive/data.pkl': [tensorPickle({ numel: 4, size: [4] }), { level: 6 }],
      'archive/data/0': [float32Bytes([1, 2, 3, 4]), { level: 6 }],
    });
    expectSameBits(readPth(deflated).get('w')!.data, new Float32Array([1, 2, 3, 4]), 'w');
    const zeros = 64 << 20; // 64 MiB of zeros deflate to ~64 KiB
    const bomb = zipSync({
      'archive/data.pkl': [tensorPickle({ numel: zeros / 4, size: [zeros / 4] }), { level: 0 }],
      'archive/data/0': [new Uint8Array(zeros), { level: 9 }],
    });
    expect(bomb.length).toBeLessThan(1 << 20);
    expect(() => readPth(bomb)).toThrow(/zip bomb/);
  });

  it('refuses a big-endian archive and a pickle that is not a dict', () => {
    expect(() => readPth(pthArchive({ 'data.pkl': tensorPickle({ numel: 1, size: [1] }), 'data/0': float32Bytes([1]), byteorder: new TextEncoder().encode('big') }))).toThrow(/byte order is "big"/);
    const list = new Uint8Array([0x80, 2, 0x5d, 0x2e]); // []
    expect(() => readPth(pthArchive({ 'data.pkl': list }))).toThrow(/holds a list, not a state dict/);
  });

  it('names the storage key it refuses', () => {
    const archive = pthArchive({ 'data.pkl': tensorPickle({ key: 'data/../0', numel: 4, size: [4] }), 'data/0': float32Bytes([1, 2, 3, 4]) });
    const err = (() => { try { readPth(archive); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(PickleSecurityError);
    expect((err as PickleSecurityError).refused).toContain('data/../0');
  });

  it('decodes each dtype reference the same through loadCheckpoint', () => {
    const loaded = loadCheckpoint(fixture('dtypes.pth'));
    const bool = manifest.dtypes.find((e) => e.key === 'bool')!;
    expectSameBits(loaded.get('bool')!.data, reference(bool), 'bool');
  });
});

/** A module that is nothing but named parameters of given shapes (dotted names as PyTorch nests them). */
class NamedParams extends Module {
  constructor(engine: Engine, specs: [string, number[]][]) {
    super(engine);
    for (const [name, shape] of specs) this.param(name, engine.zeros(shape));
  }
}

describe('a SAM part into a Module', () => {
  const checkpoint = () => loadCheckpoint(fixture('sam_tiny.pth'));

  it('loads the prompt encoder into a module with the same names and shapes', async () => {
    const engine = await testEngine();
    const part = selectPart(checkpoint(), 'prompt_encoder');
    const module = new NamedParams(engine, [...part].map(([key, t]) => [key, t.shape]));
    loadSamPart(module, fixture('sam_tiny.pth'), 'prompt_encoder');
    const host = await module.stateDictToHost();
    for (const [key, t] of asHostTensors(part)) expectSameBits(host.get(key)!.data, t.data, key);
    module.dispose();
  });

  it('lists missing, unexpected and mismatched keys, and writes nothing', async () => {
    const engine = await testEngine();
    const part = selectPart(checkpoint(), 'mask_decoder');
    const specs: [string, number[]][] = [...part].map(([key, t]) => [key, t.shape]);
    const renamed = specs.map(([key, shape]): [string, number[]] => {
      if (key === 'iou_token.weight') return ['iou_tokens.weight', shape]; // a typo in our module
      if (key === 'mask_tokens.weight') return [key, [shape[0] + 1, shape[1]]]; // a wrong config
      return [key, shape];
    });
    const module = new NamedParams(engine, renamed);
    let error: unknown = null;
    try {
      module.loadStateDict(asHostTensors(part));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StateDictMismatchError);
    const mismatch = error as StateDictMismatchError;
    expect(mismatch.missing).toEqual(['iou_tokens.weight']);
    expect(mismatch.unexpected).toEqual(['iou_token.weight']);
    expect(mismatch.mismatched).toEqual([{ key: 'mask_tokens.weight', expected: [5, 16], got: [4, 16] }]);
    expect(mismatch.message).toMatch(/missing keys \(1\): iou_tokens\.weight; unexpected keys \(1\): iou_token\.weight; shape mismatches: mask_tokens\.weight expected \[5,16\] got \[4,16\]/);
    const untouched = await module.stateDictToHost();
    expect(untouched.get('transformer.layers.0.self_attn.q_proj.weight')!.data.every((v) => v === 0)).toBe(true);
    module.dispose();
  });

  it('refuses the image encoder part into a prompt encoder-shaped module', async () => {
    const engine = await testEngine();
    const module = new NamedParams(engine, [['pe_layer.positional_encoding_gaussian_matrix', [2, 8]]]);
    expect(() => loadSamPart(module, checkpoint(), 'image_encoder')).toThrow(/missing keys \(1\): pe_layer.*unexpected keys/);
    module.dispose();
  });
});
