// TinyViT configuration of MobileSAM's image encoder (mobile_sam/build_sam.py, build_sam_vit_t):
// four stages, the first convolutional (MBConv), the others TinyViT attention blocks in local windows.

export interface TinyVitConfig {
  imageSize: number;
  inChannels: number;
  /** Channels per stage. */
  embedDims: number[];
  /** Blocks per stage. */
  depths: number[];
  /** Attention heads per stage (stage 0 is convolutional and ignores it). */
  numHeads: number[];
  /** Attention window side per stage. */
  windowSizes: number[];
  mlpRatio: number;
  mbconvExpandRatio: number;
  localConvSize: number;
  /** Channels of the neck's output, the image embedding. */
  outChannels: number;
}

/** MobileSAM's TinyViT-5M: 1024x1024 input, (256, 64, 64) embedding. */
export const TINY_VIT_5M: TinyVitConfig = {
  imageSize: 1024,
  inChannels: 3,
  embedDims: [64, 128, 160, 320],
  depths: [2, 2, 6, 2],
  numHeads: [2, 4, 5, 10],
  windowSizes: [7, 7, 14, 7],
  mlpRatio: 4,
  mbconvExpandRatio: 4,
  localConvSize: 3,
  outChannels: 256,
};

/**
 * Stride of the depthwise convolution in the patch merging after stage i. MobileSAM keeps the
 * resolution at 64x64 for its last stages: PatchMerging uses stride 1 when out_dim is 320, 448 or 576.
 */
export function mergeStride(outDim: number): number {
  return outDim === 320 || outDim === 448 || outDim === 576 ? 1 : 2;
}

/** Token-grid side of each stage: the patch embedding divides by 4, each patch merging by its stride. */
export function stageResolutions(config: TinyVitConfig): number[] {
  const out: number[] = [];
  let r = config.imageSize / 4;
  for (let i = 0; i < config.embedDims.length; i++) {
    out.push(r);
    if (i + 1 < config.embedDims.length) r = Math.ceil(r / mergeStride(config.embedDims[i + 1]));
  }
  return out;
}
