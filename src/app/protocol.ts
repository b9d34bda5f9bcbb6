// Messages between the page and the app's worker. The page sends requests with an id; the worker
// answers each with events (progress) and exactly one 'done' or 'error'. Errors carry the typed
// error's name so the page can tell a person's mistake (DataError, UsageError) from a device fault.
import type { Axis } from '../data/dataset.js';
import type { ImageVolume, LabelVolume } from '../data/volume.js';
import type { AdapterReport } from '../device/device.js';
import type { TrainConfig } from '../train/trainer.js';
import type { EpochReport, HeadKind, SampleSettings } from './session.js';

export type EncoderChoice =
  | { kind: 'mobilesam'; inputSize: number }
  | { kind: 'sam'; variant: 'vit_b' | 'vit_l' | 'vit_h'; file: File };

export interface WorkerCase {
  id: string;
  image: ImageVolume;
  label: LabelVolume | null;
}

export type Request =
  | { op: 'init' }
  | { op: 'encoder'; encoder: EncoderChoice }
  | { op: 'embed'; cases: WorkerCase[]; settings: SampleSettings }
  | { op: 'train'; head: HeadKind; config: TrainConfig; numClasses: number }
  | { op: 'predict'; id: string; image: ImageVolume; slices?: number[] }
  | { op: 'export'; classNames: string[]; datasetName: string }
  | { op: 'cache-clear' }
  | { op: 'cancel' };

export type WorkerEvent =
  | { kind: 'log'; line: string }
  | { kind: 'embed-progress'; done: number; total: number; cached: number }
  | { kind: 'step'; step: number; total: number; loss: number }
  | { kind: 'epoch'; report: EpochReport }
  | { kind: 'predict-progress'; done: number; total: number };

export interface InitResult {
  adapter: AdapterReport;
  cacheEntries: number;
}

export type Reply =
  | { id: number; type: 'event'; event: WorkerEvent }
  | { id: number; type: 'done'; result?: unknown }
  | { id: number; type: 'error'; name: string; message: string };

export type { Axis, EpochReport, HeadKind, SampleSettings };
