// Loads the fixtures tools/golden/metrics.py writes (medpy's Dice and HD95, scipy's distance transform).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Vec3 } from '../../src/data/volume.js';
import { readNpy } from '../../src/io/npy.js';

const DIR = fileURLToPath(new URL('../fixtures/golden/metrics/', import.meta.url));

export interface ReferenceClass {
  label: number;
  predVoxels: number;
  truthVoxels: number;
  /** medpy.metric.binary.dc; null when the class is absent from both volumes */
  dice: number | null;
  /** medpy.metric.binary.hd95 in mm; null when either mask is empty */
  hd95: number | null;
  absent?: true;
  hd95Infinite?: true;
}

export interface LabelCase {
  kind: 'labels';
  name: string;
  dims: Vec3;
  spacing: Vec3;
  numClasses: number;
  pred: string;
  truth: string;
  classes: ReferenceClass[];
}

export interface EdtCase {
  kind: 'edt';
  name: string;
  dims: Vec3;
  spacing: Vec3;
  feature: string;
  distance: string;
}

const manifest = JSON.parse(readFileSync(DIR + 'manifest.json', 'utf8')) as { cases: (LabelCase | EdtCase)[] };

export const labelCases = manifest.cases.filter((c): c is LabelCase => c.kind === 'labels');
export const edtCases = manifest.cases.filter((c): c is EdtCase => c.kind === 'edt');

/** Flat data in our layout (the generator saves shape (Z, Y, X) in C order); the shape is checked against dims. */
export function loadArray(file: string, dims: Vec3): Uint8Array | Float64Array {
  const array = readNpy(readFileSync(DIR + file));
  const expected = [dims[2], dims[1], dims[0]];
  if (array.shape.join() !== expected.join()) throw new Error(`${file}: shape ${array.shape} is not (Z, Y, X) = ${expected}`);
  if (array.dtype === 'uint8' || array.dtype === 'float64') return array.data;
  throw new Error(`${file}: unexpected dtype ${array.dtype}`);
}
