// Checkpoints by content, not by file name: a zip is a torch.save file (pth.ts), a length-prefixed
// JSON header is safetensors (safetensors.ts). Hugging Face's facebook/sam-vit-* safetensors use
// transformers' own module names; they are renamed to segment-anything's, which our modules mirror.

import { FormatError, UsageError } from '../errors.js';
import type { HostTensor, Module } from '../nn/module.js';
import type { CheckpointTensor } from './checkpoint-tensor.js';
import { readPth, type PthOptions } from './pth.js';
import { isSafetensors, readSafetensors } from './safetensors.js';
import { isZip } from './zip.js';

export type { CheckpointDtype, CheckpointTensor } from './checkpoint-tensor.js';

export type SamPart = 'image_encoder' | 'prompt_encoder' | 'mask_decoder';
export const SAM_PARTS: readonly SamPart[] = ['image_encoder', 'prompt_encoder', 'mask_decoder'];

export interface LoadCheckpointOptions extends PthOptions {
  /** Rename Hugging Face SAM keys to segment-anything's: 'auto' (default) does so when the file has them. */
  huggingFaceKeys?: 'auto' | 'always' | 'never';
}

export function loadCheckpoint(bytes: Uint8Array, options: LoadCheckpointOptions = {}): Map<string, CheckpointTensor> {
  let tensors: Map<string, CheckpointTensor>;
  if (isZip(bytes)) tensors = readPth(bytes, options);
  else if (isSafetensors(bytes)) tensors = readSafetensors(bytes).tensors;
  else if (bytes[0] === 0x80) throw new FormatError('a raw pickle or legacy (pre-1.6) torch.save file: re-save it with a current torch.save');
  else throw new FormatError('not a checkpoint: neither a torch.save zip archive nor a safetensors file');
  const rename = options.huggingFaceKeys ?? 'auto';
  if (rename === 'always' || (rename === 'auto' && hasHuggingFaceSamKeys(tensors))) return fromHuggingFaceSam(tensors);
  return tensors;
}

/** The entries under `part.`, with that prefix removed (image_encoder.blocks.0.norm1.weight -> blocks.0.norm1.weight). */
export function selectPart<T>(entries: Map<string, T>, part: SamPart): Map<string, T> {
  if (!SAM_PARTS.includes(part)) throw new UsageError(`unknown SAM part ${part} (expected ${SAM_PARTS.join(', ')})`);
  const prefix = `${part}.`;
  const out = new Map<string, T>();
  for (const [key, value] of entries) if (key.startsWith(prefix)) out.set(key.slice(prefix.length), value);
  if (!out.size) {
    const found = [...new Set([...entries.keys()].map((k) => k.split('.')[0]))].slice(0, 10);
    throw new FormatError(`checkpoint holds no ${prefix}* keys (its top-level names: ${found.join(', ') || 'none'})`);
  }
  return out;
}

/** Float32 host tensors for Module.loadStateDict; integer tensors are converted (exact below 2^24). */
export function asHostTensors(entries: Map<string, CheckpointTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [key, t] of entries) {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number | bigint>, Number);
    out.set(key, { shape: t.shape, data });
  }
  return out;
}

/**
 * Loads one part of a full SAM checkpoint into a module whose state dict mirrors segment-anything's
 * (e.g. our image encoder for 'image_encoder'). Key sets and shapes must match exactly: otherwise
 * StateDictMismatchError lists the missing, unexpected and mismatched keys, and nothing is written.
 */
export function loadSamPart(module: Module, checkpoint: Uint8Array | Map<string, CheckpointTensor>, part: SamPart): void {
  const entries = checkpoint instanceof Uint8Array ? loadCheckpoint(checkpoint) : checkpoint;
  module.loadStateDict(asHostTensors(selectPart(entries, part)));
}

// ---- Hugging Face facebook/sam-vit-* names

export function hasHuggingFaceSamKeys(entries: Map<string, unknown>): boolean {
  for (const key of entries.keys()) if (key.startsWith('vision_encoder.') || key.startsWith('shared_image_embedding.')) return true;
  return false;
}

// transformers' SamModel renames segment-anything's modules (convert_sam_to_hf.py); these undo it.
// Whole-segment renames, keyed by the module path they live under.
const HF_SEGMENT_RENAMES: [RegExp, string][] = [
  [/^vision_encoder\./, 'image_encoder.'],
  [/^image_encoder\.patch_embed\.projection\./, 'image_encoder.patch_embed.proj.'],
  [/^image_encoder\.layers\./, 'image_encoder.blocks.'],
  [/^image_encoder\.neck\.conv1\./, 'image_encoder.neck.0.'],
  [/^image_encoder\.neck\.layer_norm1\./, 'image_encoder.neck.1.'],
  [/^image_encoder\.neck\.conv2\./, 'image_encoder.neck.2.'],
  [/^image_encoder\.neck\.layer_norm2\./, 'image_encoder.neck.3.'],
  [/^prompt_encoder\.shared_embedding\.positional_embedding$/, 'prompt_encoder.pe_layer.positional_encoding_gaussian_matrix'],
  [/^prompt_encoder\.point_embed\./, 'prompt_encoder.point_embeddings.'],
  [/^prompt_encoder\.mask_embed\.conv1\./, 'prompt_encoder.mask_downscaling.0.'],
  [/^prompt_encoder\.mask_embed\.layer_norm1\./, 'prompt_encoder.mask_downscaling.1.'],
  [/^prompt_encoder\.mask_embed\.conv2\./, 'prompt_encoder.mask_downscaling.3.'],
  [/^prompt_encoder\.mask_embed\.layer_norm2\./, 'prompt_encoder.mask_downscaling.4.'],
  [/^prompt_encoder\.mask_embed\.conv3\./, 'prompt_encoder.mask_downscaling.6.'],
  [/^mask_decoder\.upscale_conv1\./, 'mask_decoder.output_upscaling.0.'],
  [/^mask_decoder\.upscale_layer_norm\./, 'mask_decoder.output_upscaling.1.'],
  [/^mask_decoder\.upscale_conv2\./, 'mask_decoder.output_upscaling.3.'],
  // segment-anything's three-layer MLPs are layers.0..2; transformers calls them proj_in, layers.0, proj_out.
  // (layers.0 first, so that the renamed proj_in is not renamed again)
  [/^(mask_decoder\.(?:iou_prediction_head|output_hypernetworks_mlps\.\d+))\.layers\.0\./, '$1.layers.1.'],
  [/^(mask_decoder\.(?:iou_prediction_head|output_hypernetworks_mlps\.\d+))\.proj_in\./, '$1.layers.0.'],
  [/^(mask_decoder\.(?:iou_prediction_head|output_hypernetworks_mlps\.\d+))\.proj_out\./, '$1.layers.2.'],
  // norm1/norm2 of the ViT blocks, norm1..4 and norm_final_attn of the two-way transformer.
  [/\.layer_norm(\d|_final_attn)/, '.norm$1'],
];

/** A Hugging Face SAM key in segment-anything's naming; null for the duplicate of a shared tensor. */
export function samKeyFromHuggingFace(key: string): string | null {
  // SamModel holds the prompt encoder's random-feature matrix twice (shared_image_embedding is the same module).
  if (key === 'shared_image_embedding.positional_embedding') return null;
  let out = key;
  for (const [pattern, replacement] of HF_SEGMENT_RENAMES) out = out.replace(pattern, replacement);
  return out;
}

export function fromHuggingFaceSam<T extends { shape: number[] }>(entries: Map<string, T>): Map<string, T> {
  const out = new Map<string, T>();
  for (const [key, value] of entries) {
    const renamed = samKeyFromHuggingFace(key);
    if (renamed === null) continue;
    if (out.has(renamed)) throw new FormatError(`Hugging Face keys collide: ${key} maps to ${renamed}, already present`);
    out.set(renamed, value);
  }
  // A file saved with only the shared copy still loads.
  const shared = entries.get('shared_image_embedding.positional_embedding');
  const pe = 'prompt_encoder.pe_layer.positional_encoding_gaussian_matrix';
  if (shared && !out.has(pe)) out.set(pe, shared);
  return out;
}
