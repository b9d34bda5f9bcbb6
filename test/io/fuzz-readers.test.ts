// Seeded, bounded fuzzing of every checkpoint reader (scripts/fuzz-readers.mjs runs the same harness longer).
import { describe, expect, it } from 'vitest';
import { formatReport, fuzz, fuzzTargets, mutate } from './fuzz-harness.js';

const CASES_PER_READER = 500;
const SEED = 1;

describe('fuzzing the checkpoint readers', () => {
  it('mutations are reproducible from their seed', () => {
    const input = new Uint8Array(100).map((_, i) => i);
    expect(mutate(input, 42)).toEqual(mutate(input, 42));
  });

  for (const target of fuzzTargets()) {
    it(`${target.name}: ${CASES_PER_READER} mutated files end in a result or a FormatError, each within the time bound`, () => {
      const report = fuzz(target, CASES_PER_READER, SEED);
      console.log(formatReport(report));
      expect(report.failures).toEqual([]);
      expect(report.accepted + report.refused).toBe(CASES_PER_READER);
      expect(report.refused).toBeGreaterThan(0);
    });
  }
});
