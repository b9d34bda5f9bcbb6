// brain-aal: six tissue classes on the Colin27 (ch2) T1 MRI, from Debian's mricron-data.
// ch2.nii.gz is the head (background is exactly 0), ch2bet.nii.gz the same image brain-extracted,
// aal.nii.gz the AAL atlas (116 regions, numbered as in aal.nii.txt).
import { resampleNearest } from './resample.js';
import type { ImageVolume, LabelVolume } from './volume.js';

export const BRAIN_AAL_CLASSES = ['background', 'head outside brain', 'other brain', 'cortex', 'deep grey matter', 'cerebellum'];

/** ch2 intensities above this are head; the template's background is 0 everywhere. */
export const HEAD_THRESHOLD = 0;

/** Class of one AAL region (1..116), or 0 when the region is not one of the grouped ones. */
export function aalRegionClass(region: number): number {
  if (region >= 91 && region <= 116) return 5; // cerebellum (91-108) and vermis (109-116)
  if (region >= 71 && region <= 78) return 4; // caudate, putamen, pallidum, thalamus
  if (region >= 1 && region <= 90) return 3; // cerebral cortex (incl. hippocampus, amygdala)
  return 0;
}

/**
 * Label map on ch2's grid. AAL regions take precedence over the brain mask: AAL reaches a little
 * beyond ch2bet at the cortical surface, and those voxels are cortex, not scalp.
 * ch2bet and aal are resampled (nearest neighbour, through the affines) if their grid differs.
 */
export function buildBrainAalLabels(ch2: ImageVolume, ch2bet: ImageVolume, aal: LabelVolume): LabelVolume {
  const bet = resampleNearest(ch2bet, ch2).data;
  const atlas = resampleNearest(aal, ch2).data;
  const head = ch2.data;
  const out = new Uint8Array(head.length);
  for (let i = 0; i < out.length; i++) {
    const region = aalRegionClass(atlas[i]);
    if (region > 0) out[i] = region;
    else if (bet[i] > 0 || atlas[i] > 0) out[i] = 2;
    else if (head[i] > HEAD_THRESHOLD) out[i] = 1;
  }
  return { data: out, dims: [...ch2.dims], spacing: [...ch2.spacing], affine: [...ch2.affine], source: ch2.source };
}
