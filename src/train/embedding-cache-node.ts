// The embedding cache on disk (Node): one file per entry, named by its key, under a two-level fan-out.
// Writes go to a unique temporary file in the same directory and are renamed into place, so a
// reader (another process included) sees either no entry or a whole one; a killed writer leaves
// only a temporary file, which is never read.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeEntry, encodeEntry, type EmbeddingEntry, type EmbeddingStore } from './embedding-cache.js';

/** $AUTOSAM_CACHE, else $XDG_CACHE_HOME/autosam-webgpu/embeddings, else ~/.cache/autosam-webgpu/embeddings. */
export function defaultCacheDir(): string {
  if (process.env.AUTOSAM_CACHE) return process.env.AUTOSAM_CACHE;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'autosam-webgpu', 'embeddings');
}

export class DiskEmbeddingStore implements EmbeddingStore {
  constructor(readonly dir: string = defaultCacheDir()) {}

  get where(): string {
    return this.dir;
  }

  private fileOf(key: string): string {
    return path.join(this.dir, key.slice(0, 2), `${key}.emb`);
  }

  async get(key: string): Promise<EmbeddingEntry | null> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(this.fileOf(key));
    } catch {
      return null;
    }
    try {
      return await decodeEntry(bytes, key);
    } catch {
      // Corrupt (a disk error, a foreign file): drop it so it is recomputed and rewritten.
      await rm(this.fileOf(key), { force: true });
      return null;
    }
  }

  async put(key: string, entry: EmbeddingEntry): Promise<void> {
    await this.putEncoded(key, await encodeEntry(key, entry));
  }

  /** Stores an already encoded entry (encodeEntry's bytes). */
  async putEncoded(key: string, bytes: Uint8Array): Promise<void> {
    const file = this.fileOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, bytes);
  }
}

/** Writes a file so that it is either absent, the old content, or the new content: never partial. */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes, { flush: true });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
