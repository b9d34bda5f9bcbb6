// The ACDC layout: DIR/{training,testing}/patientXXX/{Info.cfg, patientXXX_frameYY.nii.gz,
// patientXXX_frameYY_gt.nii.gz, patientXXX_4d.nii.gz}; Info.cfg names the ED and ES frames.
// DIR may also be the training (or testing) folder itself.
import { DataError } from '../errors.js';
import { checkedCase, requireCases, type CaseRef, type Dataset } from './dataset.js';
import { joinPath, type FileAccess } from './files.js';
import { readImageVolume, readLabelVolume } from './volume.js';

export const ACDC_CLASSES = ['background', 'RV', 'MYO', 'LV'];

export interface AcdcInfo {
  ed: number;
  es: number;
  /** Pathology group (NOR, MINF, DCM, HCM, RV), when given. */
  group?: string;
  nbFrame?: number;
  height?: number;
  weight?: number;
}

/** Parses Info.cfg ("ED: 1", "ES: 12", "Group: DCM", ...). */
export function parseAcdcInfo(text: string, source = 'Info.cfg'): AcdcInfo {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z]+)\s*:\s*(.*?)\s*$/.exec(line);
    if (m) fields.set(m[1].toLowerCase(), m[2]);
  }
  const frame = (key: string): number => {
    const value = Number(fields.get(key));
    if (!Number.isInteger(value) || value < 1) throw new DataError(`${source}: missing or bad '${key.toUpperCase()}:' line`);
    return value;
  };
  const optional = (key: string) => (fields.has(key) && Number.isFinite(Number(fields.get(key))) ? Number(fields.get(key)) : undefined);
  return { ed: frame('ed'), es: frame('es'), group: fields.get('group'), nbFrame: optional('nbframe'), height: optional('height'), weight: optional('weight') };
}

async function findPatientDirs(files: FileAccess, dir: string): Promise<{ path: string; name: string; subset?: string }[]> {
  const top = await files.listDir(dir);
  if (!top) throw new DataError(`acdc:${dir}: no such directory`);
  const isPatient = (name: string) => /^patient\d+$/.test(name);
  const subsets = ['training', 'testing'].filter((name) => top.some((e) => e.isDirectory && e.name === name)).map((name) => ({ name }));
  if (subsets.length === 0) {
    return top.filter((e) => e.isDirectory && isPatient(e.name)).map((e) => ({ path: joinPath(dir, e.name), name: e.name }));
  }
  const out: { path: string; name: string; subset?: string }[] = [];
  for (const subset of subsets) {
    const entries = (await files.listDir(joinPath(dir, subset.name))) ?? [];
    for (const e of entries) if (e.isDirectory && isPatient(e.name)) out.push({ path: joinPath(dir, subset.name, e.name), name: e.name, subset: subset.name });
  }
  return out;
}

async function findFrameFile(files: FileAccess, dir: string, stem: string): Promise<string | null> {
  for (const ext of ['.nii.gz', '.nii']) {
    const path = joinPath(dir, stem + ext);
    if (await files.exists(path)) return path;
  }
  return null;
}

export async function loadAcdc(dir: string, files: FileAccess, spec = `acdc:${dir}`): Promise<Dataset> {
  const patients = await findPatientDirs(files, dir);
  const cases: CaseRef[] = [];
  for (const patient of patients) {
    const infoPath = joinPath(patient.path, 'Info.cfg');
    if (!(await files.exists(infoPath))) throw new DataError(`${infoPath}: missing (every ACDC patient folder has Info.cfg)`);
    const info = parseAcdcInfo(new TextDecoder().decode(await files.readFile(infoPath)), infoPath);
    for (const [frame, index] of [['ED', info.ed], ['ES', info.es]] as const) {
      const stem = `${patient.name}_frame${String(index).padStart(2, '0')}`;
      const imagePath = await findFrameFile(files, patient.path, stem);
      if (!imagePath) throw new DataError(`${patient.path}: Info.cfg names ${frame} frame ${index}, but ${stem}.nii.gz is missing`);
      const labelPath = await findFrameFile(files, patient.path, `${stem}_gt`);
      cases.push(
        checkedCase(
          { id: `${patient.name}_${frame}`, group: patient.name, frame, subset: patient.subset, hasLabel: labelPath !== null },
          ACDC_CLASSES.length,
          async () => ({
            image: readImageVolume(await files.readFile(imagePath), imagePath),
            label: labelPath ? readLabelVolume(await files.readFile(labelPath), labelPath) : null,
          }),
        ),
      );
    }
  }
  return {
    spec,
    name: 'ACDC',
    kind: 'volumes',
    classNames: ACDC_CLASSES,
    cases: requireCases(cases, `acdc:${dir} (looked for patientXXX folders in it and in its training/ and testing/)`),
    defaultAxis: 2,
    defaultNormalization: { kind: 'minmax' },
    notes: ['cine MRI, short-axis slices along k; one case per ED / ES frame, split by patient'],
  };
}
