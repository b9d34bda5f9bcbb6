import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BRAIN_AAL_CLASSES } from '../../src/data/brain-aal.js';
import { HEAD_CT_CLASSES } from '../../src/data/builtin.js';
import { resampleNearest } from '../../src/data/resample.js';
import { foregroundPerSlice } from '../../src/data/slice.js';
import { loadDatasetFromDisk } from '../../src/data/sources-node.js';
import { splitDataset } from '../../src/data/split.js';
import { countClasses, type LabelVolume } from '../../src/data/volume.js';
import { DataError } from '../../src/errors.js';

const HAVE_MRICRON = existsSync('/usr/share/mricron/templates/ch2.nii.gz');
const HAVE_INVESALIUS = existsSync('/usr/share/doc/invesalius-examples/examples/Cranium.inv3');

describe.skipIf(!HAVE_MRICRON)('brain-aal (Debian mricron-data)', () => {
  it('reads ch2 on its 181x217x181 1 mm grid and builds all six classes', async () => {
    const dataset = await loadDatasetFromDisk('brain-aal');
    expect(dataset.kind).toBe('single-subject');
    expect(dataset.classNames).toEqual(BRAIN_AAL_CLASSES);
    const { image, label } = await dataset.cases[0].load();
    expect(image.dims).toEqual([181, 217, 181]);
    expect(image.spacing).toEqual([1, 1, 1]);
    expect(image.affine).toEqual([1, 0, 0, -90, 0, 1, 0, -125, 0, 0, 1, -71, 0, 0, 0, 1]);
    const counts = countClasses(label!.data, 6);
    // Values recorded from the Debian 12 package (see docs/data.md); every class is present.
    expect(counts).toEqual([2957530, 2274229, 397409, 1231491, 53647, 194831]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(181 * 217 * 181);

    // Both default slabs (sagittal, one per hemisphere) hold every class.
    const [from, to] = dataset.defaultSlabs!.test;
    const [lFrom, lTo] = dataset.defaultSlabs!.labelled;
    for (const [a, b] of [[from, to], [lFrom, lTo]]) {
      const present = new Set<number>();
      for (let x = a; x < b; x++) for (let i = x; i < label!.data.length; i += 181) present.add(label!.data[i]);
      expect([...present].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    }
    // The memoised case hands out the same volume again (no second decode).
    expect((await dataset.cases[0].load()).label).toBe(label);

    const split = await splitDataset(dataset, { kind: 'slab', labelled: 4, validation: 2, gap: 10, seed: 3 });
    expect(split.axis).toBe(0);
    expect(split.train[0].slices!.every((s) => s >= lFrom && s < lTo)).toBe(true);
    expect(split.test[0].slices!.every((s) => s >= from && s < to)).toBe(true);
  });

  it('resamples a mask given on another grid through the affines', () => {
    // A 4x3x2 mask stored flipped along i (negative x step, shifted origin) lands back in place.
    const target: LabelVolume = { data: new Uint8Array(24), dims: [4, 3, 2], spacing: [1, 1, 1], affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] };
    const flipped: LabelVolume = { data: new Uint8Array(24), dims: [4, 3, 2], spacing: [1, 1, 1], affine: [-1, 0, 0, 3, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] };
    for (let i = 0; i < 24; i++) flipped.data[i] = i % 4; // value = stored i = 3 - x
    const onTarget = resampleNearest(flipped, target);
    for (let i = 0; i < 24; i++) expect(onTarget.data[i]).toBe(3 - (i % 4));
  });
});

describe.skipIf(!HAVE_INVESALIUS)('head-ct (Debian invesalius-examples)', () => {
  it('reads Cranium.inv3 with the flag planes stripped and three classes present', async () => {
    const dataset = await loadDatasetFromDisk('head-ct');
    expect(dataset.classNames).toEqual(HEAD_CT_CLASSES);
    const { image, label } = await dataset.cases[0].load();
    expect(image.dims).toEqual([256, 256, 108]);
    expect(image.spacing[0]).toBeCloseTo(0.95703125, 5);
    expect(image.spacing[2]).toBe(1.5);
    const counts = countClasses(label!.data, 3);
    expect(counts).toEqual([4758782, 1843347, 475759]);
    // The masks are InVesalius thresholds (bone >= 226 HU, tissue >= -142 HU): they match the CT
    // voxel for voxel only if the flag planes were stripped on the right side of every axis.
    let mismatches = 0;
    for (let i = 0; i < image.data.length; i++) {
      const hu = image.data[i];
      const expected = hu >= 226 ? 2 : hu >= -142 ? 1 : 0;
      if (label!.data[i] !== expected) mismatches++;
    }
    expect(mismatches).toBe(0);
    const perSlice = foregroundPerSlice(label!, 2);
    expect(perSlice.slice(0, 107).every((n) => n > 0)).toBe(true); // the top slice is above the head
  });
});

describe('missing Debian packages', () => {
  it('names the package to install', async () => {
    await expect(loadDatasetFromDisk('brain-aal?dir=/nonexistent/templates')).rejects.toThrow(DataError);
    await expect(loadDatasetFromDisk('brain-aal?dir=/nonexistent/templates')).rejects.toThrow(
      /\/nonexistent\/templates\/ch2\.nii\.gz.*Debian package mricron-data.*apt-get install mricron-data/,
    );
    await expect(loadDatasetFromDisk('head-ct?dir=/nonexistent')).rejects.toThrow(/apt-get install invesalius-examples/);
  });
});
