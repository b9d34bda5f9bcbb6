// Dataset specs, the value of every command's --data:
//   acdc:DIR | folder:DIR | brain-aal | head-ct, optionally followed by ?key=value&key=value
//   (folder: classes=N; brain-aal / head-ct: dir=DIR to read the Debian files from elsewhere;
//   all: axis=0|1|2 to change the default slicing axis).
import { UsageError } from '../errors.js';
import { loadAcdc } from './acdc.js';
import { brainAal, headCt } from './builtin.js';
import type { Axis, Dataset } from './dataset.js';
import type { FileAccess } from './files.js';
import { loadFolder } from './folder.js';

export type { Dataset } from './dataset.js';

export type DatasetSpec =
  | { kind: 'acdc' | 'folder'; dir: string; options: Record<string, string> }
  | { kind: 'brain-aal' | 'head-ct'; options: Record<string, string> };

export const SPEC_HELP = `dataset specs (--data SPEC):
  acdc:DIR        ACDC layout: DIR/{training,testing}/patientXXX with Info.cfg, ED/ES frames and _gt files
  folder:DIR      DIR/images and DIR/labels with matching names (NIfTI or PNG); ?classes=N fixes the class count
  brain-aal       Colin27 MRI + AAL atlas in 6 classes (Debian package mricron-data)
  head-ct         InVesalius Cranium CT: background, soft tissue, bone (Debian package invesalius-examples)
options after '?', joined by '&': axis=0|1|2 (slicing axis), dir=DIR (built-ins: where the Debian files are)`;

const ALLOWED_OPTIONS: Record<DatasetSpec['kind'], string[]> = {
  acdc: ['axis'],
  folder: ['axis', 'classes'],
  'brain-aal': ['axis', 'dir'],
  'head-ct': ['axis', 'dir'],
};

export function parseDatasetSpec(text: string): DatasetSpec {
  const q = text.indexOf('?');
  const head = q < 0 ? text : text.slice(0, q);
  const options: Record<string, string> = {};
  if (q >= 0) {
    for (const part of text.slice(q + 1).split('&').filter(Boolean)) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new UsageError(`bad option '${part}' in dataset spec '${text}' (expected key=value)`);
      options[part.slice(0, eq)] = part.slice(eq + 1);
    }
  }
  const colon = head.indexOf(':');
  const kind = colon < 0 ? head : head.slice(0, colon);
  const arg = colon < 0 ? '' : head.slice(colon + 1);
  let spec: DatasetSpec;
  if (kind === 'acdc' || kind === 'folder') {
    if (!arg) throw new UsageError(`dataset spec '${text}' needs a directory: ${kind}:DIR`);
    spec = { kind, dir: arg, options };
  } else if (kind === 'brain-aal' || kind === 'head-ct') {
    if (arg) throw new UsageError(`dataset spec '${text}': ${kind} takes no path (use ?dir=DIR to move its files)`);
    spec = { kind, options };
  } else {
    throw new UsageError(`unknown dataset spec '${text}'\n\n${SPEC_HELP}`);
  }
  for (const key of Object.keys(options)) {
    if (!ALLOWED_OPTIONS[spec.kind].includes(key)) {
      throw new UsageError(`dataset spec '${text}': unknown option '${key}' for ${spec.kind} (allowed: ${ALLOWED_OPTIONS[spec.kind].join(', ')})`);
    }
  }
  return spec;
}

export interface LoadOptions {
  files: FileAccess;
}

/** Resolves a spec to a Dataset; cases load lazily (CaseRef.load). */
export async function loadDataset(text: string, { files }: LoadOptions): Promise<Dataset> {
  const spec = parseDatasetSpec(text);
  const o = spec.options;
  let dataset: Dataset;
  switch (spec.kind) {
    case 'acdc':
      dataset = await loadAcdc(spec.dir, files, text);
      break;
    case 'folder':
      dataset = await loadFolder(spec.dir, files, { classes: o.classes === undefined ? undefined : parseClasses(o.classes, text), spec: text });
      break;
    case 'brain-aal':
      dataset = await brainAal(files, o.dir, text);
      break;
    case 'head-ct':
      dataset = await headCt(files, o.dir, text);
      break;
  }
  if (o.axis !== undefined) {
    const axis = parseAxis(o.axis);
    // Hand-chosen slab ranges belong to the default axis only.
    if (axis !== dataset.defaultAxis) dataset = { ...dataset, defaultAxis: axis, defaultSlabs: undefined };
  }
  return dataset;
}

export function parseAxis(text: string): Axis {
  if (text === '0' || text === '1' || text === '2') return Number(text) as Axis;
  throw new UsageError(`bad axis '${text}': use 0, 1 or 2 (NIfTI i, j, k)`);
}

function parseClasses(text: string, spec: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 2 || n > 256) throw new UsageError(`dataset spec '${spec}': classes must be an integer in 2..256`);
  return n;
}
