// A training checkpoint in one safetensors file: the model's state dict under model.*, Adam's
// moments under optim.<i>.exp_avg / exp_avg_sq (i = index in the optimizer's parameter list), and in
// the metadata the loop position, Adam's per-parameter step counts, the run's fingerprint and a
// SHA-256 of all tensor bytes. A file that fails any check (truncated, bit-flipped, another run's)
// is refused with a FormatError; nothing is loaded from it.
import { FormatError } from '../errors.js';
import { readSafetensors } from '../io/safetensors.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import type { HostTensor } from '../nn/module.js';
import { sha256Hex } from './embedding-cache.js';
import type { Adam } from './optim.js';
import type { TrainPosition } from './trainer.js';

const FORMAT = 'autosam-train-state/1';

export interface TrainState {
  position: TrainPosition;
  model: Map<string, HostTensor>;
  optimizer: ({ step: number; expAvg: Float32Array; expAvgSq: Float32Array } | null)[];
  /** What the run was started with (its config's fingerprint): a checkpoint only resumes its own run. */
  fingerprint: string;
}

async function tensorsDigest(tensors: Map<string, HostTensor>): Promise<string> {
  const names = [...tensors.keys()].sort();
  const parts: (string | Float32Array)[] = [];
  for (const n of names) parts.push(`${n}:${tensors.get(n)!.shape.join('x')};`, tensors.get(n)!.data);
  return sha256Hex(...parts);
}

export async function captureTrainState(model: { stateDictToHost(): Promise<Map<string, HostTensor>> }, optimizer: Adam, position: TrainPosition, fingerprint: string): Promise<TrainState> {
  return { position: { ...position }, model: await model.stateDictToHost(), optimizer: await optimizer.stateToHost(), fingerprint };
}

export async function encodeTrainState(state: TrainState): Promise<Uint8Array> {
  const tensors = new Map<string, HostTensor>();
  for (const [k, t] of state.model) tensors.set(`model.${k}`, t);
  const steps: (number | null)[] = [];
  state.optimizer.forEach((s, i) => {
    steps.push(s ? s.step : null);
    if (!s) return;
    tensors.set(`optim.${i}.exp_avg`, { shape: [s.expAvg.length], data: s.expAvg });
    tensors.set(`optim.${i}.exp_avg_sq`, { shape: [s.expAvgSq.length], data: s.expAvgSq });
  });
  const metadata = {
    format: FORMAT,
    position: JSON.stringify(state.position),
    adam_steps: JSON.stringify(steps),
    fingerprint: state.fingerprint,
    sha256: await tensorsDigest(tensors),
  };
  return writeSafetensors(tensors, metadata);
}

export async function decodeTrainState(bytes: Uint8Array, source: string): Promise<TrainState> {
  const file = readSafetensors(bytes);
  const meta = file.metadata;
  if (meta.format !== FORMAT) throw new FormatError(`${source}: not an autosam training checkpoint (format ${meta.format ?? 'missing'})`);
  const tensors = new Map<string, HostTensor>();
  for (const [k, t] of file.tensors) {
    if (!(t.data instanceof Float32Array)) throw new FormatError(`${source}: ${k} is ${t.dtype}, expected float32`);
    tensors.set(k, { shape: t.shape, data: t.data });
  }
  if ((await tensorsDigest(tensors)) !== meta.sha256) throw new FormatError(`${source}: checksum mismatch (the file is damaged)`);
  let position: TrainPosition;
  let steps: (number | null)[];
  try {
    position = JSON.parse(meta.position) as TrainPosition;
    steps = JSON.parse(meta.adam_steps) as (number | null)[];
  } catch {
    throw new FormatError(`${source}: unreadable metadata`);
  }
  if (!Number.isInteger(position?.step) || position.step < 0 || !Array.isArray(steps)) throw new FormatError(`${source}: bad loop position`);
  const model = new Map<string, HostTensor>();
  for (const [k, t] of tensors) if (k.startsWith('model.')) model.set(k.slice(6), t);
  const optimizer = steps.map((step, i) => {
    if (step === null) return null;
    const expAvg = tensors.get(`optim.${i}.exp_avg`), expAvgSq = tensors.get(`optim.${i}.exp_avg_sq`);
    if (!expAvg || !expAvgSq) throw new FormatError(`${source}: Adam moments of parameter ${i} are missing`);
    return { step, expAvg: expAvg.data, expAvgSq: expAvgSq.data };
  });
  return { position, model, optimizer, fingerprint: meta.fingerprint ?? '' };
}
