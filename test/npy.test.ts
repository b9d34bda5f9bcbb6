import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DataError, FormatError, ShapeError } from '../src/errors.js';
import { float16ToFloat32, int64ToInt32, readNpy, writeNpy, type NpyArray, type NpyWritable } from '../src/io/npy.js';
import { GOLDEN_KERNELS_DIR, loadGoldenCases, loadGoldenManifest, type GoldenTensor } from './golden.js';

// Files numpy wrote (tools/golden/npy_samples.py), with their expected contents in expected.json.
const NPY_SAMPLES_DIR = fileURLToPath(new URL('./fixtures/npy/', import.meta.url));
type JsonNumber = number | string | boolean;
const expected = JSON.parse(readFileSync(NPY_SAMPLES_DIR + 'expected.json', 'utf8')).files as Record<
  string,
  { descr: string; shape: number[]; values: JsonNumber[]; bits?: number[] }
>;

const DTYPE_OF_DESCR: Record<string, NpyArray['dtype']> = {
  '<f4': 'float32', '<f8': 'float64', '<f2': 'float16', '<i8': 'int64', '<i4': 'int32', '<i2': 'int16',
  '|i1': 'int8', '<u2': 'uint16', '|u1': 'uint8', '|b1': 'bool',
};

function readSample(file: string): NpyArray {
  return readNpy(readFileSync(NPY_SAMPLES_DIR + file));
}

/** expected.json spells inf, nan and int64 beyond 2^53 as strings; booleans as true/false. */
function asNumber(value: JsonNumber): number {
  if (typeof value === 'boolean') return value ? 1 : 0;
  return typeof value === 'string' ? Number(value.replace('inf', 'Infinity').replace('nan', 'NaN')) : value;
}

describe('readNpy on files numpy wrote', () => {
  for (const [file, want] of Object.entries(expected)) {
    it(`${file} (${want.descr}, shape [${want.shape}])`, () => {
      const array = readSample(file);
      expect(array.dtype).toBe(DTYPE_OF_DESCR[want.descr]);
      expect(array.shape).toEqual(want.shape);
      expect(array.data.length).toBe(want.values.length);
      if (array.dtype === 'int64') {
        expect(Array.from(array.data)).toEqual(want.values.map((v) => BigInt(v as number | string)));
      } else if (array.dtype === 'float16') {
        expect(Array.from(array.data)).toEqual(want.bits);
        // toEqual tells -0 from 0 and treats NaN as equal to NaN, which is what is wanted here
        expect(Array.from(float16ToFloat32(array.data))).toEqual(want.values.map(asNumber));
      } else {
        expect(Array.from(array.data as ArrayLike<number>)).toEqual(want.values.map(asNumber));
      }
    });
  }

  it('reads the typed array each dtype promises', () => {
    expect(readSample('f4.npy').data).toBeInstanceOf(Float32Array);
    expect(readSample('f8.npy').data).toBeInstanceOf(Float64Array);
    expect(readSample('f2.npy').data).toBeInstanceOf(Uint16Array);
    expect(readSample('i8.npy').data).toBeInstanceOf(BigInt64Array);
    expect(readSample('i4.npy').data).toBeInstanceOf(Int32Array);
    expect(readSample('i2.npy').data).toBeInstanceOf(Int16Array);
    expect(readSample('i1.npy').data).toBeInstanceOf(Int8Array);
    expect(readSample('u2.npy').data).toBeInstanceOf(Uint16Array);
    expect(readSample('u1.npy').data).toBeInstanceOf(Uint8Array);
    expect(readSample('b1.npy').data).toBeInstanceOf(Uint8Array);
  });

  it('offers int64 as int32 when every value fits, and refuses when one does not', () => {
    const small = readSample('i8.npy');
    if (small.dtype !== 'int64') throw new Error('expected int64');
    expect(Array.from(int64ToInt32(small.data))).toEqual([0, -5, 2147483647, -2147483648]);
    const big = readSample('i8_big.npy');
    if (big.dtype !== 'int64') throw new Error('expected int64');
    expect(() => int64ToInt32(big.data)).toThrow(DataError);
    expect(() => int64ToInt32(big.data)).toThrow('1099511627776 at index 1 does not fit in int32');
  });

  it('reads a file that starts at an unaligned offset in its buffer', () => {
    const file = readFileSync(NPY_SAMPLES_DIR + 'f8.npy');
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 3);
    const array = readNpy(shifted.subarray(3));
    expect(Array.from(array.data as Float64Array)).toEqual(expected['f8.npy'].values);
  });

  it('copies only its own bytes out of a pooled Node Buffer', () => {
    const pooled = Buffer.from(readFileSync(NPY_SAMPLES_DIR + 'f4.npy')); // small Buffers share one large ArrayBuffer
    const array = readNpy(pooled);
    expect(array.data.length).toBe(24);
    expect(array.data.buffer.byteLength).toBe(24 * 4);
  });
});

describe('writeNpy', () => {
  const samples: [NpyWritable, number[], NpyArray['dtype']][] = [
    [new Float32Array([1.5, -2, 3.25, 0, -0, Infinity]), [2, 3], 'float32'],
    [new Int32Array([2147483647, -2147483648, 7]), [3], 'int32'],
    [new Uint8Array([0, 255, 128, 1]), [1, 4], 'uint8'],
    [new Int16Array([-32768, 32767]), [2, 1, 1], 'int16'],
    [new Float64Array([Math.PI]), [], 'float64'],
    [new Int8Array([-128, 127]), [2], 'int8'],
    [new BigInt64Array([-(2n ** 62n), 5n]), [2], 'int64'],
    [new Float32Array(0), [0, 3], 'float32'],
  ];
  for (const [data, shape, dtype] of samples) {
    it(`round-trips ${data.constructor.name} of shape [${shape}]`, () => {
      const bytes = writeNpy(data, shape);
      const headerLength = new DataView(bytes.buffer).getUint16(8, true);
      expect((10 + headerLength) % 64).toBe(0); // data aligned as numpy aligns it
      const back = readNpy(bytes);
      expect(back.dtype).toBe(dtype);
      expect(back.shape).toEqual(shape);
      expect(back.data).toEqual(data);
    });
  }

  it('writes byte for byte what numpy writes', () => {
    for (const file of ['f4.npy', 'i4.npy', 'u1.npy', 'i2.npy', 'scalar_f4.npy', 'empty_f4.npy']) {
      const original = new Uint8Array(readFileSync(NPY_SAMPLES_DIR + file));
      const array = readNpy(original);
      expect(writeNpy(array.data as NpyWritable, array.shape), file).toEqual(original);
    }
  });

  it('writes only the viewed part of a subarray', () => {
    const whole = new Float32Array([9, 1, 2, 3, 9]);
    const back = readNpy(writeNpy(whole.subarray(1, 4), [3]));
    expect(Array.from(back.data as Float32Array)).toEqual([1, 2, 3]);
  });

  it('refuses a shape that does not match the data', () => {
    expect(() => writeNpy(new Float32Array(6), [4, 2])).toThrow(ShapeError);
    expect(() => writeNpy(new Float32Array(6), [4, 2])).toThrow('holds 8 elements but the data has 6');
    expect(() => writeNpy(new Float32Array(2), [-1, -2])).toThrow('bad dimension -1');
  });
});

/** A .npy file with any header text and data, unpadded, for the error cases. */
function craftNpy(header: string, data = new Uint8Array(0), version: [number, number] = [1, 0]): Uint8Array {
  const preamble = version[0] === 1 ? 10 : 12;
  const out = new Uint8Array(preamble + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version[0], version[1]]);
  const view = new DataView(out.buffer);
  if (preamble === 10) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), preamble);
  out.set(data, preamble + header.length);
  return out;
}

const header = (descr: string, shape: string, fortran = 'False') =>
  `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }\n`;

describe('readNpy refuses broken files with a FormatError that says why', () => {
  const cases: [string, () => Uint8Array, string][] = [
    ['a bad magic string', () => new TextEncoder().encode('PK\x03\x04 not numpy at all'), 'magic'],
    ['a file shorter than the magic', () => new Uint8Array([0x93, 0x4e]), 'magic'],
    ['version 4.0', () => craftNpy(header('<f4', '(1,)'), new Uint8Array(4), [4, 0]), 'unsupported .npy version 4.0'],
    ['version 1.1', () => craftNpy(header('<f4', '(1,)'), new Uint8Array(4), [1, 1]), 'unsupported .npy version 1.1'],
    ['a header length past the end of the file', () => craftNpy(header('<f4', '(1,)')).subarray(0, 40), 'header claims'],
    ['an unterminated header dict', () => craftNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), "), 'header does not parse'],
    ['a header holding code', () => craftNpy("{'descr': __import__('os').system('true')}"), 'header does not parse'],
    ['a header that is not a dict', () => craftNpy("('<f4', False, (2,))"), 'not a dict'],
    ['a header missing shape', () => craftNpy("{'descr': '<f4', 'fortran_order': False}"), 'exactly the keys'],
    ['a negative dimension', () => craftNpy(header('<f4', '(2, -3)')), 'non-negative integers'],
    ['a complex dtype', () => craftNpy(header('<c8', '(1,)'), new Uint8Array(8)), "unsupported .npy dtype '<c8'"],
    ['a unicode string dtype', () => craftNpy(header('<U3', '(1,)'), new Uint8Array(12)), "unsupported .npy dtype '<U3'"],
    ['an object dtype', () => craftNpy(header('|O', '(1,)'), new Uint8Array(8)), "unsupported .npy dtype '|O'"],
    ['a structured dtype', () => craftNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"), 'structured dtypes'],
    ['big-endian float32', () => craftNpy(header('>f4', '(2,)'), new Uint8Array(8)), 'big-endian'],
    ['big-endian int64', () => craftNpy(header('>i8', '(1,)'), new Uint8Array(8)), 'big-endian'],
    ['fortran order', () => craftNpy(header('<f4', '(2, 2)', 'True'), new Uint8Array(16)), 'fortran_order True'],
    ['data shorter than the shape says', () => craftNpy(header('<f4', '(2, 3)'), new Uint8Array(20)), 'needs 24 bytes, but only 20'],
    // 10^12 elements: a reader that allocated from the header would try for 4 TB before noticing
    ['a shape far larger than the data', () => craftNpy(header('<f4', '(1000000, 1000000)'), new Uint8Array(16)), 'data truncated'],
    ['a shape past 2^53 elements', () => craftNpy(header('<f4', '(100000000, 100000000)')), 'claims more elements'],
    ['a dimension past 2^53', () => craftNpy(header('<f4', '(123456789012345678901,)')), 'too large'],
  ];
  for (const [what, makeFile, message] of cases) {
    it(what, () => {
      const file = makeFile();
      expect(() => readNpy(file)).toThrow(FormatError);
      expect(() => readNpy(file)).toThrow(message);
    });
  }

  it('accepts a handcrafted 2.0 header and one-byte types with any byte-order character', () => {
    const v2 = readNpy(craftNpy(header('<i2', '(2,)'), new Uint8Array([1, 0, 255, 255]), [2, 0]));
    expect(Array.from(v2.data as Int16Array)).toEqual([1, -1]);
    const u1 = readNpy(craftNpy(header('<u1', '(3,)'), new Uint8Array([1, 2, 3])));
    expect(u1.dtype).toBe('uint8');
  });
});

describe('golden kernel fixtures', () => {
  const manifest = loadGoldenManifest();

  it('lists files that all exist, float32 or int32', () => {
    expect(manifest.generator).toBe('tools/golden/kernels.py');
    expect(manifest.cases.length).toBeGreaterThan(100);
    for (const c of manifest.cases) {
      expect(Object.keys(c.outputs).length, c.name).toBeGreaterThan(0);
      for (const file of [...Object.values(c.inputs), ...Object.values(c.outputs)]) {
        expect(existsSync(GOLDEN_KERNELS_DIR + file), file).toBe(true);
      }
    }
  });

  const shapeOf = (t: GoldenTensor | undefined) => t?.shape;

  it('matmul tensors have the shapes their params imply', () => {
    const cases = loadGoldenCases('matmul');
    expect(cases.length).toBeGreaterThanOrEqual(12);
    for (const c of cases) {
      const p = c.params as { transA: boolean; transB: boolean; bias: boolean; residual: boolean; batch: number; M: number; N: number; K: number };
      expect(shapeOf(c.inputs.a), c.name).toEqual(p.transA ? [p.batch, p.K, p.M] : [p.batch, p.M, p.K]);
      expect(shapeOf(c.inputs.b), c.name).toEqual(p.transB ? [p.batch, p.N, p.K] : [p.batch, p.K, p.N]);
      expect(shapeOf(c.inputs.bias), c.name).toEqual(p.bias ? [p.N] : undefined);
      expect(shapeOf(c.inputs.residual), c.name).toEqual(p.residual ? [p.batch, p.M, p.N] : undefined);
      expect(shapeOf(c.outputs.out), c.name).toEqual([p.batch, p.M, p.N]);
      expect(c.outputs.out.dtype).toBe('float32');
    }
  });

  it('conv2d tensors have the shapes their params imply', () => {
    const cases = loadGoldenCases('conv2d');
    expect(cases.length).toBeGreaterThanOrEqual(9);
    for (const c of cases) {
      const p = c.params as { stride: number[]; padding: number[]; dilation: number[]; groups: number; bias: boolean };
      const [n, cIn, h, w] = c.inputs.x.shape;
      const [cOut, cInPerGroup, kh, kw] = c.inputs.w.shape;
      expect(cInPerGroup * p.groups, c.name).toBe(cIn);
      expect(cOut % p.groups, c.name).toBe(0);
      expect(shapeOf(c.inputs.b), c.name).toEqual(p.bias ? [cOut] : undefined);
      const outSize = (size: number, k: number, axis: number) =>
        Math.floor((size + 2 * p.padding[axis] - p.dilation[axis] * (k - 1) - 1) / p.stride[axis]) + 1;
      expect(c.outputs.out.shape, c.name).toEqual([n, cOut, outSize(h, kh, 0), outSize(w, kw, 1)]);
    }
  });

  it('conv_transpose2d tensors have the shapes their params imply', () => {
    for (const c of loadGoldenCases('conv_transpose2d')) {
      const p = c.params as { stride: number[]; padding: number[]; output_padding: number[]; bias: boolean };
      const [n, cIn, h, w] = c.inputs.x.shape;
      const [wIn, cOut, kh, kw] = c.inputs.w.shape;
      expect(wIn, c.name).toBe(cIn);
      expect(shapeOf(c.inputs.b), c.name).toEqual(p.bias ? [cOut] : undefined);
      const outSize = (size: number, k: number, axis: number) =>
        (size - 1) * p.stride[axis] - 2 * p.padding[axis] + (k - 1) + p.output_padding[axis] + 1;
      expect(c.outputs.out.shape, c.name).toEqual([n, cOut, outSize(h, kh, 0), outSize(w, kw, 1)]);
    }
  });

  it('stores integer tensors (argmax, embedding indices) as int32', () => {
    for (const c of loadGoldenCases('reduce')) {
      expect(c.outputs.out.dtype, c.name).toBe(c.params.fn === 'argmax' ? 'int32' : 'float32');
    }
    for (const c of loadGoldenCases('gather')) {
      expect(c.inputs.indices.dtype, c.name).toBe('int32');
      expect(c.outputs.out.shape, c.name).toEqual([...c.inputs.indices.shape, c.inputs.table.shape[1]]);
    }
  });

  it('names an unknown op instead of returning nothing', () => {
    expect(() => loadGoldenCases('no_such_op')).toThrow("no golden cases for op 'no_such_op'");
  });
});
