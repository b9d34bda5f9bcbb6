// PNG images and label masks (the second format beside NIfTI), decoded with fast-png from bytes.
import { decode, encode, hasPngSignature, type DecodedPng } from 'fast-png';
import { DataError, FormatError } from '../errors.js';

export function readPng(bytes: Uint8Array, source = 'PNG data'): DecodedPng {
  if (!hasPngSignature(bytes)) throw new FormatError(`${source}: not a PNG file`);
  try {
    return decode(bytes, { checkCrc: true });
  } catch (err) {
    throw new FormatError(`${source}: unreadable PNG (${(err as Error).message})`, { cause: err });
  }
}

/** Grey values (row-major, height x width) of any PNG: luminance (Rec. 601) for colour, alpha ignored. */
export function pngToGrey(png: DecodedPng): Float32Array {
  const { width, height, data, channels } = png;
  const out = new Float32Array(width * height);
  if (png.palette) {
    for (let i = 0; i < out.length; i++) {
      const [r, g, b] = png.palette[data[i]] ?? [0, 0, 0];
      out[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    }
    return out;
  }
  const colour = channels >= 3;
  for (let i = 0; i < out.length; i++) {
    const p = i * channels;
    out[i] = colour ? 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2] : data[p];
  }
  return out;
}

/**
 * Label values of a mask PNG: the palette index for indexed PNGs, else the grey value.
 * Colour masks are accepted only when R = G = B; a colour code per class is not guessed.
 */
export function pngToLabels(png: DecodedPng, source = 'PNG mask'): Uint8Array | Int16Array {
  const { width, height, data, channels } = png;
  const n = width * height;
  if (png.palette) return Uint8Array.from(data.subarray(0, n));
  const wide = png.depth === 16;
  const out = wide ? new Int16Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = i * channels;
    const v = data[p];
    if (channels >= 3 && (data[p + 1] !== v || data[p + 2] !== v)) {
      throw new DataError(`${source}: colour mask (pixel ${i % width},${Math.floor(i / width)} is ${data[p]},${data[p + 1]},${data[p + 2]}); save label masks as grey or indexed PNG`);
    }
    if (v > 32767) throw new DataError(`${source}: label value ${v} does not fit int16`);
    out[i] = v;
  }
  return out;
}

/** Encodes an 8-bit grey image or label mask (row-major, height x width). */
export function writeGreyPng(data: Uint8Array, width: number, height: number): Uint8Array {
  if (data.length !== width * height) throw new DataError(`PNG ${width}x${height} needs ${width * height} values, got ${data.length}`);
  return encode({ width, height, data, channels: 1, depth: 8 });
}
