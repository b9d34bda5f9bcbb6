// PyTorch checkpoints in the zip format torch.save has written since 1.6:
//   <name>/data.pkl      the pickled object (a state dict), tensors as persistent ids
//   <name>/data/<key>    one raw little-endian storage per key
//   <name>/byteorder     "little" (absent in older files, which were all little-endian)
//   <name>/version, .format_version, .storage_alignment, .data/serialization_id
// <name> is the saved file's stem ("archive" for file objects). The pickle is read by the restricted
// unpickler in pickle.ts; a persistent id ('storage', torch.<T>Storage, key, location, numel) must
// name a record of this archive's data/ folder whose size is exactly numel elements.

import { FormatError } from '../errors.js';
import { BYTES_PER_ELEMENT, decodeElements, type CheckpointDtype, type CheckpointTensor } from './checkpoint-tensor.js';
import { PickleDict, PickleGlobal, PickleSecurityError, PickleTuple, RebuiltTensor, STORAGE_CLASSES, StorageRef, typeName, unpickle, type PickleValue } from './pickle.js';
import { isZip, readZipDirectory, readZipEntry, type ZipEntry } from './zip.js';

/** Storage keys torch writes are decimal; anything with a separator or dots could name another record. */
const STORAGE_KEY = /^[0-9A-Za-z_]{1,64}$/;
/** Keys under which training scripts nest the state dict ({'model': ..., 'epoch': ...}). */
const NESTED_STATE_KEYS = ['model', 'state_dict', 'model_state_dict'];
/** Views, ties and widening may decode more than the storages hold, but not without bound. */
const MAX_OUTPUT_FACTOR = 4;

export interface PthOptions {
  /** Check every storage's CRC-32 (data.pkl's is always checked). Costs a pass over the file. */
  verifyCrc?: boolean;
}

export function readPth(bytes: Uint8Array, options: PthOptions = {}): Map<string, CheckpointTensor> {
  if (!isZip(bytes)) {
    if (bytes[0] === 0x80) throw new FormatError('this is a raw pickle or a legacy (pre-1.6) torch.save file; re-save it with a current torch.save');
    throw new FormatError('not a PyTorch checkpoint: no zip signature');
  }
  const entries = readZipDirectory(bytes);
  const prefix = archivePrefix(entries);
  const byteorder = entries.get(`${prefix}/byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(readZipEntry(bytes, byteorder)).trim();
    if (order !== 'little') throw new FormatError(`checkpoint byte order is "${order}"; only little-endian checkpoints are supported`);
  }

  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: PickleValue): StorageRef => {
    if (!(pid instanceof PickleTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
      throw new PickleSecurityError(`persistent id ${describe(pid)}`, "only ('storage', type, key, location, numel) is accepted");
    }
    const [, storageClass, key, location, numel] = pid.items;
    if (!(storageClass instanceof PickleGlobal) || storageClass.module !== 'torch' || !Object.hasOwn(STORAGE_CLASSES, storageClass.name)) {
      throw new PickleSecurityError(`persistent id storage type ${describe(storageClass)}`, `supported: ${Object.keys(STORAGE_CLASSES).join(', ')}`);
    }
    if (typeof key !== 'string' || !STORAGE_KEY.test(key)) {
      throw new PickleSecurityError(`persistent id key ${describe(key)}`, `storage keys name records in ${prefix}/data/ and may not hold separators`);
    }
    const entry = entries.get(`${prefix}/data/${key}`);
    if (!entry) throw new PickleSecurityError(`persistent id key ${key}`, `the archive holds no record ${prefix}/data/${key}`);
    if (typeof location !== 'string') throw new FormatError(`storage ${key}: location is ${typeName(location)}`);
    const dtype = STORAGE_CLASSES[storageClass.name] as CheckpointDtype;
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0 || numel * BYTES_PER_ELEMENT[dtype] !== entry.size) {
      throw new FormatError(`storage ${key} claims ${String(numel)} ${dtype} elements but its record holds ${entry.size} bytes`);
    }
    const known = storages.get(key);
    if (known && (known.storageClass !== storageClass.name || known.numel !== numel)) throw new FormatError(`storage ${key} is described two different ways`);
    const ref = known ?? new StorageRef(storageClass.name, key, location, numel);
    storages.set(key, ref);
    return ref;
  };

  const pickle = readZipEntry(bytes, entries.get(`${prefix}/data.pkl`)!, { verifyCrc: true });
  const root = unpickle(pickle, { persistentLoad });
  const tensors = stateDictOf(root);

  const storageBytes = new Map<string, Uint8Array>();
  const decoded = new Map<RebuiltTensor, CheckpointTensor>();
  let budget = MAX_OUTPUT_FACTOR * [...storages.values()].reduce((n, s) => n + s.numel, 0) + 4096;
  const out = new Map<string, CheckpointTensor>();
  for (const [name, tensor] of tensors) {
    let result = decoded.get(tensor); // one tensor pickled under several names (tied weights) decodes once
    if (!result) {
      const numel = tensor.size.reduce((a, b) => a * b, 1); // bounded by the storage (checked when rebuilt) unless strides repeat
      budget -= numel;
      if (budget < 0) throw new FormatError(`tensor ${name}: the tensors would decode to far more elements than the checkpoint's storages hold`);
      const { storage } = tensor;
      let raw = storageBytes.get(storage.key);
      if (!raw) {
        raw = readZipEntry(bytes, entries.get(`${prefix}/data/${storage.key}`)!, options);
        storageBytes.set(storage.key, raw);
      }
      const dtype = STORAGE_CLASSES[storage.storageClass] as CheckpointDtype;
      result = { shape: [...tensor.size], dtype, data: decodeElements(gatherBytes(raw, tensor, BYTES_PER_ELEMENT[dtype], numel), dtype, numel) };
      decoded.set(tensor, result);
    }
    out.set(name, result);
  }
  return out;
}

/** The one top-level folder that holds data.pkl. */
function archivePrefix(entries: Map<string, ZipEntry>): string {
  const pickles = [...entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1) {
    throw new FormatError(pickles.length ? `zip archive holds ${pickles.length} data.pkl records` : 'zip archive holds no <name>/data.pkl: not a torch.save checkpoint');
  }
  return pickles[0].slice(0, -'/data.pkl'.length);
}

/** The state dict's tensors: the top-level dict, or the one nested under 'model' / 'state_dict'. */
function stateDictOf(root: PickleValue): Map<string, RebuiltTensor> {
  if (!(root instanceof PickleDict)) throw new FormatError(`checkpoint holds a ${typeName(root)}, not a state dict`);
  const tensors = tensorEntries(root);
  if (tensors.size) return tensors;
  for (const key of NESTED_STATE_KEYS) {
    const nested = root.get(key);
    if (nested instanceof PickleDict) return tensorEntries(nested);
  }
  throw new FormatError(`checkpoint holds no tensors (top-level keys: ${[...root.keys()].map(describe).join(', ')})`);
}

function tensorEntries(dict: PickleDict): Map<string, RebuiltTensor> {
  const out = new Map<string, RebuiltTensor>();
  for (const [key, value] of dict) {
    if (!(value instanceof RebuiltTensor)) continue; // e.g. an epoch counter beside the weights
    if (typeof key !== 'string') throw new FormatError(`state dict key ${describe(key)} is not a string`);
    out.set(key, value);
  }
  return out;
}

/** The tensor's elements in row-major order, as bytes: a view when contiguous, a gathered copy when strided. */
function gatherBytes(raw: Uint8Array, tensor: RebuiltTensor, itemSize: number, numel: number): Uint8Array {
  const { size, stride, offset } = tensor;
  let contiguous = true;
  for (let d = size.length - 1, expected = 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expected) contiguous = false;
    expected *= size[d];
  }
  if (contiguous || numel === 0) return raw.subarray(offset * itemSize, (offset + numel) * itemSize);
  const out = new Uint8Array(numel * itemSize);
  const index = new Array<number>(size.length).fill(0);
  let source = offset;
  for (let i = 0; i < numel; i++) {
    out.set(raw.subarray(source * itemSize, (source + 1) * itemSize), i * itemSize);
    // Odometer over the dimensions, last fastest, carrying the storage position along.
    for (let d = size.length - 1; d >= 0; d--) {
      index[d]++;
      source += stride[d];
      if (index[d] < size[d]) break;
      source -= stride[d] * size[d];
      index[d] = 0;
    }
  }
  return out;
}

function describe(v: PickleValue): string {
  if (typeof v === 'string') return v;
  if (v instanceof PickleGlobal) return v.qualifiedName;
  return typeName(v);
}
