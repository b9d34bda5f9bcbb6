import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { dataCommand } from '../../src/cli/commands/data.js';
import { volumeToNifti } from '../../src/data/volume.js';
import { DataError, UsageError } from '../../src/errors.js';
import type { InspectReport } from '../../src/data/inspect.js';
import { imageVolume, labelVolume, tempDir, writeFile } from './helpers.js';

async function runCaptured(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void lines.push(parts.join(' ')));
  try {
    const code = await dataCommand.run(args);
    return { code, out: lines.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

describe('autosam data inspect', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => cleanups.splice(0).forEach((f) => f()));

  it('reports volumes, slices, spacing and voxels per class as JSON', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    for (const name of ['a', 'b']) {
      writeFile(join(dir, `images/${name}.nii.gz`), volumeToNifti(imageVolume([8, 6, 5], [0.5, 0.5, 2]), { gzip: true }));
      writeFile(join(dir, `labels/${name}.nii.gz`), volumeToNifti(labelVolume([8, 6, 5], 4, [0.5, 0.5, 2]), { gzip: true }));
    }
    const { code, out } = await runCaptured(['inspect', '--data', `folder:${dir}?classes=5`, '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(out) as InspectReport;
    expect(report.volumes).toBe(2);
    expect(report.slices).toBe(10);
    expect(report.classNames).toHaveLength(5);
    expect(report.classCounts).toEqual([120, 120, 120, 120, 0]);
    expect(report.classesPresent).toEqual([0, 1, 2, 3]);
    expect(report.cases[0]).toMatchObject({ id: 'a', dims: [8, 6, 5], spacing: [0.5, 0.5, 2], slices: 5, slicesWithForeground: 5, classCounts: [60, 60, 60, 60, 0] });
    const text = await runCaptured(['inspect', '--data', `folder:${dir}`, '--axis', '0']);
    expect(text.out).toMatch(/volumes: 2 \(2 labelled\)\s+slices: 16/);
  });

  it.skipIf(!existsSync('/usr/share/doc/invesalius-examples/examples/Cranium.inv3'))('inspects a built-in set', async () => {
    const { out } = await runCaptured(['inspect', '--data', 'head-ct', '--json']);
    const report = JSON.parse(out) as InspectReport;
    expect(report.classesPresent).toEqual([0, 1, 2]);
    expect(report.cases[0].dims).toEqual([256, 256, 108]);
    expect(report.defaultSlabs).toEqual({ labelled: [10, 50], test: [60, 100] });
  });

  it('turns bad arguments into UsageError and bad data into DataError', async () => {
    await expect(dataCommand.run(['inspect'])).rejects.toThrow(/--data SPEC is required/);
    await expect(dataCommand.run(['list', '--data', 'head-ct'])).rejects.toThrow(UsageError);
    await expect(dataCommand.run(['inspect', '--data', 'nope'])).rejects.toThrow(UsageError);
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    await expect(dataCommand.run(['inspect', '--data', `acdc:${dir}`])).rejects.toThrow(DataError);
    expect((await runCaptured(['--help'])).out).toMatch(/acdc:DIR/);
  });
});
