// Turns a suite run plus the numpy line into the JSON record written to bench/results/, and judges
// the issue's targets. Node only (the browser run reports back to its Node driver first).
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';
import { matmulCaseName, TARGET_MATMUL } from './matmul.js';
import type { NumpyLine } from './numpy.js';
import type { CaseResult, SuiteResult } from './types.js';

export interface Target {
  name: string;
  goal: string;
  /** At the median times; judged. */
  value: number | null;
  /** The same from the fastest runs, for information on a busy machine. */
  valueBest: number | null;
  met: boolean | null;
  /** False where the target is stated for another adapter (the matmul targets are for lavapipe). */
  applies: boolean;
  note?: string;
}

export interface KernelBenchRecord {
  benchmark: 'kernels';
  environment: 'node-dawn' | 'chromium';
  date: string;
  quick: boolean;
  durationS: number;
  machine: { cpu: string; cores: number; platform: string; node: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  browser?: string;
  adapters: { ours: string; tfjs: string | null };
  tfjs: { version: string; unavailable?: string };
  numpy: NumpyLine;
  cases: (CaseResult & { numpyGflops?: number; fractionOfNumpy?: number; fractionOfNumpyBest?: number })[];
  targets: Target[];
  notes: string[];
}

const TARGET_MATMUL_NAME = matmulCaseName(TARGET_MATMUL);

export function judgeTargets(cases: KernelBenchRecord['cases'], oursAdapter: string): Target[] {
  const onLavapipe = /llvmpipe|lavapipe/i.test(oursAdapter);
  const matmulNote = onLavapipe ? undefined : `the matmul targets are stated for lavapipe; this adapter is ${oursAdapter}`;
  const mm = cases.find((c) => c.name === TARGET_MATMUL_NAME);
  const judged = (value: number | null | undefined, goal: number) => (value == null ? null : value >= goal);
  const targets: Target[] = [
    {
      name: `${TARGET_MATMUL_NAME} vs tfjs-backend-webgpu`, goal: '>= 2x tfjs in the same run',
      value: mm?.ratioToTfjs ?? null, valueBest: mm?.ratioToTfjsBest ?? null, met: judged(mm?.ratioToTfjs, 2), applies: onLavapipe,
      note: mm ? matmulNote : 'case not run',
    },
    {
      name: `${TARGET_MATMUL_NAME} vs numpy sgemm`, goal: ">= 10% of numpy's sgemm on the same machine",
      value: mm?.fractionOfNumpy ?? null, valueBest: mm?.fractionOfNumpyBest ?? null, met: judged(mm?.fractionOfNumpy, 0.1), applies: onLavapipe,
      note: mm ? (mm.fractionOfNumpy === undefined ? 'numpy line missing' : matmulNote) : 'case not run',
    },
  ];
  for (const c of cases.filter((x) => x.family === 'layernorm' || x.family === 'softmax')) {
    targets.push({
      name: `${c.name} vs copy kernel`, goal: '>= 50% of a plain copy kernel\'s GB/s on the same adapter (the faster of its runtime-sized and sized-array spellings)',
      value: c.fractionOfCopy ?? null, valueBest: c.fractionOfCopyBest ?? null, met: judged(c.fractionOfCopy, 0.5), applies: true,
      note: c.error ? `case failed: ${c.error}` : undefined,
    });
  }
  return targets;
}

/** Attaches the numpy rate at the same shape to each matmul case. */
export function withNumpy(cases: CaseResult[], numpy: NumpyLine): KernelBenchRecord['cases'] {
  return cases.map((c) => {
    if (c.family !== 'matmul') return c;
    const n = numpy.cases.find((x) => x.M === c.params.M && x.K === c.params.K && x.N === c.params.N);
    if (!n) return c;
    return {
      ...c, numpyGflops: n.gflops,
      fractionOfNumpy: c.ours ? c.ours.rate / n.gflops : undefined,
      fractionOfNumpyBest: c.ours ? n.minMs / c.ours.minMs : undefined,
    };
  });
}

export function machineInfo(loadAverageAtStart: number[]): KernelBenchRecord['machine'] {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, platform: `${os.platform()} ${os.release()}`, node: process.version,
    loadAverageAtStart, loadAverageAtEnd: os.loadavg(),
  };
}

export function buildRecord(p: {
  environment: KernelBenchRecord['environment']; quick: boolean; startedAt: number; loadAverageAtStart: number[];
  suite: SuiteResult; numpy: NumpyLine; tfjsVersion: string; browser?: string; notes?: string[];
}): KernelBenchRecord {
  const cases = withNumpy(p.suite.cases, p.numpy);
  const notes = [...(p.notes ?? [])];
  if (!p.numpy.available) notes.push(`numpy line: ${p.numpy.note}`);
  if (p.suite.tfjsUnavailable) notes.push(`tfjs: ${p.suite.tfjsUnavailable}`);
  return {
    benchmark: 'kernels', environment: p.environment, date: new Date(p.startedAt).toISOString(), quick: p.quick,
    durationS: Math.round((Date.now() - p.startedAt) / 100) / 10,
    machine: machineInfo(p.loadAverageAtStart),
    ...(p.browser ? { browser: p.browser } : {}),
    adapters: { ours: p.suite.oursAdapter, tfjs: p.suite.tfjsAdapter },
    tfjs: { version: p.tfjsVersion, ...(p.suite.tfjsUnavailable ? { unavailable: p.suite.tfjsUnavailable } : {}) },
    numpy: p.numpy, cases, targets: judgeTargets(cases, p.suite.oursAdapter), notes,
  };
}

export function writeRecord(path: string, record: KernelBenchRecord): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
}

/** A short plain-text summary for the terminal. */
export function summaryLines(record: KernelBenchRecord): string[] {
  const lines = [`${record.environment}: ours on ${record.adapters.ours}; tfjs on ${record.adapters.tfjs ?? 'n/a'}`];
  for (const t of record.targets) {
    const show = (v: number | null) => (v === null ? 'n/a' : t.name.includes('tfjs') ? `${v.toFixed(2)}x` : `${(100 * v).toFixed(1)}%`);
    const verdict = t.met === null ? 'not measured' : t.met ? 'met' : 'MISSED';
    lines.push(`  target ${t.name} (${t.goal}): ${show(t.value)} (fastest runs: ${show(t.valueBest)}), ${verdict}${t.applies ? '' : ' (does not apply here)'}${t.note ? ` [${t.note}]` : ''}`);
  }
  return lines;
}
