// Build step (Node): the app's offline demo, cut from the brain-aal dataset (Debian mricron-data:
// the Colin27 T1 MRI ch2, its brain-extracted ch2bet and the AAL atlas, grouped into six classes by
// src/data/brain-aal.ts). A handful of sagittal slices, written as small NIfTI files, so the demo
// goes through exactly the path a user's dropped files take: a labelled stack for training and
// an unlabelled one to segment. About 200 KB in all.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BRAIN_AAL_CLASSES, buildBrainAalLabels } from '../data/brain-aal.js';
import { readImageVolume, readLabelVolume, volumeToNifti, type LabelData, type Volume } from '../data/volume.js';
import { DataError } from '../errors.js';

export const MRICRON_DIR = '/usr/share/mricron/templates';

/** Sagittal slices (ch2 x indices): labelled 54, 68, ..., 124 (both hemispheres); unlabelled 61 and 117, between them. */
export const DEMO_SLICES = { labelled: { start: 54, stride: 14, count: 6 }, unlabelled: { start: 61, stride: 56, count: 2 } };

export interface DemoManifest {
  name: string;
  axis: 0 | 1 | 2;
  normalization: string;
  classNames: string[];
  files: { image: string; label?: string }[];
  notes: string[];
}

/** Slices x = start + stride * i of a volume, as a volume of its own whose affine places them where they were. */
export function sagittalStack<T extends Float32Array | LabelData>(v: Volume<T>, start: number, stride: number, count: number): Volume<T> {
  const [X, Y, Z] = v.dims;
  if (start < 0 || start + stride * (count - 1) >= X) throw new DataError(`demo: slices ${start}+${stride}k (k < ${count}) leave 0..${X - 1}`);
  const Ctor = v.data.constructor as new (n: number) => T;
  const out = new Ctor(count * Y * Z);
  for (let z = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      for (let i = 0; i < count; i++) out[i + count * (y + Y * z)] = v.data[start + stride * i + X * (y + Y * z)];
    }
  }
  // Voxel i of the stack is voxel start + stride * i of the source: scale the first affine column, shift the origin.
  const a = [...v.affine];
  for (let r = 0; r < 3; r++) {
    a[r * 4 + 3] += a[r * 4 + 0] * start;
    a[r * 4 + 0] *= stride;
  }
  return { data: out, dims: [count, Y, Z], spacing: [v.spacing[0] * stride, v.spacing[1], v.spacing[2]], affine: a };
}

export async function buildDemo(outDir: string, sourceDir = MRICRON_DIR): Promise<DemoManifest> {
  const read = async (f: string) => new Uint8Array(await readFile(path.join(sourceDir, f)).catch(() => {
    throw new DataError(`the app's demo is built from ${path.join(sourceDir, f)}: install Debian's mricron-data (apt-get install mricron-data)`);
  }));
  const ch2 = readImageVolume(await read('ch2.nii.gz'), 'ch2.nii.gz');
  const labels = buildBrainAalLabels(ch2, readImageVolume(await read('ch2bet.nii.gz'), 'ch2bet.nii.gz'), readLabelVolume(await read('aal.nii.gz'), 'aal.nii.gz'));
  await mkdir(outDir, { recursive: true });
  const { labelled: L, unlabelled: U } = DEMO_SLICES;
  const write = (name: string, v: Volume, datatype: 'uint8') => writeFile(path.join(outDir, name), volumeToNifti(v, { datatype, gzip: true }));
  await write('brain-labelled.nii.gz', sagittalStack(ch2, L.start, L.stride, L.count), 'uint8');
  await write('brain-labelled_gt.nii.gz', sagittalStack(labels, L.start, L.stride, L.count), 'uint8');
  await write('brain-unlabelled.nii.gz', sagittalStack(ch2, U.start, U.stride, U.count), 'uint8');
  const manifest: DemoManifest = {
    name: 'brain-aal demo',
    axis: 0,
    normalization: 'minmax',
    classNames: BRAIN_AAL_CLASSES,
    files: [{ image: 'brain-labelled.nii.gz', label: 'brain-labelled_gt.nii.gz' }, { image: 'brain-unlabelled.nii.gz' }],
    notes: [
      `Colin27 T1 MRI (ch2) with six classes from ch2bet and the AAL atlas (Debian mricron-data): sagittal slices x = ${L.start}, ${L.start + L.stride}, ..., ${L.start + L.stride * (L.count - 1)} labelled; x = ${U.start} and ${U.start + U.stride} unlabelled.`,
      'One subject: the demo shows the workflow, not how well a head generalises.',
    ],
  };
  await writeFile(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
