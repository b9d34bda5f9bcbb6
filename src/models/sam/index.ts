// SAM's ViT image encoder: configurations, the module, and loading from a SAM checkpoint
// (.pth or safetensors, segment-anything or Hugging Face key names).
import type { Engine } from '../../engine.js';
import { asHostTensors, loadCheckpoint, selectPart, type CheckpointTensor } from '../../io/checkpoint.js';
import { ImageEncoderViT } from './encoder.js';
import { samVitConfig, type SamVitConfig } from './config.js';
import { SAM_RESIZE_RECIPE, checkpointGridSize, resizeSamEncoderStateDict } from './resize.js';

export { ImageEncoderViT, MlpBlock, PatchEmbed, SamBlock, type SamEncoderForwardOptions } from './encoder.js';
export { SamAttention, resolveAttentionImpl, relPosAttentionReference, decomposedRelPosBias, decomposedRelPosTerms, type SamAttentionImpl, samWindowPartition, samWindowUnpartition } from './attention.js';
export { SAM_VIT_CONFIGS, isSamVitName, parseSamVitConfig, samVitConfig, tokenGridSize, type SamVitConfig, type SamVitName } from './config.js';
export { getRelPosReference, linearInterpolationMatrix, relPosSelectionMatrix, relativeIndex } from './rel-pos.js';
export { SAM_RESIZE_RECIPE, checkpointGridSize, interpolateBilinearChannelsLast, resizeRelPosTable, resizeSamEncoderStateDict, samVitConfigAtSize } from './resize.js';

/**
 * Builds the encoder for `config` (vit_b / vit_l / vit_h or a config object) and loads the
 * image_encoder.* tensors of a full SAM checkpoint (strict: StateDictMismatchError on any difference).
 * A checkpoint made for a larger img_size than the config's (e.g. 1024 for a config at 512, see
 * samVitConfigAtSize) has its position embedding and global relative-position tables interpolated
 * down first (resize.ts).
 */
export function loadSamEncoder(engine: Engine, config: SamVitConfig | string, checkpoint: Uint8Array | Map<string, CheckpointTensor>): ImageEncoderViT {
  return loadSamEncoderInfo(engine, config, checkpoint).encoder;
}

/** loadSamEncoder, and the img_size the checkpoint was made for when it was resized (null when it fits as is). */
export function loadSamEncoderInfo(
  engine: Engine, config: SamVitConfig | string, checkpoint: Uint8Array | Map<string, CheckpointTensor>,
): { encoder: ImageEncoderViT; resizedFrom: number | null } {
  const resolved = typeof config === 'string' ? samVitConfig(config) : config;
  const entries = selectPart(checkpoint instanceof Uint8Array ? loadCheckpoint(checkpoint) : checkpoint, 'image_encoder');
  const resized = resizeSamEncoderStateDict(entries, resolved);
  const state = asHostTensors(resized);
  const encoder = new ImageEncoderViT(engine, resolved);
  try {
    encoder.loadStateDict(state);
  } catch (err) {
    encoder.dispose();
    throw err;
  }
  return { encoder, resizedFrom: resized === entries ? null : checkpointGridSize(entries) * resolved.patch_size };
}

/** What a cache identity adds for an encoder whose checkpoint was resized: the source size and the recipe's version. */
export function samResizeIdentity(resizedFrom: number | null): string {
  return resizedFrom === null ? '' : `|resized-from-${resizedFrom}|${SAM_RESIZE_RECIPE}`;
}
