// SAM ViT at a smaller input than its checkpoint: the position embedding and the global blocks'
// relative-position tables interpolated as SAMed / SAM-Med2D do, against PyTorch
// (tools/golden/sam_vit_resize.py): the resized tensors, and segment-anything's ImageEncoderViT built
// at the small img_size with them loaded, run on a seeded input. Then the wiring: config checks,
// cache identities, the library API and `autosam embed --encoder-size`.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEncoder } from '../../src/api/encoder.js';
import { embedCommand } from '../../src/cli/commands/embed.js';
import { FormatError, UsageError } from '../../src/errors.js';
import { loadCheckpoint, selectPart, type CheckpointTensor } from '../../src/io/checkpoint.js';
import { readNpy } from '../../src/io/npy.js';
import { pngToGrey, readPng, writeGreyPng } from '../../src/io/png.js';
import { StateDictMismatchError } from '../../src/nn/module.js';
import {
  interpolateBilinearChannelsLast, loadSamEncoder, loadSamEncoderInfo, parseSamVitConfig, resizeRelPosTable, resizeSamEncoderStateDict,
  samVitConfig, samVitConfigAtSize, type SamVitConfig,
} from '../../src/models/sam/index.js';
import { encodeOne } from '../../src/train/frozen-encoder.js';
import { loadFrozenEncoder } from '../../src/train/frozen-encoder-node.js';
import { maxAbsDiff, testEngine } from '../helpers/engine.js';

const DIR = fileURLToPath(new URL('../fixtures/golden/sam_vit_resize/', import.meta.url));
interface Case { name: string; kind: 'forward' | 'transform'; img_size?: number; grid_from?: number; grid_to?: number; files: Record<string, string>; max_abs_embedding?: number }
const manifest = JSON.parse(readFileSync(`${DIR}manifest.json`, 'utf8')) as { config: Omit<SamVitConfig, 'mlp_ratio'>; checkpoint: string; cases: Case[] };
const LARGE = parseSamVitConfig(manifest.config, 'sam_vit_resize config');
const CHECKPOINT = `${DIR}${manifest.checkpoint}`;
const checkpointBytes = () => new Uint8Array(readFileSync(CHECKPOINT));
const encoderEntries = () => selectPart(loadCheckpoint(checkpointBytes()), 'image_encoder');

function npy(file: string): { data: Float32Array; shape: number[] } {
  const a = readNpy(readFileSync(DIR + file));
  if (a.dtype !== 'float32') throw new Error(`${file}: ${a.dtype}`);
  return { data: a.data, shape: a.shape };
}
function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

// Tolerance for the resized tensors: 1e-6 absolute (values are N(0, 0.5^2), |x| < 3, where a float32
// ulp is at most 2.4e-7). PyTorch's channels-last bilinear kernel sums its four products in float32;
// ours sums in float64 and rounds once, so a few ulps may differ.
const TABLE_TOL = 1e-6;

describe('resize transform against PyTorch F.interpolate (SAM grids, few channels)', () => {
  for (const c of manifest.cases.filter((c) => c.kind === 'transform')) {
    it(`${c.name}: pos_embed (1, ${c.grid_from}, ${c.grid_from}, C) -> ${c.grid_to}, a global table ${2 * c.grid_from! - 1} -> ${2 * c.grid_to! - 1} rows`, () => {
      const pos = npy(c.files.pos_embed), posRef = npy(c.files.pos_embed_out);
      const [, h, w, ch] = pos.shape;
      const g = c.grid_to!;
      const posOut = interpolateBilinearChannelsLast(pos.data, h, w, ch, g, g);
      expect(posRef.shape).toEqual([1, g, g, ch]);
      const posErr = maxAbsDiff(posOut, posRef.data);
      const table = npy(c.files.rel_pos), tableRef = npy(c.files.rel_pos_out);
      const tableOut = resizeRelPosTable(table.data, table.shape[0], table.shape[1], 2 * g - 1);
      expect(tableRef.shape).toEqual([2 * g - 1, table.shape[1]]);
      const tableErr = maxAbsDiff(tableOut, tableRef.data);
      console.log(`${c.name}: max abs error pos_embed ${posErr.toExponential(2)} (max|ref| ${maxAbs(posRef.data).toFixed(2)}), rel_pos ${tableErr.toExponential(2)}`);
      expect(posErr).toBeLessThanOrEqual(TABLE_TOL);
      expect(tableErr).toBeLessThanOrEqual(TABLE_TOL);
    });
  }
});

describe('a checkpoint for img_size 128 run smaller, against segment-anything\'s ImageEncoderViT at that size', () => {
  for (const c of manifest.cases.filter((c) => c.kind === 'forward')) {
    const size = c.img_size!;
    const config = samVitConfigAtSize(LARGE, size);

    it(`img_size ${size}: resized pos_embed and global rel_pos tables match torch; windowed tables untouched`, () => {
      const entries = encoderEntries();
      const resized = resizeSamEncoderStateDict(entries, config);
      const compared: string[] = [];
      for (const [key, file] of Object.entries(c.files)) {
        if (key === 'input' || key === 'embedding') continue;
        const ref = npy(file), got = resized.get(key)!;
        expect(got.shape, key).toEqual(ref.shape);
        const err = maxAbsDiff(got.data as Float32Array, ref.data);
        expect(err, `${key}: max abs error ${err}`).toBeLessThanOrEqual(TABLE_TOL);
        compared.push(key);
      }
      expect(compared.sort()).toEqual(['blocks.1.attn.rel_pos_h', 'blocks.1.attn.rel_pos_w', 'pos_embed']);
      for (const key of ['blocks.0.attn.rel_pos_h', 'blocks.2.attn.rel_pos_w', 'patch_embed.proj.weight', 'neck.2.weight']) {
        expect(resized.get(key), key).toBe(entries.get(key)); // shared, not copied or changed
      }
      expect(entries.get('pos_embed')!.shape).toEqual([1, 8, 8, 16]); // the input map is left as it was
    });

    for (const impl of ['fused', 'composed'] as const) {
      it(`img_size ${size} (${impl} attention): the embedding matches torch within 1e-3 of max|ref|`, async () => {
        const engine = await testEngine();
        const { encoder, resizedFrom } = loadSamEncoderInfo(engine, config, checkpointBytes());
        try {
          expect(resizedFrom).toBe(128);
          encoder.setAttentionImpl(impl);
          const input = npy(c.files.input), ref = npy(c.files.embedding);
          expect(input.shape).toEqual([1, 3, size, size]);
          const got = await engine.scopeAsync(() => encoder.forward(engine.tensor(input.data, input.shape)).readFloat());
          const err = maxAbsDiff(got, ref.data), scale = maxAbs(ref.data);
          console.log(`img_size ${size} (${impl}): embedding ${ref.shape}, max abs error ${err.toExponential(2)} = ${(err / scale).toExponential(2)} of max|ref| ${scale.toFixed(3)}`);
          expect(err).toBeLessThanOrEqual(1e-3 * scale);
        } finally {
          encoder.dispose();
        }
      });
    }
  }
});

describe('sizes and malformed tables', () => {
  it('an input size must be a multiple of the patch size and no larger than the checkpoint\'s', () => {
    expect(samVitConfigAtSize(samVitConfig('vit_b'), 512)).toMatchObject({ img_size: 512, embed_dim: 768, window_size: 14 });
    expect(samVitConfigAtSize(LARGE, 128)).toEqual(LARGE);
    expect(() => samVitConfigAtSize(samVitConfig('vit_b'), 500)).toThrow(UsageError);
    expect(() => samVitConfigAtSize(samVitConfig('vit_b'), 500)).toThrow(/500 must be a positive multiple of the patch size 16/);
    expect(() => samVitConfigAtSize(samVitConfig('vit_b'), 0)).toThrow(UsageError);
    expect(() => samVitConfigAtSize(samVitConfig('vit_b'), 2048)).toThrow(/larger than the checkpoint's 1024: only smaller inputs/);
  });

  it('a checkpoint made for a smaller grid than the encoder\'s is refused (no upsampling)', async () => {
    const engine = await testEngine();
    const small = resizeSamEncoderStateDict(encoderEntries(), samVitConfigAtSize(LARGE, 64));
    const full = new Map([...small].map(([k, t]) => [`image_encoder.${k}`, t]));
    expect(() => loadSamEncoder(engine, LARGE, full)).toThrow(UsageError);
    expect(() => loadSamEncoder(engine, LARGE, full)).toThrow(/made for a 4x4 token grid \(img_size 64\), smaller than the encoder's 8x8 \(img_size 128\)/);
  });

  it('a global table of the wrong length is a FormatError naming it; a missing pos_embed is left to the strict loader', async () => {
    const engine = await testEngine();
    const entries = encoderEntries();
    const key = 'blocks.1.attn.rel_pos_h';
    const t = entries.get(key)!;
    entries.set(key, { ...t, shape: [t.shape[0] - 2, t.shape[1]], data: (t.data as Float32Array).slice(0, (t.shape[0] - 2) * t.shape[1]) } as CheckpointTensor);
    expect(() => resizeSamEncoderStateDict(entries, samVitConfigAtSize(LARGE, 64))).toThrow(FormatError);
    expect(() => resizeSamEncoderStateDict(entries, samVitConfigAtSize(LARGE, 64))).toThrow(/blocks\.1\.attn\.rel_pos_h has shape \[13,8\], expected \(15, head_dim\)/);
    const noPos = loadCheckpoint(checkpointBytes());
    noPos.delete('image_encoder.pos_embed');
    expect(() => loadSamEncoder(engine, samVitConfigAtSize(LARGE, 64), noPos)).toThrow(StateDictMismatchError);
    expect(() => loadSamEncoder(engine, samVitConfigAtSize(LARGE, 64), noPos)).toThrow(/missing keys \(1\): pos_embed/);
  });
});

describe('wiring: --encoder-size for SAM ViTs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'autosam-resize-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'large.json');
  writeFileSync(configFile, JSON.stringify(manifest.config));
  // A 30 x 20 grey gradient: preprocessing resizes its longest side to the encoder size.
  const [width, height] = [30, 20];
  const pixels = Uint8Array.from({ length: width * height }, (_, i) => (i * 37) % 251);
  const pngFile = join(dir, 'slice.png');
  writeFileSync(pngFile, writeGreyPng(pixels, width, height));

  it('the CLI loader and the library API give the same identity and embedding at 80; the identity names the resize', async () => {
    const engine = await testEngine();
    const cli = await loadFrozenEncoder(engine, { encoder: configFile, checkpoint: CHECKPOINT, inputSize: 80 });
    const api = await loadEncoder(engine, { kind: 'sam', config: { ...LARGE }, checkpoint: checkpointBytes(), inputSize: 80 });
    const native = await loadFrozenEncoder(engine, { encoder: configFile, checkpoint: CHECKPOINT });
    try {
      expect(cli.inputSize).toBe(80);
      expect(api.inputSize).toBe(80);
      expect(api.embeddingShape).toEqual([8, 5, 5]);
      expect(cli.identity).toMatch(/"img_size":80.*\|80\|resized-from-128\|pos-bilinear/);
      expect(native.identity).not.toMatch(/resized/);
      expect(native.identity).not.toBe(cli.identity);
      expect(api.identity).toBe(cli.identity);
      const image = { data: pngToGrey(readPng(readFileSync(pngFile))), height, width };
      const viaCli = await encodeOne(cli, image);
      expect(viaCli.shape).toEqual([8, 5, 5]);
      const [viaApi] = await api.embed([{ data: image.data, height, width }]);
      expect(viaApi.shape).toEqual([8, 5, 5]);
      expect(Array.from(viaCli.data).every(Number.isFinite)).toBe(true);
      await expect(loadFrozenEncoder(engine, { encoder: configFile, checkpoint: CHECKPOINT, inputSize: 72 })).rejects.toThrow(UsageError);
      await expect(loadFrozenEncoder(engine, { encoder: configFile, checkpoint: CHECKPOINT, inputSize: 256 })).rejects.toThrow(/larger than the checkpoint's 128/);
    } finally {
      cli.dispose();
      api.dispose();
      native.dispose();
    }
  });

  it('autosam embed --encoder CONFIG.json --encoder-size 80 writes the (1, 8, 5, 5) embedding the loader computes', async () => {
    const out = join(dir, 'emb.npy');
    const code = await embedCommand.run(['--input', pngFile, '--encoder', configFile, '--checkpoint', CHECKPOINT, '--encoder-size', '80', '--out', out]);
    expect(code).toBe(0);
    const written = readNpy(new Uint8Array(readFileSync(out)));
    expect(written.shape).toEqual([1, 8, 5, 5]);
    const engine = await testEngine();
    const frozen = await loadFrozenEncoder(engine, { encoder: configFile, checkpoint: CHECKPOINT, inputSize: 80 });
    try {
      const expected = await encodeOne(frozen, { data: pngToGrey(readPng(readFileSync(pngFile))), height, width });
      expect(maxAbsDiff(written.data as Float32Array, expected.data)).toBe(0);
    } finally {
      frozen.dispose();
    }
    await expect(embedCommand.run(['--input', pngFile, '--encoder', configFile, '--checkpoint', CHECKPOINT, '--encoder-size', '100', '--out', out]))
      .rejects.toThrow(/100 must be a positive multiple of the patch size 16/);
  });
});
