// The built command-line tool, run as a user runs it (npm test builds dist/ before vitest).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const CLI = 'bin/autosam.js';
const built = existsSync('dist/node/cli.js');

describe.skipIf(!built)('autosam CLI', () => {
  it('info --json reports the adapter and the raised limits', () => {
    const out = JSON.parse(execFileSync('node', [CLI, 'info', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    expect(out.adapter.length).toBeGreaterThan(0);
    expect(out.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(out.features).toContain('timestamp-query');
  });

  it('check --json passes on this adapter and covers forward and gradient checks', () => {
    const r = spawnSync('node', [CLI, 'check', '--json', '--filter', 'm'], { encoding: 'utf8' });
    const out = JSON.parse(r.stdout);
    expect(r.status).toBe(0);
    expect(out.passed).toBe(true);
    const kernels = out.kernels.map((k: { kernel: string }) => k.kernel);
    expect(kernels).toContain('matmul');
    expect(kernels).toContain('grad/matmul');
  });

  it('rejects an unknown command and unknown options with exit code 2', () => {
    expect(spawnSync('node', [CLI, 'frobnicate'], { encoding: 'utf8' }).status).toBe(2);
    const r = spawnSync('node', [CLI, 'check', '--bogus'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("Unknown option '--bogus'");
  });
});
