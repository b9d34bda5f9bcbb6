// What the user drops in, turned into the app's cases: each scan (NIfTI or PNG) with its label map
// when one is given. Label maps are recognised by name (patient001_gt.nii.gz, brain_seg.png,
// case3-label.nii) or by being added as label maps explicitly, and paired with the scan of the same
// base name. Everything that would make training meaningless is refused here with a message that
// says which file and what to do: not a volume, a label map without its scan, a label map on
// another grid, label values that are not classes.
import type { Axis } from '../data/dataset.js';
import { imageFormat, stripImageExtension } from '../data/files.js';
import { checkSameGrid, readImageVolume, readLabelVolume, type ImageVolume, type LabelVolume } from '../data/volume.js';
import { DataError, FormatError } from '../errors.js';
import { pngToGrey, pngToLabels, readPng } from '../io/png.js';

export interface AppCase {
  /** The scan's base name (unique among the loaded cases). */
  id: string;
  imageName: string;
  image: ImageVolume;
  labelName?: string;
  label: LabelVolume | null;
}

export interface InputFile {
  name: string;
  bytes: Uint8Array;
  /** 'label' when the user added it as a label map; otherwise guessed from the name. */
  role?: 'image' | 'label';
}

/** A file the app could not use, and why. */
export interface InputProblem {
  file: string;
  message: string;
}

/** Labels beyond this are almost certainly an image picked as a label map. */
export const MAX_CLASSES = 64;

const LABEL_SUFFIX = /[_\-.](gt|seg|segmentation|label|labels|labelmap|mask|masks)$/i;

export function isLabelName(name: string): boolean {
  return LABEL_SUFFIX.test(stripImageExtension(name));
}

/** The scan base name a label map belongs to: 'patient001_frame01_gt.nii.gz' -> 'patient001_frame01'. */
export function labelBaseName(name: string): string {
  return stripImageExtension(name).replace(LABEL_SUFFIX, '');
}

const IDENTITY: number[] = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];

/** A PNG as a one-slice volume: [X = width, Y = height, Z = 1], rows along y, 1 mm pixels. */
function pngVolume<T extends Float32Array | Uint8Array | Int16Array>(data: T, width: number, height: number) {
  return { data, dims: [width, height, 1] as [number, number, number], spacing: [1, 1, 1] as [number, number, number], affine: [...IDENTITY] };
}

function notAVolume(name: string, err: unknown): DataError {
  const why = err instanceof Error ? err.message : String(err);
  return new DataError(`${name} is not a volume the app can read (${why}). Use NIfTI (.nii, .nii.gz) or PNG files.`);
}

export function readImageFile(name: string, bytes: Uint8Array): ImageVolume {
  const format = imageFormat(name);
  if (!format) throw new DataError(`${name} is not a volume the app can read: use NIfTI (.nii, .nii.gz) or PNG files`);
  try {
    if (format === 'png') {
      const png = readPng(bytes, name);
      return pngVolume(pngToGrey(png), png.width, png.height);
    }
    return readImageVolume(bytes, name);
  } catch (err) {
    if (err instanceof FormatError || err instanceof DataError) throw notAVolume(name, err);
    throw err;
  }
}

export function readLabelFile(name: string, bytes: Uint8Array): LabelVolume {
  const format = imageFormat(name);
  if (!format) throw new DataError(`${name} is not a label map the app can read: use NIfTI (.nii, .nii.gz) or PNG files`);
  let label: LabelVolume;
  try {
    if (format === 'png') {
      const png = readPng(bytes, name);
      label = pngVolume(pngToLabels(png, name), png.width, png.height);
    } else {
      label = readLabelVolume(bytes, name);
    }
  } catch (err) {
    if (err instanceof FormatError) throw notAVolume(name, err);
    throw err; // DataError: already says what is wrong with the labels
  }
  checkLabelValues(label, name);
  return label;
}

/** Labels must be small non-negative integers with some foreground. */
export function checkLabelValues(label: LabelVolume, name: string): void {
  let max = 0;
  let foreground = 0;
  for (let i = 0; i < label.data.length; i++) {
    const v = label.data[i];
    if (v < 0) throw new DataError(`${name}: label ${v} is negative; label maps hold classes 0 (background), 1, 2, ...`);
    if (v > max) max = v;
    if (v > 0) foreground++;
  }
  if (max >= MAX_CLASSES) throw new DataError(`${name}: label ${max} is beyond the ${MAX_CLASSES} classes the app trains; is this a scan rather than a label map?`);
  if (foreground === 0) throw new DataError(`${name}: the label map is all background (0); there is nothing to learn from it`);
}

/**
 * Reads and pairs files. Returns the cases and the problems (one per file that could not be used);
 * a problem never stops the other files from loading.
 */
export function readInputFiles(files: readonly InputFile[], existing: readonly AppCase[] = []): { cases: AppCase[]; problems: InputProblem[] } {
  const problems: InputProblem[] = [];
  const cases = existing.map((c) => ({ ...c }));
  const labels: InputFile[] = [];
  for (const f of files) {
    const role = f.role ?? (isLabelName(f.name) ? 'label' : 'image');
    if (role === 'label') {
      labels.push(f);
      continue;
    }
    try {
      const image = readImageFile(f.name, f.bytes);
      const id = stripImageExtension(f.name);
      const at = cases.findIndex((c) => c.id === id);
      const entry: AppCase = { id, imageName: f.name, image, label: null };
      if (at >= 0) cases[at] = entry; // the same scan dropped again replaces the old one (and its label)
      else cases.push(entry);
    } catch (err) {
      problems.push({ file: f.name, message: (err as Error).message });
    }
  }
  for (const f of labels) {
    try {
      const base = labelBaseName(f.name);
      const owner = cases.find((c) => c.id === base);
      if (!owner) {
        const scans = cases.map((c) => c.imageName).join(', ') || 'none loaded yet';
        throw new DataError(`${f.name}: no scan named ${base}.nii.gz / ${base}.nii / ${base}.png to pair it with (scans: ${scans}); add its scan, or name the label map after its scan plus _gt`);
      }
      const label = readLabelFile(f.name, f.bytes);
      checkLabelMatches(owner.image, label, owner.imageName, f.name);
      owner.label = label;
      owner.labelName = f.name;
    } catch (err) {
      problems.push({ file: f.name, message: (err as Error).message });
    }
  }
  return { cases, problems };
}

/** The label map must lie on its scan's grid. */
export function checkLabelMatches(image: ImageVolume, label: LabelVolume, imageName: string, labelName: string): void {
  try {
    checkSameGrid(image, label, labelName);
  } catch {
    throw new DataError(`${labelName} does not match ${imageName}: the label map is ${label.dims.join('x')} voxels, the scan ${image.dims.join('x')}; a label map must be drawn on its scan's grid`);
  }
}

/** Class count over all label maps: the largest label + 1 (at least 2). */
export function classCount(cases: readonly AppCase[]): number {
  let max = 1;
  for (const c of cases) if (c.label) for (let i = 0; i < c.label.data.length; i++) if (c.label.data[i] > max) max = c.label.data[i];
  return max + 1;
}

/** The slicing axis to use: 2D images (one slice along z) only slice along axis 2. */
export function checkAxis(cases: readonly AppCase[], axis: Axis): void {
  const flat = cases.filter((c) => c.image.dims[2] === 1);
  if (flat.length && axis !== 2) {
    throw new DataError(`${flat[0].imageName} is a 2D image: slice along axis 2 (set the axis to 2, or load 2D and 3D data separately)`);
  }
}

