// Sub-byte PNGs (1, 2, 4 bits per sample) decode to one value per pixel, not packed bits.
import { describe, expect, it } from 'vitest';
import { zlibSync } from 'fflate';
import { pngToGrey, pngToLabels, readPng } from '../../src/io/png.js';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** A grey PNG of `depth` bits from raw sample values, written by hand (fast-png encodes 8 and 16 bits only). */
function greyPng(width: number, height: number, depth: number, samples: number[]): Uint8Array {
  const rowBytes = Math.ceil((width * depth) / 8);
  const raw = new Uint8Array(height * (1 + rowBytes));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      raw[y * (1 + rowBytes) + 1 + (bit >> 3)] |= samples[y * width + x] << (8 - depth - (bit & 7));
    }
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([depth, 0, 0, 0, 0], 8);
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlibSync(raw)), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

describe('PNG bit depths below 8', () => {
  for (const depth of [1, 2, 4]) {
    it(`${depth}-bit grey masks read as one label per pixel`, () => {
      const [w, h] = [5, 3]; // 5 samples per row: rows end mid-byte
      const samples = Array.from({ length: w * h }, (_, i) => (i * 7) % (1 << depth));
      const png = readPng(greyPng(w, h, depth, samples));
      expect(Array.from(pngToLabels(png))).toEqual(samples);
      expect(Array.from(pngToGrey(png))).toEqual(samples);
    });
  }
});
