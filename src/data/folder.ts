// folder:DIR: DIR/images/* and DIR/labels/* paired by name (extension aside), NIfTI or PNG.
// A PNG becomes a one-slice volume [width, height, 1] with 1 mm spacing; images without a label
// file are unlabelled cases; a label file without an image is an error.
import { DataError } from '../errors.js';
import { pngToGrey, pngToLabels, readPng } from '../io/png.js';
import { checkedCase, requireCases, type CaseRef, type Dataset } from './dataset.js';
import { imageFormat, joinPath, stripImageExtension, type FileAccess } from './files.js';
import { readImageVolume, readLabelVolume, type ImageVolume, type LabelVolume, type Vec3 } from './volume.js';

const PNG_AFFINE = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];

export function readImageFile(bytes: Uint8Array, path: string): ImageVolume {
  if (imageFormat(path) === 'nifti') return readImageVolume(bytes, path);
  const png = readPng(bytes, path);
  const dims: Vec3 = [png.width, png.height, 1];
  return { data: pngToGrey(png), dims, spacing: [1, 1, 1], affine: [...PNG_AFFINE] };
}

export function readLabelFile(bytes: Uint8Array, path: string): LabelVolume {
  if (imageFormat(path) === 'nifti') return readLabelVolume(bytes, path);
  const png = readPng(bytes, path);
  const dims: Vec3 = [png.width, png.height, 1];
  return { data: pngToLabels(png, path), dims, spacing: [1, 1, 1], affine: [...PNG_AFFINE] };
}

async function imageFiles(files: FileAccess, dir: string): Promise<Map<string, string> | null> {
  const entries = await files.listDir(dir);
  if (!entries) return null;
  const byStem = new Map<string, string>();
  for (const e of entries) {
    if (e.isDirectory || !imageFormat(e.name)) continue;
    const stem = stripImageExtension(e.name);
    const other = byStem.get(stem);
    if (other) throw new DataError(`${dir}: '${other.split('/').pop()}' and '${e.name}' have the same name; keep one`);
    byStem.set(stem, joinPath(dir, e.name));
  }
  return byStem;
}

export async function loadFolder(dir: string, files: FileAccess, options: { classes?: number; spec?: string } = {}): Promise<Dataset> {
  if (!(await files.listDir(dir))) throw new DataError(`folder:${dir}: no such directory`);
  const images = await imageFiles(files, joinPath(dir, 'images'));
  if (!images) throw new DataError(`folder:${dir}: no images/ directory (expected images/ and labels/ with matching names)`);
  const labels = (await imageFiles(files, joinPath(dir, 'labels'))) ?? new Map<string, string>();
  for (const [stem, path] of labels) {
    if (!images.has(stem)) throw new DataError(`${path}: label without an image of the same name in images/`);
  }
  const classes = options.classes ?? (await inferClassCount(files, [...labels.values()]));
  const classNames = ['background', ...Array.from({ length: classes - 1 }, (_, i) => `class ${i + 1}`)];
  const cases: CaseRef[] = [...images.keys()].sort().map((stem) => {
    const imagePath = images.get(stem)!;
    const labelPath = labels.get(stem) ?? null;
    return checkedCase({ id: stem, group: stem, hasLabel: labelPath !== null }, classes, async () => ({
      image: readImageFile(await files.readFile(imagePath), imagePath),
      label: labelPath ? readLabelFile(await files.readFile(labelPath), labelPath) : null,
    }));
  });
  return {
    spec: options.spec ?? `folder:${dir}`,
    name: `folder ${dir}`,
    kind: 'volumes',
    classNames,
    cases: requireCases(cases, `folder:${dir}`),
    defaultAxis: 2,
    defaultNormalization: { kind: 'minmax' },
    notes: [options.classes ? `${classes} classes (given)` : `${classes} classes (largest label found + 1; give ?classes=N to fix it)`],
  };
}

/** Largest label over all label files, plus one (at least 2). Labels are small files; reading them twice is cheap. */
async function inferClassCount(files: FileAccess, paths: string[]): Promise<number> {
  let max = 1;
  for (const path of paths) {
    const label = readLabelFile(await files.readFile(path), path);
    for (let i = 0; i < label.data.length; i++) {
      const v = label.data[i];
      if (v < 0) throw new DataError(`${path}: negative label ${v}`);
      if (v > max) max = v;
    }
  }
  if (max > 255) throw new DataError(`label ${max} found; more than 256 classes is not supported (are these label maps?)`);
  return max + 1;
}
