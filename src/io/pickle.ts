// A restricted unpickler: a small pickle virtual machine that builds plain data (numbers, strings,
// bytes, tuples, lists, dicts) and, through an allowlist, the few objects a torch.save state dict
// holds (OrderedDict, tensors rebuilt from storages). It never runs code from the file: there is no
// import, no attribute lookup and no call; an allowed global is a tag that REDUCE interprets.
// Everything else (other globals, INST/OBJ/NEWOBJ, extensions, text persistent ids) is refused with
// a PickleSecurityError naming what was refused.
//
// Opcodes: https://github.com/python/cpython/blob/main/Lib/pickletools.py. torch.save writes
// protocol 2 by default; the protocol 4 opcodes a user's pickle_protocol=4 adds (FRAME, MEMOIZE,
// SHORT_BINUNICODE, STACK_GLOBAL...) are data-only and accepted too.
//
// Bounds: every opcode consumes at least one byte and every length is checked against the bytes
// that remain before anything is read, so the work and the memory are linear in the input.

import { FormatError } from '../errors.js';

/** A refusal: the pickle asked for something outside the allowlist. `refused` names it. */
export class PickleSecurityError extends FormatError {
  constructor(readonly refused: string, detail: string) {
    super(`refused to unpickle ${refused}: ${detail}`);
  }
}

export class PickleTuple {
  constructor(readonly items: PickleValue[]) {}
}

/** dict and collections.OrderedDict (insertion order either way). */
export class PickleDict extends Map<PickleValue, PickleValue> {
  /** The state BUILD gave an OrderedDict (torch.save stores the state dict's _metadata there). */
  attributes: PickleDict | null = null;
  constructor(readonly ordered: boolean) {
    super();
  }
}

/** An allowlisted global, as a tag: nothing is imported. */
export class PickleGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A storage a persistent id named; what it means (a zip record) is up to the persistent loader. */
export class StorageRef {
  constructor(readonly storageClass: string, readonly key: string, readonly location: string, readonly numel: number) {}
}

/** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...): geometry only, no data read yet. */
export class RebuiltTensor {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly size: number[], readonly stride: number[]) {}
}

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | PickleTuple
  | PickleDict
  | PickleGlobal
  | StorageRef
  | RebuiltTensor;

/** torch.<Name>Storage classes a persistent id may name, with their element types. */
export const STORAGE_CLASSES: Record<string, string> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

const ORDERED_DICT = 'collections.OrderedDict';
const REBUILD_TENSOR_V2 = 'torch._utils._rebuild_tensor_v2';
const REBUILD_PARAMETER = 'torch._utils._rebuild_parameter';

/** Every global this unpickler accepts; an exact match on module + name, never a dotted walk. */
export const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  ORDERED_DICT,
  REBUILD_TENSOR_V2,
  REBUILD_PARAMETER,
  ...Object.keys(STORAGE_CLASSES).map((name) => `torch.${name}`),
]);

export interface UnpickleOptions {
  /** Resolves BINPERSID. Without it, any persistent id is refused. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
}

const MAX_PROTOCOL = 5;
const MAX_GLOBAL_NAME = 256;
const MAX_LONG_BYTES = 64; // far beyond any integer a checkpoint holds
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// Opcodes refused outright, with the reason given in the error.
const REFUSED_OPCODES: Record<number, [string, string]> = {
  0x69: ['INST', 'it instantiates a class named in the file'],
  0x6f: ['OBJ', 'it instantiates a class'],
  0x81: ['NEWOBJ', 'it calls cls.__new__'],
  0x92: ['NEWOBJ_EX', 'it calls cls.__new__'],
  0x82: ['EXT1', 'it looks up the copyreg extension registry'],
  0x83: ['EXT2', 'it looks up the copyreg extension registry'],
  0x84: ['EXT4', 'it looks up the copyreg extension registry'],
  0x50: ['PERSID', 'text persistent ids are not what torch.save writes'],
  0x97: ['NEXT_BUFFER', 'out-of-band buffers are not part of a checkpoint'],
  0x98: ['READONLY_BUFFER', 'out-of-band buffers are not part of a checkpoint'],
};

// Protocol 0/1 text opcodes and sets: harmless but never written by torch.save; refused to keep the VM small.
const UNSUPPORTED_OPCODES: Record<number, string> = {
  0x49: 'INT', 0x4c: 'LONG', 0x46: 'FLOAT', 0x53: 'STRING', 0x56: 'UNICODE', 0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING', 0x70: 'PUT', 0x67: 'GET', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x96: 'BYTEARRAY8',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): PickleValue {
  return new Unpickler(bytes, options).run();
}

class Unpickler {
  private pos = 0;
  private stack: PickleValue[] = [];
  private readonly metastack: PickleValue[][] = [];
  private readonly memo = new Map<number, PickleValue>();
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array, private readonly options: UnpickleOptions) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): PickleValue {
    while (this.pos < this.bytes.length) {
      const at = this.pos;
      const op = this.bytes[this.pos++];
      if (op === 0x2e /* STOP */) {
        if (this.stack.length !== 1 || this.metastack.length) throw this.error(at, 'STOP with an unbalanced stack');
        return this.stack[0];
      }
      this.step(op, at);
    }
    throw new FormatError(`pickle truncated: no STOP opcode in ${this.bytes.length} bytes`);
  }

  private step(op: number, at: number): void {
    switch (op) {
      case 0x80: { // PROTO
        const proto = this.u8();
        if (proto > MAX_PROTOCOL) throw this.error(at, `unsupported pickle protocol ${proto}`);
        return;
      }
      case 0x95: // FRAME: a length hint only
        this.take(8);
        return;
      case 0x28: // MARK
        this.metastack.push(this.stack);
        this.stack = [];
        return;
      case 0x30: // POP
        this.pop(at);
        return;
      case 0x31: // POP_MARK
        this.popMark(at);
        return;
      case 0x32: // DUP
        this.push(this.top(at));
        return;
      case 0x4e: this.push(null); return; // NONE
      case 0x88: this.push(true); return; // NEWTRUE
      case 0x89: this.push(false); return; // NEWFALSE
      case 0x4a: this.push(this.view.getInt32(this.take(4), true)); return; // BININT
      case 0x4b: this.push(this.u8()); return; // BININT1
      case 0x4d: this.push(this.view.getUint16(this.take(2), true)); return; // BININT2
      case 0x8a: this.push(this.long(this.u8(), at)); return; // LONG1
      case 0x8b: this.push(this.long(this.length(4, at), at)); return; // LONG4
      case 0x47: this.push(this.view.getFloat64(this.take(8), false)); return; // BINFLOAT (big-endian)
      case 0x58: this.push(this.text(this.length(4, at), at)); return; // BINUNICODE
      case 0x8c: this.push(this.text(this.u8(), at)); return; // SHORT_BINUNICODE
      case 0x8d: this.push(this.text(this.length(8, at), at)); return; // BINUNICODE8
      case 0x42: this.push(this.raw(this.length(4, at))); return; // BINBYTES
      case 0x43: this.push(this.raw(this.u8())); return; // SHORT_BINBYTES
      case 0x8e: this.push(this.raw(this.length(8, at))); return; // BINBYTES8
      case 0x29: this.push(new PickleTuple([])); return; // EMPTY_TUPLE
      case 0x74: this.push(new PickleTuple(this.popMark(at))); return; // TUPLE
      case 0x85: this.push(new PickleTuple(this.popN(1, at))); return; // TUPLE1
      case 0x86: this.push(new PickleTuple(this.popN(2, at))); return; // TUPLE2
      case 0x87: this.push(new PickleTuple(this.popN(3, at))); return; // TUPLE3
      case 0x5d: this.push([]); return; // EMPTY_LIST
      case 0x6c: this.push(this.popMark(at)); return; // LIST
      case 0x61: { // APPEND
        const item = this.pop(at);
        this.list(this.top(at), at).push(item);
        return;
      }
      case 0x65: { // APPENDS
        const items = this.popMark(at);
        const list = this.list(this.top(at), at);
        for (const item of items) list.push(item); // no spread: a huge MARK group would overflow the call stack
        return;
      }
      case 0x7d: this.push(new PickleDict(false)); return; // EMPTY_DICT
      case 0x64: this.push(this.dictFrom(this.popMark(at), new PickleDict(false), at)); return; // DICT
      case 0x73: { // SETITEM
        const [key, value] = this.popN(2, at);
        this.dict(this.top(at), at).set(key, value);
        return;
      }
      case 0x75: { // SETITEMS
        const items = this.popMark(at);
        this.dictFrom(items, this.dict(this.top(at), at), at);
        return;
      }
      case 0x71: this.memo.set(this.u8(), this.top(at)); return; // BINPUT
      case 0x72: this.memo.set(this.view.getUint32(this.take(4), true), this.top(at)); return; // LONG_BINPUT
      case 0x94: this.memo.set(this.memo.size, this.top(at)); return; // MEMOIZE
      case 0x68: this.push(this.memoGet(this.u8(), at)); return; // BINGET
      case 0x6a: this.push(this.memoGet(this.view.getUint32(this.take(4), true), at)); return; // LONG_BINGET
      case 0x63: { // GLOBAL "module\nname\n"
        const module = this.line(at);
        const name = this.line(at);
        this.push(this.global(module, name));
        return;
      }
      case 0x93: { // STACK_GLOBAL
        const [module, name] = this.popN(2, at);
        if (typeof module !== 'string' || typeof name !== 'string') throw this.error(at, 'STACK_GLOBAL needs two strings');
        this.push(this.global(module, name));
        return;
      }
      case 0x52: { // REDUCE
        const args = this.pop(at);
        const callable = this.pop(at);
        this.push(this.reduce(callable, args, at));
        return;
      }
      case 0x62: { // BUILD
        const state = this.pop(at);
        this.build(this.top(at), state, at);
        return;
      }
      case 0x51: { // BINPERSID
        const pid = this.pop(at);
        if (!this.options.persistentLoad) throw new PickleSecurityError('BINPERSID', 'a persistent id outside a torch archive');
        this.push(this.options.persistentLoad(pid));
        return;
      }
      case 0x69: { // INST "module\nname\n": name the class in the refusal, never look it up
        const module = this.line(at);
        const name = this.line(at);
        throw new PickleSecurityError(`INST (${module}.${name})`, REFUSED_OPCODES[op][1]);
      }
    }
    if (op in REFUSED_OPCODES) throw new PickleSecurityError(REFUSED_OPCODES[op][0], REFUSED_OPCODES[op][1]);
    if (op in UNSUPPORTED_OPCODES) throw this.error(at, `opcode ${UNSUPPORTED_OPCODES[op]} is not used by torch.save and is not supported`);
    throw this.error(at, `unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
  }

  private global(module: string, name: string): PickleGlobal {
    const qualified = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(qualified)) {
      throw new PickleSecurityError(qualified, 'global not in the allowlist (OrderedDict, the tensor-rebuild functions, torch storage types)');
    }
    return new PickleGlobal(module, name);
  }

  private reduce(callable: PickleValue, args: PickleValue, at: number): PickleValue {
    if (!(callable instanceof PickleGlobal)) throw new PickleSecurityError(`REDUCE on ${typeName(callable)}`, 'only allowlisted functions are called');
    if (!(args instanceof PickleTuple)) throw this.error(at, `REDUCE on ${callable.qualifiedName} with ${typeName(args)} arguments`);
    const a = args.items;
    switch (callable.qualifiedName) {
      case ORDERED_DICT: {
        // OrderedDict() or OrderedDict([(key, value), ...])
        const dict = new PickleDict(true);
        if (a.length === 0) return dict;
        if (a.length === 1 && Array.isArray(a[0])) {
          for (const pair of a[0]) {
            if (!(pair instanceof PickleTuple) || pair.items.length !== 2) throw this.error(at, 'OrderedDict items must be (key, value) pairs');
            dict.set(pair.items[0], pair.items[1]);
          }
          return dict;
        }
        throw this.error(at, 'OrderedDict called with unexpected arguments');
      }
      case REBUILD_TENSOR_V2:
        return rebuildTensorV2(a, (msg) => this.error(at, msg));
      case REBUILD_PARAMETER: {
        // _rebuild_parameter(data, requires_grad, backward_hooks): the parameter is its tensor.
        if (a.length !== 3 || !(a[0] instanceof RebuiltTensor)) throw this.error(at, '_rebuild_parameter expects (tensor, requires_grad, hooks)');
        expectEmptyHooks(a[2], (msg) => this.error(at, msg));
        return a[0];
      }
    }
    throw new PickleSecurityError(`REDUCE on ${callable.qualifiedName}`, 'this global is a storage type tag, not a callable');
  }

  private build(target: PickleValue, state: PickleValue, at: number): void {
    // torch.save's OrderedDict state dicts carry a __dict__ ({'_metadata': ...}); that is the only BUILD allowed.
    if (!(target instanceof PickleDict) || !target.ordered) throw new PickleSecurityError('BUILD', `BUILD on ${typeName(target)} (only an OrderedDict's attribute dict is accepted)`);
    if (!(state instanceof PickleDict) || state.ordered) throw new PickleSecurityError('BUILD', `BUILD with ${typeName(state)} state (slot state and __setstate__ are refused)`);
    for (const key of state.keys()) {
      if (typeof key !== 'string' || key.startsWith('__')) throw new PickleSecurityError('BUILD', `BUILD setting attribute ${String(key)}`);
    }
    if (target.attributes) throw this.error(at, 'BUILD applied twice to one OrderedDict');
    target.attributes = state;
  }

  // ---- stack and memo

  /** Pushes onto the current stack as it is after `v` was computed (popMark may have switched it). */
  private push(v: PickleValue): void {
    this.stack.push(v);
  }

  private pop(at: number): PickleValue {
    if (!this.stack.length) throw this.error(at, 'stack underflow');
    return this.stack.pop()!;
  }

  private top(at: number): PickleValue {
    if (!this.stack.length) throw this.error(at, 'stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private popN(n: number, at: number): PickleValue[] {
    if (this.stack.length < n) throw this.error(at, 'stack underflow');
    return this.stack.splice(this.stack.length - n, n);
  }

  private popMark(at: number): PickleValue[] {
    const items = this.stack;
    const outer = this.metastack.pop();
    if (!outer) throw this.error(at, 'no MARK on the stack');
    this.stack = outer;
    return items;
  }

  private memoGet(index: number, at: number): PickleValue {
    if (!this.memo.has(index)) throw this.error(at, `memo entry ${index} was never stored`);
    return this.memo.get(index)!;
  }

  private list(v: PickleValue, at: number): PickleValue[] {
    if (!Array.isArray(v)) throw this.error(at, `APPEND to ${typeName(v)}`);
    return v;
  }

  private dict(v: PickleValue, at: number): PickleDict {
    if (!(v instanceof PickleDict)) throw this.error(at, `SETITEM on ${typeName(v)}`);
    return v;
  }

  private dictFrom(items: PickleValue[], dict: PickleDict, at: number): PickleDict {
    if (items.length % 2) throw this.error(at, 'odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
    return dict;
  }

  // ---- reading bytes

  /** Advances past n bytes and returns where they start. */
  private take(n: number): number {
    if (n > this.bytes.length - this.pos) throw new FormatError(`pickle truncated at byte ${this.pos}: ${n} more bytes expected, ${this.bytes.length - this.pos} left`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.bytes[this.take(1)];
  }

  /** A length field, checked against the remaining bytes before anything is read or allocated. */
  private length(size: 4 | 8, at: number): number {
    const p = this.take(size);
    const n = size === 4 ? this.view.getUint32(p, true) : Number(this.view.getBigUint64(p, true));
    if (n > this.bytes.length - this.pos) throw this.error(at, `a length of ${n} bytes, beyond the ${this.bytes.length - this.pos} that remain`);
    return n;
  }

  private raw(n: number): Uint8Array {
    const p = this.take(n);
    return this.bytes.slice(p, p + n);
  }

  private text(n: number, at: number): string {
    const p = this.take(n);
    try {
      return utf8.decode(this.bytes.subarray(p, p + n));
    } catch {
      throw this.error(at, 'string is not valid UTF-8');
    }
  }

  private line(at: number): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > MAX_GLOBAL_NAME) throw this.error(at, 'GLOBAL name without a newline within 256 bytes');
    const text = this.text(end - this.pos, at);
    this.pos = end + 1;
    return text;
  }

  /** Little-endian two's complement, as LONG1/LONG4 store it. */
  private long(n: number, at: number): number | bigint {
    if (n > MAX_LONG_BYTES) throw this.error(at, `integer of ${n} bytes`);
    const p = this.take(n);
    if (n === 0) return 0;
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(this.bytes[p + i]);
    if (this.bytes[p + n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    return value >= BigInt(-MAX_SAFE) && value <= BigInt(MAX_SAFE) ? Number(value) : value;
  }

  private error(at: number, message: string): FormatError {
    return new FormatError(`pickle opcode at byte ${at}: ${message}`);
  }
}

function rebuildTensorV2(a: PickleValue[], fail: (msg: string) => FormatError): RebuiltTensor {
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  if (a.length !== 6 && a.length !== 7) throw fail(`_rebuild_tensor_v2 expects 6 or 7 arguments, got ${a.length}`);
  const [storage, offset, size, stride] = a;
  if (!(storage instanceof StorageRef)) throw fail(`_rebuild_tensor_v2 storage is ${typeName(storage)}`);
  const sizes = intTuple(size, 'size', fail);
  const strides = intTuple(stride, 'stride', fail);
  if (sizes.length !== strides.length) throw fail(`size [${sizes}] and stride [${strides}] differ in rank`);
  if (!isCount(offset)) throw fail(`storage offset ${String(offset)}`);
  if (typeof a[4] !== 'boolean') throw fail('requires_grad is not a bool');
  expectEmptyHooks(a[5], fail);
  if (a.length === 7 && a[6] !== null && !(a[6] instanceof PickleDict && a[6].size === 0)) throw fail('tensor metadata is not supported');
  // The tensor must lie inside its storage: offset + sum((size-1) * stride) < numel (for a non-empty tensor).
  let count = 1;
  let last = offset as number;
  for (let d = 0; d < sizes.length; d++) {
    count *= sizes[d];
    if (sizes[d] > 0) last += (sizes[d] - 1) * strides[d];
  }
  if (count > 0 && (!Number.isSafeInteger(count) || !Number.isSafeInteger(last) || last >= storage.numel)) {
    throw fail(`tensor of size [${sizes}] stride [${strides}] at offset ${offset} reaches past its storage of ${storage.numel} elements`);
  }
  return new RebuiltTensor(storage, offset as number, sizes, strides);
}

function expectEmptyHooks(hooks: PickleValue, fail: (msg: string) => FormatError): void {
  if (!(hooks instanceof PickleDict) || hooks.size !== 0) throw fail('backward hooks must be an empty OrderedDict');
}

function intTuple(v: PickleValue, what: string, fail: (msg: string) => FormatError): number[] {
  if (!(v instanceof PickleTuple) || !v.items.every(isCount)) throw fail(`tensor ${what} is not a tuple of non-negative integers`);
  return v.items as number[];
}

function isCount(v: PickleValue): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function typeName(v: PickleValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PickleTuple) return 'tuple';
  if (v instanceof PickleDict) return v.ordered ? 'OrderedDict' : 'dict';
  if (v instanceof PickleGlobal) return v.qualifiedName;
  if (v instanceof StorageRef) return 'storage';
  if (v instanceof RebuiltTensor) return 'tensor';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  return typeof v === 'bigint' || Number.isInteger(v) ? 'int' : 'float';
}
