// The file access the dataset loaders need, as an interface: Node implements it with node:fs
// (sources-node.ts); a browser can implement it over dropped files or the File System Access API.

export interface DirEntry {
  name: string;
  isDirectory: boolean;
}

export interface FileAccess {
  readFile(path: string): Promise<Uint8Array>;
  /** Entries of a directory, or null when it does not exist. */
  listDir(path: string): Promise<DirEntry[] | null>;
  exists(path: string): Promise<boolean>;
}

/** Joins path parts with '/', which Node accepts on every platform and browsers use natively. */
export function joinPath(...parts: string[]): string {
  return parts
    .filter((p) => p !== '')
    .map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, '')))
    .join('/');
}

/** File name without .nii.gz / .nii / .png. */
export function stripImageExtension(name: string): string {
  return name.replace(/\.(nii\.gz|nii|png)$/i, '');
}

export function imageFormat(name: string): 'nifti' | 'png' | null {
  if (/\.(nii|nii\.gz)$/i.test(name)) return 'nifti';
  if (/\.png$/i.test(name)) return 'png';
  return null;
}
