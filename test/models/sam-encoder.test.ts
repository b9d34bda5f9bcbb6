// SAM ViT image encoder against segment-anything's ImageEncoderViT: two tiny configurations (padded
// windows, one global block each) whose weights were saved with torch.save by
// tools/golden/sam_encoder.py, loaded with our .pth reader; per-stage outputs and the embedding
// compared; get_rel_pos (with interpolation) against torch; strict loading; JSON configs.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { loadCheckpoint, type CheckpointTensor } from '../../src/io/checkpoint.js';
import { readNpy } from '../../src/io/npy.js';
import { flashAttentionReference, flashKeyTile, packedFlashAttentionReference } from '../../src/kernels/flash-attention.js';
import { noGrad } from '../../src/graph/autograd.js';
import { relPosAttention, relPosAttentionPacked } from '../../src/ops/attention.js';
import { StateDictMismatchError } from '../../src/nn/module.js';
import { permute, reshape, slice } from '../../src/ops/copy.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import {
  decomposedRelPosTerms, getRelPosReference, ImageEncoderViT, relPosAttentionReference, loadSamEncoder, parseSamVitConfig, SAM_VIT_CONFIGS, SamAttention, samVitConfig, type SamVitConfig,
} from '../../src/models/sam/index.js';
import { maxAbsDiff, randomArray, testEngine } from '../helpers/engine.js';

const DIR = fileURLToPath(new URL('../fixtures/golden/sam_encoder/', import.meta.url));

interface FixtureTensor { file: string; shape: number[] }
interface Manifest {
  cases: Record<string, { config: Omit<SamVitConfig, 'mlp_ratio'>; checkpoint: string; input: FixtureTensor; outputs: Record<string, FixtureTensor> }>;
  rel_pos: Record<string, { q_size: number; k_size: number; table: FixtureTensor; out: FixtureTensor }>;
}
const manifest = JSON.parse(readFileSync(`${DIR}manifest.json`, 'utf8')) as Manifest;

function npy(t: FixtureTensor): Float32Array {
  const a = readNpy(readFileSync(DIR + t.file));
  if (a.dtype !== 'float32') throw new Error(`${t.file}: ${a.dtype}`);
  expect(a.shape).toEqual(t.shape);
  return a.data;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

const configOf = (name: string): SamVitConfig => parseSamVitConfig(manifest.cases[name].config, name);
const checkpointOf = (name: string): Map<string, CheckpointTensor> => loadCheckpoint(readFileSync(DIR + manifest.cases[name].checkpoint));

describe('get_rel_pos', () => {
  for (const [name, c] of Object.entries(manifest.rel_pos)) {
    it(`${name}: q ${c.q_size}, k ${c.k_size}, table ${c.table.shape[0]} rows (host and GPU against torch)`, async () => {
      const table = npy(c.table), ref = npy(c.out);
      const host = getRelPosReference(c.q_size, c.k_size, table, 3);
      expect(maxAbsDiff(host, ref)).toBeLessThanOrEqual(1e-6);
      const engine = await testEngine();
      const attn = new SamAttention(engine, 3, 1, [4, 4]); // head dim 3, as the table
      try {
        const gpu = await engine.scopeAsync(() => attn.relPos(engine.tensor(table, c.table.shape), c.q_size, c.k_size).readFloat());
        expect(maxAbsDiff(gpu, ref)).toBeLessThanOrEqual(1e-6);
      } finally {
        attn.dispose();
      }
    });
  }
});

describe('SAM ViT encoder against segment-anything (torch.save checkpoints)', () => {
  for (const name of Object.keys(manifest.cases)) for (const impl of ['fused', 'composed'] as const) {
    const c = manifest.cases[name];
    it(`${name} (${impl} attention): ${c.config.img_size}px, embed ${c.config.embed_dim}, depth ${c.config.depth}, window ${c.config.window_size}, global ${c.config.global_attn_indexes}`, async () => {
      const engine = await testEngine();
      const encoder = loadSamEncoder(engine, configOf(name), readFileSync(DIR + c.checkpoint)).setAttentionImpl(impl);
      const stages = new Map<string, Tensor>();
      try {
        const x = engine.tensor(npy(c.input), c.input.shape);
        const { embedding, peakLiveBytes } = encoder.forwardMeasured(x, {
          onStage: (stage, t) => stages.set(stage, engine.keep(reshape(t, t.shape))),
        });
        x.dispose();
        const errors: Record<string, number> = {};
        const check = async (stage: string, key: string, t: Tensor) => {
          const ref = npy(c.outputs[key]);
          expect(t.shape).toEqual(c.outputs[key].shape);
          const err = maxAbsDiff(await t.readFloat(), ref), scale = maxAbs(ref);
          errors[stage] = err / scale;
          expect(err, `${name} ${stage}: max error ${err} vs max|ref| ${scale}`).toBeLessThanOrEqual(1e-3 * scale);
        };
        await check('patch_embed', 'patch_embed', stages.get('patch_embed')!);
        for (let i = 0; i < c.config.depth; i++) await check(`blocks.${i}`, `block${i}`, stages.get(`blocks.${i}`)!);
        await check('embedding', 'embedding', embedding);
        embedding.dispose();
        expect(peakLiveBytes).toBeGreaterThan(0);
        console.log(`${name} (${impl}): max abs error / max|ref| ${JSON.stringify(errors, (_, v) => (typeof v === 'number' ? Number(v.toExponential(2)) : v))}; peak live ${peakLiveBytes} bytes`);
      } finally {
        for (const t of stages.values()) t.dispose();
        encoder.dispose();
      }
    });
  }

  it('frees every activation: only the parameters stay live after forward', async () => {
    const engine = await testEngine();
    const encoder = loadSamEncoder(engine, configOf('tiny_a'), checkpointOf('tiny_a'));
    try {
      const c = manifest.cases.tiny_a;
      const x = engine.tensor(npy(c.input), c.input.shape);
      encoder.forward(x).dispose(); // the first forward also builds and keeps the get_rel_pos selection matrices
      const before = engine.memory().liveTensors;
      const out = encoder.forward(x);
      expect(engine.memory().liveTensors).toBe(before + 1); // the embedding
      out.dispose();
      x.dispose();
    } finally {
      encoder.dispose();
    }
  });
});

describe('strict loading', () => {
  it('a wrong-shaped key gives StateDictMismatchError naming it', async () => {
    const engine = await testEngine();
    const entries = checkpointOf('tiny_a');
    const key = 'image_encoder.blocks.0.attn.rel_pos_h';
    const t = entries.get(key)!;
    entries.set(key, { ...t, shape: [t.shape[0] - 1, t.shape[1]], data: t.data.slice(0, (t.shape[0] - 1) * t.shape[1]) } as CheckpointTensor);
    expect(() => loadSamEncoder(engine, configOf('tiny_a'), entries)).toThrow(StateDictMismatchError);
    expect(() => loadSamEncoder(engine, configOf('tiny_a'), entries)).toThrow(/blocks\.0\.attn\.rel_pos_h expected \[5,16\] got \[4,16\]/);
  });

  it('a missing key, or another configuration\'s checkpoint, gives StateDictMismatchError', async () => {
    const engine = await testEngine();
    const entries = checkpointOf('tiny_a');
    entries.delete('image_encoder.neck.3.bias');
    expect(() => loadSamEncoder(engine, configOf('tiny_a'), entries)).toThrow(/missing keys \(1\): neck\.3\.bias/);
    expect(() => loadSamEncoder(engine, configOf('tiny_b'), checkpointOf('tiny_a'))).toThrow(StateDictMismatchError);
  });
});

describe('configurations', () => {
  it('vit_b / vit_l / vit_h follow build_sam.py', () => {
    expect(samVitConfig('vit_b')).toMatchObject({ embed_dim: 768, depth: 12, num_heads: 12, global_attn_indexes: [2, 5, 8, 11], window_size: 14, img_size: 1024, out_chans: 256 });
    expect(samVitConfig('vit_l').global_attn_indexes).toEqual([5, 11, 17, 23]);
    expect(samVitConfig('vit_h')).toMatchObject({ embed_dim: 1280, depth: 32, num_heads: 16 });
    expect(Object.keys(SAM_VIT_CONFIGS)).toEqual(['vit_b', 'vit_l', 'vit_h']);
    expect(() => samVitConfig('vit_x')).toThrow(UsageError);
  });

  it('a custom JSON config builds, with segment-anything\'s state-dict names and shapes', async () => {
    const engine = await testEngine();
    const json = '{"embed_dim": 32, "depth": 2, "num_heads": 2, "global_attn_indexes": [1], "window_size": 3, "patch_size": 16, "img_size": 64, "out_chans": 16}';
    const encoder = new ImageEncoderViT(engine, parseSamVitConfig(JSON.parse(json), 'tiny.json'));
    try {
      const ours = new Map([...encoder.stateDict()].map(([k, t]) => [k, t.shape]));
      const theirs = new Map([...checkpointOf('tiny_a')].map(([k, t]) => [k.replace(/^image_encoder\./, ''), t.shape]));
      expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
      for (const [k, shape] of ours) expect(shape, k).toEqual(theirs.get(k));
      expect(ours.get('blocks.0.attn.rel_pos_h')).toEqual([5, 16]); // windowed: 2 * 3 - 1
      expect(ours.get('blocks.1.attn.rel_pos_h')).toEqual([7, 16]); // global: 2 * 4 - 1
    } finally {
      encoder.dispose();
    }
    expect(() => parseSamVitConfig({ ...JSON.parse(json), num_heads: 3 }, 'bad.json')).toThrow(/num_heads 3 does not divide embed_dim 32/);
    expect(() => parseSamVitConfig({ ...JSON.parse(json), global_attn_indexes: [2] }, 'bad.json')).toThrow(/global_attn_indexes/);
    expect(() => parseSamVitConfig({ embed_dim: 32 }, 'bad.json')).toThrow(/missing keys/);
    expect(() => parseSamVitConfig({ ...JSON.parse(json), depht: 2 }, 'bad.json')).toThrow(/unknown keys depht/);
  });
});

describe('fused relative-position attention (flash-style kernel)', () => {
  // [batch, n, kh, kw, d]: rows past one workgroup (64) and a partial last key tile; odd d; SAM's d = 80.
  const cases: [number, number, number, number, number][] = [[3, 70, 5, 7, 6], [2, 49, 7, 7, 16], [1, 100, 8, 8, 80]];
  for (const [batch, n, kh, kw, d] of cases) {
    it(`[B ${batch}, N ${n}, keys ${kh}x${kw}, d ${d}] against the host definition (key tile ${flashKeyTile(d)})`, async () => {
      const engine = await testEngine();
      const nk = kh * kw, scale = d ** -0.5;
      const q = randomArray(batch * n * d, 1, -2, 2), k = randomArray(batch * nk * d, 2, -2, 2), v = randomArray(batch * nk * d, 3, -1, 1);
      const relH = randomArray(batch * n * kh, 4, -3, 3), relW = randomArray(batch * n * kw, 5, -3, 3);
      const expected = flashAttentionReference({ batch, n, kh, kw, d, scale }, q, k, v, relH, relW);
      const got = await engine.scopeAsync(() => relPosAttention(
        engine.tensor(q, [batch, n, d]), engine.tensor(k, [batch, nk, d]), engine.tensor(v, [batch, nk, d]),
        engine.tensor(relH, [batch, n, kh]), engine.tensor(relW, [batch, n, kw]), scale,
      ).readFloat());
      const err = maxAbsDiff(got, expected);
      expect(err, `max abs error ${err}`).toBeLessThanOrEqual(2e-6 * Math.max(1, maxAbs(expected)) * Math.sqrt(d));
    });
  }

  it('equals the composition (matmul, broadcast adds, softmax) on SAM-shaped windows', async () => {
    const engine = await testEngine();
    const [bh, qh, qw, d] = [6, 5, 5, 12];
    const n = qh * qw;
    const got = await engine.scopeAsync(async () => noGrad(async () => {
      const t = (seed: number, shape: number[]) => engine.tensor(randomArray(shape.reduce((a, b) => a * b), seed, -1.5, 1.5), shape);
      const q = t(11, [bh, n, d]), k = t(12, [bh, n, d]), v = t(13, [bh, n, d]);
      const rh = t(14, [qh, qh, d]), rw = t(15, [qw, qw, d]);
      const { relH, relW } = decomposedRelPosTerms(q, rh, rw, qh, qw);
      const fused = await relPosAttention(q, k, v, relH, relW, d ** -0.5).readFloat();
      const composed = await relPosAttentionReference(q, k, v, rh, rw, qh, qw, engine.tensor([d ** -0.5], [1])).readFloat();
      return { fused, composed };
    }));
    const err = maxAbsDiff(got.fused, got.composed);
    expect(err, `max abs error ${err}`).toBeLessThanOrEqual(1e-5 * maxAbs(got.composed));
  });

  it('refuses wrong shapes and recorded inputs', async () => {
    const engine = await testEngine();
    await engine.scopeAsync(async () => {
      const q = engine.zeros([1, 4, 8]), kv = engine.zeros([1, 6, 8]);
      expect(() => noGrad(() => relPosAttention(q, kv, kv, engine.zeros([1, 4, 2]), engine.zeros([1, 4, 2]), 1))).toThrow(/kh\*kw/);
      const grad = engine.zeros([1, 4, 8]);
      grad.requiresGrad = true;
      expect(() => relPosAttention(grad, kv, kv, engine.zeros([1, 4, 2]), engine.zeros([1, 4, 3]), 1)).toThrow(/forward only/);
    });
  });
});

describe('fused attention read from the packed qkv projection (bias computed in the kernel)', () => {
  // [images, heads, qh, qw, d]: a partial row tile (N 70 > 64) with odd d, SAM's windows (14x14, d 16
  // here: lavapipe compiles d 64 for minutes), a non-square grid, and d 20 with N past one workgroup.
  const cases: [number, number, number, number, number][] = [[2, 3, 7, 10, 6], [3, 2, 14, 14, 16], [1, 2, 4, 9, 12], [1, 1, 9, 9, 20]];
  for (const [batch, heads, qh, qw, d] of cases) {
    it(`[B ${batch}, heads ${heads}, grid ${qh}x${qw}, d ${d}] against the host definition`, async () => {
      const engine = await testEngine();
      const n = qh * qw, scale = d ** -0.5;
      const qkv = randomArray(batch * n * 3 * heads * d, 21, -1.5, 1.5);
      const rh = randomArray(qh * qh * d, 22, -1, 1), rw = randomArray(qw * qw * d, 23, -1, 1);
      const expected = packedFlashAttentionReference({ batch, heads, qh, qw, d, scale }, qkv, rh, rw);
      const got = await engine.scopeAsync(() => noGrad(() => relPosAttentionPacked(
        engine.tensor(qkv, [batch, qh, qw, 3 * heads * d]), engine.tensor(rh, [qh, qh, d]), engine.tensor(rw, [qw, qw, d]), heads, qh, qw, scale,
      )).readFloat());
      const err = maxAbsDiff(got, expected);
      expect(err, `max abs error ${err}`).toBeLessThanOrEqual(2e-6 * Math.max(1, maxAbs(expected)) * Math.sqrt(d));
    });
  }

  it('equals the unfused composition (permute, slice, decomposed rel-pos terms, matmul, softmax)', async () => {
    const engine = await testEngine();
    const [b, heads, qh, qw, d] = [2, 3, 5, 6, 8];
    const n = qh * qw, c = heads * d;
    const got = await engine.scopeAsync(async () => noGrad(async () => {
      const t = (seed: number, shape: number[]) => engine.tensor(randomArray(shape.reduce((x, y) => x * y), seed, -1.5, 1.5), shape);
      const qkv = t(31, [b, qh, qw, 3 * c]), rh = t(32, [qh, qh, d]), rw = t(33, [qw, qw, d]);
      const fused = await relPosAttentionPacked(qkv, rh, rw, heads, qh, qw, d ** -0.5).readFloat();
      const parts = permute(reshape(qkv, [b, n, 3, heads, d]), [2, 0, 3, 1, 4]); // (3, B, heads, N, d)
      const part = (i: number) => reshape(slice(parts, [i, 0, 0, 0, 0], [i + 1, b, heads, n, d]), [b * heads, n, d]);
      const out = relPosAttentionReference(part(0), part(1), part(2), rh, rw, qh, qw, engine.tensor([d ** -0.5], [1])); // (B*heads, N, d)
      const composed = await permute(reshape(out, [b, heads, n, d]), [0, 2, 1, 3]).readFloat(); // (B, N, heads, d)
      return { fused, composed };
    }));
    const err = maxAbsDiff(got.fused, got.composed);
    expect(err, `max abs error ${err}`).toBeLessThanOrEqual(1e-5 * maxAbs(got.composed));
  });

  it('refuses a qkv width, table or grid that does not fit, and recorded inputs', async () => {
    const engine = await testEngine();
    await engine.scopeAsync(async () => noGrad(async () => {
      const rh = engine.zeros([3, 3, 4]), rw = engine.zeros([2, 2, 4]);
      expect(() => relPosAttentionPacked(engine.zeros([1, 3, 2, 23]), rh, rw, 2, 3, 2, 1)).toThrow(/3\*heads\*d/);
      expect(() => relPosAttentionPacked(engine.zeros([1, 3, 2, 24]), rh, engine.zeros([2, 3, 4]), 2, 3, 2, 1)).toThrow(/rw \[2, 3, 4\]/);
      expect(() => relPosAttentionPacked(engine.zeros([1, 2, 3, 24]), rh, rw, 2, 3, 2, 1)).toThrow(/qkv \[1, 2, 3, 24\]/);
    }));
    const qkv = engine.zeros([1, 3, 2, 24]);
    qkv.requiresGrad = true;
    expect(() => relPosAttentionPacked(qkv, engine.zeros([3, 3, 4]), engine.zeros([2, 2, 4]), 2, 3, 2, 1)).toThrow(/forward only/);
  });
});
