// Browser entry of the kernel benchmark, bundled by scripts/bench-kernels.mjs and loaded by the page
// that chromium.ts serves. Our engine and tfjs-backend-webgpu both take navigator.gpu's adapter; the
// results go back to Node through functions the driver exposes on window.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { Engine } from '../../src/engine.js';
import { runSuite } from './suite.js';
import type { SuiteResult, Tf } from './types.js';

export interface BrowserReport {
  suite: SuiteResult;
  tfjsVersion: string;
  userAgent: string;
  hardwareConcurrency: number;
}

interface BenchWindow {
  benchLog(line: string): Promise<void>;
  benchDone(json: string): Promise<void>;
  benchFail(message: string): Promise<void>;
}

const host = window as unknown as BenchWindow;

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const quick = params.get('quick') === '1';
  const filter = (params.get('filter') ?? '').split(',').filter(Boolean);
  const tfjsCaseLimitMs = Number(params.get('tfjsLimitMs') ?? 60_000);
  const log = (line: string) => void host.benchLog(line);
  const engine = await Engine.create();
  let peer: Tf | null = null;
  let unavailable: string | undefined;
  try {
    if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") returned false');
    peer = tf;
  } catch (err) {
    unavailable = `tfjs-backend-webgpu did not start in Chromium: ${(err as Error).message}`;
    log(unavailable);
  }
  log(`ours on ${engine.report.description || engine.report.device || engine.report.vendor}`);
  const suite = await runSuite(engine, peer, { quick, filter, log, tfjsCaseLimitMs });
  if (unavailable) suite.tfjsUnavailable = unavailable;
  engine.dispose();
  const report: BrowserReport = { suite, tfjsVersion: tf.version_core, userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency };
  await host.benchDone(JSON.stringify(report));
}

main().catch((err: Error) => host.benchFail(`${err.name}: ${err.message}\n${err.stack ?? ''}`));
