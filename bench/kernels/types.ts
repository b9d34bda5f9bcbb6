// Shapes of the kernel benchmark: a case prepares inputs for our engine and for tfjs, checks both
// outputs, and the suite times whatever passed. Shared by the Node and the browser drivers.
import type { Engine } from '../../src/engine.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import type { ErrorReport, Timing, TimingPlan } from './measure.js';

export type Tf = typeof import('@tensorflow/tfjs-core');
export type TfTensor = import('@tensorflow/tfjs-core').Tensor;

export type Family = 'matmul' | 'layernorm' | 'softmax' | 'conv2d';
export type Unit = 'GFLOP/s' | 'GB/s';

export interface CheckResult extends ErrorReport {
  /** What was compared against what, and the tolerance, in words. */
  against: string;
  atol: number;
  rtol: number;
}

export interface Prepared {
  /** Records our op (no sync); the caller disposes the result. */
  runOurs(): Tensor;
  /** Runs the tfjs peer (inside tf.tidy where it makes intermediates); null when tfjs is absent. */
  runTfjs: (() => TfTensor) | null;
  /** Checks our output against the CPU reference (ok=false aborts the case). */
  checkOurs(out: Float32Array): CheckResult;
  /** Checks tfjs's output against the CPU reference and against ours. */
  checkTfjs(tfjsOut: Float32Array, oursOut: Float32Array): CheckResult[];
  dispose(): void;
}

export interface BenchCase {
  family: Family;
  /** e.g. "matmul 1024x1024x1024". */
  name: string;
  /** Bandwidth cases carry `elements`: the copy kernel they are compared with moves that many f32. */
  params: Record<string, unknown>;
  unit: Unit;
  /** FLOPs (GFLOP/s cases) or bytes read + written (GB/s cases) per run. */
  work: number;
  ours: TimingPlan;
  tfjs: TimingPlan;
  /** Why tfjs does something different from us here, if it does (e.g. layernorm composed of several ops). */
  tfjsNote?: string;
  prepare(engine: Engine, tf: Tf | null): Prepared;
}

export interface SideResult extends Timing {
  /** GFLOP/s or GB/s at the median time. */
  rate: number;
  /** The untimed correctness run, which includes pipeline compilation and uploads. */
  firstRunMs: number;
}

export interface CaseResult {
  family: Family;
  name: string;
  params: Record<string, unknown>;
  unit: Unit;
  work: number;
  ours: SideResult | null;
  tfjs: SideResult | null;
  /** ours rate / tfjs rate at the median times (> 1: we are faster). */
  ratioToTfjs: number | null;
  /** The same from each side's fastest run: less disturbed by other load on a busy machine. */
  ratioToTfjsBest: number | null;
  tfjsNote?: string;
  checks: CheckResult[];
  /** Bandwidth cases: the faster of copyRuntimeSized and copySized, the yardstick. */
  copy?: SideResult;
  /** A plain WGSL copy of the same number of elements on the same engine (array<vec4<f32>>). */
  copyRuntimeSized?: SideResult;
  /** The same copy with arrays sized to the shape (array<vec4<f32>, N>). */
  copySized?: SideResult;
  /** Bandwidth cases, for information: copyBufferToBuffer of the same bytes (the driver's memcpy). */
  bufferCopy?: SideResult;
  /** Bandwidth cases: our GB/s over the copy kernel's GB/s (median times; Best: fastest runs). */
  fractionOfCopy?: number;
  fractionOfCopyBest?: number;
  /** Anything else that went wrong in a side other than ours and tfjs (the copy yardsticks). */
  notes?: string[];
  /** Set when the case failed (wrong result or an exception); then ours is null. */
  error?: string;
}

export interface SuiteOptions {
  quick: boolean;
  log(line: string): void;
  /** Only cases whose name contains one of these strings (all when empty). */
  filter?: string[];
  /** Multiplies every per-case time budget (Chromium's SwiftShader is several times slower than lavapipe). */
  budgetScale?: number;
  /** tfjs is skipped for a case whose estimated time (from the previous case's rate) exceeds this, in ms. */
  tfjsCaseLimitMs?: number;
}

export interface SuiteResult {
  oursAdapter: string;
  tfjsAdapter: string | null;
  tfjsUnavailable?: string;
  cases: CaseResult[];
}
