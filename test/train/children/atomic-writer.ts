// A child process for the kill and sharing tests (test/train/atomic-files.test.ts), bundled by
// esbuild at test time. It encodes its files once, then spends its time writing them, so that a
// kill at a random moment most likely lands mid-write. Modes:
//   checkpoint FILE: writes two alternating 16 MB training checkpoints to FILE, forever;
//   cache DIR SECONDS: gets and puts six 4 MB embedding entries in a DiskEmbeddingStore for SECONDS,
//     exiting 3 if a read returns wrong data;
//   cache-writer DIR SECONDS: only puts them (so a kill most likely lands mid-write).
// Prints "ready" once the first write has landed.
import { DiskEmbeddingStore, writeFileAtomic } from '../../../src/train/embedding-cache-node.js';
import { encodeEntry } from '../../../src/train/embedding-cache.js';
import { encodeTrainState } from '../../../src/train/train-state.js';

async function checkpointBytes(n: number): Promise<Uint8Array> {
  const weights = new Float32Array(1024 * 1024).fill(n);
  return encodeTrainState({
    position: { step: n, epochLossSum: 0, epochSteps: 0 },
    model: new Map([['w', { shape: [weights.length], data: weights }]]),
    optimizer: [{ step: n + 1, expAvg: weights, expAvgSq: weights }],
    fingerprint: 'kill-test',
  });
}

async function main(): Promise<void> {
  const [mode, target, secondsText] = process.argv.slice(2);
  if (mode === 'checkpoint') {
    const files = [await checkpointBytes(1), await checkpointBytes(2)];
    for (let n = 0; ; n++) {
      await writeFileAtomic(target, files[n % 2]);
      if (n === 0) console.log('ready');
    }
  }
  if (mode === 'cache' || mode === 'cache-writer') {
    const store = new DiskEmbeddingStore(target);
    const entries = await Promise.all(Array.from({ length: 6 }, async (_, k) => {
      const data = new Float32Array(256 * 64 * 64).map((_, i) => Math.sin(k * 1000 + i));
      const key = k.toString(16).padStart(2, '0').repeat(32);
      return { key, data, bytes: await encodeEntry(key, { shape: [256, 64, 64], data }) };
    }));
    const until = Date.now() + Number(secondsText) * 1000;
    for (let i = 0; Date.now() < until; i++) {
      const { key, data, bytes } = entries[i % entries.length];
      const got = mode === 'cache' ? await store.get(key) : null;
      if (got && (got.data.length !== data.length || got.data.some((v, j) => v !== data[j]))) {
        console.error(`wrong data under ${key}`);
        process.exit(3);
      }
      await store.putEncoded(key, bytes);
      if (i === 0) console.log('ready');
    }
    process.exit(0);
  }
  throw new Error(`unknown mode ${mode}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
