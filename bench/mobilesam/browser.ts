// Browser entry of the MobileSAM benchmark, bundled by bench/mobilesam/run.mjs and loaded by the
// page that chromium.ts serves. Both runtimes take navigator.gpu's adapter in the same page: our
// engine (weights from the same encoder.onnx bytes, through src/io/onnx.ts) and onnxruntime-web's
// WebGPU execution provider, which is loaded at run time from the server's /ort/ (onnxruntime-web's
// dist/ files), not bundled, so that its wasm and glue files resolve beside it.
import type * as OrtModule from 'onnxruntime-web';
import { Engine } from '../../src/engine.js';
import { adapterName } from '../../src/device/device.js';
import { loadMobileSamEncoderFromBytes } from '../../src/models/mobilesam/load-bytes.js';
import { compareEmbeddings, INPUT_SHAPE, type ChromiumReport, type OrtResult } from './shared.js';
import { log, pageHost, seconds } from '../shared/page-host.js';


async function fetchBytes(path: string): Promise<Uint8Array> {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** onnxruntime-web from /ort/<bundle>, with its wasm files looked up in the same folder. */
async function loadOrt(bundle: string): Promise<typeof OrtModule> {
  const url = `${location.origin}/ort/${bundle}`;
  const ort = (await import(/* a runtime URL: esbuild leaves it alone */ url)) as typeof OrtModule;
  ort.env.wasm.wasmPaths = `${location.origin}/ort/`;
  ort.env.wasm.numThreads = 1; // the page is not cross-origin isolated; say so rather than let ort fall back silently
  ort.env.logLevel = 'warning';
  return ort;
}

async function runOrt(ort: typeof OrtModule, session: OrtModule.InferenceSession, input: Float32Array): Promise<Float32Array> {
  const out = await session.run({ input: new ort.Tensor('float32', input, INPUT_SHAPE) });
  return (await out.output.getData(true)) as Float32Array;
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const runs = Math.max(1, Number(params.get('runs') ?? 1));
  const bundles = (params.get('ort') ?? 'ort.webgpu.min.mjs').split(',').filter(Boolean);
  const modelBytes = await fetchBytes('/encoder.onnx');
  const input = new Float32Array((await fetchBytes('/input.f32')).buffer);
  log(`encoder.onnx ${(modelBytes.length / 1e6).toFixed(1)} MB, input ${input.length} floats`);

  // onnxruntime-web WebGPU first: its untimed first run is the reference our first run is checked against.
  const ortResults: OrtResult[] = [];
  let reference: Float32Array | null = null;
  const sessions: { bundle: string; ort: typeof OrtModule; session: OrtModule.InferenceSession; result: OrtResult }[] = [];
  for (const bundle of bundles) {
    const result: OrtResult = { bundle, firstRunMs: null, timesMs: [] };
    ortResults.push(result);
    try {
      const ort = await loadOrt(bundle);
      result.version = ort.env.versions?.web;
      let t0 = performance.now();
      const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ['webgpu'] });
      result.sessionCreateMs = performance.now() - t0;
      log(`onnxruntime-web ${result.version} (${bundle}) WebGPU session in ${seconds(result.sessionCreateMs)}`);
      t0 = performance.now();
      const out = await runOrt(ort, session, input);
      result.firstRunMs = performance.now() - t0;
      log(`onnxruntime-web (${bundle}) first run ${seconds(result.firstRunMs)}`);
      if (reference) {
        result.vsFirstOrt = compareEmbeddings(out, reference);
      } else {
        reference = out;
        result.isReference = true;
      }
      sessions.push({ bundle, ort, session, result });
    } catch (err) {
      result.error = `${(err as Error).name}: ${(err as Error).message}`;
      log(`onnxruntime-web (${bundle}) failed: ${result.error}`);
    }
  }
  if (!reference) throw new Error(`no onnxruntime-web WebGPU run succeeded: ${ortResults.map((r) => r.error).join('; ')}`);

  const engine = await Engine.create();
  const adapter = adapterName(engine.report);
  log(`ours on ${adapter}`);
  let t0 = performance.now();
  const encoder = await loadMobileSamEncoderFromBytes(engine, modelBytes, 'encoder.onnx (served)');
  const loadMs = performance.now() - t0;
  // Timed: upload + forward + readback, as onnxruntime's session.run is (CPU input, CPU output).
  const ours = async (): Promise<Float32Array> => {
    const x = engine.tensor(input, INPUT_SHAPE);
    const out = encoder.forward(x);
    const data = await out.readFloat();
    out.dispose();
    x.dispose();
    return data;
  };
  t0 = performance.now();
  const first = await ours();
  const oursFirstMs = performance.now() - t0;
  const check = compareEmbeddings(first, reference);
  log(`ours first run ${seconds(oursFirstMs)}; max |ours - ort webgpu| = ${check.maxErr.toExponential(2)}, max |ref| = ${check.maxRef.toFixed(3)} (${check.relative.toExponential(2)} relative)`);
  if (!check.agree) throw new Error(`embeddings disagree (${check.relative.toExponential(2)} relative > 1e-3): not timing`);

  // Timed runs, interleaved run by run so that other load on the machine hits both alike.
  const oursTimes: number[] = [];
  for (let i = 0; i < runs; i++) {
    t0 = performance.now();
    await ours();
    oursTimes.push(performance.now() - t0);
    log(`ours run ${i + 1}: ${seconds(oursTimes[i])}`);
    for (const s of sessions) {
      t0 = performance.now();
      await runOrt(s.ort, s.session, input);
      s.result.timesMs.push(performance.now() - t0);
      log(`onnxruntime-web (${s.bundle}) run ${i + 1}: ${seconds(s.result.timesMs[i])}`);
    }
  }
  for (const s of sessions) await s.session.release();
  encoder.dispose();
  engine.dispose();

  const report: ChromiumReport = {
    adapter, userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency,
    ours: { loadMs, firstRunMs: oursFirstMs, timesMs: oursTimes, check },
    ort: ortResults,
  };
  await pageHost.benchDone(JSON.stringify(report));
}

main().catch((err: Error) => pageHost.benchFail(`${err.name}: ${err.message}\n${err.stack ?? ''}`));
