// The built command-line tool, run as a user runs it (npm test builds dist/ before vitest).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';

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

  it('names a missing input file without a stack trace', () => {
    const r = spawnSync('node', [CLI, 'embed', '--input', '/nonexistent/scan.png', '--out', '/tmp/x.npy'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('autosam embed: /nonexistent/scan.png: no such file or directory');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('rejects an unknown command and unknown options with exit code 2', () => {
    expect(spawnSync('node', [CLI, 'frobnicate'], { encoding: 'utf8' }).status).toBe(2);
    const r = spawnSync('node', [CLI, 'check', '--bogus'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("Unknown option '--bogus'");
  });
});

describe.skipIf(!built)('autosam embed', () => {
  it('embeds a sagittal NIfTI slice with a SAM ViT from a JSON config and a torch.save checkpoint', async () => {
    const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { readNpy } = await import('../src/io/npy.js');
    const dir = mkdtempSync(join(tmpdir(), 'autosam-embed-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const manifest = JSON.parse(readFileSync('test/fixtures/golden/sam_encoder/manifest.json', 'utf8'));
    const config = join(dir, 'tiny.json');
    writeFileSync(config, JSON.stringify(manifest.cases.tiny_a.config));
    const out = join(dir, 'emb.npy');
    const r = spawnSync('node', [CLI, 'embed', '--input', '/usr/share/mricron/templates/ch2.nii.gz', '--slice', '0:90',
      '--encoder', config, '--checkpoint', 'test/fixtures/golden/sam_encoder/tiny_a/checkpoint.pth', '--out', out], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const npy = readNpy(new Uint8Array(readFileSync(out)));
    expect(npy.shape).toEqual([1, 16, 4, 4]);
    expect(Array.from(npy.data as Float32Array).every(Number.isFinite)).toBe(true);
    const bad = spawnSync('node', [CLI, 'embed', '--input', '/usr/share/mricron/templates/ch2.nii.gz', '--slice', '3:1',
      '--encoder', config, '--checkpoint', 'test/fixtures/golden/sam_encoder/tiny_a/checkpoint.pth', '--out', out], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('the axis must be 0, 1 or 2');
  });
});
