// The app's input handling: scans and label maps paired by name, and every refusal a person can act
// on (not a volume, a label map without its scan, on another grid, all background, values that are
// not classes, 2D images on another axis), with the file named in the message.
import { describe, expect, it } from 'vitest';
import { volumeToNifti, type Volume } from '../../src/data/volume.js';
import { writeGreyPng } from '../../src/io/png.js';
import { checkAxis, classCount, isLabelName, labelBaseName, readInputFiles, type InputFile } from '../../src/app/inputs.js';

function nifti(dims: [number, number, number], fill: (i: number) => number, label = false): Uint8Array {
  const n = dims[0] * dims[1] * dims[2];
  const data = label ? Uint8Array.from({ length: n }, (_, i) => fill(i)) : Float32Array.from({ length: n }, (_, i) => fill(i));
  const v: Volume = { data, dims, spacing: [1, 1, 2], affine: [1, 0, 0, -10, 0, 1, 0, 5, 0, 0, 2, 0, 0, 0, 0, 1] };
  return volumeToNifti(v, { gzip: true });
}

const scan = (name: string, dims: [number, number, number] = [8, 6, 4]): InputFile => ({ name, bytes: nifti(dims, (i) => i % 17) });
const labels = (name: string, dims: [number, number, number] = [8, 6, 4], fill = (i: number) => i % 3): InputFile => ({ name, bytes: nifti(dims, fill, true) });

describe('app inputs', () => {
  it('recognises label maps by name and finds their scan', () => {
    expect(['a_gt.nii.gz', 'b_seg.nii', 'c-label.png', 'd_mask.nii.gz', 'e.labels.nii'].map(isLabelName)).toEqual([true, true, true, true, true]);
    expect(['patient001_frame01.nii.gz', 'segment.nii', 'gt.png'].map(isLabelName)).toEqual([false, false, false]);
    expect(labelBaseName('patient001_frame01_gt.nii.gz')).toBe('patient001_frame01');
  });

  it('pairs scans with their label maps, in any order, and keeps the scan geometry', () => {
    const { cases, problems } = readInputFiles([labels('p1_gt.nii.gz'), scan('p1.nii.gz'), scan('p2.nii')]);
    expect(problems).toEqual([]);
    expect(cases.map((c) => [c.id, c.labelName ?? null])).toEqual([['p1', 'p1_gt.nii.gz'], ['p2', null]]);
    expect(cases[0].image.dims).toEqual([8, 6, 4]);
    expect(cases[0].image.spacing).toEqual([1, 1, 2]);
    expect(cases[0].image.affine.slice(0, 4)).toEqual([1, 0, 0, -10]);
    expect(classCount(cases)).toBe(3);
  });

  it('adds label maps to scans loaded earlier, and a label map forced by role', () => {
    const first = readInputFiles([scan('brain.nii.gz')]);
    const { cases, problems } = readInputFiles([{ ...labels('brain_other.nii.gz'), name: 'brain.nii.gz', role: 'label' }], first.cases);
    expect(problems).toEqual([]);
    expect(cases[0].label?.dims).toEqual([8, 6, 4]);
  });

  it('refuses a file that is not a volume, naming it and the formats it takes', () => {
    const { cases, problems } = readInputFiles([
      { name: 'notes.nii.gz', bytes: new TextEncoder().encode('hello') },
      { name: 'report.pdf', bytes: new Uint8Array(10) },
      { name: 'broken.png', bytes: new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10, 0, 0]) },
    ]);
    expect(cases).toEqual([]);
    expect(problems.map((p) => p.file)).toEqual(['notes.nii.gz', 'report.pdf', 'broken.png']);
    for (const p of problems) expect(p.message).toMatch(new RegExp(`^${p.file.replace('.', '\\.')} is not a volume the app can read.*NIfTI \\(\\.nii, \\.nii\\.gz\\) or PNG`));
  });

  it('refuses label maps that do not match: another grid, no scan, all background, not classes', () => {
    const { cases, problems } = readInputFiles([
      scan('a.nii.gz'), labels('a_gt.nii.gz', [8, 6, 5]),
      labels('orphan_gt.nii.gz'),
      scan('b.nii.gz'), labels('b_gt.nii.gz', [8, 6, 4], () => 0),
      scan('c.nii.gz'), labels('c_gt.nii.gz', [8, 6, 4], (i) => i % 200), // up to 191: 8 x 6 x 4 voxels
    ]);
    expect(cases.every((c) => c.label === null)).toBe(true);
    const byFile = Object.fromEntries(problems.map((p) => [p.file, p.message]));
    expect(byFile['a_gt.nii.gz']).toMatch(/a_gt\.nii\.gz does not match a\.nii\.gz: the label map is 8x6x5 voxels, the scan 8x6x4/);
    expect(byFile['orphan_gt.nii.gz']).toMatch(/no scan named orphan\.nii\.gz .* \(scans: a\.nii\.gz, b\.nii\.gz, c\.nii\.gz\)/);
    expect(byFile['b_gt.nii.gz']).toMatch(/all background/);
    expect(byFile['c_gt.nii.gz']).toMatch(/label 191 is beyond the 64 classes/);
  });

  it('reads PNG scans and masks as one-slice volumes that slice along axis 2 only', () => {
    const w = 5, h = 3;
    const image = writeGreyPng(Uint8Array.from({ length: w * h }, (_, i) => i * 10), w, h);
    const mask = writeGreyPng(Uint8Array.from({ length: w * h }, (_, i) => (i > 7 ? 1 : 0)), w, h);
    const { cases, problems } = readInputFiles([{ name: 'slice.png', bytes: image }, { name: 'slice_mask.png', bytes: mask }]);
    expect(problems).toEqual([]);
    expect(cases[0].image.dims).toEqual([5, 3, 1]);
    expect(Array.from(cases[0].image.data.slice(0, 3))).toEqual([0, 10, 20]); // row-major, x fastest
    expect(Array.from(cases[0].label!.data.slice(7, 10))).toEqual([0, 1, 1]);
    expect(() => checkAxis(cases, 2)).not.toThrow();
    expect(() => checkAxis(cases, 0)).toThrow(/slice\.png is a 2D image: slice along axis 2/);
  });
});
