import { readFile, writeFile } from 'node:fs/promises';
import { parseAxis } from '../../data/spec.js';
import { readImageVolume, volumeToNifti } from '../../data/volume.js';
import { UsageError } from '../../errors.js';
import { predictWithRun } from '../../train/run-eval.js';
import { parseCommandArgs, type Command } from '../command.js';
import { embeddingStoreOption } from '../options.js';
import { ProgressBar } from '../progress.js';

const HELP = `usage: autosam predict --run RUN_DIR --input VOLUME.nii[.gz] --out PRED.nii.gz [--axis 0|1|2]

Segments every slice of a NIfTI volume with a trained run and writes the label map (uint8) on the
input's grid: same dimensions, voxel spacing, qform and sform.

  --run RUN_DIR   a run trained by autosam train
  --input FILE    the image volume
  --axis A        slicing axis (default: the one the run was trained on)
  --out FILE      the predicted label map (.nii or .nii.gz)`;

export const predictCommand: Command = {
  name: 'predict',
  summary: 'segment a NIfTI volume with a trained run, keeping its affine',
  async run(args) {
    const parsed = parseCommandArgs('predict', args, {
      run: { type: 'string' }, input: { type: 'string' }, out: { type: 'string' }, axis: { type: 'string' },
      cache: { type: 'string' }, 'no-cache': { type: 'boolean' },
    }, HELP);
    if (!parsed) return 0;
    const v = parsed.values;
    if (parsed.positionals.length) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'\n\n${HELP}`);
    if (!v.run || !v.input || !v.out) throw new UsageError(`--run, --input and --out are required\n\n${HELP}`);
    if (!/\.nii(\.gz)?$/i.test(v.out)) throw new UsageError(`--out ${v.out}: the prediction is written as NIfTI; name it .nii or .nii.gz`);
    const bytes = await readFile(v.input).catch((err: NodeJS.ErrnoException) => { throw new UsageError(`--input ${v.input}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`); });
    const image = readImageVolume(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), v.input);
    let bar: ProgressBar | null = null;
    const pred = await predictWithRun(v.run, image, {
      axis: v.axis === undefined ? undefined : parseAxis(v.axis),
      store: embeddingStoreOption(v),
      onSlice: (done, total) => {
        bar ??= new ProgressBar('segmenting', total);
        bar.update(done);
      },
    });
    await writeFile(v.out, volumeToNifti(pred, { datatype: 'uint8', gzip: /\.gz$/i.test(v.out) }));
    const counts = new Map<number, number>();
    for (const x of pred.data) counts.set(x, (counts.get(x) ?? 0) + 1);
    console.log(`${v.out}: ${pred.dims.join('x')} label map (${[...counts].sort((a, b) => a[0] - b[0]).map(([k, n]) => `class ${k}: ${n}`).join(', ')})`);
    return 0;
  },
};
