// Node driver: our engine on Dawn, tfjs-backend-webgpu on a second Dawn device on the same Vulkan
// driver (tfjs only needs navigator.gpu, which Dawn's module provides), and numpy as the native line.
// Run through scripts/bench-kernels.mjs, which bundles this file.
import os from 'node:os';
import { releaseDawnInstances } from '../../src/device/device.js';
import { Engine } from '../../src/engine.js';
import { numpyShapes, parseBenchArgs } from './args.js';
import { runNumpyLine } from './numpy.js';
import { buildRecord, summaryLines, writeRecord } from './report.js';
import { runSuite } from './suite.js';
import type { Tf } from './types.js';

const log = (line: string) => console.log(`[node] ${line}`);

/**
 * Gives tfjs a navigator.gpu from its own Dawn instance. Our engine must exist first: with a
 * navigator.gpu present, acquireDevice would take the browser path. Engine.create leaves
 * VK_ICD_FILENAMES at the driver it chose, so this instance finds the same adapter.
 */
async function setUpTfjs(): Promise<{ tf: Tf | null; unavailable?: string }> {
  try {
    const moduleName = 'webgpu';
    const dawn = (await import(moduleName)) as { create(flags: string[]): GPU };
    const gpu = dawn.create([]);
    Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: `Node.js ${process.version}` }, configurable: true, writable: true });
    const tf = (await import('@tensorflow/tfjs-core')) as Tf;
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") returned false');
    return { tf };
  } catch (err) {
    return { tf: null, unavailable: `tfjs-backend-webgpu could not run under Dawn in Node (${(err as Error).message}); the Chromium run gives the tfjs ratio` };
  }
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const loadAverageAtStart = os.loadavg();
  const args = parseBenchArgs(process.argv.slice(2), 'bench/results/kernels-node.json');
  log(`numpy line (${numpyShapes(args).length} shapes)`);
  const numpy = runNumpyLine(process.cwd(), numpyShapes(args));
  log(numpy.available ? numpy.cases.map((c) => `${c.M}x${c.K}x${c.N} ${c.gflops.toFixed(1)} GFLOP/s`).join(', ') : numpy.note!);

  const engine = await Engine.create();
  const { tf, unavailable } = await setUpTfjs();
  if (unavailable) log(unavailable);
  log(`ours on ${engine.report.description || engine.report.device} (${engine.report.vulkanDriver ?? 'system Vulkan driver'})`);
  const suite = await runSuite(engine, tf, { quick: args.quick, filter: args.filter, log });
  if (unavailable) suite.tfjsUnavailable = unavailable;
  const record = buildRecord({
    environment: 'node-dawn', quick: args.quick, startedAt, loadAverageAtStart, suite, numpy,
    tfjsVersion: tf?.version_core ?? 'unavailable',
    notes: [
      'tfjs runs on its own Dawn device on the same Vulkan driver as ours, in the same process; runs are sequential',
      'ours is timed as op + engine.sync(); tfjs as op + submit + queue.onSubmittedWorkDone() (no readback on either side)',
    ],
  });
  writeRecord(args.out, record);
  for (const line of summaryLines(record)) log(line);
  log(`wrote ${args.out} in ${record.durationS} s`);
  engine.dispose();
  releaseDawnInstances();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
