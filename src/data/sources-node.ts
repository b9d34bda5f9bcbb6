// Node-only file access for the dataset loaders (everything else in src/data works on bytes).
import { readFile, readdir, stat } from 'node:fs/promises';
import type { FileAccess } from './files.js';
import { loadDataset, type Dataset, type LoadOptions } from './spec.js';

export const nodeFileAccess: FileAccess = {
  async readFile(path) {
    const buffer = await readFile(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  },
  async listDir(path) {
    try {
      const entries = await readdir(path, { withFileTypes: true });
      const out = await Promise.all(
        entries.map(async (e) => ({
          name: e.name,
          // A symbolic link counts as what it points to (datasets are often linked in).
          isDirectory: e.isSymbolicLink() ? await stat(`${path}/${e.name}`).then((s) => s.isDirectory(), () => false) : e.isDirectory(),
        })),
      );
      return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw err;
    }
  },
  async exists(path) {
    try {
      await stat(path);
      return true;
    } catch {
      return false;
    }
  },
};

/** loadDataset with the local file system: what the CLI and Node scripts call. */
export function loadDatasetFromDisk(spec: string, options: Omit<LoadOptions, 'files'> = {}): Promise<Dataset> {
  return loadDataset(spec, { ...options, files: nodeFileAccess });
}
