// The evaluation report: means recomputed here from medpy's per-class values in the fixtures,
// JSON round trip, and the exact terminal table for a small hand-made case.
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/errors.js';
import { classMetrics, type ClassMetrics } from '../../src/eval/metrics.js';
import { buildReport, formatReport } from '../../src/eval/report.js';
import { labelCases, loadArray } from './golden.js';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('evaluation report', () => {
  // three volumes with 4 classes: blobs_aniso (all present), empty_classes cut to 4 classes
  // (class 2 missed, class 3 invented), identical
  const chosen = ['blobs_aniso', 'empty_classes', 'identical'].map((n) => labelCases.find((c) => c.name === n)!);
  const volumes = chosen.map((c) => ({
    name: c.name,
    classes: classMetrics(loadArray(c.pred, c.dims), loadArray(c.truth, c.dims), c.dims, c.spacing, c.numClasses).slice(0, 3),
  }));
  const reference = chosen.map((c) => c.classes.slice(0, 3));
  const report = buildReport(volumes, ['background', 'white matter', 'grey matter', 'csf']);

  it('per-class means over volumes follow medpy values, skipping absent and infinite cases', () => {
    for (let k = 0; k < 3; k++) {
      const dices = reference.map((r) => r[k].dice).filter((d): d is number => d !== null);
      const hds = reference.map((r) => r[k].hd95).filter((d): d is number => d !== null);
      const s = report.classes[k];
      expect(s.label).toBe(k + 1);
      expect(s.dice!).toBeCloseTo(mean(dices), 12);
      expect(s.hd95!).toBeCloseTo(mean(hds), 9);
      expect(s.diceCount).toBe(dices.length);
      expect(s.hd95Infinite).toBe(reference.filter((r) => r[k].hd95Infinite).length);
    }
    // empty_classes' class 2 is missed and class 3 invented: both count as Dice 0 and as one infinite HD95
    expect(report.classes[1].hd95Infinite).toBe(1);
    expect(report.classes[2].hd95Infinite).toBe(1);
    expect(report.classes[1].diceCount).toBe(3);
    expect(report.foreground.dice!).toBeCloseTo(mean(report.classes.map((s) => s.dice!)), 14);
    expect(report.foreground.hd95!).toBeCloseTo(mean(report.classes.map((s) => s.hd95!)), 12);
  });

  it('per-volume foreground means and entries', () => {
    const v = report.volumes[1];
    expect(v.classes.map((c) => c.name)).toEqual(['white matter', 'grey matter', 'csf']);
    expect(v.classes[1].hd95).toBeNull();
    expect(v.classes[1].predVoxels).toBe(0);
    expect(v.foreground.dice!).toBeCloseTo(mean(reference[1].map((r) => r.dice!)), 12);
    expect(v.foreground.hd95!).toBeCloseTo(reference[1][0].hd95!, 9);
    expect(v.foreground.hd95Infinite).toBe(2);
    expect(report.volumes[2].foreground).toMatchObject({ dice: 1, hd95: 0, hd95Infinite: 0 });
  });

  it('survives JSON unchanged (no NaN or Infinity inside)', () => {
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('formats a fixed-width table with 3-decimal Dice and 2-decimal HD95', () => {
    const m = (label: number, dice: number, hd95: number, predVoxels: number, truthVoxels: number): ClassMetrics =>
      ({ label, dice, hd95, predVoxels, truthVoxels });
    const small = buildReport([
      { name: 'case01', classes: [m(1, 0.91234, 3.14159, 100, 110), m(2, 0, Infinity, 0, 40), m(3, NaN, NaN, 0, 0)] },
      { name: 'case02', classes: [m(1, 0.8, 5, 90, 95), m(2, 0.5, 2.5, 10, 30), m(3, 0.25, 10.125, 4, 4)] },
    ]);
    expect(formatReport(small)).toBe(
      [
        'Mean over 2 volume(s)',
        'class             Dice  HD95 mm  vols  inf',
        '---------------  -----  -------  ----  ---',
        '1 class 1        0.856     4.07     2    0',
        '2 class 2        0.250     2.50     2    1',
        '3 class 3        0.250    10.13     1    0',
        '---------------  -----  -------  ----  ---',
        'foreground mean  0.452     5.57',
        '',
        'Per volume',
        'volume  class             Dice  HD95 mm  pred vox  truth vox',
        '------  ---------------  -----  -------  --------  ---------',
        'case01  1 class 1        0.912     3.14       100        110',
        '        2 class 2        0.000      inf         0         40',
        '        3 class 3            -        -         0          0',
        '        foreground mean  0.456     3.14',
        'case02  1 class 1        0.800     5.00        90         95',
        '        2 class 2        0.500     2.50        10         30',
        '        3 class 3        0.250    10.13         4          4',
        '        foreground mean  0.517     5.88',
        '',
        '"-": class in neither prediction nor truth (left out of means); "inf": in only one of them (left out of HD95 means, counted under "inf").',
        '',
      ].join('\n'),
    );
  });

  it('rejects mismatched class lists and name counts', () => {
    expect(() => buildReport([])).toThrow(DataError);
    expect(() => buildReport([volumes[0], { name: 'x', classes: volumes[0].classes.slice(0, 2) }])).toThrow(DataError);
    expect(() => buildReport(volumes, ['background', 'one'])).toThrow(DataError);
  });
});
