// safetensors: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {...strings}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
// then the data buffer, offsets relative to its start. As the format's own reader does, this one
// requires the tensors to tile the buffer exactly (no holes, no overlaps: no room for a second file
// hiding inside) and every tensor's byte length to equal its shape times its element size, all
// before anything is allocated. https://github.com/huggingface/safetensors#format

import { FormatError } from '../errors.js';
import { BYTES_PER_ELEMENT, checkedNumel, decodeElements, type CheckpointDtype, type CheckpointTensor } from './checkpoint-tensor.js';

const DTYPES: Record<string, CheckpointDtype> = {
  F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64', I64: 'int64', I32: 'int32', U8: 'uint8', BOOL: 'bool',
};

/** The format's reference reader refuses headers over 100 MB. */
const MAX_HEADER_BYTES = 100_000_000;
const PREAMBLE = 8;

export interface SafetensorsFile {
  tensors: Map<string, CheckpointTensor>;
  metadata: Record<string, string>;
}

/** True when the first bytes look like a safetensors header (a plausible length, then '{'). */
export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < PREAMBLE + 2) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(bytes.length - PREAMBLE) && bytes[PREAMBLE] === 0x7b;
}

export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.length < PREAMBLE) throw new FormatError(`safetensors file of ${bytes.length} bytes is shorter than its 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - PREAMBLE)) {
    throw new FormatError(`safetensors header claims ${headerLength} bytes but the file has ${bytes.length - PREAMBLE} after the length`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) throw new FormatError(`safetensors header of ${headerLength} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const dataStart = PREAMBLE + Number(headerLength);
  const data = bytes.subarray(dataStart);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREAMBLE, dataStart)));
  } catch (err) {
    throw new FormatError('safetensors header is not valid UTF-8 JSON', { cause: err });
  }
  if (!isObject(header)) throw new FormatError('safetensors header is not a JSON object');

  let metadata: Record<string, string> = {};
  const layout: { name: string; dtype: CheckpointDtype; shape: number[]; numel: number; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(info) || !Object.values(info).every((v) => typeof v === 'string')) throw new FormatError('safetensors __metadata__ must map strings to strings');
      metadata = info as Record<string, string>;
      continue;
    }
    if (!isObject(info)) throw new FormatError(`safetensors entry ${name} is not an object`);
    // Own properties only: a dtype of "constructor" must not find Object.prototype's.
    const dtype = typeof info.dtype === 'string' && Object.hasOwn(DTYPES, info.dtype) ? DTYPES[info.dtype] : undefined;
    if (!dtype) throw new FormatError(`safetensors tensor ${name}: unsupported dtype ${JSON.stringify(info.dtype)} (supported: ${Object.keys(DTYPES).join(', ')})`);
    if (!Array.isArray(info.shape)) throw new FormatError(`safetensors tensor ${name}: shape is not an array`);
    const shape = info.shape as number[];
    const numel = checkedNumel(shape, `safetensors tensor ${name}`);
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new FormatError(`safetensors tensor ${name}: data_offsets must be two non-negative integers`);
    }
    const [begin, end] = offsets as number[];
    if (begin > end || end > data.length) throw new FormatError(`safetensors tensor ${name}: data_offsets [${begin}, ${end}] fall outside the ${data.length}-byte data buffer`);
    if (end - begin !== numel * BYTES_PER_ELEMENT[dtype]) {
      throw new FormatError(`safetensors tensor ${name}: shape [${shape}] of ${info.dtype} needs ${numel * BYTES_PER_ELEMENT[dtype]} bytes, its offsets span ${end - begin}`);
    }
    layout.push({ name, dtype, shape: [...shape], numel, begin, end });
  }

  // The tensors, sorted by offset, must cover the buffer end to end.
  const sorted = [...layout].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const t of sorted) {
    if (t.begin !== covered) throw new FormatError(`safetensors tensor ${t.name} starts at ${t.begin}: ${t.begin < covered ? 'it overlaps the previous tensor' : `bytes ${covered}..${t.begin} belong to no tensor`}`);
    covered = t.end;
  }
  if (covered !== data.length) throw new FormatError(`safetensors data buffer holds ${data.length} bytes but its tensors cover ${covered}`);

  const tensors = new Map<string, CheckpointTensor>();
  for (const t of layout) tensors.set(t.name, { shape: t.shape, dtype: t.dtype, data: decodeElements(data.subarray(t.begin, t.end), t.dtype, t.numel) });
  return { tensors, metadata };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
