// Built-in datasets made from Debian packages, so the whole pipeline runs offline on real images.
import { DataError } from '../errors.js';
import { BRAIN_AAL_CLASSES, buildBrainAalLabels } from './brain-aal.js';
import { checkedCase, type Dataset } from './dataset.js';
import { joinPath, type FileAccess } from './files.js';
import { readInvesaliusProject } from './invesalius.js';
import { readImageVolume, readLabelVolume, type LabelVolume } from './volume.js';

export const DEBIAN_SOURCES = {
  'brain-aal': { package: 'mricron-data', dir: '/usr/share/mricron/templates' },
  'head-ct': { package: 'invesalius-examples', dir: '/usr/share/doc/invesalius-examples/examples' },
} as const;

export type BuiltinName = keyof typeof DEBIAN_SOURCES;

export const HEAD_CT_CLASSES = ['background', 'soft tissue', 'bone'];

/** Fails early, naming the Debian package, when one of the files is not there. */
async function requireDebianFiles(files: FileAccess, name: BuiltinName, dir: string, names: string[]): Promise<void> {
  for (const file of names) {
    const path = joinPath(dir, file);
    if (!(await files.exists(path))) {
      const pkg = DEBIAN_SOURCES[name].package;
      throw new DataError(`${name} needs ${path}, which the Debian package ${pkg} installs: apt-get install ${pkg}`);
    }
  }
}

/** brain-aal: Colin27 T1 (ch2) with six classes from ch2bet and the AAL atlas; one subject. */
export async function brainAal(files: FileAccess, dir: string = DEBIAN_SOURCES['brain-aal'].dir, spec = 'brain-aal'): Promise<Dataset> {
  await requireDebianFiles(files, 'brain-aal', dir, ['ch2.nii.gz', 'ch2bet.nii.gz', 'aal.nii.gz']);
  const read = (file: string) => files.readFile(joinPath(dir, file));
  const ch2Case = checkedCase({ id: 'ch2', group: 'ch2', hasLabel: true }, BRAIN_AAL_CLASSES.length, async () => {
    const [ch2, bet, aal] = await Promise.all([read('ch2.nii.gz'), read('ch2bet.nii.gz'), read('aal.nii.gz')]);
    const image = readImageVolume(ch2, joinPath(dir, 'ch2.nii.gz'));
    const label = buildBrainAalLabels(image, readImageVolume(bet, joinPath(dir, 'ch2bet.nii.gz')), readLabelVolume(aal, joinPath(dir, 'aal.nii.gz')));
    return { image, label };
  }, { memoise: true });
  return {
    spec,
    name: 'brain-aal (Colin27 ch2 + AAL, Debian mricron-data)',
    kind: 'single-subject',
    classNames: BRAIN_AAL_CLASSES,
    cases: [ch2Case],
    // Sagittal slabs, one per hemisphere: the only direction in which both slabs hold all six classes
    // (axially, cerebellum and deep grey matter share only k = 60..79).
    defaultAxis: 0,
    defaultNormalization: { kind: 'minmax' },
    defaultSlabs: { labelled: [58, 84], test: [96, 122] },
    notes: [
      'one subject (Colin27 T1, 181x217x181, 1 mm, MNI space): split by slab; default: sagittal, labelled slab in the left hemisphere (i 58:84), test slab in the right (i 96:122)',
      'classes: 1 head = ch2 > 0 outside the brain; 2 other brain = ch2bet brain mask not in the AAL groups; 3 cortex = AAL 1-90 except 71-78; 4 deep grey = AAL 71-78; 5 cerebellum + vermis = AAL 91-116',
    ],
  };
}

/** head-ct: InVesalius' Cranium CT with its two threshold masks as background / soft tissue / bone. */
export async function headCt(files: FileAccess, dir: string = DEBIAN_SOURCES['head-ct'].dir, spec = 'head-ct'): Promise<Dataset> {
  await requireDebianFiles(files, 'head-ct', dir, ['Cranium.inv3']);
  const path = joinPath(dir, 'Cranium.inv3');
  const cranium = checkedCase({ id: 'cranium', group: 'cranium', hasLabel: true }, HEAD_CT_CLASSES.length, async () => {
    const project = readInvesaliusProject(await files.readFile(path), path);
    const image = project.image;
    const label: LabelVolume = { data: headCtLabels(project.masks, image.data.length, path), dims: [...image.dims], spacing: [...image.spacing], affine: [...image.affine] };
    return { image, label };
  }, { memoise: true });
  return {
    spec,
    name: 'head-ct (InVesalius Cranium, Debian invesalius-examples)',
    kind: 'single-subject',
    classNames: HEAD_CT_CLASSES,
    cases: [cranium],
    defaultAxis: 2,
    defaultNormalization: { kind: 'window', center: 40, width: 400 },
    defaultSlabs: { labelled: [10, 50], test: [60, 100] },
    notes: [
      'one CT (256x256x108, 0.957x0.957x1.5 mm): split by slab',
      'labels are InVesalius threshold masks (soft tissue >= -142 HU, bone >= 226 HU): for pipeline tests, not for judging accuracy',
      'the project stores no orientation: the affine is diag(spacing)',
    ],
  };
}

/** The mask with the lower threshold is all tissue (soft tissue + bone), the higher one is bone. */
function headCtLabels(masks: { thresholdRange: [number, number]; data: Uint8Array }[], count: number, source: string): Uint8Array {
  if (masks.length !== 2) throw new DataError(`${source}: expected 2 masks (soft tissue, bone), found ${masks.length}`);
  const [tissue, bone] = [...masks].sort((a, b) => a.thresholdRange[0] - b.thresholdRange[0]);
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = bone.data[i] ? 2 : tissue.data[i] ? 1 : 0;
  return out;
}
