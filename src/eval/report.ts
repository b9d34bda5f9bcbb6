// The evaluation report: per volume and per class Dice and HD95, means over volumes and over
// foreground classes, as plain JSON (non-finite values become null, with the voxel counts that say
// why) and as a fixed-width terminal table.
//
// Means (nnU-Net's evaluation does the same for Dice):
//   - a class' mean over volumes skips volumes where the class is absent from both volumes (null);
//   - HD95 means also skip volumes where the class is in exactly one volume (Infinity per volume),
//     and count them in hd95Infinite, so a missed structure is reported, not averaged away silently;
//   - the foreground mean of a volume averages its classes; the report's foreground mean averages
//     the per-class means (each class weighs the same however many volumes contain it).

import { DataError } from '../errors.js';
import type { ClassMetrics } from './metrics.js';

export interface VolumeMetrics {
  name: string;
  /** classMetrics' output for this volume: labels 1..numClasses-1 in order */
  classes: ClassMetrics[];
}

export interface ReportClassEntry {
  label: number;
  name: string;
  /** null: class absent from both prediction and truth */
  dice: number | null;
  /** mm; null: absent from both, or from exactly one (predVoxels or truthVoxels is 0: HD95 is infinite) */
  hd95: number | null;
  predVoxels: number;
  truthVoxels: number;
}

export interface MeanMetrics {
  /** null when nothing was averaged */
  dice: number | null;
  hd95: number | null;
  /** how many values each mean averages */
  diceCount: number;
  hd95Count: number;
  /** values left out of the HD95 mean because the class was in only one of prediction and truth */
  hd95Infinite: number;
}

export interface VolumeReport {
  name: string;
  classes: ReportClassEntry[];
  /** over this volume's foreground classes */
  foreground: MeanMetrics;
}

export interface ClassSummary extends MeanMetrics {
  label: number;
  name: string;
}

export interface EvaluationReport {
  numClasses: number;
  /** by label, background included */
  classNames: string[];
  volumes: VolumeReport[];
  /** per foreground class, the mean over volumes */
  classes: ClassSummary[];
  /** the mean of the per-class means */
  foreground: MeanMetrics;
}

/**
 * Builds the report from classMetrics results. classNames, when given, has one name per label
 * including background (a dataset's classNames); otherwise classes are named "class k".
 */
export function buildReport(volumes: VolumeMetrics[], classNames?: string[]): EvaluationReport {
  if (volumes.length === 0) throw new DataError('evaluation report: no volumes');
  const numClasses = volumes[0].classes.length + 1;
  for (const v of volumes) {
    const labels = v.classes.map((m) => m.label);
    if (labels.length !== numClasses - 1 || labels.some((l, k) => l !== k + 1)) {
      throw new DataError(`evaluation report: volume '${v.name}' has classes [${labels.join(', ')}], expected 1..${numClasses - 1}`);
    }
  }
  if (classNames && classNames.length !== numClasses) {
    throw new DataError(`evaluation report: ${classNames.length} class names for ${numClasses} classes (background included)`);
  }
  const names = classNames ?? Array.from({ length: numClasses }, (_, c) => (c === 0 ? 'background' : `class ${c}`));

  const volumeReports: VolumeReport[] = volumes.map((v) => {
    const classes = v.classes.map((m) => ({
      label: m.label,
      name: names[m.label],
      dice: finiteOrNull(m.dice),
      hd95: finiteOrNull(m.hd95),
      predVoxels: m.predVoxels,
      truthVoxels: m.truthVoxels,
    }));
    return { name: v.name, classes, foreground: meanMetrics(v.classes.map((m) => m.dice), v.classes.map((m) => m.hd95)) };
  });

  const classes: ClassSummary[] = [];
  for (let c = 1; c < numClasses; c++) {
    const per = volumes.map((v) => v.classes[c - 1]);
    classes.push({ label: c, name: names[c], ...meanMetrics(per.map((m) => m.dice), per.map((m) => m.hd95)) });
  }
  const foreground = meanMetrics(classes.map((s) => s.dice ?? NaN), classes.map((s) => s.hd95 ?? NaN));
  return { numClasses, classNames: names, volumes: volumeReports, classes, foreground };
}

/** Means of Dice and HD95 values: NaN (absent) skipped, Infinity skipped and counted. */
function meanMetrics(dice: number[], hd95: number[]): MeanMetrics {
  const d = dice.filter((x) => !Number.isNaN(x));
  const h = hd95.filter(Number.isFinite);
  return {
    dice: d.length ? sum(d) / d.length : null,
    hd95: h.length ? sum(h) / h.length : null,
    diceCount: d.length,
    hd95Count: h.length,
    hd95Infinite: hd95.filter((x) => x === Infinity).length,
  };
}

function sum(values: number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

export interface FormatOptions {
  /** also list every volume's classes (default true) */
  perVolume?: boolean;
  /** longest class or volume name before it is cut (default 24) */
  nameWidth?: number;
}

/**
 * The report as a plain-text table: per-class means, then (optionally) every volume's classes.
 * Dice to 3 decimals, HD95 in mm to 2; "-" where a value is undefined (class absent), "inf" where
 * HD95 is infinite (class in only one of prediction and truth).
 */
export function formatReport(report: EvaluationReport, options: FormatOptions = {}): string {
  const limit = options.nameWidth ?? 24;
  const lines: string[] = [];
  const classLabel = (s: { label: number; name: string }) => cut(`${s.label} ${s.name}`, limit);

  const summaryRows = report.classes.map((s) => [classLabel(s), dice3(s.dice), mm2(s.hd95), String(s.diceCount), String(s.hd95Infinite)]);
  const fg = report.foreground;
  summaryRows.push(['foreground mean', dice3(fg.dice), mm2(fg.hd95), '', '']);
  lines.push(`Mean over ${report.volumes.length} volume(s)`);
  lines.push(...table(['class', 'Dice', 'HD95 mm', 'vols', 'inf'], summaryRows, 1, summaryRows.length - 1));

  if (options.perVolume ?? true) {
    const rows: string[][] = [];
    for (const v of report.volumes) {
      v.classes.forEach((c, k) => {
        const oneSided = c.hd95 === null && (c.predVoxels > 0 || c.truthVoxels > 0);
        const hd = oneSided ? 'inf' : mm2(c.hd95);
        rows.push([k === 0 ? cut(v.name, limit) : '', classLabel(c), dice3(c.dice), hd, String(c.predVoxels), String(c.truthVoxels)]);
      });
      rows.push(['', 'foreground mean', dice3(v.foreground.dice), mm2(v.foreground.hd95), '', '']);
    }
    lines.push('', 'Per volume');
    lines.push(...table(['volume', 'class', 'Dice', 'HD95 mm', 'pred vox', 'truth vox'], rows, 2));
  }
  lines.push('', '"-": class in neither prediction nor truth (left out of means); "inf": in only one of them (left out of HD95 means, counted under "inf").');
  return lines.join('\n') + '\n';
}

function dice3(x: number | null): string {
  return x === null ? '-' : x.toFixed(3);
}

function mm2(x: number | null): string {
  return x === null ? '-' : x.toFixed(2);
}

function cut(name: string, width: number): string {
  return name.length <= width ? name : name.slice(0, width - 1) + '~';
}

/** `textColumns` left-aligned name columns, then right-aligned numbers; a rule under the header and before row `ruleBefore`. */
function table(header: string[], rows: string[][], textColumns: number, ruleBefore?: number): string[] {
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (r: string[]) =>
    r.map((cell, k) => (k < textColumns ? cell.padEnd(widths[k]) : cell.padStart(widths[k]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [line(header), rule];
  rows.forEach((r, k) => {
    if (k === ruleBefore) out.push(rule);
    out.push(line(r));
  });
  return out;
}
