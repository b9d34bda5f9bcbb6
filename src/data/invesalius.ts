// InVesalius 3 projects (.inv3): a gzipped tar holding main.plist, matrix.dat (the CT as a raw
// numpy array, shape [Z, Y, X]) and mask_N.dat / mask_N.plist. Each mask array is one larger along
// every axis: InVesalius keeps a flag plane at index 0 of each axis, so the voxels are [1:, 1:, 1:].
import { FormatError } from '../errors.js';
import { gunzip, isGzip } from '../io/nifti.js';
import { parsePlist, type PlistValue } from './plist.js';
import { readTar } from './tar.js';
import type { ImageVolume, Vec3 } from './volume.js';

export interface InvesaliusMask {
  name: string;
  /** The HU range InVesalius thresholded to make the mask. */
  thresholdRange: [number, number];
  /** 1 inside, 0 outside, on the image grid (flag planes removed). */
  data: Uint8Array;
}

export interface InvesaliusProject {
  name: string;
  modality: string;
  /** CT in Hounsfield units; dims [X, Y, Z], affine = diag(spacing) (the project stores no orientation). */
  image: ImageVolume;
  masks: InvesaliusMask[];
}

type Dict = { [key: string]: PlistValue };

export function readInvesaliusProject(bytes: Uint8Array, source = 'InVesalius project'): InvesaliusProject {
  const tar = readTar(isGzip(bytes) ? gunzip(bytes, source) : bytes, source);
  const byBaseName = new Map<string, Uint8Array>();
  for (const [path, body] of tar) byBaseName.set(path.split('/').pop() ?? path, body);
  const file = (name: string): Uint8Array => {
    const body = byBaseName.get(name);
    if (!body) throw new FormatError(`${source}: '${name}' missing from the archive`);
    return body;
  };
  const plist = (name: string): Dict => {
    const value = parsePlist(new TextDecoder().decode(file(name)), `${source}/${name}`);
    if (typeof value !== 'object' || Array.isArray(value)) throw new FormatError(`${source}/${name}: not a dictionary`);
    return value;
  };

  const main = plist('main.plist');
  const matrix = main.matrix as Dict | undefined;
  const shape = numbers(matrix?.shape, 3, `${source}: main.plist matrix.shape`); // [Z, Y, X]
  const spacingXYZ = numbers(main.spacing, 3, `${source}: main.plist spacing`) as Vec3;
  if (matrix?.dtype !== 'int16') throw new FormatError(`${source}: matrix dtype '${String(matrix?.dtype)}', expected int16`);
  const dims: Vec3 = [shape[2], shape[1], shape[0]];
  const count = dims[0] * dims[1] * dims[2];
  const raw = file(String(matrix.filename ?? 'matrix.dat'));
  if (raw.length !== count * 2) throw new FormatError(`${source}: matrix.dat has ${raw.length} bytes, shape ${shape.join('x')} int16 needs ${count * 2}`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const hu = new Float32Array(count);
  for (let i = 0; i < count; i++) hu[i] = view.getInt16(2 * i, true); // numpy on x86: little-endian

  const maskEntries = (main.masks ?? {}) as Dict;
  const masks = Object.keys(maskEntries)
    .sort((a, b) => Number(a) - Number(b))
    .map((key) => readMask(plist(String(maskEntries[key])), file, dims, source));

  const [sx, sy, sz] = spacingXYZ;
  return {
    name: String(main.name ?? ''),
    modality: String(main.modality ?? ''),
    image: { data: hu, dims, spacing: [sx, sy, sz], affine: [sx, 0, 0, 0, 0, sy, 0, 0, 0, 0, sz, 0, 0, 0, 0, 1] },
    masks,
  };
}

function readMask(info: Dict, file: (name: string) => Uint8Array, dims: Vec3, source: string): InvesaliusMask {
  const [X, Y, Z] = dims;
  const shape = numbers(info.mask_shape, 3, `${source}: mask_shape`);
  if (shape[0] !== Z + 1 || shape[1] !== Y + 1 || shape[2] !== X + 1) {
    throw new FormatError(`${source}: mask shape ${shape.join('x')} does not match image ${Z}x${Y}x${X} plus one flag plane per axis`);
  }
  const raw = file(String(info.mask_file));
  const [mz, my, mx] = shape;
  if (raw.length !== mz * my * mx) throw new FormatError(`${source}: ${String(info.mask_file)} has ${raw.length} bytes, expected ${mz * my * mx}`);
  const data = new Uint8Array(X * Y * Z);
  for (let z = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      const from = ((z + 1) * my + (y + 1)) * mx + 1;
      const to = (z * Y + y) * X;
      for (let x = 0; x < X; x++) data[to + x] = raw[from + x] > 127 ? 1 : 0; // 255 = inside
    }
  }
  const range = numbers(info.threshold_range, 2, `${source}: threshold_range`);
  return { name: String(info.name ?? ''), thresholdRange: [range[0], range[1]], data };
}

function numbers(value: PlistValue | undefined, length: number, what: string): number[] {
  if (!Array.isArray(value) || value.length !== length || value.some((v) => typeof v !== 'number')) {
    throw new FormatError(`${what}: expected ${length} numbers`);
  }
  return value as number[];
}
