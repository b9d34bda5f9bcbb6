// Seeded, bounded fuzzing of every reader (scripts/fuzz-readers.mjs runs the same harness longer),
// and regression tests for what it found, each with the exact mutated bytes (test/fixtures/fuzz/).
import { readFileSync } from 'node:fs';
import { deflateRawSync, deflateSync, constants as zlibConstants } from 'node:zlib';
import { gzipSync } from 'fflate';
import { encode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { readNifti } from '../../src/io/nifti.js';
import { writeNifti } from '../../src/io/nifti-write.js';
import { readOnnx } from '../../src/io/onnx.js';
import { readPng } from '../../src/io/png.js';
import { formatReport, fuzz, fuzzTargets, mutate } from './fuzz-harness.js';

const CASES_PER_READER = 500;
const SEED = 1;

const fuzzFixture = (name: string) => new Uint8Array(readFileSync(new URL(`../fixtures/fuzz/${name}`, import.meta.url)));

/** Runs `read`, expecting a FormatError matching `message` within `ms` milliseconds. */
function expectRefusedQuickly(read: () => unknown, message: RegExp, ms = 1000): void {
  const t0 = performance.now();
  let error: unknown;
  try {
    read();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(FormatError);
  expect((error as Error).message).toMatch(message);
  expect(performance.now() - t0).toBeLessThan(ms);
}

describe('fuzzing every reader', () => {
  it('mutations are reproducible from their seed', () => {
    const input = new Uint8Array(100).map((_, i) => i);
    expect(mutate(input, 42)).toEqual(mutate(input, 42));
  });

  for (const target of fuzzTargets()) {
    it(`${target.name}: ${CASES_PER_READER} mutated files end in a result or a FormatError, each within the time bound`, () => {
      const report = fuzz(target, CASES_PER_READER, SEED);
      console.log(formatReport(report));
      expect(report.failures).toEqual([]);
      expect(report.accepted + report.refused).toBe(CASES_PER_READER);
      expect(report.refused).toBeGreaterThan(0);
    });
  }
});

describe('what the fuzzing found', () => {
  const volume = () =>
    writeNifti({ data: Uint8Array.from({ length: 6 * 5 * 4 }, (_, i) => i % 3), dims: [6, 5, 4], pixdim: [1, 1, 1], affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] });

  it('NIfTI-2 with an unsupported datatype: FormatError, not the library TypeError (case seed 1000133: datatype = 540)', () => {
    // nifti-reader-js's NIFTI2.getDatatypeCodeString is undefined; the message used to call it.
    expectRefusedQuickly(() => readNifti(fuzzFixture('nifti2-datatype-540.nii')), /unsupported NIfTI datatype code 540/);
  });

  it('NIfTI vox_offset NaN: FormatError, not an empty volume', () => {
    const bytes = volume();
    new DataView(bytes.buffer).setFloat32(108, NaN, true);
    expectRefusedQuickly(() => readNifti(bytes), /vox_offset NaN/);
  });

  it('.nii.gz: the gzip trailer ISIZE is not trusted (0xffffffff used to size the output buffer)', () => {
    const gz = gzipSync(volume());
    new DataView(gz.buffer).setUint32(gz.length - 4, 0xffffffff, true);
    expect(Array.from(readNifti(gz).header.dims)).toEqual([6, 5, 4]);
  });

  it('.nii.gz: a stream that inflates to a gigabyte behind a small header stops at the header size plus a margin', () => {
    // One 16 MiB run of zeros as a byte-aligned, non-final deflate block; 64 copies make 1 GiB from about 1 MiB.
    const head = deflateRawSync(volume(), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    const zeros = deflateRawSync(new Uint8Array(16 << 20), { level: 9, finishFlush: zlibConstants.Z_SYNC_FLUSH });
    const parts = [new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]), head, ...Array(64).fill(zeros), new Uint8Array([3, 0]), new Uint8Array(8)];
    const bomb = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (bomb.set(p, at), at + p.length), 0);
    expectRefusedQuickly(() => readNifti(bomb), /gzip data inflates to more than \d+ bytes/);
  });

  it('.nii.gz: a header claiming more than the gzip stream can hold is refused before inflating', () => {
    const plain = volume();
    new DataView(plain.buffer).setInt16(42, 30000, true); // dim[1]: 30000 x 5 x 4 from a 300-byte stream
    expectRefusedQuickly(() => readNifti(gzipSync(plain)), /more than \d+ bytes of gzip data can hold/);
  });

  it('PNG IHDR claiming 2^31 x 1 pixels: FormatError at once, not a 15 GB decode (case seed 1000117)', () => {
    expectRefusedQuickly(() => readPng(fuzzFixture('png-ihdr-width-2gib.png')), /bad PNG size 2147483648x1/);
  });

  it('PNG IHDR claiming far more pixels than the IDAT data can hold: FormatError before fast-png allocates', () => {
    const png = encode({ width: 4, height: 4, data: new Uint8Array(16), channels: 1, depth: 8 });
    const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
    view.setUint32(16, 20000);
    view.setUint32(20, 20000);
    view.setUint32(29, crc32(png.subarray(12, 29)));
    expectRefusedQuickly(() => readPng(png), /more than \d+ bytes of IDAT can hold/);
  });

  it('PNG whose IDAT inflates far past what IHDR describes: refused by the capped inflate', () => {
    const idat = deflateSync(new Uint8Array(16 << 20), { level: 9 });
    const chunk = (type: string, data: Uint8Array) => {
      const out = new Uint8Array(12 + data.length);
      const view = new DataView(out.buffer);
      view.setUint32(0, data.length);
      for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
      out.set(data, 8);
      view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
      return out;
    };
    const ihdr = new Uint8Array([0, 0, 0, 13, 0, 0, 0, 9, 8, 0, 0, 0, 0]); // 13 x 9 grey, 8 bits
    const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
    const png = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (png.set(p, at), at + p.length), 0);
    expectRefusedQuickly(() => readPng(png), /image data inflates to more than the 126 bytes/);
  });

  it('ONNX STRING attribute whose bytes field is absent: reads as an empty string, not a TypeError (case seed 1000686)', () => {
    // The mutation overwrote the tag of `s`; protobufjs then gives the field its default, an empty plain array.
    const model = readOnnx(fuzzFixture('onnx-string-attribute-without-s.onnx'));
    expect(model.graph.nodes.find((n) => n.opType === 'Add')!.attributes.mode).toBe('');
  });
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
