// A minimal tar reader (ustar and GNU long names): enough for InVesalius .inv3 projects.
import { FormatError } from '../errors.js';

/** Regular files of a tar archive by path; the contents are views into `bytes`, not copies. */
export function readTar(bytes: Uint8Array, source = 'tar archive'): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const text = new TextDecoder();
  const field = (at: number, length: number) => {
    const raw = bytes.subarray(at, at + length);
    const end = raw.indexOf(0);
    return text.decode(end < 0 ? raw : raw.subarray(0, end));
  };
  let offset = 0;
  let longName: string | null = null;
  while (offset + 512 <= bytes.length) {
    if (bytes.subarray(offset, offset + 512).every((b) => b === 0)) break; // end-of-archive block
    const sizeText = field(offset + 124, 12).trim();
    const size = parseInt(sizeText || '0', 8);
    if (!Number.isFinite(size) || size < 0) throw new FormatError(`${source}: bad size field '${sizeText}' at byte ${offset}`);
    const type = String.fromCharCode(bytes[offset + 156] || 0x30);
    const prefix = field(offset + 257, 6).startsWith('ustar') ? field(offset + 345, 155) : '';
    const name = longName ?? (prefix ? `${prefix}/${field(offset, 100)}` : field(offset, 100));
    const start = offset + 512;
    if (start + size > bytes.length) throw new FormatError(`${source}: truncated: '${name}' needs ${size} bytes, ${bytes.length - start} left`);
    const body = bytes.subarray(start, start + size);
    longName = null;
    if (type === 'L') longName = text.decode(body).replace(/\0+$/, '');
    else if (type === '0' || type === '\0' || type === '7') files.set(name, body);
    offset = start + Math.ceil(size / 512) * 512;
  }
  return files;
}
