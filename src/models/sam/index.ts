// SAM's ViT image encoder: configurations, the module, and loading from a SAM checkpoint
// (.pth or safetensors, segment-anything or Hugging Face key names).
import type { Engine } from '../../engine.js';
import { loadCheckpoint, loadSamPart, type CheckpointTensor } from '../../io/checkpoint.js';
import { ImageEncoderViT } from './encoder.js';
import { samVitConfig, type SamVitConfig } from './config.js';

export { ImageEncoderViT, MlpBlock, PatchEmbed, SamBlock, type SamEncoderForwardOptions } from './encoder.js';
export { SamAttention, relPosAttentionReference, decomposedRelPosBias, decomposedRelPosTerms, type SamAttentionImpl, samWindowPartition, samWindowUnpartition } from './attention.js';
export { SAM_VIT_CONFIGS, isSamVitName, parseSamVitConfig, samVitConfig, tokenGridSize, type SamVitConfig, type SamVitName } from './config.js';
export { getRelPosReference, linearInterpolationMatrix, relPosSelectionMatrix, relativeIndex } from './rel-pos.js';

/**
 * Builds the encoder for `config` (vit_b / vit_l / vit_h or a config object) and loads the
 * image_encoder.* tensors of a full SAM checkpoint (strict: StateDictMismatchError on any difference).
 */
export function loadSamEncoder(engine: Engine, config: SamVitConfig | string, checkpoint: Uint8Array | Map<string, CheckpointTensor>): ImageEncoderViT {
  const encoder = new ImageEncoderViT(engine, typeof config === 'string' ? samVitConfig(config) : config);
  try {
    loadSamPart(encoder, checkpoint instanceof Uint8Array ? loadCheckpoint(checkpoint) : checkpoint, 'image_encoder');
  } catch (err) {
    encoder.dispose();
    throw err;
  }
  return encoder;
}
