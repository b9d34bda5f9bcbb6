// A bounds-checked reader for the zip archives torch.save writes (stored records, zip64 when large).
// The central directory is parsed here rather than by fflate's unzipSync because unzipSync trusts the
// entry count and sizes it reads (a flipped byte can make it loop billions of times or allocate the
// claimed uncompressed size); fflate still inflates deflated records, into a buffer whose size has
// been checked first.
// Format: https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT (sections 4.3.7-4.3.16, 4.5.3).

import { inflateSync } from 'fflate';
import { FormatError } from '../errors.js';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  /** Where the record's bytes start (after its local header). */
  dataOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIZE = 30;
const MAX_COMMENT = 0xffff;
const ZIP64_MARK = 0xffffffff;
// deflate cannot expand input by more than ~1032x; a larger claim is a corrupt header, not data.
const MAX_DEFLATE_RATIO = 1032;
// A record of zeros can reach that ratio, but a whole archive of weights inflating to more than 16x
// its size is a zip bomb (torch.save itself never compresses).
const MAX_ARCHIVE_INFLATION = 16;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export function readZipDirectory(bytes: Uint8Array): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (p: number) => view.getUint16(p, true);
  const u32 = (p: number) => view.getUint32(p, true);
  const u64 = (p: number) => safeU64(view, p);

  const eocd = findEocd(bytes, view);
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  let cdLimit = eocd; // the central directory ends before the end records
  const locator = eocd - 20;
  if (locator >= 0 && u32(locator) === ZIP64_LOCATOR_SIGNATURE) {
    const zip64 = u64(locator + 8);
    if (zip64 + 56 > locator) throw new FormatError(`zip64 end record offset ${zip64} lies outside the file`);
    if (u32(zip64) !== ZIP64_EOCD_SIGNATURE) throw new FormatError('zip64 locator does not point at a zip64 end record');
    count = u64(zip64 + 32);
    cdSize = u64(zip64 + 40);
    cdOffset = u64(zip64 + 48);
    cdLimit = zip64;
  }
  if (cdOffset + cdSize > cdLimit) throw new FormatError(`zip central directory (${cdSize} bytes at ${cdOffset}) runs past the end of the archive: truncated or corrupt`);
  // Each entry takes at least 46 bytes, so a count larger than that is a lie (and would be a long loop).
  if (count * CENTRAL_HEADER_SIZE > cdSize) throw new FormatError(`zip claims ${count} entries in a ${cdSize}-byte central directory`);

  const entries = new Map<string, ZipEntry>();
  let inflatedTotal = 0;
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_HEADER_SIZE > cdEnd || u32(p) !== CENTRAL_SIGNATURE) throw new FormatError(`zip central directory entry ${i} is corrupt`);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const crc32 = u32(p + 16);
    let compressedSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLength = u16(p + 28);
    const extraLength = u16(p + 30);
    const commentLength = u16(p + 32);
    let localOffset = u32(p + 42);
    const next = p + CENTRAL_HEADER_SIZE + nameLength + extraLength + commentLength;
    if (next > cdEnd) throw new FormatError(`zip central directory entry ${i} runs past the directory`);
    const name = utf8.decode(bytes.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLength));
    // zip64 extra field: the 8-byte values replace, in this order, whichever 32-bit fields hold 0xffffffff.
    let e = p + CENTRAL_HEADER_SIZE + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = u16(e);
      const length = u16(e + 2);
      if (e + 4 + length > extraEnd) throw new FormatError(`zip entry ${name}: extra field runs past its header`);
      if (id === 0x0001) {
        let q = e + 4;
        const field = (): number => {
          if (q + 8 > e + 4 + length) throw new FormatError(`zip entry ${name}: zip64 extra field too short`);
          const v = u64(q);
          q += 8;
          return v;
        };
        if (size === ZIP64_MARK) size = field();
        if (compressedSize === ZIP64_MARK) compressedSize = field();
        if (localOffset === ZIP64_MARK) localOffset = field();
      }
      e += 4 + length;
    }
    if (flags & 1) throw new FormatError(`zip entry ${name} is encrypted`);
    if (method !== 0 && method !== 8) throw new FormatError(`zip entry ${name} uses compression method ${method} (only stored and deflate are supported)`);
    if (method === 0 && size !== compressedSize) throw new FormatError(`zip entry ${name} is stored but its sizes differ (${compressedSize} vs ${size})`);
    if (method === 8) {
      if (size > compressedSize * MAX_DEFLATE_RATIO + 1024) throw new FormatError(`zip entry ${name} claims ${size} bytes from ${compressedSize} deflated bytes`);
      inflatedTotal += size;
      if (inflatedTotal > MAX_ARCHIVE_INFLATION * bytes.length + (1 << 20)) throw new FormatError(`zip archive of ${bytes.length} bytes would inflate to over ${inflatedTotal}: refused as a zip bomb`);
    }
    if (localOffset + LOCAL_HEADER_SIZE > cdOffset || u32(localOffset) !== LOCAL_SIGNATURE) throw new FormatError(`zip entry ${name}: no local header at offset ${localOffset}`);
    const dataOffset = localOffset + LOCAL_HEADER_SIZE + u16(localOffset + 26) + u16(localOffset + 28);
    if (dataOffset + compressedSize > cdOffset) throw new FormatError(`zip entry ${name} (${compressedSize} bytes at ${dataOffset}) runs past the archive's data: truncated`);
    if (entries.has(name)) throw new FormatError(`zip archive holds ${name} twice`);
    entries.set(name, { name, method, compressedSize, size, crc32, dataOffset });
    p = next;
  }
  return entries;
}

/** A record's bytes: a view into `bytes` when stored, a new array when deflated. */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry, { verifyCrc = false } = {}): Uint8Array {
  const raw = bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
  let data = raw;
  if (entry.method === 8) {
    try {
      data = inflateSync(raw, { out: new Uint8Array(entry.size) });
    } catch (err) {
      throw new FormatError(`zip entry ${entry.name}: corrupt deflate data`, { cause: err });
    }
    if (data.length !== entry.size) throw new FormatError(`zip entry ${entry.name} inflated to ${data.length} bytes, not ${entry.size}`);
  }
  if (verifyCrc && crc32(data) !== entry.crc32) throw new FormatError(`zip entry ${entry.name} fails its CRC-32 check: corrupt`);
  return data;
}

function findEocd(bytes: Uint8Array, view: DataView): number {
  const lowest = Math.max(0, bytes.length - EOCD_SIZE - MAX_COMMENT);
  for (let p = bytes.length - EOCD_SIZE; p >= lowest; p--) {
    if (view.getUint32(p, true) === EOCD_SIGNATURE) return p;
  }
  throw new FormatError('not a zip archive, or a truncated one: no end-of-central-directory record');
}

function safeU64(view: DataView, p: number): number {
  const v = view.getBigUint64(p, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`zip64 field of ${v} is beyond any file size`);
  return Number(v);
}

let crcTable: Uint32Array | null = null;

export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
