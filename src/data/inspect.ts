// `autosam data inspect`: what a dataset spec resolves to, volume by volume.
import type { Axis, Dataset } from './dataset.js';
import { foregroundPerSlice } from './slice.js';
import { countClasses, type Vec3 } from './volume.js';

export interface CaseSummary {
  id: string;
  group: string;
  frame?: string;
  subset?: string;
  dims: Vec3;
  spacing: Vec3;
  /** Slices along the report's axis, and how many of them hold foreground (label > 0). */
  slices: number;
  slicesWithForeground: number | null;
  /** Voxels per class, or null for an unlabelled case. */
  classCounts: number[] | null;
  intensityRange: [number, number];
}

export interface InspectReport {
  spec: string;
  name: string;
  kind: Dataset['kind'];
  classNames: string[];
  axis: Axis;
  volumes: number;
  labelledVolumes: number;
  slices: number;
  classCounts: number[];
  classesPresent: number[];
  defaultSlabs?: Dataset['defaultSlabs'];
  notes: string[];
  cases: CaseSummary[];
}

/** Loads every case once (one at a time, so memory stays at one volume) and summarises it. */
export async function inspectDataset(dataset: Dataset, axis: Axis = dataset.defaultAxis): Promise<InspectReport> {
  const C = dataset.classNames.length;
  const totals = new Array<number>(C).fill(0);
  const cases: CaseSummary[] = [];
  for (const ref of dataset.cases) {
    const { image, label } = await ref.load();
    let min = Infinity;
    let max = -Infinity;
    for (const v of image.data) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const counts = label ? countClasses(label.data, C) : null;
    counts?.forEach((n, c) => (totals[c] += n));
    cases.push({
      id: ref.id,
      group: ref.group,
      ...(ref.frame ? { frame: ref.frame } : {}),
      ...(ref.subset ? { subset: ref.subset } : {}),
      dims: image.dims,
      spacing: image.spacing.map((s) => Number(s.toPrecision(6))) as Vec3,
      slices: image.dims[axis],
      slicesWithForeground: label ? foregroundPerSlice(label, axis).filter((n) => n > 0).length : null,
      classCounts: counts,
      intensityRange: [min, max],
    });
  }
  return {
    spec: dataset.spec,
    name: dataset.name,
    kind: dataset.kind,
    classNames: dataset.classNames,
    axis,
    volumes: cases.length,
    labelledVolumes: cases.filter((c) => c.classCounts).length,
    slices: cases.reduce((n, c) => n + c.slices, 0),
    classCounts: totals,
    classesPresent: totals.flatMap((n, c) => (n > 0 ? [c] : [])),
    ...(axis === dataset.defaultAxis && dataset.defaultSlabs ? { defaultSlabs: dataset.defaultSlabs } : {}),
    notes: dataset.notes,
    cases,
  };
}

export function formatInspectReport(r: InspectReport): string {
  const lines = [
    `${r.name}`,
    `  spec: ${r.spec}   kind: ${r.kind}   axis: ${r.axis}`,
    `  volumes: ${r.volumes} (${r.labelledVolumes} labelled)   slices: ${r.slices}`,
    `  classes (${r.classNames.length}):`,
    ...r.classNames.map((name, c) => `    ${String(c).padStart(3)} ${name.padEnd(20)} ${String(r.classCounts[c]).padStart(10)} voxels`),
  ];
  if (r.defaultSlabs) lines.push(`  default slabs: labelled ${r.defaultSlabs.labelled.join(':')}, test ${r.defaultSlabs.test.join(':')}`);
  for (const note of r.notes) lines.push(`  note: ${note}`);
  lines.push('', '  id                   dims          spacing (mm)           slices  fg  classes present');
  for (const c of r.cases) {
    const present = c.classCounts ? c.classCounts.flatMap((n, k) => (n > 0 ? [k] : [])).join(',') : 'unlabelled';
    lines.push(
      `  ${c.id.padEnd(20)} ${c.dims.join('x').padEnd(13)} ${c.spacing.map((s) => s.toFixed(3)).join(' x ').padEnd(22)} ${String(c.slices).padStart(6)} ${String(c.slicesWithForeground ?? '-').padStart(3)}  ${present}`,
    );
  }
  return lines.join('\n');
}
