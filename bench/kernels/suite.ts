// The benchmark core, the same in Node (Dawn) and in the browser. For each case: run ours once and
// check it (a wrong result aborts the case), run tfjs once and check it, then time ours, tfjs and,
// for bandwidth cases, a plain copy of the same size, interleaved run by run so that the machine's
// changing load hits them alike. Every timed run ends with a wait that covers the GPU work.
import { adapterName } from '../../src/device/device.js';
import type { Engine } from '../../src/engine.js';
import { convCases } from './conv.js';
import { prepareCopies, type CopySides } from './copy.js';
import { matmulCases } from './matmul.js';
import { timeInterleaved, type TimedSide, type TimingPlan } from './measure.js';
import { layerNormCases, softmaxCases } from './normalization.js';
import { tfjsAdapterName, tfjsSync } from './tfjs.js';
import type { BenchCase, CaseResult, Prepared, SideResult, SuiteOptions, SuiteResult, Tf } from './types.js';

export function allCases(quick: boolean): BenchCase[] {
  return [...matmulCases(quick), ...layerNormCases(quick), ...softmaxCases(quick), ...convCases(quick)];
}

/**
 * Scales the time budget; drops the warm-up runs when the correctness run alone took a good part of
 * the budget (it compiled the pipeline already, and on SwiftShader a big case takes seconds a run).
 */
function scaled(plan: TimingPlan, scale: number, firstRunMs: number): TimingPlan {
  const budgetMs = plan.budgetMs * scale;
  return { ...plan, budgetMs, warmup: firstRunMs > budgetMs / 4 ? 0 : plan.warmup };
}

function describe(side: SideResult | null | undefined, unit: string): string {
  return side ? `${side.rate.toFixed(2)} ${unit} (median ${side.medianMs.toFixed(1)} ms of ${side.runsMs.length})` : 'n/a';
}

interface Context {
  engine: Engine;
  tf: Tf | null;
  scale: number;
  tfjsLimitMs: number;
  /** The last measured tfjs rate per family and per unit: estimates whether the next case fits the limit. */
  lastTfjsRate: Map<string, number>;
}

export async function runSuite(engine: Engine, tf: Tf | null, options: SuiteOptions): Promise<SuiteResult> {
  const scale = options.budgetScale ?? 1;
  const ctx: Context = { engine, tf, scale, tfjsLimitMs: (options.tfjsCaseLimitMs ?? 60_000) * scale, lastTfjsRate: new Map() };
  const cases = allCases(options.quick).filter((c) => !options.filter?.length || options.filter.some((f) => c.name.includes(f)));
  const results: CaseResult[] = [];
  for (const c of cases) {
    options.log(`${c.name}: checking`);
    const r = await runCase(ctx, c);
    if (r.tfjs) {
      ctx.lastTfjsRate.set(c.family, r.tfjs.rate);
      ctx.lastTfjsRate.set(c.unit, r.tfjs.rate);
    }
    results.push(r);
    if (r.error) {
      options.log(`${c.name}: FAILED: ${r.error}`);
      continue;
    }
    const ratio = r.ratioToTfjs !== null ? `, ${r.ratioToTfjs.toFixed(2)}x tfjs` : '';
    const copy = r.fractionOfCopy !== undefined
      ? `; copy kernel ${describe(r.copy, c.unit)}, ours ${(100 * r.fractionOfCopy).toFixed(0)}% of it; copyBufferToBuffer ${describe(r.bufferCopy, c.unit)}`
      : '';
    options.log(`${c.name}: ours ${describe(r.ours, c.unit)}; tfjs ${r.tfjs ? describe(r.tfjs, c.unit) : r.tfjsNote ?? 'n/a'}${ratio}${copy}`);
  }
  return { oursAdapter: adapterName(engine.report), tfjsAdapter: tf ? tfjsAdapterName(tf) : null, cases: results };
}

interface Side {
  label: string;
  timed: TimedSide;
  firstRunMs: number;
  /** FLOPs or bytes per run. */
  work: number;
  store(result: SideResult): void;
}

async function runCase(ctx: Context, c: BenchCase): Promise<CaseResult> {
  const { engine, tf, scale } = ctx;
  const result: CaseResult = {
    family: c.family, name: c.name, params: c.params, unit: c.unit, work: c.work,
    ours: null, tfjs: null, ratioToTfjs: null, ratioToTfjsBest: null, tfjsNote: c.tfjsNote, checks: [],
  };
  const note = (text: string) => {
    result.tfjsNote = [result.tfjsNote, text].filter(Boolean).join('; ');
  };
  let prepared: Prepared | null = null;
  let copies: CopySides | null = null;
  try {
    const p = (prepared = c.prepare(engine, tf));
    // Correctness first; this run also compiles the pipeline (seconds on lavapipe for big kernels).
    const t0 = performance.now();
    const first = p.runOurs();
    const oursOut = await first.readFloat();
    first.dispose();
    const oursFirstMs = performance.now() - t0;
    const oursCheck = p.checkOurs(oursOut);
    result.checks.push(oursCheck);
    if (!oursCheck.ok) {
      result.error = `wrong result: ${oursCheck.against}: max |error| ${oursCheck.maxAbsErr.toExponential(2)} ` +
        `exceeds atol ${oursCheck.atol} + rtol ${oursCheck.rtol} (worst at flat index ${oursCheck.worstIndex})`;
      return result;
    }
    const sides: Side[] = [{
      label: 'ours',
      timed: {
        run: async () => {
          const y = p.runOurs();
          await engine.sync();
          y.dispose();
        },
        plan: scaled(c.ours, scale, oursFirstMs),
      },
      firstRunMs: oursFirstMs, work: c.work, store: (s) => (result.ours = s),
    }];

    if (tf && p.runTfjs) {
      const runTfjs = p.runTfjs;
      const skip = tfjsSkipReason(ctx, c);
      if (skip) note(skip);
      else {
        try {
          const t1 = performance.now();
          const y = runTfjs();
          const tfjsOut = (await y.data()) as Float32Array;
          y.dispose();
          const tfjsFirstMs = performance.now() - t1;
          result.checks.push(...p.checkTfjs(tfjsOut, oursOut));
          sides.push({
            label: 'tfjs',
            timed: {
              run: async () => {
                const z = runTfjs();
                await tfjsSync(tf);
                z.dispose();
              },
              plan: scaled(c.tfjs, scale, tfjsFirstMs),
            },
            firstRunMs: tfjsFirstMs, work: c.work, store: (s) => (result.tfjs = s),
          });
        } catch (err) {
          note(`tfjs failed: ${(err as Error).name}: ${(err as Error).message}`);
        }
      }
    }

    if (c.unit === 'GB/s') {
      const elements = c.params.elements as number;
      copies = await prepareCopies(engine, elements);
      sides.push(
        { label: 'copy kernel', timed: { run: copies.runKernel, plan: scaled(c.ours, scale, copies.kernelFirstRunMs) }, firstRunMs: copies.kernelFirstRunMs, work: 8 * elements, store: (s) => (result.copyRuntimeSized = s) },
        { label: 'copy kernel (sized arrays)', timed: { run: copies.runSizedKernel, plan: scaled(c.ours, scale, copies.sizedKernelFirstRunMs) }, firstRunMs: copies.sizedKernelFirstRunMs, work: 8 * elements, store: (s) => (result.copySized = s) },
        { label: 'copyBufferToBuffer', timed: { run: copies.runBufferCopy, plan: scaled(c.ours, scale, copies.bufferCopyFirstRunMs) }, firstRunMs: copies.bufferCopyFirstRunMs, work: 8 * elements, store: (s) => (result.bufferCopy = s) },
      );
    }

    const timings = await timeInterleaved(sides.map((s) => s.timed));
    timings.forEach((t, k) => {
      if ('error' in t) {
        if (k === 0) throw t.error;
        const text = `${sides[k].label} failed while timing: ${t.error.name}: ${t.error.message}`;
        if (sides[k].label === 'tfjs') note(text);
        else (result.notes ??= []).push(text);
      } else {
        // FLOPs or bytes per millisecond / 1e6 = GFLOP/s or GB/s.
        sides[k].store({ ...t, rate: sides[k].work / t.medianMs / 1e6, firstRunMs: sides[k].firstRunMs });
      }
    });
    // The yardstick is the faster of the two copy spellings (by median).
    const copySpellings = [result.copyRuntimeSized, result.copySized].filter((x): x is NonNullable<typeof x> => !!x);
    if (copySpellings.length) result.copy = copySpellings.reduce((a, b) => (b.rate > a.rate ? b : a));
    const { ours, tfjs: peer, copy } = result;
    if (ours && peer) {
      result.ratioToTfjs = ours.rate / peer.rate;
      result.ratioToTfjsBest = peer.minMs / ours.minMs;
    }
    if (ours && copy) {
      result.fractionOfCopy = ours.rate / copy.rate;
      const fastestCopyMs = Math.min(...copySpellings.map((x) => x.minMs));
      result.fractionOfCopyBest = (c.work / ours.minMs) / ((8 * (c.params.elements as number)) / fastestCopyMs);
    }
  } catch (err) {
    result.error = `${(err as Error).name}: ${(err as Error).message}`;
    result.ours = null;
  } finally {
    prepared?.dispose();
    copies?.dispose();
  }
  return result;
}

/** Why tfjs is left out of this case, if its previous rate says it would not fit the per-case limit. */
function tfjsSkipReason(ctx: Context, c: BenchCase): string | null {
  const previousRate = ctx.lastTfjsRate.get(c.family) ?? ctx.lastTfjsRate.get(c.unit);
  if (!previousRate) return null;
  const estimateMs = c.work / previousRate / 1e6;
  // The correctness run plus one timed run must fit.
  if (2 * estimateMs <= ctx.tfjsLimitMs) return null;
  return `tfjs skipped: about ${(estimateMs / 1000).toFixed(0)} s per run at its previous rate ` +
    `(${previousRate.toFixed(2)} ${c.unit}) would exceed the ${(ctx.tfjsLimitMs / 1000).toFixed(0)} s limit per case`;
}
