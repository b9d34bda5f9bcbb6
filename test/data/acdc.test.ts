import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACDC_CLASSES, parseAcdcInfo } from '../../src/data/acdc.js';
import { loadDatasetFromDisk } from '../../src/data/sources-node.js';
import { splitDataset, splitByVolume } from '../../src/data/split.js';
import { volumeToNifti, type LabelVolume, type Vec3 } from '../../src/data/volume.js';
import { DataError, FormatError, UsageError } from '../../src/errors.js';
import { imageVolume, labelVolume, tempDir, writeFile } from './helpers.js';

const DIMS: Vec3 = [12, 10, 4];
const SPACING: Vec3 = [1.5625, 1.5625, 10];

/** A patient folder as ACDC ships it, written with our own NIfTI writer. */
function writePatient(root: string, subset: string, id: number, ed: number, es: number, options: { gt?: boolean; labelFor?: (frame: number) => LabelVolume } = {}): void {
  const name = `patient${String(id).padStart(3, '0')}`;
  const dir = join(root, subset, name);
  writeFile(join(dir, 'Info.cfg'), `ED: ${ed}\nES: ${es}\nGroup: NOR\nHeight: 180.0\nNbFrame: 30\nWeight: 80.0\n`);
  for (const frame of [ed, es]) {
    const stem = join(dir, `${name}_frame${String(frame).padStart(2, '0')}`);
    const image = imageVolume(DIMS, SPACING, (x, y, z) => id * 1000 + frame * 100 + x + y + z);
    writeFile(`${stem}.nii.gz`, volumeToNifti(image, { gzip: true }));
    if (options.gt !== false) {
      const label = options.labelFor?.(frame) ?? labelVolume(DIMS, 4, SPACING);
      writeFile(`${stem}_gt.nii.gz`, volumeToNifti(label, { gzip: true, datatype: 'uint8' }));
    }
  }
  // The 4D cine file is there in real ACDC folders and must be ignored.
  writeFile(join(dir, `${name}_4d.nii.gz`), new Uint8Array([1, 2, 3]));
}

describe('acdc:DIR', () => {
  let root: string;
  let cleanup: () => void;
  beforeAll(() => {
    ({ dir: root, cleanup } = tempDir());
    writePatient(root, 'training', 1, 1, 12);
    writePatient(root, 'training', 2, 1, 9);
    writePatient(root, 'training', 3, 1, 14);
    writePatient(root, 'training', 4, 1, 11);
    writePatient(root, 'testing', 101, 1, 14, { gt: false });
  });
  afterAll(() => cleanup());

  it('finds every patient with its ED and ES frames and reads them back', async () => {
    const dataset = await loadDatasetFromDisk(`acdc:${root}`);
    expect(dataset.classNames).toEqual(ACDC_CLASSES);
    expect(dataset.cases.map((c) => c.id)).toEqual([
      'patient001_ED', 'patient001_ES', 'patient002_ED', 'patient002_ES', 'patient003_ED', 'patient003_ES',
      'patient004_ED', 'patient004_ES', 'patient101_ED', 'patient101_ES',
    ]);
    const es2 = dataset.cases.find((c) => c.id === 'patient002_ES')!;
    expect([es2.group, es2.frame, es2.subset, es2.hasLabel]).toEqual(['patient002', 'ES', 'training', true]);
    const { image, label } = await es2.load();
    expect(image.dims).toEqual(DIMS);
    expect(image.spacing).toEqual(SPACING);
    expect(image.data[0]).toBe(2000 + 900); // patient 2, frame 9: the ES file, not ED
    expect(new Set(label!.data)).toEqual(new Set([0, 1, 2, 3]));
    const unlabelled = dataset.cases.find((c) => c.id === 'patient101_ED')!;
    expect(unlabelled.hasLabel).toBe(false);
    expect((await unlabelled.load()).label).toBeNull();
  });

  it('splits by patient, seeded, ED and ES together, unlabelled patients left out', async () => {
    const dataset = await loadDatasetFromDisk(`acdc:${root}`);
    const split = await splitDataset(dataset, { kind: 'volume', labelled: 2, validation: 1, seed: 5 });
    const groups = (part: typeof split.train) => [...new Set(part.map((p) => p.case.group))];
    expect(split.train).toHaveLength(4);
    expect(groups(split.train)).toHaveLength(2);
    expect(groups(split.validation)).toHaveLength(1);
    expect(groups(split.test)).toHaveLength(1);
    const all = [...groups(split.train), ...groups(split.validation), ...groups(split.test)];
    expect(new Set(all).size).toBe(4);
    expect(all).not.toContain('patient101');
    const again = splitByVolume(dataset.cases, { labelled: 2, validation: 1, seed: 5 });
    expect(again.train.map((c) => c.id)).toEqual(split.train.map((p) => p.case.id));
    const seeds = new Set(Array.from({ length: 8 }, (_, seed) => splitByVolume(dataset.cases, { labelled: 2, validation: 1, seed }).train.map((c) => c.group).join()));
    expect(seeds.size).toBeGreaterThan(1);
    expect(() => splitByVolume(dataset.cases, { labelled: 4, validation: 1, seed: 0 })).toThrow(DataError);
  });

  it('parses Info.cfg', () => {
    expect(parseAcdcInfo('ED: 1\nES: 12\nGroup: DCM\nHeight: 184.0\nNbFrame: 30\nWeight: 95.0\n')).toEqual({ ed: 1, es: 12, group: 'DCM', nbFrame: 30, height: 184, weight: 95 });
    expect(() => parseAcdcInfo('ED: 1\n')).toThrow(/ES/);
  });
});

describe('acdc errors', () => {
  it('label 7 in a 4-class set', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const bad = labelVolume(DIMS, 4, SPACING);
      bad.data[5 + 12 * 3 + 120 * 2] = 7;
      writePatient(dir, 'training', 1, 1, 12, { labelFor: (frame) => (frame === 12 ? bad : labelVolume(DIMS, 4, SPACING)) });
      const dataset = await loadDatasetFromDisk(`acdc:${dir}/training`);
      await expect(dataset.cases[0].load()).resolves.toBeTruthy();
      await expect(dataset.cases[1].load()).rejects.toThrow(DataError);
      await expect(dataset.cases[1].load()).rejects.toThrow(/patient001_ES: label 7 at voxel \(5, 3, 2\) is outside \[0, 4\)/);
    } finally {
      cleanup();
    }
  });

  it('image and label shapes that differ', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writePatient(dir, 'training', 1, 1, 12, { labelFor: () => labelVolume([12, 10, 3], 4, SPACING) });
      const dataset = await loadDatasetFromDisk(`acdc:${dir}`);
      await expect(dataset.cases[0].load()).rejects.toThrow(/image is 12x10x4 but its label map is 12x10x3/);
    } finally {
      cleanup();
    }
  });

  it('truncated .nii.gz, missing frames, missing Info.cfg, empty and missing directories, bad specs', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writePatient(dir, 'training', 1, 1, 12);
      const gt = join(dir, 'training/patient001/patient001_frame01_gt.nii.gz');
      const bytes = readFileSync(gt);
      writeFile(gt, bytes.subarray(0, bytes.length >> 1));
      const dataset = await loadDatasetFromDisk(`acdc:${dir}`);
      await expect(dataset.cases[0].load()).rejects.toThrow(FormatError);
      await expect(dataset.cases[0].load()).rejects.toThrow(/patient001_frame01_gt\.nii\.gz: gzip data is truncated/);

      writeFile(join(dir, 'training/patient002/Info.cfg'), 'ED: 1\nES: 5\n');
      await expect(loadDatasetFromDisk(`acdc:${dir}`)).rejects.toThrow(/names ED frame 1, but patient002_frame01\.nii\.gz is missing/);
      rmSync(join(dir, 'training/patient002'), { recursive: true });
      mkdirSync(join(dir, 'training/patient003'));
      await expect(loadDatasetFromDisk(`acdc:${dir}/training`)).rejects.toThrow(/patient003\/Info\.cfg: missing/);

      const empty = tempDir();
      await expect(loadDatasetFromDisk(`acdc:${empty.dir}`)).rejects.toThrow(/no cases found \(empty dataset\)/);
      await expect(loadDatasetFromDisk(`folder:${empty.dir}`)).rejects.toThrow(/no images\/ directory/);
      mkdirSync(join(empty.dir, 'images'));
      await expect(loadDatasetFromDisk(`folder:${empty.dir}`)).rejects.toThrow(/empty dataset/);
      empty.cleanup();
      await expect(loadDatasetFromDisk(`acdc:${dir}/nope`)).rejects.toThrow(/no such directory/);
      await expect(loadDatasetFromDisk('mnist:/data')).rejects.toThrow(UsageError);
      await expect(loadDatasetFromDisk('mnist:/data')).rejects.toThrow(/unknown dataset spec 'mnist:\/data'/);
      await expect(loadDatasetFromDisk('acdc')).rejects.toThrow(/needs a directory/);
      await expect(loadDatasetFromDisk('brain-aal?color=red')).rejects.toThrow(/unknown option 'color'/);
    } finally {
      cleanup();
    }
  });
});
