// From a split part to model-ready 2D slices: slice, normalise, resize. One volume in memory at a time.
import type { Axis } from './dataset.js';
import { normalizeIntensity, type Normalization } from './normalize.js';
import { resizeSlice } from './resize.js';
import { sliceCase, type Slice2D } from './slice.js';
import type { CaseSlices } from './split.js';

export interface PrepareOptions {
  axis: Axis;
  normalization: Normalization;
  /** 'slice' (the reference: min-max per 2D slice) or 'volume' (one mapping for the whole volume). */
  normalizeOver?: 'slice' | 'volume';
  /** Resize to [height, width]; default: keep the slice size. */
  size?: [number, number];
  /** Drop slices without foreground (applies when a part lists all slices of a case). */
  skipEmpty?: boolean;
}

export async function prepareSlices(parts: CaseSlices[], options: PrepareOptions): Promise<Slice2D[]> {
  const out: Slice2D[] = [];
  for (const { case: ref, slices } of parts) {
    const loaded = await ref.load();
    const image = options.normalizeOver === 'volume' ? { ...loaded.image, data: normalizeIntensity(loaded.image.data, options.normalization) } : loaded.image;
    const sliced = sliceCase({ image, label: loaded.label }, ref.id, {
      axis: options.axis,
      indices: slices ?? undefined,
      skipEmpty: slices === null && options.skipEmpty && loaded.label !== null,
    });
    for (let s of sliced) {
      if (options.normalizeOver !== 'volume') s = { ...s, image: normalizeIntensity(s.image, options.normalization) };
      if (options.size && (options.size[0] !== s.height || options.size[1] !== s.width)) s = resizeSlice(s, options.size[0], options.size[1]);
      out.push(s);
    }
  }
  return out;
}
