// Writes float32 tensors as safetensors (the layout readSafetensors documents): an 8-byte
// little-endian header length, the JSON header padded with spaces to a multiple of 8 (as the
// reference writer does, so the data that follows stays aligned), then the tensors back to back.
import { ShapeError } from '../errors.js';
import type { HostTensor } from '../nn/module.js';

export function writeSafetensors(tensors: Map<string, HostTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) throw new ShapeError(`writeSafetensors: ${name} has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * numel] };
    offset += 4 * numel;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    // Little-endian f32 bytes (every platform WebGPU runs on is little-endian, as the readers assume).
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
