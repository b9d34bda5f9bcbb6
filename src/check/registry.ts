// `autosam check`: every kernel on random inputs of several shapes against its TypeScript reference.
// Each op family contributes a list of KernelChecks from its own file in this folder.
import type { Engine } from '../engine.js';
import type { Comparison } from './compare.js';

export interface KernelCheck {
  /** Kernel family and op, e.g. "elementwise/gelu". */
  kernel: string;
  /** The shapes or parameters of this case, e.g. "[3,5,7]". */
  case: string;
  /** Tolerance in words, for the report, e.g. "atol 2e-6 + rtol 2e-6". */
  tolerance: string;
  run(engine: Engine): Promise<Comparison>;
}

export interface KernelCheckResult extends Comparison {
  kernel: string;
  case: string;
  tolerance: string;
  error?: string;
}

export async function runChecks(engine: Engine, checks: KernelCheck[], onResult?: (r: KernelCheckResult) => void): Promise<KernelCheckResult[]> {
  const results: KernelCheckResult[] = [];
  for (const check of checks) {
    let result: KernelCheckResult;
    try {
      const cmp = await engine.scopeAsync(() => check.run(engine));
      result = { kernel: check.kernel, case: check.case, tolerance: check.tolerance, ...cmp };
    } catch (err) {
      result = {
        kernel: check.kernel, case: check.case, tolerance: check.tolerance,
        maxAbsError: Infinity, maxAbsExpected: 0, passed: false, error: (err as Error).message,
      };
    }
    results.push(result);
    onResult?.(result);
  }
  return results;
}
