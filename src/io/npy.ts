// NumPy .npy files (format versions 1.0, 2.0 and 3.0), read and written without numpy or Node APIs:
// the reader takes a Uint8Array, so the same code runs in a browser.
// Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//   magic "\x93NUMPY", major, minor, header length (u16 in 1.0, u32 in 2.0/3.0), then a Python dict
//   literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces
//   and a newline, then the raw little-endian elements in C order.
// Typed arrays use the host byte order; every WebGPU host (x86, ARM) is little-endian, as is the data.

import { DataError, FormatError, ShapeError } from '../errors.js';
import { halfBitsToFloat } from '../tensor/dtype.js';

export type NpyArray =
  | { dtype: 'float32'; shape: number[]; data: Float32Array }
  | { dtype: 'float64'; shape: number[]; data: Float64Array }
  /** Raw IEEE half bits; convert with float16ToFloat32. */
  | { dtype: 'float16'; shape: number[]; data: Uint16Array }
  | { dtype: 'int64'; shape: number[]; data: BigInt64Array }
  | { dtype: 'int32'; shape: number[]; data: Int32Array }
  | { dtype: 'int16'; shape: number[]; data: Int16Array }
  | { dtype: 'int8'; shape: number[]; data: Int8Array }
  | { dtype: 'uint16'; shape: number[]; data: Uint16Array }
  | { dtype: 'uint8'; shape: number[]; data: Uint8Array }
  /** One byte per element, 0 or 1. */
  | { dtype: 'bool'; shape: number[]; data: Uint8Array };

export type NpyDtype = NpyArray['dtype'];

/** Typed arrays writeNpy accepts, each with one unambiguous numpy dtype. */
export type NpyWritable = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array;

interface DtypeInfo {
  dtype: NpyDtype;
  bytesPerElement: number;
  view: (buffer: ArrayBuffer) => NpyArray['data'];
}

// Keyed by kind and size: the byte-order character is checked separately.
const DTYPES: Record<string, DtypeInfo> = {
  f4: { dtype: 'float32', bytesPerElement: 4, view: (b) => new Float32Array(b) },
  f8: { dtype: 'float64', bytesPerElement: 8, view: (b) => new Float64Array(b) },
  f2: { dtype: 'float16', bytesPerElement: 2, view: (b) => new Uint16Array(b) },
  i8: { dtype: 'int64', bytesPerElement: 8, view: (b) => new BigInt64Array(b) },
  i4: { dtype: 'int32', bytesPerElement: 4, view: (b) => new Int32Array(b) },
  i2: { dtype: 'int16', bytesPerElement: 2, view: (b) => new Int16Array(b) },
  i1: { dtype: 'int8', bytesPerElement: 1, view: (b) => new Int8Array(b) },
  u2: { dtype: 'uint16', bytesPerElement: 2, view: (b) => new Uint16Array(b) },
  u1: { dtype: 'uint8', bytesPerElement: 1, view: (b) => new Uint8Array(b) },
  b1: { dtype: 'bool', bytesPerElement: 1, view: (b) => new Uint8Array(b) },
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const PREAMBLE_V1 = 10; // magic, 2 version bytes, u16 header length
const PREAMBLE_V2 = 12; // magic, 2 version bytes, u32 header length
const HEADER_ALIGN = 64; // numpy pads so the data starts on a 64-byte boundary
// A plain array's header is under 200 bytes; np.load itself refuses headers over 10000 by default.
const MAX_HEADER_BYTES = 1 << 20;

export function readNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < PREAMBLE_V1 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new FormatError('not a .npy file: missing the "\\x93NUMPY" magic string');
  }
  const major = bytes[6];
  const minor = bytes[7];
  if ((major !== 1 && major !== 2 && major !== 3) || minor !== 0) {
    throw new FormatError(`unsupported .npy version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const preamble = major === 1 ? PREAMBLE_V1 : PREAMBLE_V2;
  if (bytes.length < preamble) throw new FormatError('.npy file truncated inside its preamble');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = preamble + headerLength;
  if (dataStart > bytes.length) {
    throw new FormatError(`.npy header claims ${headerLength} bytes but the file has only ${bytes.length - preamble} after the preamble`);
  }
  if (headerLength > MAX_HEADER_BYTES) {
    throw new FormatError(`.npy header of ${headerLength} bytes is larger than the ${MAX_HEADER_BYTES} this reader accepts`);
  }
  const headerBytes = bytes.subarray(preamble, dataStart);
  // 1.0 and 2.0 headers are latin-1; 3.0 allows UTF-8 (field names in structured dtypes).
  const headerText = major === 3 ? decodeUtf8(headerBytes) : decodeLatin1(headerBytes);
  const header = parseHeader(headerText);

  const count = checkedElementCount(header.shape);
  const byteLength = count * header.info.bytesPerElement;
  if (!Number.isSafeInteger(byteLength) || byteLength > bytes.length - dataStart) {
    throw new FormatError(
      `.npy data truncated: shape (${header.shape.join(', ')}) of ${header.descr} needs ${byteLength} bytes, ` +
        `but only ${bytes.length - dataStart} follow the header`,
    );
  }
  // Copy into a buffer of its own: the source may sit at an offset a typed array cannot be aligned on.
  // (Not bytes.slice(): on a Node Buffer that is a view into a shared pool, not a copy.)
  // Trailing bytes are ignored, as np.load does (several arrays may be saved into one stream).
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(dataStart, dataStart + byteLength));
  return { dtype: header.info.dtype, shape: header.shape, data: header.info.view(copy.buffer) } as NpyArray;
}

/** Writes a C-order little-endian .npy file (version 1.0, or 2.0 if the header would not fit). */
export function writeNpy(data: NpyWritable, shape: readonly number[]): Uint8Array {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ShapeError(`writeNpy: bad dimension ${d} in shape [${shape.join(', ')}]`);
  }
  const count = shape.reduce((n, d) => n * d, 1);
  if (count !== data.length) {
    throw new ShapeError(`writeNpy: shape [${shape.join(', ')}] holds ${count} elements but the data has ${data.length}`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descrOf(data)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let preamble = PREAMBLE_V1;
  let padded = padHeader(dict, preamble);
  if (padded.length > 0xffff) {
    preamble = PREAMBLE_V2;
    padded = padHeader(dict, preamble);
  }
  const out = new Uint8Array(preamble + padded.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = preamble === PREAMBLE_V1 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (preamble === PREAMBLE_V1) view.setUint16(8, padded.length, true);
  else view.setUint32(8, padded.length, true);
  for (let i = 0; i < padded.length; i++) out[preamble + i] = padded.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), preamble + padded.length);
  return out;
}

/** Converts raw IEEE half bits (a float16 .npy's data) to float32 values. */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfBitsToFloat(bits[i]);
  return out;
}

/** Narrows int64 values (e.g. label or index arrays numpy saved as int64) to int32, refusing any that do not fit. */
export function int64ToInt32(values: BigInt64Array): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < -2147483648n || v > 2147483647n) {
      throw new DataError(`int64 value ${v} at index ${i} does not fit in int32`);
    }
    out[i] = Number(v);
  }
  return out;
}

function descrOf(data: NpyWritable): string {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof Int16Array) return '<i2';
  if (data instanceof Int8Array) return '|i1';
  if (data instanceof Uint8Array) return '|u1';
  if (data instanceof BigInt64Array) return '<i8';
  throw new FormatError(`writeNpy: unsupported array type ${(data as object).constructor.name}`);
}

/** Pads the dict with spaces and a final newline so the data starts on a 64-byte boundary. */
function padHeader(dict: string, preambleLength: number): string {
  const unpadded = preambleLength + dict.length + 1;
  const padding = (HEADER_ALIGN - (unpadded % HEADER_ALIGN)) % HEADER_ALIGN;
  return dict + ' '.repeat(padding) + '\n';
}

function decodeLatin1(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return text;
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new FormatError('.npy 3.0 header is not valid UTF-8', { cause });
  }
}

function checkedElementCount(shape: number[]): number {
  let count = 1;
  for (const d of shape) count *= d;
  // A product past 2^53 loses exactness; no real file holds that many elements anyway.
  if (!Number.isSafeInteger(count)) {
    throw new FormatError(`.npy shape (${shape.join(', ')}) claims more elements than any file can hold`);
  }
  return count;
}

// ---------------------------------------------------------------- header parsing

interface NpyHeader {
  descr: string;
  info: DtypeInfo;
  shape: number[];
}

function parseHeader(text: string): NpyHeader {
  let value: PyValue;
  try {
    value = new PyLiteralParser(text).parseDocument();
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new FormatError(`.npy header does not parse (${reason}): ${JSON.stringify(text.trim().slice(0, 200))}`, { cause });
  }
  if (!(value instanceof Map)) throw new FormatError(`.npy header is not a dict: ${JSON.stringify(text.trim().slice(0, 200))}`);
  const keys = [...value.keys()].sort().join(', ');
  if (keys !== 'descr, fortran_order, shape') {
    throw new FormatError(`.npy header must have exactly the keys descr, fortran_order, shape; found: ${keys}`);
  }
  const descr = value.get('descr');
  const fortranOrder = value.get('fortran_order');
  const shape = value.get('shape');

  if (typeof descr !== 'string') {
    throw new FormatError(`unsupported .npy dtype ${describe(descr)}: structured dtypes are not supported`);
  }
  if (typeof fortranOrder !== 'boolean') throw new FormatError(`.npy header fortran_order is not True or False`);
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new FormatError(`.npy header shape ${describe(shape)} is not a tuple of non-negative integers`);
  }
  const info = dtypeInfo(descr);
  if (fortranOrder) {
    throw new FormatError('.npy fortran_order True is not supported: save a C-contiguous array (np.ascontiguousarray)');
  }
  return { descr, info, shape: shape as number[] };
}

function dtypeInfo(descr: string): DtypeInfo {
  const order = descr[0];
  const info = Object.hasOwn(DTYPES, descr.slice(1)) ? DTYPES[descr.slice(1)] : undefined;
  if (info === undefined || !'<>|=!'.includes(order)) {
    throw new FormatError(`unsupported .npy dtype '${descr}' (supported: <f4 <f8 <f2 <i8 <i4 <i2 |i1 <u2 |u1 |b1)`);
  }
  // Byte order means nothing for one-byte types, whatever character numpy put there.
  if (info.bytesPerElement > 1) {
    if (order === '>' || order === '!') {
      throw new FormatError(`big-endian .npy data ('${descr}') is not supported: save with arr.astype('<${descr.slice(1)}')`);
    }
    if (order !== '<') throw new FormatError(`unsupported .npy dtype '${descr}': byte order must be '<'`);
  }
  return info;
}

function describe(value: PyValue | undefined): string {
  if (value instanceof Map) return 'a dict';
  return JSON.stringify(value) ?? String(value);
}

// A Python literal as far as .npy headers need: dicts, tuples/lists, strings, ints, booleans, None.
// Hand-written so nothing is ever evaluated; anything else is a parse error.
type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

class PyLiteralParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parseDocument(): PyValue {
    const value = this.parseValue();
    this.skipSpace();
    if (this.pos !== this.text.length) this.fail('unexpected text after the dict');
    return value;
  }

  private parseValue(): PyValue {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === '{') return this.parseDict();
    if (c === '(') return this.parseSequence(')');
    if (c === '[') return this.parseSequence(']');
    if (c === "'" || c === '"') return this.parseString();
    if (c !== undefined && /[-+0-9]/.test(c)) return this.parseInt();
    for (const [word, value] of [['True', true], ['False', false], ['None', null]] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    return this.fail(c === undefined ? 'unexpected end of header' : `unexpected character '${c}'`);
  }

  private parseDict(): Map<string, PyValue> {
    const dict = new Map<string, PyValue>();
    this.pos++; // '{'
    for (;;) {
      this.skipSpace();
      if (this.eat('}')) return dict;
      const key = this.parseValue();
      if (typeof key !== 'string') this.fail('dict keys must be strings');
      if (dict.has(key)) this.fail(`duplicate key '${key}'`);
      this.skipSpace();
      if (!this.eat(':')) this.fail("expected ':'");
      dict.set(key, this.parseValue());
      this.skipSpace();
      if (this.eat('}')) return dict;
      if (!this.eat(',')) this.fail("expected ',' or '}'");
    }
  }

  private parseSequence(close: string): PyValue[] {
    const items: PyValue[] = [];
    this.pos++; // '(' or '['
    for (;;) {
      this.skipSpace();
      if (this.eat(close)) return items;
      items.push(this.parseValue());
      this.skipSpace();
      if (this.eat(close)) return items;
      if (!this.eat(',')) this.fail(`expected ',' or '${close}'`);
    }
  }

  private parseString(): string {
    const quote = this.text[this.pos++];
    let out = '';
    for (;;) {
      const c = this.text[this.pos++];
      if (c === undefined || c === '\n') this.fail('unterminated string');
      if (c === quote) return out;
      // dtype strings never need escapes; refuse them rather than half-implement Python's rules
      if (c === '\\') this.fail('escape sequences in strings are not supported');
      out += c;
    }
  }

  private parseInt(): number {
    const match = /^[-+]?[0-9]+L?/.exec(this.text.slice(this.pos, this.pos + 40));
    if (!match) this.fail('malformed number');
    this.pos += match[0].length;
    // 'L' is the long suffix Python 2 era numpy wrote into shapes.
    const value = Number(match[0].replace('L', ''));
    if (!Number.isSafeInteger(value)) this.fail(`integer ${match[0]} is too large`);
    return value;
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text[this.pos])) this.pos++;
  }

  private eat(c: string): boolean {
    if (this.text[this.pos] !== c) return false;
    this.pos++;
    return true;
  }

  private fail(message: string): never {
    throw new Error(`${message} at offset ${this.pos}`);
  }
}
