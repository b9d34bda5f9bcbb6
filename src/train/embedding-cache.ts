// The embedding cache: the frozen encoder runs once per distinct input, ever. Entries are addressed
// by content: SHA-256 over the encoder's identity (name, weights hash, preprocessing) and the exact
// input pixels, so a change in the data, the normalisation, the augmentation or the weights can
// never return a stale embedding. Stores: disk in Node (embedding-cache-node.ts), IndexedDB in
// browsers (the app's). An entry carries its own checksum: a truncated or corrupted entry reads as
// a miss (and is recomputed), never as wrong numbers.
import { FormatError } from '../errors.js';

export interface EmbeddingEntry {
  shape: number[];
  data: Float32Array;
}

export interface EmbeddingStore {
  /** The entry for a key, or null when absent or unreadable (corrupt entries count as absent). */
  get(key: string): Promise<EmbeddingEntry | null>;
  /** Stores an entry; concurrent writers of one key must never leave a torn entry. */
  put(key: string, entry: EmbeddingEntry): Promise<void>;
  /** A description for logs, e.g. the cache directory. */
  readonly where: string;
}

/** No caching (tests, or --no-cache). */
export class NullEmbeddingStore implements EmbeddingStore {
  readonly where = 'no cache';
  async get(): Promise<null> {
    return null;
  }
  async put(): Promise<void> {}
}

/** In-memory store (library use, tests). */
export class MemoryEmbeddingStore implements EmbeddingStore {
  readonly where = 'memory';
  private readonly entries = new Map<string, EmbeddingEntry>();
  async get(key: string): Promise<EmbeddingEntry | null> {
    return this.entries.get(key) ?? null;
  }
  async put(key: string, entry: EmbeddingEntry): Promise<void> {
    this.entries.set(key, { shape: [...entry.shape], data: entry.data.slice() });
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const toHex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (b) => HEX[b]).join('');

/** SHA-256 (WebCrypto: the same in Node 20 and browsers) as lowercase hex. */
export async function sha256Hex(...parts: (string | ArrayBufferView)[]): Promise<string> {
  const chunks = parts.map((p) => (typeof p === 'string' ? new TextEncoder().encode(p) : new Uint8Array(p.buffer, p.byteOffset, p.byteLength)));
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const all = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.length;
  }
  return toHex(await globalThis.crypto.subtle.digest('SHA-256', all));
}

/** The cache key of one encoder input: encoder identity + the input's exact float32 pixels and shape. */
export function embeddingKey(encoderIdentity: string, input: Float32Array, shape: readonly number[]): Promise<string> {
  return sha256Hex(`${encoderIdentity}\n${shape.join('x')}\n`, input);
}

// ---- entry bytes: "AEMB" u32 version, u32 header length, header JSON, pad to 4, float32 data ----
const MAGIC = 0x424d4541; // "AEMB" little-endian
const VERSION = 1;

interface EntryHeader {
  key: string;
  shape: number[];
  /** SHA-256 of the data bytes. */
  sha256: string;
}

export async function encodeEntry(key: string, entry: EmbeddingEntry): Promise<Uint8Array> {
  const header: EntryHeader = { key, shape: entry.shape, sha256: await sha256Hex(entry.data) };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerEnd = 12 + json.length;
  const dataStart = Math.ceil(headerEnd / 4) * 4;
  const out = new Uint8Array(dataStart + entry.data.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, json.length, true);
  out.set(json, 12);
  out.set(new Uint8Array(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength), dataStart);
  return out;
}

/** Parses and verifies an entry; throws FormatError on anything that is not a whole, matching entry. */
export async function decodeEntry(bytes: Uint8Array, expectedKey: string): Promise<EmbeddingEntry> {
  if (bytes.length < 12) throw new FormatError(`embedding cache entry: ${bytes.length} bytes is shorter than its header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC || view.getUint32(4, true) !== VERSION) throw new FormatError('embedding cache entry: bad magic or version');
  const jsonLength = view.getUint32(8, true);
  if (12 + jsonLength > bytes.length) throw new FormatError('embedding cache entry: truncated header');
  let header: EntryHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + jsonLength))) as EntryHeader;
  } catch {
    throw new FormatError('embedding cache entry: unreadable header');
  }
  if (header.key !== expectedKey) throw new FormatError('embedding cache entry: stored under another key');
  if (!Array.isArray(header.shape) || !header.shape.every((d) => Number.isInteger(d) && d > 0)) throw new FormatError('embedding cache entry: bad shape');
  const count = header.shape.reduce((a, b) => a * b, 1);
  const dataStart = Math.ceil((12 + jsonLength) / 4) * 4;
  if (bytes.length !== dataStart + count * 4) throw new FormatError(`embedding cache entry: ${bytes.length - dataStart} data bytes, expected ${count * 4}`);
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes.subarray(dataStart));
  if ((await sha256Hex(data)) !== header.sha256) throw new FormatError('embedding cache entry: checksum mismatch');
  return { shape: header.shape, data };
}
