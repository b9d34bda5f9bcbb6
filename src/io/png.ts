// PNG images and label masks (the second format beside NIfTI), decoded with fast-png from bytes.
// fast-png sizes its output by IHDR alone and inflates without a limit, so the chunks are checked
// here first: IHDR against the spec and against what the IDAT data can hold, and every
// compressed stream inflated once with a cap before fast-png sees it.
import { Unzlib } from 'fflate';
import { decode, encode, hasPngSignature, type DecodedPng } from 'fast-png';
import { DataError, FormatError } from '../errors.js';

/** The most decoded pixel data a PNG may claim (a 16k x 16k RGBA image). */
export const MAX_PNG_DECODED_BYTES = 2 ** 30;
/** The most an embedded ICC profile may inflate to (real ones are a few KiB to a few hundred). */
const MAX_ICC_PROFILE_BYTES = 16 << 20;
/** DEFLATE at its best codes 258 bytes in 2 bits. */
const MAX_DEFLATE_RATIO = 1032;

/** Bit depths the PNG spec allows for each colour type, and the channels of each. */
const COLOUR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, depths: [8, 16] },
  3: { channels: 1, depths: [1, 2, 4, 8] },
  4: { channels: 2, depths: [8, 16] },
  6: { channels: 4, depths: [8, 16] },
};

export function readPng(bytes: Uint8Array, source = 'PNG data'): DecodedPng {
  if (!hasPngSignature(bytes)) throw new FormatError(`${source}: not a PNG file`);
  const { interlaced } = checkPngChunks(bytes, source);
  let png: DecodedPng;
  try {
    png = decode(bytes, { checkCrc: true });
  } catch (err) {
    throw new FormatError(`${source}: unreadable PNG (${(err as Error).message})`, { cause: err });
  }
  // Adam7 output already has whole bytes per pixel.
  return png.depth < 8 && !interlaced ? unpackSubByteSamples(png) : png;
}

/**
 * fast-png returns 1-, 2- and 4-bit rows packed (each row padded to a byte); everything downstream
 * reads one sample per byte, so spread them out, keeping the raw sample values (grey level or palette index).
 */
function unpackSubByteSamples(png: DecodedPng): DecodedPng {
  const { width, height, depth } = png;
  const packed = png.data as Uint8Array;
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = packed[y * rowBytes + (bit >> 3)];
      out[y * width + x] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return { ...png, data: out, depth: 8 };
}

/** Walks the chunks, checks IHDR and inflates IDAT (and iCCP) with caps; throws FormatError on any problem. */
function checkPngChunks(bytes: Uint8Array, source: string): { interlaced: boolean } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idat: Uint8Array[] = [];
  let ihdr: { width: number; height: number; depth: number; channels: number; interlaced: boolean } | null = null;
  let ended = false;
  for (let pos = 8; !ended; ) {
    if (pos + 12 > bytes.length) throw new FormatError(`${source}: truncated PNG (no IEND chunk)`);
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const body = pos + 8;
    if (length > bytes.length - body - 4) throw new FormatError(`${source}: PNG chunk '${type}' claims ${length} bytes, beyond the end of the file`);
    const data = bytes.subarray(body, body + length);
    if (!ihdr && type !== 'IHDR') throw new FormatError(`${source}: PNG does not start with an IHDR chunk`);
    if (type === 'IHDR') ihdr = parseIhdr(data, view, body, source);
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'iCCP') inflateCappedZlib([data.subarray(data.indexOf(0) + 2)], MAX_ICC_PROFILE_BYTES, `${source}: iCCP profile`);
    else if (type === 'IEND') ended = true;
    pos = body + length + 4;
  }
  const { width, height, depth, channels, interlaced } = ihdr!;
  const bytesPerPixel = Math.ceil(depth / 8) * channels;
  // fast-png's output: packed rows, or (Adam7) whole bytes per pixel.
  const decoded = height * (interlaced ? width * bytesPerPixel : Math.ceil((depth * channels * width) / 8));
  if (decoded > MAX_PNG_DECODED_BYTES) {
    throw new FormatError(`${source}: a ${width}x${height} PNG (${decoded} bytes decoded) is larger than the ${MAX_PNG_DECODED_BYTES} bytes this reader accepts`);
  }
  const filtered = filteredImageBytes(width, height, depth * channels, interlaced);
  const compressed = idat.reduce((n, c) => n + c.length, 0);
  if (filtered > MAX_DEFLATE_RATIO * compressed + 1024) {
    throw new FormatError(`${source}: IHDR says ${width}x${height}, ${filtered} bytes of image data, more than ${compressed} bytes of IDAT can hold`);
  }
  const inflated = inflateCappedZlib(idat, filtered, `${source}: image data`);
  if (inflated < filtered) throw new FormatError(`${source}: truncated image data (${inflated} of the ${filtered} bytes a ${width}x${height} PNG needs)`);
  return { interlaced };
}

function parseIhdr(data: Uint8Array, view: DataView, at: number, source: string) {
  if (data.length !== 13) throw new FormatError(`${source}: IHDR chunk of ${data.length} bytes, expected 13`);
  const width = view.getUint32(at);
  const height = view.getUint32(at + 4);
  const [depth, colourType, compression, filter, interlace] = data.subarray(8, 13);
  const colour = COLOUR_TYPES[colourType];
  if (width === 0 || height === 0 || width > 2 ** 31 - 1 || height > 2 ** 31 - 1) throw new FormatError(`${source}: bad PNG size ${width}x${height}`);
  if (!colour || !colour.depths.includes(depth)) throw new FormatError(`${source}: bad PNG colour type ${colourType} with bit depth ${depth}`);
  if (compression !== 0 || filter !== 0 || interlace > 1) throw new FormatError(`${source}: unknown PNG compression, filter or interlace method (${compression}, ${filter}, ${interlace})`);
  return { width, height, depth, channels: colour.channels, interlaced: interlace === 1 };
}

/** Bytes of filtered scanlines (a filter byte per row) the IDAT stream must inflate to. */
function filteredImageBytes(width: number, height: number, bitsPerPixel: number, interlaced: boolean): number {
  const rows = (w: number, h: number) => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bitsPerPixel) / 8)) : 0);
  if (!interlaced) return rows(width, height);
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
  return passes.reduce((n, [x, y, dx, dy]) => n + rows(Math.ceil((width - x) / dx), Math.ceil((height - y) / dy)), 0);
}

/** Inflates zlib data pushed in pieces, counting bytes; more than `cap` (plus slack for padding) is a FormatError. */
function inflateCappedZlib(pieces: Uint8Array[], cap: number, what: string): number {
  const slack = 1024 + (cap >> 4);
  let total = 0;
  const inflater = new Unzlib((chunk) => {
    total += chunk.length;
    if (total > cap + slack) throw new FormatError(`${what} inflates to more than the ${cap} bytes it should hold`);
  });
  try {
    for (const piece of pieces) {
      // Small steps, so no single push can inflate far past the cap.
      for (let at = 0; at < piece.length; at += 16384) inflater.push(piece.subarray(at, at + 16384), false);
    }
    inflater.push(new Uint8Array(0), true);
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FormatError(`${what} is corrupt (${(err as Error).message})`, { cause: err });
  }
  return total;
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
