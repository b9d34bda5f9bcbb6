import { formatInspectReport, inspectDataset } from '../../data/inspect.js';
import { loadDatasetFromDisk } from '../../data/sources-node.js';
import { SPEC_HELP, parseAxis } from '../../data/spec.js';
import { UsageError } from '../../errors.js';
import { parseCommandArgs, type Command } from '../command.js';

const HELP = `usage: autosam data inspect --data SPEC [--axis 0|1|2] [--json]

Loads every volume of a dataset and prints its shape, spacing, slice counts along the axis,
the classes present and the voxel count per class. Fails on labels outside [0, C), image and
label shapes that differ, unreadable files and empty datasets.

${SPEC_HELP}`;

export const dataCommand: Command = {
  name: 'data',
  summary: 'inspect a dataset (--data SPEC): volumes, slices, spacing, classes',
  async run(args) {
    const parsed = parseCommandArgs(
      'data',
      args,
      { data: { type: 'string' }, axis: { type: 'string' }, json: { type: 'boolean' } },
      HELP,
    );
    if (!parsed) return 0;
    const [sub, ...extra] = parsed.positionals;
    if (sub !== 'inspect' || extra.length > 0) throw new UsageError(`expected 'data inspect', got 'data ${parsed.positionals.join(' ')}'\n\n${HELP}`);
    const spec = parsed.values.data;
    if (!spec) throw new UsageError(`--data SPEC is required\n\n${HELP}`);
    const dataset = await loadDatasetFromDisk(spec);
    const axis = parsed.values.axis === undefined ? dataset.defaultAxis : parseAxis(parsed.values.axis);
    const report = await inspectDataset(dataset, axis);
    console.log(parsed.values.json ? JSON.stringify(report, null, 2) : formatInspectReport(report));
    return 0;
  },
};
