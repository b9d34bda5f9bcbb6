// Files that must survive being killed at any moment: training checkpoints and embedding-cache
// entries are written to a temporary file and renamed. A child process writes in a loop and is
// killed with SIGKILL at random moments, repeatedly; what it leaves must always load. Two processes
// sharing one cache must never read a torn entry. Corrupt cache entries read as misses.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskEmbeddingStore } from '../../src/train/embedding-cache-node.js';
import { decodeEntry, embeddingKey, encodeEntry, MemoryEmbeddingStore } from '../../src/train/embedding-cache.js';
import { decodeTrainState } from '../../src/train/train-state.js';
import { createRng } from '../../src/data/random.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'autosam-atomic-'));
const childScript = path.join(tmp, 'atomic-writer.mjs');

beforeAll(async () => {
  await build({
    entryPoints: [fileURLToPath(new URL('./children/atomic-writer.ts', import.meta.url))],
    bundle: true, platform: 'node', format: 'esm', outfile: childScript, logLevel: 'warning', packages: 'external',
  });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function startChild(args: string[]): { child: ChildProcess; ready: Promise<void>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [childScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: fileURLToPath(new URL('../..', import.meta.url)) });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    if (code && code !== 0) console.error(stderr);
    resolve(code);
  }));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.on('exit', (code) => reject(new Error(`child exited (${code}) before it was ready: ${stderr}`)));
  });
  return { child, ready, exit };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('atomic files', () => {
  it('a checkpoint killed mid-write (SIGKILL, 8 times at random moments) always loads', async () => {
    const file = path.join(tmp, 'checkpoint.safetensors');
    const rng = createRng('kill');
    for (let round = 0; round < 8; round++) {
      const { child, ready, exit } = startChild(['checkpoint', file]);
      await ready;
      await sleep(rng.uniform(0, 200));
      child.kill('SIGKILL');
      await exit;
      const state = await decodeTrainState(new Uint8Array(readFileSync(file)), file); // throws on a torn file
      expect(state.fingerprint).toBe('kill-test');
      expect(state.model.get('w')!.data[0]).toBe(state.position.step);
    }
    // Temporary files may be left behind by a kill; they never replace the checkpoint.
    expect(readdirSync(tmp).filter((f) => f === 'checkpoint.safetensors')).toHaveLength(1);
  }, 120_000);

  it('two processes sharing one embedding cache: a killed writer (6 rounds) leaves only whole entries, the other never reads a torn one', async () => {
    const dir = path.join(tmp, 'shared-cache');
    const rng = createRng('share');
    const store = new DiskEmbeddingStore(dir);
    for (let round = 0; round < 6; round++) {
      const a = startChild(['cache', dir, '1.5']);
      const b = startChild(['cache-writer', dir, '30']);
      await Promise.all([a.ready, b.ready]);
      expect(await a.exit).toBe(0); // a read and wrote the entries b was writing, side by side, for 1.5 s
      await sleep(rng.uniform(0, 100)); // then b alone, killed mid-stream
      b.child.kill('SIGKILL');
      await b.exit;
      let entries = 0;
      for (const sub of readdirSync(dir)) {
        for (const f of readdirSync(path.join(dir, sub)).filter((n) => n.endsWith('.emb'))) {
          expect(await store.get(f.slice(0, -4)), `round ${round}: ${f}`).not.toBeNull();
          entries++;
        }
      }
      expect(entries).toBe(6);
    }
  }, 120_000);

  it('cache entries: round trip, and truncated, flipped or foreign entries read as misses', async () => {
    const dir = path.join(tmp, 'cache');
    const store = new DiskEmbeddingStore(dir);
    const data = new Float32Array(256 * 4 * 4).map((_, i) => i / 7);
    const key = await embeddingKey('enc|hash', data, [16, 16]);
    expect(await store.get(key)).toBeNull();
    await store.put(key, { shape: [256, 4, 4], data });
    const got = await store.get(key);
    expect(got!.shape).toEqual([256, 4, 4]);
    expect(Array.from(got!.data)).toEqual(Array.from(data));

    const file = path.join(dir, key.slice(0, 2), `${key}.emb`);
    const bytes = readFileSync(file);
    const flipped = Buffer.from(bytes);
    flipped[bytes.length - 9] ^= 1;
    writeFileSync(file, flipped);
    expect(await store.get(key)).toBeNull(); // and dropped, so it is recomputed
    await store.put(key, { shape: [256, 4, 4], data });
    writeFileSync(file, bytes.subarray(0, bytes.length - 4));
    expect(await store.get(key)).toBeNull();

    const encoded = await encodeEntry(key, { shape: [256, 4, 4], data });
    await expect(decodeEntry(encoded, 'another key')).rejects.toThrow(/another key/);
    await expect(decodeEntry(encoded.subarray(0, 10), key)).rejects.toThrow(/shorter/);
  });

  it('keys: the same pixels and encoder give the same key; any change gives another', async () => {
    const data = new Float32Array(64).map((_, i) => i);
    const k = await embeddingKey('mobilesam|abc', data, [8, 8]);
    expect(await embeddingKey('mobilesam|abc', data.slice(), [8, 8])).toBe(k);
    const changed = data.slice();
    changed[63] = Math.fround(63.00001);
    expect(await embeddingKey('mobilesam|abc', changed, [8, 8])).not.toBe(k);
    expect(await embeddingKey('mobilesam|abd', data, [8, 8])).not.toBe(k);
    expect(await embeddingKey('mobilesam|abc', data, [4, 16])).not.toBe(k);
    const memory = new MemoryEmbeddingStore();
    await memory.put(k, { shape: [1, 8, 8], data });
    data[0] = 99; // the store keeps its own copy
    expect((await memory.get(k))!.data[0]).toBe(0);
  });
});
