// The embedding cache in a browser: IndexedDB, one record per content-addressed key (see
// src/train/embedding-cache.ts), holding the entry bytes of encodeEntry. Entries carry their own
// checksum, so a record cut short or damaged reads as a miss and is recomputed, never as numbers.
// Works in a page and in a dedicated worker (the app embeds in its worker).
import { decodeEntry, encodeEntry, type EmbeddingEntry, type EmbeddingStore } from '../train/embedding-cache.js';

const DB_NAME = 'autosam-embeddings';
const STORE = 'entries';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDatabase(name: string): Promise<IDBDatabase> {
  const req = indexedDB.open(name, 1);
  req.onupgradeneeded = () => {
    if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
  };
  return request(req);
}

export class IndexedDbEmbeddingStore implements EmbeddingStore {
  readonly where: string;
  private constructor(private readonly db: IDBDatabase, name: string) {
    this.where = `IndexedDB '${name}'`;
  }

  static async open(name = DB_NAME): Promise<IndexedDbEmbeddingStore> {
    if (typeof indexedDB === 'undefined') throw new Error('IndexedDB is not available in this context');
    return new IndexedDbEmbeddingStore(await openDatabase(name), name);
  }

  async get(key: string): Promise<EmbeddingEntry | null> {
    const bytes = await request(this.db.transaction(STORE, 'readonly').objectStore(STORE).get(key)) as ArrayBuffer | undefined;
    if (!(bytes instanceof ArrayBuffer)) return null;
    try {
      return await decodeEntry(new Uint8Array(bytes), key);
    } catch {
      return null; // damaged: recomputed and overwritten by the caller's put
    }
  }

  async put(key: string, entry: EmbeddingEntry): Promise<void> {
    const bytes = await encodeEntry(key, entry);
    // One put in one transaction: IndexedDB commits it whole or not at all, so no torn record.
    const tx = this.db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).put(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), key);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  }

  /** Number of entries (for the UI; counting does not read them). */
  count(): Promise<number> {
    return request(this.db.transaction(STORE, 'readonly').objectStore(STORE).count());
  }

  async clear(): Promise<void> {
    const tx = this.db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).clear();
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  }

  close(): void {
    this.db.close();
  }
}
