// The app's offline demo, built from Debian's mricron-data: small (a few hundred KB), six classes,
// and placed in the scanner's world exactly where the slices came from: resampling the full ch2
// volume and its labels onto each demo file's grid, through the affines alone, gives back the
// demo's voxels bit for bit.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDemo, MRICRON_DIR } from '../../src/app/demo-build-node.js';
import { readInputFiles } from '../../src/app/inputs.js';
import { buildBrainAalLabels } from '../../src/data/brain-aal.js';
import { resampleNearest } from '../../src/data/resample.js';
import { foregroundPerSlice } from '../../src/data/slice.js';
import { readImageVolume, readLabelVolume } from '../../src/data/volume.js';

/** Voxels that differ (a count, not a diff of 200k-element arrays). */
const mismatches = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let n = Math.abs(a.length - b.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) n++;
  return n;
};

const HAVE_DATA = existsSync(path.join(MRICRON_DIR, 'ch2.nii.gz'));

describe('app demo bundle', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'autosam-demo-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('needs mricron-data', () => {
    // CI installs it; a machine without it fails here rather than skipping the demo checks silently.
    expect(HAVE_DATA, `${MRICRON_DIR}/ch2.nii.gz (apt-get install mricron-data)`).toBe(true);
  });

  it.runIf(HAVE_DATA)('is small, six-class, and on the source grid through its affines', async () => {
    const manifest = await buildDemo(out);
    const total = readdirSync(out).reduce((n, f) => n + statSync(path.join(out, f)).size, 0);
    expect(total).toBeLessThan(300_000);
    expect(manifest.classNames).toHaveLength(6);
    const read = (f: string) => new Uint8Array(readFileSync(path.join(out, f)));
    const ch2 = readImageVolume(new Uint8Array(readFileSync(path.join(MRICRON_DIR, 'ch2.nii.gz'))), 'ch2');
    const labels = buildBrainAalLabels(ch2, readImageVolume(new Uint8Array(readFileSync(path.join(MRICRON_DIR, 'ch2bet.nii.gz'))), 'ch2bet'), readLabelVolume(new Uint8Array(readFileSync(path.join(MRICRON_DIR, 'aal.nii.gz'))), 'aal'));
    for (const f of manifest.files) {
      const image = readImageVolume(read(f.image), f.image);
      expect(mismatches(resampleNearest(ch2, image).data, image.data), f.image).toBe(0);
      if (f.label) {
        const label = readLabelVolume(read(f.label), f.label);
        expect(mismatches(resampleNearest(labels, label).data, label.data), f.label).toBe(0);
        // Every labelled slice holds foreground, and all five classes appear in the stack.
        expect(foregroundPerSlice(label, manifest.axis).every((n) => n > 0)).toBe(true);
        expect(new Set(label.data).size).toBe(6);
      }
    }
    // The demo goes through the same input path as dropped files, without complaint.
    const files = manifest.files.flatMap((f) => [{ name: f.image, bytes: read(f.image) }, ...(f.label ? [{ name: f.label, bytes: read(f.label) }] : [])]);
    const { cases, problems } = readInputFiles(files);
    expect(problems).toEqual([]);
    expect(cases.map((c) => [c.id, c.label !== null])).toEqual([['brain-labelled', true], ['brain-unlabelled', false]]);
  });
});
