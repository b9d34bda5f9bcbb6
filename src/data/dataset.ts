// What every dataset spec resolves to: a list of cases (one image volume each, with or without a
// label map) that load on demand, plus the class names and sensible defaults for slicing.
import { DataError } from '../errors.js';
import type { Normalization } from './normalize.js';
import { checkLabelRange, checkSameGrid, type ImageVolume, type LabelVolume } from './volume.js';

/** Slicing axis in NIfTI voxel order: 0 = i (x), 1 = j (y), 2 = k (z). */
export type Axis = 0 | 1 | 2;

export interface LoadedCase {
  image: ImageVolume;
  label: LabelVolume | null;
}

export interface CaseRef {
  /** Unique within the dataset, e.g. 'patient001_ED'. */
  id: string;
  /** The unit that splits keep together, e.g. 'patient001' (ED and ES go to the same side). */
  group: string;
  frame?: 'ED' | 'ES';
  /** Where the case came from inside the dataset (ACDC: 'training' / 'testing'). */
  subset?: string;
  hasLabel: boolean;
  /** Reads and checks the case: image and label on one grid, labels in [0, numClasses). */
  load(): Promise<LoadedCase>;
}

export interface Dataset {
  /** The spec it was loaded from. */
  spec: string;
  name: string;
  /** 'volumes': many subjects, split by volume; 'single-subject': split by slab. */
  kind: 'volumes' | 'single-subject';
  /** Class 0 is background. */
  classNames: string[];
  cases: CaseRef[];
  defaultAxis: Axis;
  defaultNormalization: Normalization;
  /** Built-in sets: labelled and test slab ranges [from, to) along defaultAxis, chosen by hand. */
  defaultSlabs?: { labelled: [number, number]; test: [number, number] };
  /** Provenance and caveats, for `data inspect` and the docs. */
  notes: string[];
}

export function numClasses(dataset: Dataset): number {
  return dataset.classNames.length;
}

/** A case whose loader is wrapped with the shape and label-range checks (and optionally memoised). */
export function checkedCase(
  meta: Omit<CaseRef, 'load'>,
  numClasses: number,
  read: () => Promise<LoadedCase>,
  options: { memoise?: boolean } = {},
): CaseRef {
  let cached: Promise<LoadedCase> | null = null;
  const load = async (): Promise<LoadedCase> => {
    const loaded = await read();
    if (loaded.label) {
      checkSameGrid(loaded.image, loaded.label, meta.id);
      checkLabelRange(loaded.label, numClasses, meta.id);
    }
    return loaded;
  };
  return {
    ...meta,
    load: () => {
      if (!options.memoise) return load();
      cached ??= load().catch((err) => {
        cached = null;
        throw err;
      });
      return cached;
    },
  };
}

export function requireCases(cases: CaseRef[], what: string): CaseRef[] {
  if (cases.length === 0) throw new DataError(`${what}: no cases found (empty dataset)`);
  return cases;
}
