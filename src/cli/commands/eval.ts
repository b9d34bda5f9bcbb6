import { formatReport } from '../../eval/report.js';
import { UsageError } from '../../errors.js';
import { evaluateRun } from '../../train/run-eval.js';
import { RUN_FILES } from '../../train/run.js';
import { parseCommandArgs, type Command } from '../command.js';
import { embeddingStoreOption } from '../options.js';
import { ProgressBar } from '../progress.js';

const HELP = `usage: autosam eval --run RUN_DIR [--data SPEC] [--json] [--cache DIR | --no-cache]

Segments the run's held-out test slices (or, with --data, every labelled volume of another dataset
with the same classes) and reports per-volume 3D Dice per class and HD95 in mm (from the voxel
spacing), their means, and the foreground mean. Writes RUN_DIR/${RUN_FILES.evaluation}.

  --run RUN_DIR   a run trained by autosam train
  --data SPEC     evaluate on this dataset instead of the run's test split
  --json          print the report as JSON instead of a table`;

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Dice and HD95 of a trained run on its test split or another dataset',
  async run(args) {
    const parsed = parseCommandArgs('eval', args, {
      run: { type: 'string' }, data: { type: 'string' }, json: { type: 'boolean' }, cache: { type: 'string' }, 'no-cache': { type: 'boolean' },
    }, HELP);
    if (!parsed) return 0;
    const v = parsed.values;
    if (parsed.positionals.length) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'\n\n${HELP}`);
    if (!v.run) throw new UsageError(`--run RUN_DIR is required\n\n${HELP}`);
    const bars = new Map<string, ProgressBar>();
    const report = await evaluateRun(v.run, {
      dataSpec: v.data,
      store: embeddingStoreOption(v),
      onSlice: (done, total, volume) => {
        if (!bars.has(volume)) bars.set(volume, new ProgressBar(`segmenting ${volume}`, total));
        bars.get(volume)!.update(done);
      },
    });
    if (v.json) console.log(JSON.stringify(report, null, 2));
    else console.log(`${report.data}: ${report.slices} test slice(s)\n${formatReport(report)}`);
    return 0;
  },
};
