import { readFile, writeFile } from 'node:fs/promises';
import { UsageError } from '../../errors.js';
import { claimCheck, experimentTable, runExperiment, type ExperimentOptions, type ExperimentResult } from '../../train/experiment.js';
import { MODEL_KINDS, parseModelKind, type ModelKind } from '../../train/models.js';
import { parseCommandArgs, type Command } from '../command.js';
import { formatDuration, ProgressBar } from '../progress.js';
import { parseIntOption, parseNumberOption, embeddingStoreOption } from '../options.js';

/**
 * The default (quick) settings, sized so the whole table finishes in about 20 minutes on 2 CPU cores
 * without a GPU: few steps, no augmented views, every third test slice, MobileSAM at 512 (32 x 32
 * embeddings) and 128 x 128 slices, and no CNN head (the reference's CNN head runs 3x3 convolutions
 * 1024 channels wide: minutes per step on such a machine).
 */
export const QUICK = { steps: 'autosam=20,cnn=10,linear=150,unet=40', views: 0, testStride: 3, encoderSize: 512, size: 128, heads: 'autosam,linear,unet' } as const;
/** --full: the paper's setting as far as this tool goes: MobileSAM at 1024, 256 x 256 slices, all heads. */
export const FULL = { steps: 'autosam=300,cnn=300,linear=300,unet=300', views: 4, testStride: 1, encoderSize: 1024, size: 256, heads: 'autosam,cnn,linear,unet' } as const;

const HELP = `usage: autosam experiment [--full] [--out DIR] [--readme FILE] [options]

The AutoSAM paper's label-efficiency experiment on the built-in brain MRI (brain-aal): each head on
the frozen encoder's embeddings, and a UNet trained from scratch on the images, each with N labelled
slices from one slab (N nested: 1 of the 4, 4 of the 16), evaluated by 3D Dice on a held-out slab
beyond a gap. Prints the Dice table; with --readme, writes it into that file between the markers
<!-- experiment:start --> and <!-- experiment:end -->. Finished runs in --out are reused.

  --full             steps ${FULL.steps},
                     views ${FULL.views}, every test slice, encoder input ${FULL.encoderSize}, slices ${FULL.size}, heads ${FULL.heads}
                     (default: steps ${QUICK.steps},
                     views ${QUICK.views}, every ${QUICK.testStride}rd test slice, encoder input ${QUICK.encoderSize}, slices ${QUICK.size}, heads ${QUICK.heads})
  --heads LIST       from autosam,cnn,linear,unet
  --labeled LIST     default 1,4,16
  --steps S|LIST     optimizer steps per run: one number for every model, or per model as
                     autosam=30,linear=200 (models not named keep the preset's count)
  --views K          augmented views per labelled slice
  --test-stride N    score every N-th slice of the test slab
  --size S           slices are resized to S x S  --batch B (default 4)  --lr LR (default 5e-4)
  --seed S  --gap G  split seed (default 0) and slices between the slabs (default 10)
  --encoder NAME  --checkpoint FILE  --weights FILE   as for autosam train (default: built-in MobileSAM)
  --encoder-size S   MobileSAM's input side (default ${QUICK.encoderSize}; --full: ${FULL.encoderSize}, as it was trained);
                     a SAM ViT runs at its own img_size unless given (e.g. 512: tables interpolated down)
  --unet-base C      UNet first-level channels (default 16)
  --data SPEC        another single-subject dataset (default brain-aal)
  --out DIR          run directories and results.json (default runs/experiment)
  --cache DIR | --no-cache   the embedding cache`;

export const experimentCommand: Command = {
  name: 'experiment',
  summary: "the paper's label-efficiency table: heads vs a UNet from scratch, N = 1, 4, 16 labelled slices",
  async run(args) {
    const parsed = parseCommandArgs('experiment', args, {
      full: { type: 'boolean' }, heads: { type: 'string' }, labeled: { type: 'string' }, steps: { type: 'string' }, views: { type: 'string' },
      'test-stride': { type: 'string' }, size: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, seed: { type: 'string' },
      gap: { type: 'string' }, encoder: { type: 'string' }, checkpoint: { type: 'string' }, weights: { type: 'string' },
      'unet-base': { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, readme: { type: 'string' },
      cache: { type: 'string' }, 'no-cache': { type: 'boolean' }, 'encoder-size': { type: 'string' },
    }, HELP);
    if (!parsed) return 0;
    const v = parsed.values;
    if (parsed.positionals.length) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'\n\n${HELP}`);
    const preset = v.full ? FULL : QUICK;
    const list = (text: string | undefined, fallback: string) => (text ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);
    const labelled = list(v.labeled, '1,4,16').map((s) => parseIntOption('--labeled', s, 1, { min: 1, max: 10000 }));
    const options: ExperimentOptions = {
      data: v.data ?? 'brain-aal',
      encoder: {
        name: v.encoder ?? 'mobilesam', checkpoint: v.checkpoint, weights: v.weights,
        // The preset's size is MobileSAM's; ViT encoders keep their own unless asked.
        inputSize: v['encoder-size'] !== undefined || (v.encoder ?? 'mobilesam') === 'mobilesam'
          ? parseIntOption('--encoder-size', v['encoder-size'], preset.encoderSize, { min: 16, max: 4096 })
          : undefined,
      },
      heads: list(v.heads, preset.heads).map(parseModelKind),
      labelled: [...new Set(labelled)].sort((a, b) => a - b),
      steps: parseSteps(v.steps, preset.steps),
      views: parseIntOption('--views', v.views, preset.views, { min: 0, max: 1000 }),
      size: parseIntOption('--size', v.size, preset.size, { min: 16, max: 1024 }),
      batchSize: parseIntOption('--batch', v.batch, 4, { min: 1, max: 4096 }),
      lr: parseNumberOption('--lr', v.lr, 5e-4, { min: 0, exclusiveMin: true, max: 10 }),
      seed: parseIntOption('--seed', v.seed, 0, { min: -2147483648, max: 2147483647 }),
      gap: parseIntOption('--gap', v.gap, 10, { min: 0, max: 100000 }),
      testStride: parseIntOption('--test-stride', v['test-stride'], preset.testStride, { min: 1, max: 100000 }),
      unetBase: parseIntOption('--unet-base', v['unet-base'], 16, { min: 1, max: 256 }),
      out: v.out ?? 'runs/experiment',
    };
    const bars = new Map<string, ProgressBar>();
    const bar = (key: string, label: string, total: number) => {
      if (!bars.has(key)) bars.set(key, new ProgressBar(label, total));
      return bars.get(key)!;
    };
    const result = await runExperiment(options, {
      store: embeddingStoreOption(v),
      log: (line) => console.error(line),
      onEmbed: (p, label) => bar(`embed ${label}`, `${label} embedding`, p.total).update(p.done, p.cached ? `${p.cached} cached` : '', p.cached),
      onStep: (s, label) => bar(`train ${label}`, `${label} training`, s.totalSteps).update(s.step, `loss ${s.loss.toFixed(4)}`),
      onSlice: (d, n, label) => bar(`eval ${label}`, `${label} segmenting`, n).update(d),
    });
    const text = report(result, ['autosam experiment', ...args.filter((a) => a !== '--readme' && !a.startsWith('--readme=') && a !== v.readme)].join(' '));
    console.log(text);
    if (v.readme) await writeReadmeBlock(v.readme, text);
    return 0;
  },
};

/** 'N' for every model, or 'kind=N,...' over the preset's per-model counts. */
function parseSteps(text: string | undefined, preset: string): Record<ModelKind, number> {
  const steps = {} as Record<ModelKind, number>;
  const apply = (spec: string, what: string) => {
    if (/^\d+$/.test(spec.trim())) {
      for (const kind of MODEL_KINDS) steps[kind] = parseIntOption('--steps', spec.trim(), 1, { min: 1, max: 1_000_000 });
      return;
    }
    for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
      const [name, count] = part.split('=');
      if (count === undefined) throw new UsageError(`${what} '${spec}': expected a number or model=steps pairs such as autosam=30,linear=200`);
      steps[parseModelKind(name)] = parseIntOption(`--steps ${name}`, count, 1, { min: 1, max: 1_000_000 });
    }
  };
  apply(preset, 'preset');
  if (text !== undefined) apply(text, '--steps');
  return steps;
}

function report(result: ExperimentResult, commandLine: string): string {
  const o = result.options;
  return [
    `Mean foreground Dice (3D, ${result.classNames.length - 1} classes: ${result.classNames.slice(1).join(', ')}) on ${result.testSlices} held-out slices of ${o.data}, ` +
      `steps per run ${o.heads.map((h) => `${h} ${o.steps[h]}`).join(', ')} (batch ${o.batchSize}, Adam ${o.lr}), ${o.views} augmented view(s) per labelled slice, slices at ${o.size}x${o.size}, ` +
      `${o.encoder.name} input ${o.encoder.inputSize ?? 'native'}, seed ${o.seed}:`,
    '',
    experimentTable(result),
    '',
    ...claimCheck(result),
    '',
    `Made by \`${commandLine}\` on ${result.machine.cpus} CPU cores (${result.machine.cpuModel ?? 'unknown CPU'}), ${result.adapter}, in ${formatDuration(result.totalSeconds)} (${reusedNote(result)}). Runs and results.json in ${o.out}.`,
  ].join('\n');
}

/** How many runs were reused and, so a rerun's line still says what the work cost, the runs' own embedding and training time. */
function reusedNote(result: ExperimentResult): string {
  const reused = result.runs.filter((r) => r.reused).length;
  const own = result.runs.reduce((t, r) => t + r.seconds.embedding + r.seconds.training, 0);
  return `${reused} of ${result.runs.length} runs reused; data preparation, embedding and training took ${formatDuration(own)} when the runs were made`;
}

async function writeReadmeBlock(file: string, text: string): Promise<void> {
  const start = '<!-- experiment:start -->', end = '<!-- experiment:end -->';
  const readme = await readFile(file, 'utf8').catch(() => { throw new UsageError(`--readme ${file}: cannot read it`); });
  const a = readme.indexOf(start), b = readme.indexOf(end);
  if (a < 0 || b < a) throw new UsageError(`--readme ${file}: the markers ${start} and ${end} are missing`);
  await writeFile(file, `${readme.slice(0, a)}${start}\n${text}\n${readme.slice(b)}`);
}
