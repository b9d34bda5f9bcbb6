// node scripts/fuzz-readers.mjs [count] [--seed=N] [--target=pickle,pth,safetensors,loadCheckpoint,nifti,png,npy,onnx] [--limit-ms=500]
// Longer runs of the reader fuzzing that test/io/fuzz-readers.test.ts does in brief: `count`
// mutated files per reader (default 20000), each of which must end in a result or a FormatError
// (a DataError too, for NIfTI and PNG) within the time bound. Bundles the harness with esbuild, then runs it in this process.
// Exits 1 on any failure, printing the case seed that reproduces it (mutateCase(target, seedFile, caseSeed),
// seedFile = target.seeds[(caseSeed - seed * 1000003) % target.seeds.length]).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const hit = args.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : fallback;
};
const positional = args.filter((a) => !a.startsWith('--'));
const count = Number(positional[0] ?? 20000);
const seed = Number(flag('seed', 1));
const limitMs = Number(flag('limit-ms', 500));
const only = flag('target', '');
if (!Number.isInteger(count) || count <= 0 || !Number.isInteger(seed)) {
  console.error('usage: node scripts/fuzz-readers.mjs [count] [--seed=N] [--target=a,b] [--limit-ms=N]');
  process.exit(2);
}

// Bundled inside node_modules so that the bundle's bare imports (fflate) resolve.
mkdirSync('node_modules/.cache', { recursive: true });
const dir = mkdtempSync(join(process.cwd(), 'node_modules/.cache/fuzz-readers-'));
try {
  const outfile = join(dir, 'fuzz-harness.mjs');
  await build({ entryPoints: ['test/io/fuzz-harness.ts'], bundle: true, format: 'esm', platform: 'node', target: 'es2022', packages: 'external', outfile, logLevel: 'warning' });
  const harness = await import(pathToFileURL(outfile).href);
  const fixtures = pathToFileURL(join(process.cwd(), 'test/fixtures/checkpoints/'));
  const fixturesRoot = pathToFileURL(join(process.cwd(), 'test/fixtures/'));
  let failures = 0;
  for (const target of harness.fuzzTargets(fixtures, fixturesRoot)) {
    if (only && !only.split(',').includes(target.name)) continue;
    const report = harness.fuzz(target, count, seed, limitMs);
    console.log(harness.formatReport(report));
    for (const f of report.failures.slice(0, 20)) console.log(`  FAIL case seed ${f.caseSeed} (${f.mutation}): ${f.problem}`);
    failures += report.failures.length;
  }
  if (failures) {
    console.error(`fuzz-readers: ${failures} failures`);
    process.exitCode = 1;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
