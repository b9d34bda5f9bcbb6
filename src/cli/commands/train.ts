import { parseSplitSpec, type SplitOptions } from '../../data/split.js';
import { loadDatasetFromDisk } from '../../data/sources-node.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DeviceError, UsageError } from '../../errors.js';
import { NonFiniteError } from '../../train/trainer.js';
import { parseModelKind } from '../../train/models.js';
import type { RunConfig } from '../../train/run-config.js';
import { readRunStatus, trainRun, RUN_FILES } from '../../train/run.js';
import { DEFAULT_TRAIN_CONFIG } from '../../train/trainer.js';
import { parseCommandArgs, type Command } from '../command.js';
import { ProgressBar } from '../progress.js';
import { parseIntOption, parseNumberOption, embeddingStoreOption } from '../options.js';

const HELP = `usage: autosam train --data SPEC --head autosam|cnn|linear|unet --out RUN_DIR [options]
       autosam train --out RUN_DIR --resume

Trains a prompt-free head on the frozen encoder's embeddings (or the UNet baseline on the images),
embedding every labelled slice view once through the on-disk cache.

  --data SPEC          dataset (default brain-aal; see autosam data inspect --help)
  --head KIND          autosam (SAM mask decoder, default), cnn, linear, or unet (baseline, no encoder)
  --encoder NAME       mobilesam (default, built in) | vit_b | vit_l | vit_h | CONFIG.json
  --checkpoint FILE    SAM .pth/.safetensors for ViT encoders (also the AutoSAM head's initial weights)
  --weights FILE       another MobileSAM encoder.onnx
  --encoder-size S     the encoder's input side: 1024 (default, as trained) or e.g. 512 (32x32 embeddings, ~4x faster);
                       MobileSAM: a multiple of 64; SAM ViT: a multiple of 16 up to its img_size (position
                       embedding and global relative-position tables interpolated down, as SAMed does)
  --labeled N          labelled slices (slab split) or volumes (volume split); default 4
  --split SPEC         explicit split, e.g. slab:labelled=4,gap=10,seed=1 (overrides --labeled)
  --epochs E           passes over the sample bank (default ${DEFAULT_TRAIN_CONFIG.epochs})
  --views K            augmented views per labelled slice, besides the original (default 0)
  --seed S             seed for the split, augmentation, initialisation and order (default 0)
  --size S             slices are resized to S x S (default 256: the heads' native mask size)
  --batch B            batch size (default 4)   --lr LR (default 5e-4)   --schedule constant|cosine
  --normalization N    minmax (default) | percentile:LO,HI | window:C,W | none (per slice)
  --checkpoint-every N steps between checkpoints (default ${DEFAULT_TRAIN_CONFIG.checkpointEvery}; one is always written at the end)
  --test-stride N     autosam eval scores every N-th test slice (default 1: all)
  --unet-base C        UNet baseline's first-level channels (default 16; the reference's 64 is slow without a GPU)
  --cache DIR          embedding cache (default $AUTOSAM_CACHE or ~/.cache/autosam-webgpu/embeddings)
  --no-cache           do not read or write the embedding cache
  --out RUN_DIR        the run directory: run.json, metrics.jsonl, checkpoint.safetensors, head.safetensors
  --resume             continue the run in RUN_DIR from its last checkpoint`;

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a head (or the UNet baseline) on a dataset; --resume continues a run',
  async run(args) {
    const parsed = parseCommandArgs('train', args, {
      data: { type: 'string' }, head: { type: 'string' }, encoder: { type: 'string' }, checkpoint: { type: 'string' },
      weights: { type: 'string' }, labeled: { type: 'string' }, split: { type: 'string' }, epochs: { type: 'string' },
      views: { type: 'string' }, seed: { type: 'string' }, size: { type: 'string' }, batch: { type: 'string' },
      lr: { type: 'string' }, schedule: { type: 'string' }, normalization: { type: 'string' },
      'checkpoint-every': { type: 'string' }, 'unet-base': { type: 'string' }, cache: { type: 'string' },
      'no-cache': { type: 'boolean' }, out: { type: 'string' }, resume: { type: 'boolean' }, 'test-stride': { type: 'string' },
      'encoder-size': { type: 'string' },
    }, HELP);
    if (!parsed) return 0;
    const v = parsed.values;
    if (parsed.positionals.length) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'\n\n${HELP}`);
    if (!v.out) throw new UsageError(`--out RUN_DIR is required\n\n${HELP}`);
    let config: RunConfig;
    if (v.resume) {
      const given = Object.keys(v).filter((k) => !['out', 'resume', 'cache', 'no-cache'].includes(k));
      if (given.length) throw new UsageError(`--resume takes the run's own settings from ${v.out}/${RUN_FILES.config}; drop ${given.map((k) => `--${k}`).join(', ')}`);
      config = (await readRunStatus(v.out)).config;
    } else {
      config = await configFromArgs(v);
    }
    const store = embeddingStoreOption(v);
    let embedBar: ProgressBar | null = null;
    let stepBar: ProgressBar | null = null;
    let firstStep: number | undefined;
    const status = await trainRun(config, v.out!, {
      resume: v.resume,
      store,
      log: (line) => console.error(line),
      onEmbed: (p) => {
        embedBar ??= new ProgressBar('embedding', p.total);
        embedBar.update(p.done, p.cached ? `${p.cached} from cache` : '', p.cached);
      },
      onStep: (info) => {
        // A resumed run's bar counts the steps left from where it resumed.
        firstStep ??= info.step;
        stepBar ??= new ProgressBar('training ', info.totalSteps - firstStep + 1);
        stepBar.update(info.step - firstStep + 1, `epoch ${info.epoch + 1} loss ${info.loss.toFixed(4)}`);
      },
    }).catch((err: unknown) => {
      // What was lost and how to continue: the checkpoint is written atomically, so it is always whole.
      if (err instanceof DeviceError || err instanceof NonFiniteError) {
        const kept = existsSync(path.join(v.out!, RUN_FILES.checkpoint));
        err.message += kept
          ? `\nThe last checkpoint in ${v.out} is intact: continue with  autosam train --out ${v.out} --resume${err instanceof NonFiniteError ? '  (after lowering the lr or fixing the data: a resume repeats the same steps)' : ''}`
          : `\nNo checkpoint had been written yet (every ${config.train.checkpointEvery} steps); the embeddings are cached, so a new run starts quickly.`;
      }
      throw err;
    });
    console.log(`${v.out}: ${config.head} head trained for ${status.steps} steps on ${status.samples} samples (final loss ${status.finalLoss?.toFixed(4)}); weights in ${v.out}/${RUN_FILES.weights}`);
    return 0;
  },
};

type Values = Record<string, string | boolean | undefined>;

async function configFromArgs(v: Values): Promise<RunConfig> {
  const str = (k: string) => v[k] as string | undefined;
  const data = str('data') ?? 'brain-aal';
  const seed = parseIntOption('--seed', str('seed'), 0, { min: -2147483648, max: 2147483647 });
  const labelled = parseIntOption('--labeled', str('labeled'), 4, { min: 1, max: 100000 });
  let split: SplitOptions;
  if (str('split')) {
    if (str('labeled')) throw new UsageError('give either --labeled or --split, not both');
    split = parseSplitSpec(str('split')!);
  } else {
    const dataset = await loadDatasetFromDisk(data);
    split = dataset.kind === 'single-subject' ? { kind: 'slab', labelled, validation: 0, gap: 10, seed } : { kind: 'volume', labelled, validation: 0, seed };
  }
  const schedule = str('schedule') ?? 'constant';
  if (schedule !== 'constant' && schedule !== 'cosine') throw new UsageError(`--schedule must be constant or cosine, got ${schedule}`);
  const encoderName = str('encoder') ?? 'mobilesam';
  return {
    version: 1,
    data,
    split,
    testStride: parseIntOption('--test-stride', str('test-stride'), 1, { min: 1, max: 100000 }),
    encoder: {
      name: encoderName, checkpoint: str('checkpoint'), weights: str('weights'),
      inputSize: str('encoder-size') === undefined ? undefined : parseIntOption('--encoder-size', str('encoder-size'), 1024, { min: 16, max: 4096 }),
    },
    head: parseModelKind(str('head') ?? 'autosam'),
    normalization: str('normalization') ?? 'minmax',
    size: parseIntOption('--size', str('size'), 256, { min: 16, max: 1024 }),
    views: parseIntOption('--views', str('views'), 0, { min: 0, max: 1000 }),
    unetBase: parseIntOption('--unet-base', str('unet-base'), 16, { min: 1, max: 256 }),
    train: {
      epochs: parseIntOption('--epochs', str('epochs'), DEFAULT_TRAIN_CONFIG.epochs, { min: 1, max: 1_000_000 }),
      batchSize: parseIntOption('--batch', str('batch'), DEFAULT_TRAIN_CONFIG.batchSize, { min: 1, max: 4096 }),
      lr: parseNumberOption('--lr', str('lr'), DEFAULT_TRAIN_CONFIG.lr, { min: 0, exclusiveMin: true, max: 10 }),
      seed,
      schedule,
      checkpointEvery: parseIntOption('--checkpoint-every', str('checkpoint-every'), DEFAULT_TRAIN_CONFIG.checkpointEvery, { min: 0, max: 1_000_000_000 }),
    },
  };
}
