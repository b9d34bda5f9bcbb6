import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encode } from 'fast-png';
import { loadDatasetFromDisk } from '../../src/data/sources-node.js';
import { sliceCase } from '../../src/data/slice.js';
import { volumeToNifti } from '../../src/data/volume.js';
import { writeGreyPng } from '../../src/io/png.js';
import { imageVolume, labelVolume, tempDir, writeFile } from './helpers.js';

function grey(width: number, height: number, fn: (x: number, y: number) => number): Uint8Array {
  return Uint8Array.from({ length: width * height }, (_, i) => fn(i % width, Math.floor(i / width)));
}

describe('folder:DIR', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir()));
  afterEach(() => cleanup());

  it('pairs PNG images and masks by name; a PNG is a one-slice volume', async () => {
    writeFile(join(dir, 'images/a.png'), writeGreyPng(grey(6, 4, (x, y) => 10 * x + y), 6, 4));
    writeFile(join(dir, 'labels/a.png'), writeGreyPng(grey(6, 4, (x) => (x < 3 ? 0 : 2)), 6, 4));
    writeFile(join(dir, 'images/b.png'), encode({ width: 6, height: 4, channels: 3, depth: 8, data: new Uint8Array(72).fill(50) }));
    writeFile(join(dir, 'labels/b.png'), writeGreyPng(grey(6, 4, (_, y) => y % 2), 6, 4));
    writeFile(join(dir, 'images/c.png'), writeGreyPng(grey(6, 4, () => 7), 6, 4)); // no label: unlabelled
    writeFile(join(dir, 'images/notes.txt'), 'ignored');
    const dataset = await loadDatasetFromDisk(`folder:${dir}`);
    expect(dataset.cases.map((c) => [c.id, c.hasLabel])).toEqual([['a', true], ['b', true], ['c', false]]);
    expect(dataset.classNames).toHaveLength(3); // largest label 2, plus one
    const a = await dataset.cases[0].load();
    expect(a.image.dims).toEqual([6, 4, 1]);
    const [slice] = sliceCase(a, 'a', { axis: 2 });
    expect([slice.height, slice.width]).toEqual([4, 6]);
    expect(slice.image[1 * 6 + 5]).toBe(51); // row 1, column 5: pixel (x=5, y=1) as in the PNG
    expect(Array.from(slice.label!.subarray(0, 6))).toEqual([0, 0, 0, 2, 2, 2]);
    expect((await dataset.cases[1].load()).image.data[0]).toBeCloseTo(50, 4);
    const four = await loadDatasetFromDisk(`folder:${dir}?classes=4`);
    expect(four.classNames).toEqual(['background', 'class 1', 'class 2', 'class 3']);
  });

  it('reads NIfTI pairs and checks them against ?classes=N', async () => {
    writeFile(join(dir, 'images/case1.nii.gz'), volumeToNifti(imageVolume([5, 4, 3]), { gzip: true }));
    writeFile(join(dir, 'labels/case1.nii.gz'), volumeToNifti(labelVolume([5, 4, 3], 3), { gzip: true }));
    const ok = await loadDatasetFromDisk(`folder:${dir}?classes=3`);
    expect((await ok.cases[0].load()).label!.dims).toEqual([5, 4, 3]);
    const tooFew = await loadDatasetFromDisk(`folder:${dir}?classes=2`);
    await expect(tooFew.cases[0].load()).rejects.toThrow(/label 2 at voxel \(4, 0, 0\) is outside \[0, 2\)/);
  });

  it('refuses a label without an image, two images with one name, and bad options', async () => {
    writeFile(join(dir, 'images/x.png'), writeGreyPng(grey(2, 2, () => 1), 2, 2));
    writeFile(join(dir, 'labels/y.png'), writeGreyPng(grey(2, 2, () => 1), 2, 2));
    await expect(loadDatasetFromDisk(`folder:${dir}`)).rejects.toThrow(/y\.png: label without an image/);
    writeFile(join(dir, 'labels/y.png'), '');
    writeFile(join(dir, 'images/x.nii'), volumeToNifti(imageVolume([2, 2, 1])));
    await expect(loadDatasetFromDisk(`folder:${dir}`)).rejects.toThrow(/same name/);
    await expect(loadDatasetFromDisk(`folder:${dir}?classes=1`)).rejects.toThrow(/classes must be/);
  });
});
