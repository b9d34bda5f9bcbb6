// Seeded train / validation / test splits.
// - by volume (acdc, folder): whole groups (patients, so ED and ES stay together) per part,
//   the paper's "N labelled volumes";
// - by slab (single-subject brain-aal, head-ct): N labelled slices drawn from one slab, validation
//   slices from the rest of that slab, test slices from another slab at least `gap` slices away.
import { DataError, UsageError } from '../errors.js';
import type { Axis, CaseRef, Dataset } from './dataset.js';
import { createRng, shuffled } from './random.js';
import { foregroundPerSlice } from './slice.js';
import { parseAxis } from './spec.js';
import type { LabelVolume } from './volume.js';

export interface VolumeSplitOptions {
  kind: 'volume';
  /** Labelled training groups (patients). */
  labelled: number;
  validation: number;
  /** Test groups; default: all remaining. */
  test?: number;
  seed: number;
}

export type SliceRange = [number, number];

export interface SlabSplitOptions {
  kind: 'slab';
  /** Labelled training slices, drawn from the labelled slab. */
  labelled: number;
  /** Validation slices, drawn from the labelled slab's other slices. */
  validation: number;
  /** Slices between the slabs when the ranges are chosen automatically. */
  gap: number;
  seed: number;
  axis?: Axis;
  /** [from, to) slice ranges; default: the dataset's own, else the foreground extent halved around the gap. */
  labelledRange?: SliceRange;
  testRange?: SliceRange;
}

export type SplitOptions = VolumeSplitOptions | SlabSplitOptions;

export interface CaseSlices {
  case: CaseRef;
  /** Slice indices along the split's axis; null = every slice of the case. */
  slices: number[] | null;
}

export interface DatasetSplit {
  options: SplitOptions;
  axis: Axis;
  train: CaseSlices[];
  validation: CaseSlices[];
  test: CaseSlices[];
  /** Slab splits: the ranges used. */
  ranges?: { labelled: SliceRange; test: SliceRange };
}

/** Groups shuffled by seed: the first `labelled` train, the next `validation` validate, then test. */
export function splitByVolume(cases: CaseRef[], options: Omit<VolumeSplitOptions, 'kind'>): { train: CaseRef[]; validation: CaseRef[]; test: CaseRef[] } {
  const labelledCases = cases.filter((c) => c.hasLabel);
  const groups = [...new Set(labelledCases.map((c) => c.group))].sort();
  const testCount = options.test ?? groups.length - options.labelled - options.validation;
  if (options.labelled < 1 || options.validation < 0 || testCount < 0 || options.labelled + options.validation + testCount > groups.length) {
    throw new DataError(
      `split by volume: ${options.labelled} labelled + ${options.validation} validation + ${options.test ?? 'the rest'} test groups asked for, ` +
        `the dataset has ${groups.length} labelled group(s)`,
    );
  }
  const order = shuffled(groups, createRng(options.seed));
  const pick = (from: number, count: number) => {
    const chosen = new Set(order.slice(from, from + count));
    return labelledCases.filter((c) => chosen.has(c.group));
  };
  return {
    train: pick(0, options.labelled),
    validation: pick(options.labelled, options.validation),
    test: pick(options.labelled + options.validation, testCount),
  };
}

/** Slice indices for a slab split of one labelled volume. */
export function splitBySlab(
  label: LabelVolume,
  axis: Axis,
  options: Omit<SlabSplitOptions, 'kind' | 'axis'>,
): { train: number[]; validation: number[]; test: number[]; labelled: SliceRange; testRange: SliceRange } {
  const foreground = foregroundPerSlice(label, axis);
  const count = foreground.length;
  let labelled = options.labelledRange;
  let test = options.testRange;
  if (!labelled || !test) {
    const withFg = foreground.flatMap((n, i) => (n > 0 ? [i] : []));
    if (withFg.length === 0) throw new DataError('split by slab: the label map has no foreground');
    const lo = withFg[0];
    const hi = withFg[withFg.length - 1] + 1;
    const half = Math.floor((hi - lo - options.gap) / 2);
    if (half < 1) throw new DataError(`split by slab: foreground spans ${hi - lo} slices, too few for two slabs and a gap of ${options.gap}`);
    labelled ??= [lo, lo + half];
    test ??= [lo + half + options.gap, hi];
  }
  for (const [name, r] of [['labelled', labelled], ['test', test]] as const) {
    if (!(Number.isInteger(r[0]) && Number.isInteger(r[1]) && r[0] >= 0 && r[0] < r[1] && r[1] <= count)) {
      throw new UsageError(`split by slab: ${name} range ${r[0]}:${r[1]} is not inside 0:${count} along axis ${axis}`);
    }
  }
  if (labelled[0] < test[1] && test[0] < labelled[1]) throw new UsageError(`split by slab: labelled ${labelled.join(':')} and test ${test.join(':')} overlap`);

  const inRange = (r: SliceRange) => Array.from({ length: r[1] - r[0] }, (_, i) => r[0] + i).filter((i) => foreground[i] > 0);
  const candidates = inRange(labelled);
  const testSlices = inRange(test);
  if (candidates.length < options.labelled + options.validation) {
    throw new DataError(
      `split by slab: ${options.labelled} labelled + ${options.validation} validation slices asked for, ` +
        `the labelled slab ${labelled.join(':')} has ${candidates.length} slices with foreground`,
    );
  }
  if (testSlices.length === 0) throw new DataError(`split by slab: the test slab ${test.join(':')} has no slices with foreground`);
  const order = shuffled(candidates, createRng(options.seed));
  const byIndex = (a: number, b: number) => a - b;
  return {
    train: order.slice(0, options.labelled).sort(byIndex),
    validation: order.slice(options.labelled, options.labelled + options.validation).sort(byIndex),
    test: testSlices,
    labelled,
    testRange: test,
  };
}

/** Splits a dataset the way its kind asks for (a slab split loads the single case's label map). */
export async function splitDataset(dataset: Dataset, options: SplitOptions): Promise<DatasetSplit> {
  if (options.kind === 'volume') {
    const parts = splitByVolume(dataset.cases, options);
    const all = (cases: CaseRef[]) => cases.map((c) => ({ case: c, slices: null }));
    return { options, axis: dataset.defaultAxis, train: all(parts.train), validation: all(parts.validation), test: all(parts.test) };
  }
  const labelledCases = dataset.cases.filter((c) => c.hasLabel);
  if (labelledCases.length !== 1) throw new DataError(`split by slab needs a single labelled volume; ${dataset.spec} has ${labelledCases.length} (split by volume instead)`);
  const only = labelledCases[0];
  const axis = options.axis ?? dataset.defaultAxis;
  const defaults = axis === dataset.defaultAxis ? dataset.defaultSlabs : undefined;
  const { label } = await only.load();
  const parts = splitBySlab(label!, axis, {
    ...options,
    labelledRange: options.labelledRange ?? defaults?.labelled,
    testRange: options.testRange ?? defaults?.test,
  });
  return {
    options,
    axis,
    train: [{ case: only, slices: parts.train }],
    validation: [{ case: only, slices: parts.validation }],
    test: [{ case: only, slices: parts.test }],
    ranges: { labelled: parts.labelled, test: parts.testRange },
  };
}

/** The split a dataset gets when none is given: by slab for single subjects, else by volume. */
export function defaultSplit(dataset: Dataset, labelled = 1, seed = 0): SplitOptions {
  return dataset.kind === 'single-subject'
    ? { kind: 'slab', labelled, validation: 2, gap: 10, seed }
    : { kind: 'volume', labelled, validation: 1, seed };
}

/**
 * 'volume:labelled=4,validation=2,test=10,seed=1' or
 * 'slab:labelled=4,validation=4,gap=10,labelled-range=30:70,test-range=80:120,axis=2,seed=1'
 * (ranges are [from, to), as Python slices).
 */
export function parseSplitSpec(text: string): SplitOptions {
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? '' : text.slice(colon + 1);
  const fields = new Map<string, string>();
  for (const part of rest.split(',').filter(Boolean)) {
    const [key, value] = part.split('=');
    if (!key || value === undefined) throw new UsageError(`bad split field '${part}' in '${text}' (expected key=value)`);
    fields.set(key, value);
  }
  const int = (key: string, fallback: number | undefined): number | undefined => {
    const v = fields.get(key);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`split '${text}': ${key} must be a non-negative integer`);
    return n;
  };
  const range = (key: string): SliceRange | undefined => {
    const v = fields.get(key);
    if (v === undefined) return undefined;
    const m = /^(\d+):(\d+)$/.exec(v);
    if (!m) throw new UsageError(`split '${text}': ${key} must be FROM:TO (slice indices, TO excluded)`);
    return [Number(m[1]), Number(m[2])];
  };
  const allowed = kind === 'volume' ? ['labelled', 'validation', 'test', 'seed'] : ['labelled', 'validation', 'gap', 'seed', 'axis', 'labelled-range', 'test-range'];
  if (kind !== 'volume' && kind !== 'slab') throw new UsageError(`unknown split '${text}': use volume:... or slab:...`);
  for (const key of fields.keys()) if (!allowed.includes(key)) throw new UsageError(`split '${text}': unknown field '${key}' (allowed: ${allowed.join(', ')})`);
  if (kind === 'volume') {
    return { kind, labelled: int('labelled', 1)!, validation: int('validation', 1)!, test: int('test', undefined), seed: int('seed', 0)! };
  }
  const axis = fields.get('axis');
  return {
    kind,
    labelled: int('labelled', 1)!,
    validation: int('validation', 2)!,
    gap: int('gap', 10)!,
    seed: int('seed', 0)!,
    axis: axis === undefined ? undefined : parseAxis(axis),
    labelledRange: range('labelled-range'),
    testRange: range('test-range'),
  };
}
