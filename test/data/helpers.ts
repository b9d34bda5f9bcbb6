// Shared helpers for the data tests: temp dirs and small synthetic volumes.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ImageVolume, LabelVolume, Vec3 } from '../../src/data/volume.js';

export function tempDir(prefix = 'autosam-data-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeFile(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

const AFFINE_1MM = (spacing: Vec3): number[] => [spacing[0], 0, 0, -10, 0, spacing[1], 0, 20, 0, 0, spacing[2], -30, 0, 0, 0, 1];

export function imageVolume(dims: Vec3, spacing: Vec3 = [1.5, 1.5, 10], fn = (x: number, y: number, z: number) => x + 10 * y + 100 * z): ImageVolume {
  const data = new Float32Array(dims[0] * dims[1] * dims[2]);
  for (let z = 0, i = 0; z < dims[2]; z++) for (let y = 0; y < dims[1]; y++) for (let x = 0; x < dims[0]; x++, i++) data[i] = fn(x, y, z);
  return { data, dims, spacing, affine: AFFINE_1MM(spacing) };
}

/** Labels 0..classes-1 as blocks: class = (x * classes) / X floor, so every class shows up. */
export function labelVolume(dims: Vec3, classes: number, spacing: Vec3 = [1.5, 1.5, 10]): LabelVolume {
  const data = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (let z = 0, i = 0; z < dims[2]; z++) for (let y = 0; y < dims[1]; y++) for (let x = 0; x < dims[0]; x++, i++) data[i] = Math.floor((x * classes) / dims[0]);
  return { data, dims, spacing, affine: AFFINE_1MM(spacing) };
}
