// Running SAM's ViT at a smaller input than its checkpoint was made for (e.g. 512 instead of 1024,
// about 4x fewer tokens): a pure transform of the image encoder's state dict, applied before loading.
//
// The recipe is the one segment-anything-derived works use when they load a 1024 checkpoint into an
// ImageEncoderViT built with another img_size (SAM-Med2D: segment_anything/build_sam.py,
// interpolate_state_dict; SAMed: segment_anything/build_sam.py, load_from):
//   - pos_embed (1, G, G, C), seen as (1, C, G, G), resized to (g, g) by F.interpolate with mode
//     'bilinear', align_corners=False, no antialias;
//   - rel_pos_h / rel_pos_w of the global-attention blocks, (2G-1, head_dim) seen as a one-channel image,
//     resized to (2g-1, head_dim), bilinear, align_corners=False: head_dim keeps its size, so this is
//     linear interpolation along the table (rel-pos.ts linearInterpolationMatrix);
//   - the windowed blocks' tables (2 * window - 1 rows) stay: the window does not change.
// Global blocks are picked by index from the config, as SAM-Med2D does (SAMed matches key substrings,
// which only works for vit_b's indexes). Only shrinking is supported: the option exists for speed,
// and an upsampled table would invent positions the weights never saw.
import { FormatError, UsageError } from '../../errors.js';
import type { CheckpointTensor } from '../../io/checkpoint-tensor.js';
import { tokenGridSize, type SamVitConfig } from './config.js';
import { linearInterpolationMatrix } from './rel-pos.js';

/** Version of this transform, part of an embedding-cache identity whenever it is applied. */
export const SAM_RESIZE_RECIPE = 'pos-bilinear-ac0|global-relpos-linear-ac0:v1';

/** The (at most two) source taps of each output index: F.interpolate's linear weights, align_corners=False. */
function linearTaps(length: number, out: number): { index: Int32Array; weight: Float32Array } {
  const m = linearInterpolationMatrix(length, out); // (out, length)
  const index = new Int32Array(out * 2), weight = new Float32Array(out * 2);
  for (let i = 0; i < out; i++) {
    let k = 0;
    for (let j = 0; j < length && k < 2; j++) {
      if (m[i * length + j] === 0) continue;
      index[i * 2 + k] = j;
      weight[i * 2 + k] = m[i * length + j];
      k++;
    }
    if (k === 1) index[i * 2 + 1] = index[i * 2]; // weight 0
  }
  return { index, weight };
}

/**
 * F.interpolate(x.permute(0, 3, 1, 2), (outH, outW), mode='bilinear', align_corners=False)
 * .permute(0, 2, 3, 1) for a channels-last (1, H, W, C) image: returns (1, outH, outW, C). The four
 * weights are float32 products as PyTorch forms them; the sum is rounded once.
 */
export function interpolateBilinearChannelsLast(src: Float32Array, height: number, width: number, channels: number, outH: number, outW: number): Float32Array {
  if (src.length !== height * width * channels) throw new FormatError(`interpolateBilinear: ${src.length} values are not (1, ${height}, ${width}, ${channels})`);
  const th = linearTaps(height, outH), tw = linearTaps(width, outW);
  const sum = new Float64Array(outH * outW * channels);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const o = (oy * outW + ox) * channels;
      for (let a = 0; a < 2; a++) {
        const rowBase = th.index[oy * 2 + a] * width;
        for (let b = 0; b < 2; b++) {
          const w = Math.fround(th.weight[oy * 2 + a] * tw.weight[ox * 2 + b]);
          if (w === 0) continue;
          const s = (rowBase + tw.index[ox * 2 + b]) * channels;
          for (let c = 0; c < channels; c++) sum[o + c] += w * src[s + c];
        }
      }
    }
  }
  return Float32Array.from(sum);
}

/** A relative-position table (length, dim) resized along its rows to outLength: F.interpolate bilinear with dim kept. */
export function resizeRelPosTable(table: Float32Array, length: number, dim: number, outLength: number): Float32Array {
  if (table.length !== length * dim) throw new FormatError(`resizeRelPosTable: ${table.length} values are not (${length}, ${dim})`);
  return interpolateBilinearChannelsLast(table, length, 1, dim, outLength, 1); // rows as height, one column, dim as channels
}

/**
 * The config for running `config`'s checkpoint at a square input of `imgSize`: a multiple of the
 * patch size, no larger than the checkpoint's own img_size. UsageError otherwise.
 */
export function samVitConfigAtSize(config: SamVitConfig, imgSize: number): SamVitConfig {
  const { patch_size: patch, img_size: native } = config;
  if (!Number.isInteger(imgSize) || imgSize < patch || imgSize % patch !== 0) {
    throw new UsageError(`SAM ViT input size ${imgSize} must be a positive multiple of the patch size ${patch} (e.g. ${Math.max(patch, Math.round(native / 2 / patch) * patch)})`);
  }
  if (imgSize > native) {
    throw new UsageError(`SAM ViT input size ${imgSize} is larger than the checkpoint's ${native}: only smaller inputs are supported (the position tables are interpolated down, for speed)`);
  }
  return { ...config, img_size: imgSize };
}

/** The token grid a checkpoint's image encoder was made for, from its pos_embed (1, G, G, C). */
export function checkpointGridSize(encoderEntries: Map<string, { shape: number[] }>): number {
  const pos = encoderEntries.get('pos_embed');
  if (!pos) throw new FormatError('the image encoder\'s state dict has no pos_embed (SAM ViT checkpoints carry an absolute position embedding)');
  const [one, h, w] = pos.shape;
  if (pos.shape.length !== 4 || one !== 1 || h !== w) throw new FormatError(`pos_embed has shape [${pos.shape}], expected (1, G, G, C)`);
  return h;
}

function floatData(key: string, t: CheckpointTensor): Float32Array {
  if (!(t.data instanceof Float32Array)) throw new FormatError(`${key} is stored as ${t.dtype}, expected a floating-point tensor`);
  return t.data;
}

/**
 * The image encoder's state dict (keys without the image_encoder. prefix) made for grid G, resized
 * for `config` (grid g = img_size / patch_size <= G). Entries not resized are shared, not copied; the
 * input map is not changed. Returns the same map when the grids already agree.
 */
export function resizeSamEncoderStateDict(entries: Map<string, CheckpointTensor>, config: SamVitConfig): Map<string, CheckpointTensor> {
  const pos = entries.get('pos_embed');
  // No pos_embed, or another architecture's: nothing to resize; the strict loader lists every difference.
  if (!pos || pos.shape[pos.shape.length - 1] !== config.embed_dim) return entries;
  const from = checkpointGridSize(entries);
  const to = tokenGridSize(config);
  if (from === to) return entries;
  if (to > from) {
    throw new UsageError(`the checkpoint was made for a ${from}x${from} token grid (img_size ${from * config.patch_size}), smaller than the encoder's ${to}x${to} (img_size ${config.img_size}): run it at ${from * config.patch_size} or smaller`);
  }
  const out = new Map(entries);
  const channels = pos.shape[3];
  out.set('pos_embed', { shape: [1, to, to, channels], dtype: 'float32', data: interpolateBilinearChannelsLast(floatData('pos_embed', pos), from, from, channels, to, to) });
  for (const i of config.global_attn_indexes) {
    for (const axis of ['h', 'w']) {
      const key = `blocks.${i}.attn.rel_pos_${axis}`;
      const table = entries.get(key);
      if (!table) continue; // the strict loader names the missing key
      const [length, dim] = table.shape;
      if (table.shape.length !== 2 || length !== 2 * from - 1) {
        throw new FormatError(`${key} has shape [${table.shape}], expected (${2 * from - 1}, head_dim) for a global block on a ${from}x${from} grid`);
      }
      out.set(key, { shape: [2 * to - 1, dim], dtype: 'float32', data: resizeRelPosTable(floatData(key, table), length, dim, 2 * to - 1) });
    }
  }
  return out;
}
