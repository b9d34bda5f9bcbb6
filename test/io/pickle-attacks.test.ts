// The attack corpus tools/golden/checkpoints.py built by hand: each payload would create a marker
// file (or worse) if Python's pickle or torch.load(weights_only=False) ran it. Our unpickler must
// refuse each one, name what it refused, and leave no marker behind.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { ALLOWED_GLOBALS, PickleDict, PickleSecurityError, unpickle } from '../../src/io/pickle.js';
import { CHECKPOINTS_DIR, fixture, op } from './checkpoint-fixtures.js';

interface Attack {
  name: string;
  file: string;
  refused: string;
  marker: string;
  description: string;
}

const attacks: Attack[] = JSON.parse(readFileSync(CHECKPOINTS_DIR + 'attacks.json', 'utf8')).attacks;

function load(attack: Attack): void {
  const bytes = fixture(attack.file);
  // A .pkl goes straight to the unpickler; a .pth through the whole loader, as a user's file would.
  if (attack.file.endsWith('.pkl')) unpickle(bytes);
  else loadCheckpoint(bytes);
}

describe('the attack corpus', () => {
  it('is there, and covers the required kinds', () => {
    expect(attacks.length).toBeGreaterThanOrEqual(30);
    const refused = attacks.map((a) => a.refused);
    for (const name of ['os.system', 'posix.system', 'subprocess.Popen', 'builtins.eval', 'builtins.exec', 'builtins.getattr', 'INST', 'BUILD', 'pickle.loads']) {
      expect(refused, name).toContain(name);
    }
  });

  for (const attack of attacks) {
    it(`refuses ${attack.name}: ${attack.description}`, () => {
      rmSync(attack.marker, { force: true });
      let error: unknown = null;
      try {
        load(attack);
      } catch (err) {
        error = err;
      }
      expect(error, 'the load must fail').toBeInstanceOf(FormatError);
      expect((error as Error).message).toContain(attack.refused);
      if (attack.name !== 'pth_gigabyte_claim') {
        expect(error).toBeInstanceOf(PickleSecurityError);
        expect((error as PickleSecurityError).refused).toContain(attack.refused);
      }
      expect(existsSync(attack.marker), `marker ${attack.marker} must not exist`).toBe(false);
    });
  }
});

describe('the unpickler itself', () => {
  it('accepts exactly the documented allowlist', () => {
    expect([...ALLOWED_GLOBALS].sort()).toEqual([
      'collections.OrderedDict',
      'torch.BFloat16Storage', 'torch.BoolStorage', 'torch.ByteStorage', 'torch.DoubleStorage', 'torch.FloatStorage',
      'torch.HalfStorage', 'torch.IntStorage', 'torch.LongStorage',
      'torch._utils._rebuild_parameter', 'torch._utils._rebuild_tensor_v2',
    ]);
  });

  it('contains no way to run code: no eval, Function, dynamic import or require', () => {
    const source = readFileSync(fileURLToPath(new URL('../../src/io/pickle.ts', import.meta.url)), 'utf8');
    expect(source).not.toMatch(/\beval\s*\(|new\s+Function|\bimport\s*\(|\brequire\s*\(/);
  });

  it('keeps a nested pickle inside bytes as inert data', () => {
    const inner = readFileSync(CHECKPOINTS_DIR + 'attacks/global_os_system.pkl');
    const marker = attacks.find((a) => a.name === 'global_os_system')!.marker;
    rmSync(marker, { force: true });
    const payload = new Uint8Array([...op.proto, 0x7d, ...op.str('blob'), 0x42, ...le32(inner.length), ...inner, ...op.setitem, ...op.stop]);
    const value = unpickle(payload) as PickleDict;
    expect(value.get('blob')).toEqual(new Uint8Array(inner));
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses persistent ids when no archive resolves them', () => {
    expect(() => unpickle(new Uint8Array([...op.proto, ...op.str('0'), ...op.binpersid, ...op.stop]))).toThrow(PickleSecurityError);
  });

  it('reads plain data: ints of every width, floats, strings, bytes, nested containers, memo', () => {
    const bytes = new Uint8Array([
      ...op.proto, 0x5d, 0x71, 0, // [] memo 0
      ...op.mark,
      0x4b, 7, 0x4d, 0x34, 0x12, ...op.int(-5), 0x8a, 1, 0xff, // 7, 0x1234, -5, LONG1 -1
      0x47, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18, // BINFLOAT pi (big-endian)
      ...op.str('é'), 0x43, 2, 1, 2, 0x4e, 0x88, 0x89, // 'é', b'\x01\x02', None, True, False
      0x68, 0, // the list itself, from the memo
      0x65, // APPENDS
      ...op.stop,
    ]);
    const list = unpickle(bytes) as unknown[];
    expect(list.slice(0, 10)).toEqual([7, 0x1234, -5, -1, Math.PI, 'é', new Uint8Array([1, 2]), null, true, false]);
    expect(list[10]).toBe(list); // a self-reference through the memo, as pickle allows
  });

  it('refuses what torch.save never writes with a FormatError naming the opcode', () => {
    expect(() => unpickle(new Uint8Array([0x80, 2, 0x49, 0x31, 0x0a, 0x2e]))).toThrow(/opcode INT is not used by torch.save/);
    expect(() => unpickle(new Uint8Array([0x80, 2, 0xff, 0x2e]))).toThrow(/unknown opcode 0xff/);
    expect(() => unpickle(new Uint8Array([0x80, 9, 0x4e, 0x2e]))).toThrow(/protocol 9/);
    expect(() => unpickle(new Uint8Array([0x80, 2, 0x4e]))).toThrow(/no STOP/);
    expect(() => unpickle(new Uint8Array([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x2e]))).toThrow(/beyond the 1 that remain/);
  });
});

function le32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
