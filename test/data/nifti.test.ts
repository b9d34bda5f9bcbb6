import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { imageFromNifti, labelsFromNifti, readImageVolume, readLabelVolume, volumeToNifti, type Volume } from '../../src/data/volume.js';
import { DataError, FormatError } from '../../src/errors.js';
import { readNifti } from '../../src/io/nifti.js';
import { affineToQuatern, writeNifti } from '../../src/io/nifti-write.js';
import { pngToGrey, pngToLabels, readPng, writeGreyPng } from '../../src/io/png.js';
import { encode } from 'fast-png';

const FIXTURES = join(import.meta.dirname, '../fixtures/data');
const expected = JSON.parse(readFileSync(join(FIXTURES, 'nifti_expected.json'), 'utf8')) as Record<
  string,
  { version: number; dims: number[]; zooms: number[]; datatype: string; littleEndian: boolean; slope_inter: number[]; qform_code: number; sform_code: number; affine: number[]; qform: number[]; sum: number; values: Record<string, number> }
>;

function expectClose(actual: ArrayLike<number>, wanted: ArrayLike<number>, tolerance = 1e-5): void {
  expect(actual.length).toBe(wanted.length);
  for (let i = 0; i < wanted.length; i++) expect(Math.abs(actual[i] - wanted[i]), `index ${i}: ${actual[i]} vs ${wanted[i]}`).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(wanted[i])));
}

// Rotation about z by 25 degrees, anisotropic voxels, an offset: a qform can hold it exactly.
const c = Math.cos((25 * Math.PI) / 180);
const s = Math.sin((25 * Math.PI) / 180);
const ROTATED = [0.8 * c, -0.9 * s, 0, -12.5, 0.8 * s, 0.9 * c, 0, 40, 0, 0, -2.5, 7.25, 0, 0, 0, 1];

describe('NIfTI files written by nibabel (outside reference)', () => {
  for (const [name, want] of Object.entries(expected)) {
    it(name, () => {
      const file = readNifti(readFileSync(join(FIXTURES, name)), name);
      expect(file.header.version).toBe(want.version);
      expect(file.header.dims).toEqual(want.dims);
      expect(file.header.datatype).toBe(want.datatype);
      expect(file.header.littleEndian).toBe(want.littleEndian);
      expect(file.header.qformCode).toBe(want.qform_code);
      expect(file.header.sformCode).toBe(want.sform_code);
      expectClose(file.header.pixdim.slice(0, 3), want.zooms);
      expectClose(file.affine, want.affine);
      const image = imageFromNifti(file, name);
      for (const [index, value] of Object.entries(want.values)) expect(image.data[Number(index)]).toBeCloseTo(value, 3);
      expect(image.data.reduce((a, b) => a + b, 0)).toBeCloseTo(want.sum, 1);
    });
  }

  it('computes the qform like nibabel even when the sform wins', () => {
    const name = 'nifti1_qform_sform_uint8.nii.gz';
    const file = readNifti(readFileSync(join(FIXTURES, name)));
    const q = file.header;
    const qformOnly = readNifti(readFileSync(join(FIXTURES, 'nifti1_qform_only_uint8.nii.gz')));
    expect(q.qfac).toBe(-1);
    expectClose(qformOnly.affine, expected[name].qform);
  });
});

describe('NIfTI round trip (write, then read)', () => {
  const dims: [number, number, number] = [7, 5, 3];
  const cases: { name: string; data: Uint8Array | Int16Array | Float32Array }[] = [
    { name: 'uint8', data: Uint8Array.from({ length: 105 }, (_, i) => (i * 37) % 256) },
    { name: 'int16', data: Int16Array.from({ length: 105 }, (_, i) => (i * 613) % 32000 - 16000) },
    { name: 'float32', data: Float32Array.from({ length: 105 }, (_, i) => Math.sin(i) * 1e3) },
  ];
  for (const version of [1, 2] as const) {
    for (const gzip of [false, true]) {
      for (const { name, data } of cases) {
        it(`${name}, NIfTI-${version}${gzip ? ', gzipped' : ''}`, () => {
          const volume: Volume = { data, dims, spacing: [0.8, 0.9, 2.5], affine: ROTATED };
          const bytes = volumeToNifti(volume, { version, gzip });
          expect(bytes[0] === 0x1f && bytes[1] === 0x8b).toBe(gzip);
          const file = readNifti(bytes, 'round trip');
          expect(file.header.version).toBe(version);
          expect(file.header.datatype).toBe(name);
          expect(file.header.dims).toEqual(dims);
          expectClose(file.header.pixdim, [0.8, 0.9, 2.5]);
          expectClose(file.affine, ROTATED);
          expect(Array.from(file.data)).toEqual(Array.from(data));
          const back = name === 'float32' ? readImageVolume(bytes, 'x') : readLabelVolume(bytes, 'x');
          expect(back.dims).toEqual(dims);
          expectClose(back.spacing, [0.8, 0.9, 2.5]);
          expect(back.source?.version).toBe(version);
        });
      }
    }
  }

  it('writes a qform that reproduces a rotated, left-handed affine on its own', () => {
    const bytes = writeNifti({ data: new Uint8Array(105), dims, pixdim: [0.8, 0.9, 2.5], affine: ROTATED, sformCode: 0, qformCode: 1 });
    const file = readNifti(bytes);
    expect(file.header.sformCode).toBe(0);
    expect(file.header.qfac).toBe(-1);
    expectClose(file.affine, ROTATED);
    expect(affineToQuatern([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])).toEqual({ quatern: [0, 0, 0], qoffset: [0, 0, 0], qfac: 1 });
  });

  it('keeps the source qform and sform codes when a prediction is written back', () => {
    const source = readLabelVolume(readFileSync(join(FIXTURES, 'nifti1_qform_sform_uint8.nii.gz')), 'src');
    const prediction = { ...source, data: new Uint8Array(source.data.length).fill(2) };
    const file = readNifti(volumeToNifti(prediction, { datatype: 'int16', gzip: true }));
    expect(file.header.datatype).toBe('int16');
    expect(file.header.qformCode).toBe(1);
    expect(file.header.sformCode).toBe(2);
    expectClose(file.affine, source.affine);
    const original = readNifti(readFileSync(join(FIXTURES, 'nifti1_qform_sform_uint8.nii.gz')));
    expectClose(file.header.quatern, original.header.quatern);
    expect(file.header.qfac).toBe(original.header.qfac);
  });

  it('applies scl_slope and scl_inter to images and labels', () => {
    const raw = Int16Array.from([0, 1, 2, 3, -4, 5]);
    const bytes = writeNifti({ data: raw, dims: [3, 2, 1], pixdim: [1, 1, 1], affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], sclSlope: 2, sclInter: -5 });
    const file = readNifti(bytes);
    expect(Array.from(imageFromNifti(file).data)).toEqual([-5, -3, -1, 1, -13, 5]);
    const half = readNifti(writeNifti({ data: raw, dims: [3, 2, 1], pixdim: [1, 1, 1], affine: ROTATED, sclSlope: 0.5, sclInter: 0 }));
    expect(Array.from(imageFromNifti(half).data)).toEqual([0, 0.5, 1, 1.5, -2, 2.5]);
    expect(() => labelsFromNifti(half, 'half')).toThrow(DataError); // 0.5 is no label
    const labels = labelsFromNifti(readNifti(writeNifti({ data: Int16Array.from([0, 1, 2]), dims: [3, 1, 1], pixdim: [1, 1, 1], affine: ROTATED, sclSlope: 1, sclInter: 1 })));
    expect(labels.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(labels.data)).toEqual([1, 2, 3]);
  });

  it('refuses truncated, corrupt and 4D-without-frame input with FormatError', () => {
    const volume: Volume = { data: new Float32Array(105).fill(1), dims, spacing: [1, 1, 1], affine: ROTATED };
    const plain = volumeToNifti(volume);
    const gz = volumeToNifti(volume, { gzip: true });
    expect(() => readNifti(plain.subarray(0, plain.length - 10), 'cut.nii')).toThrow(/cut\.nii: truncated/);
    expect(() => readNifti(gz.subarray(0, Math.floor(gz.length / 2)), 'cut.nii.gz')).toThrow(FormatError);
    expect(() => readNifti(plain.subarray(0, 200))).toThrow(FormatError);
    expect(() => readNifti(new TextEncoder().encode('not a nifti file at all'.repeat(20)))).toThrow(/not a NIfTI file/);
    expect(() => readNifti(gzipSync(new Uint8Array(400)))).toThrow(FormatError);
    const fourD = readNifti(writeNifti({ data: new Uint8Array(24), dims: [2, 3, 2, 2], pixdim: [1, 1, 1, 1], affine: ROTATED }));
    expect(() => labelsFromNifti(fourD, '4d')).toThrow(/4D volume/);
    expect(labelsFromNifti(fourD, '4d', 1).dims).toEqual([2, 3, 2]);
  });

  const kmeans = '/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz';
  it.skipIf(!existsSync(kmeans))('reads ITK output whose qform and sform agree (insighttoolkit5-examples)', () => {
    const file = readNifti(readFileSync(kmeans), kmeans);
    expect(file.header.dims).toEqual([128, 128, 62]);
    expect(file.header.datatype).toBe('int16');
    const { quatern, qoffset, qfac, pixdim } = file.header;
    const q = readNifti(writeNifti({ data: new Uint8Array(1), dims: [1, 1, 1], pixdim, affine: file.affine, qform: { quatern, qoffset, qfac }, sformCode: 0, qformCode: 1 }));
    // The quaternion is stored as float32 (0.70710677): the implied a = sqrt(1 - b^2 - c^2 - d^2)
    // is 2e-4 instead of 0, which tilts the qform by about 5e-4 (nibabel computes the same).
    expectClose(q.affine, file.affine, 1e-3);
  });
});

describe('PNG', () => {
  it('round-trips a grey label mask and reads colour images as luminance', () => {
    const mask = Uint8Array.from({ length: 12 }, (_, i) => i % 4);
    const png = readPng(writeGreyPng(mask, 4, 3), 'mask.png');
    expect([png.width, png.height]).toEqual([4, 3]);
    expect(Array.from(pngToLabels(png))).toEqual(Array.from(mask));
    const rgb = readPng(encode({ width: 2, height: 1, channels: 3, depth: 8, data: Uint8Array.from([255, 0, 0, 10, 10, 10]) }));
    const grey = pngToGrey(rgb);
    expect(grey[0]).toBeCloseTo(0.299 * 255, 3);
    expect(grey[1]).toBeCloseTo(10, 4);
    expect(() => pngToLabels(rgb, 'rgb.png')).toThrow(/colour mask/);
    expect(() => readPng(new Uint8Array([1, 2, 3]), 'x.png')).toThrow(FormatError);
    const good = writeGreyPng(mask, 4, 3);
    expect(() => readPng(good.subarray(0, good.length - 20), 'cut.png')).toThrow(FormatError);
  });
});
