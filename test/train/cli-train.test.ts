// autosam train / eval / predict as a user runs them (the built CLI), on a small synthetic folder
// dataset (three 24x20x6 NIfTI volumes with a bright disc and a ring as classes 1 and 2) and the
// tiny SAM ViT configuration from the encoder goldens (16-channel 4x4 embeddings), so each run takes
// seconds. Covers: the run directory, the embedding cache being used, a run killed with SIGKILL
// after its first checkpoint and resumed ending bit for bit where an uninterrupted run ends, the
// evaluation report, the prediction keeping the input's grid and affine, the UNet baseline, and
// the errors a user can hit.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageVolume, readLabelVolume, volumeToNifti, type Vec3 } from '../../src/data/volume.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { writeFile } from '../data/helpers.js';

const CLI = 'bin/autosam.js';
const built = existsSync('dist/node/cli.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'autosam-cli-train-'));
const data = path.join(tmp, 'data');
const cache = path.join(tmp, 'cache');
const encoderConfig = path.join(tmp, 'tiny.json');
const checkpoint = 'test/fixtures/golden/sam_encoder/tiny_a/checkpoint.pth';
const DIMS: Vec3 = [24, 20, 6];
const AFFINE = [-1.2, 0, 0, 10, 0, 1.2, 0, -20, 0, 0, 3, 5, 0, 0, 0, 1];

function cli(args: string[]) {
  return spawnSync('node', [CLI, ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
}

function volume(seed: number) {
  const image = new Float32Array(DIMS[0] * DIMS[1] * DIMS[2]);
  const label = new Uint8Array(image.length);
  for (let z = 0, i = 0; z < DIMS[2]; z++) {
    for (let y = 0; y < DIMS[1]; y++) {
      for (let x = 0; x < DIMS[0]; x++, i++) {
        const r = Math.hypot(x - 12 - (seed % 3), y - 10 + z / 3);
        label[i] = r < 4 ? 1 : r < 7 ? 2 : 0;
        image[i] = (label[i] === 1 ? 200 : label[i] === 2 ? 120 : 30) + 10 * Math.sin(i * 0.7 + seed);
      }
    }
  }
  const grid = { dims: DIMS, spacing: [1.2, 1.2, 3] as Vec3, affine: AFFINE };
  return { image: { ...grid, data: image }, label: { ...grid, data: label } };
}

const trainArgs = (out: string, extra: string[] = []) => [
  'train', '--data', `folder:${data}`, '--encoder', encoderConfig, '--checkpoint', checkpoint, '--labeled', '1',
  '--size', '32', '--seed', '3', '--cache', cache, '--out', out, ...extra,
];

beforeAll(() => {
  for (const n of [1, 2, 3]) {
    const { image, label } = volume(n);
    writeFile(path.join(data, `images/case${n}.nii.gz`), volumeToNifti(image, { gzip: true }));
    writeFile(path.join(data, `labels/case${n}.nii.gz`), volumeToNifti(label, { gzip: true }));
  }
  const manifest = JSON.parse(readFileSync('test/fixtures/golden/sam_encoder/manifest.json', 'utf8'));
  writeFile(encoderConfig, JSON.stringify(manifest.cases.tiny_a.config));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!built)('autosam train / eval / predict', () => {
  it('trains a linear head, then eval scores the two held-out volumes and predict keeps the grid', () => {
    const run = path.join(tmp, 'run-linear');
    const r = cli(trainArgs(run, ['--head', 'linear', '--epochs', '30', '--lr', '0.01']));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/linear head trained for 60 steps on 6 samples/); // 6 slices, batches of 4 and 2
    expect(r.stderr).toMatch(/embedding .* 6\/6/); // one labelled volume of 6 slices
    for (const f of ['run.json', 'metrics.jsonl', 'checkpoint.safetensors', 'head.safetensors']) expect(existsSync(path.join(run, f)), f).toBe(true);
    const metrics = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics).toHaveLength(30);
    expect(metrics.at(-1).loss).toBeLessThan(metrics[0].loss);
    const weights = readSafetensors(new Uint8Array(readFileSync(path.join(run, 'head.safetensors'))));
    expect([...weights.tensors.keys()]).toContain('mask_decoder.final.2.weight');

    const e = cli(['eval', '--run', run, '--json', '--cache', cache]);
    expect(e.status, e.stderr).toBe(0);
    const report = JSON.parse(e.stdout);
    expect(report.volumes.map((v: { name: string }) => v.name).sort()).toHaveLength(2);
    expect(report.classes.map((c: { name: string }) => c.name)).toEqual(['class 1', 'class 2']);
    // The tiny random encoder's 4x4 grid barely resolves the disc: this run checks the plumbing (the
    // UNet test below checks that a learnable signal comes out as Dice).
    for (const c of report.classes) expect(c.dice).toBeGreaterThanOrEqual(0);
    expect(JSON.parse(readFileSync(path.join(run, 'eval.json'), 'utf8')).foreground.dice).toBe(report.foreground.dice);
    const table = cli(['eval', '--run', run, '--cache', cache]);
    expect(table.stdout).toMatch(/foreground mean/);
    expect(table.stderr).not.toMatch(/segmenting .* 0\/6.*\n.*1\/6/); // progress goes to stderr, results to stdout

    const input = path.join(data, 'images/case2.nii.gz');
    const out = path.join(tmp, 'pred.nii.gz');
    const p = cli(['predict', '--run', run, '--input', input, '--out', out, '--cache', cache]);
    expect(p.status, p.stderr).toBe(0);
    const pred = readLabelVolume(new Uint8Array(readFileSync(out)), out);
    const source = readImageVolume(new Uint8Array(readFileSync(input)), input);
    expect(pred.dims).toEqual(source.dims);
    expect(pred.spacing).toEqual(source.spacing);
    pred.affine.forEach((v, i) => expect(v).toBeCloseTo(source.affine[i], 5));
    expect(Math.max(...pred.data)).toBeLessThanOrEqual(2);
  }, 300_000);

  it('a run killed after its first checkpoint resumes with --resume and ends exactly where an uninterrupted run ends', async () => {
    const straight = path.join(tmp, 'run-straight');
    expect(cli(trainArgs(straight, ['--head', 'autosam', '--epochs', '12', '--checkpoint-every', '2'])).status).toBe(0);

    const killed = path.join(tmp, 'run-killed');
    const child = spawn('node', [CLI, ...trainArgs(killed, ['--head', 'autosam', '--epochs', '12', '--checkpoint-every', '2'])], { stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    const ckpt = path.join(killed, 'checkpoint.safetensors');
    while (!existsSync(ckpt)) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await exited;
    expect(JSON.parse(readFileSync(path.join(killed, 'run.json'), 'utf8')).status).toBe('training');
    expect(existsSync(path.join(killed, 'head.safetensors'))).toBe(false);

    const resumed = cli(['train', '--out', killed, '--resume', '--cache', cache]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming at step \d+/);
    const a = readSafetensors(new Uint8Array(readFileSync(path.join(straight, 'head.safetensors')))).tensors;
    const b = readSafetensors(new Uint8Array(readFileSync(path.join(killed, 'head.safetensors')))).tensors;
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, t] of a) expect(Buffer.from((b.get(k)!.data as Float32Array).buffer).equals(Buffer.from((t.data as Float32Array).buffer)), k).toBe(true);
    const lines = (dir: string) => readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).map(({ seconds: _s, ...rest }) => rest);
    expect(lines(killed)).toEqual(lines(straight));
  }, 300_000);

  it('trains the UNet baseline on the images (no encoder), which learns the easy classes', () => {
    const run = path.join(tmp, 'run-unet');
    const r = spawnSync('node', [CLI, 'train', '--data', `folder:${data}`, '--head', 'unet', '--unet-base', '4', '--labeled', '1', '--size', '32',
      '--epochs', '40', '--lr', '0.005', '--out', run, '--cache', cache], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/embedding/);
    const e = cli(['eval', '--run', run, '--json', '--cache', cache]);
    expect(e.status, e.stderr).toBe(0);
    const report = JSON.parse(e.stdout);
    expect(report.volumes).toHaveLength(2);
    // A bright disc and a grey ring on a dark background: the slices, the resizing and the way back
    // into the volume must line up for this to score (a transposed or shifted prediction would not).
    expect(report.foreground.dice).toBeGreaterThan(0.6);
  }, 300_000);

  it('refuses bad arguments and misuse with messages that say what was expected', () => {
    const run = path.join(tmp, 'run-bad');
    const expectUsage = (args: string[], message: RegExp) => {
      const r = cli(args);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
    };
    expectUsage(trainArgs(run, ['--head', 'resnet']), /unknown head 'resnet': use autosam, cnn, linear, unet/);
    expectUsage(trainArgs(run, ['--epochs', '0']), /--epochs expects an integer in 1\.\./);
    expectUsage(trainArgs(run, ['--lr', 'fast']), /--lr expects a number/);
    expectUsage(trainArgs(run, ['--size', '30']), /--size must be a multiple of 16/);
    expectUsage(['train', '--head', 'linear'], /--out RUN_DIR is required/);
    expectUsage(['train', '--out', path.join(tmp, 'nowhere'), '--resume'], /is not a run directory/);
    expectUsage(['train', '--out', path.join(tmp, 'run-linear'), '--resume', '--epochs', '3'], /--resume takes the run's own settings/);
    expectUsage(trainArgs(path.join(tmp, 'run-linear'), ['--head', 'linear']), /already holds a run/);
    expectUsage(['eval', '--run', path.join(tmp, 'nowhere')], /is not a run directory/);
    expectUsage(['predict', '--run', path.join(tmp, 'run-linear'), '--input', 'x.nii', '--out', 'y.png'], /name it \.nii or \.nii\.gz/);
    const tooMany = cli(trainArgs(run, ['--head', 'linear', '--labeled', '5']));
    expect(tooMany.status).toBe(1);
    expect(tooMany.stderr).toMatch(/5 labelled .* 3 labelled group/);
    expect(readdirSync(tmp)).not.toContain('y.png');
  }, 120_000);
});
