import { adapterName } from '../../device/device.js';
import { Engine } from '../../engine.js';
import { ALL_CHECKS } from '../../check/all.js';
import { runChecks, type KernelCheckResult } from '../../check/registry.js';
import { parseCommandArgs, type Command } from '../command.js';

const HELP = `usage: autosam check [--json] [--filter TEXT]

Runs every kernel on random inputs of several shapes against its plain TypeScript reference and
prints pass or fail with the worst error per kernel. Exits 1 if anything fails, so it tells you
whether this GPU and driver compute correctly.

  --filter TEXT   only kernels whose name contains TEXT
  --json          machine-readable results`;

function errorText(x: number): string {
  return Number.isFinite(x) ? x.toExponential(2) : String(x);
}

export const checkCommand: Command = {
  name: 'check',
  summary: 'verify every kernel on this GPU against its TypeScript reference',
  async run(args) {
    const parsed = parseCommandArgs('check', args, { json: { type: 'boolean' }, filter: { type: 'string' } }, HELP);
    if (!parsed) return 0;
    const { json, filter } = parsed.values;
    const checks = ALL_CHECKS.filter((c) => !filter || c.kernel.includes(filter));
    const engine = await Engine.create();
    try {
      if (!json) console.log(`autosam check on ${adapterName(engine.report)}: ${checks.length} cases`);
      const results = await runChecks(engine, checks);
      const byKernel = new Map<string, KernelCheckResult[]>();
      for (const r of results) byKernel.set(r.kernel, [...(byKernel.get(r.kernel) ?? []), r]);
      const summary = [...byKernel].map(([kernel, rs]) => {
        const worst = rs.reduce((a, b) => (b.maxAbsError > a.maxAbsError ? b : a));
        return { kernel, passed: rs.every((r) => r.passed), cases: rs.length, worstAbsError: worst.maxAbsError, worstCase: worst.case, tolerance: worst.tolerance, failures: rs.filter((r) => !r.passed) };
      });
      const failed = summary.filter((s) => !s.passed);
      if (json) {
        console.log(JSON.stringify({ adapter: adapterName(engine.report), passed: failed.length === 0, kernels: summary }, null, 2));
      } else {
        for (const s of summary) {
          console.log(`${s.passed ? 'pass' : 'FAIL'}  ${s.kernel.padEnd(34)} ${String(s.cases).padStart(2)} cases  worst |err| ${errorText(s.worstAbsError).padEnd(9)} (${s.worstCase}; ${s.tolerance})`);
          for (const f of s.failures) console.log(`        failed ${f.case}: ${f.error ?? `max |err| ${errorText(f.maxAbsError)}`}`);
        }
        console.log(`${summary.length - failed.length} passed, ${failed.length} failed`);
      }
      return failed.length ? 1 : 0;
    } finally {
      engine.dispose();
    }
  },
};
