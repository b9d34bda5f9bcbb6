import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { ConstantSchedule, CosineSchedule, makeSchedule, PlateauSchedule, StepSchedule, type ScheduleSpec } from '../../src/train/schedule.js';
import { GOLDEN_KERNELS_DIR, type GoldenManifest } from '../golden.js';

// The expected sequences are float64 lists in the manifest that tools/golden/train.py writes.
const manifest = JSON.parse(readFileSync(`${GOLDEN_KERNELS_DIR}../train/manifest.json`, 'utf8')) as GoldenManifest;
const scheduleCases = manifest.cases.filter((c) => c.op === 'schedule');

interface ScheduleParams {
  kind: 'cosine' | 'step' | 'plateau';
  options: Record<string, unknown>;
  baseLr: number;
  lrs: number[];
  metrics?: number[];
}

describe('LR schedules against torch.optim.lr_scheduler', () => {
  it('has the cases', () => expect(scheduleCases.length).toBeGreaterThanOrEqual(7));

  for (const c of scheduleCases) {
    it(c.name, () => {
      const p = c.params as unknown as ScheduleParams;
      const target = { lr: p.baseLr };
      const schedule = makeSchedule(target, { kind: p.kind, ...p.options } as ScheduleSpec);
      const got = [schedule.lr];
      for (let i = 0; i < p.lrs.length - 1; i++) got.push(schedule.step(p.metrics?.[i]));
      expect(target.lr).toBe(got[got.length - 1]);
      expect(schedule.epoch).toBe(p.lrs.length - 1);
      // Same float64 recursion as PyTorch; only libm's cos may differ in the last bit.
      got.forEach((lr, i) => expect(Math.abs(lr - p.lrs[i]), `${c.name} epoch ${i}: ${lr} vs ${p.lrs[i]}`).toBeLessThanOrEqual(1e-12 * p.lrs[i]));
    });
  }
});

describe('schedule mechanics', () => {
  it('constant keeps the lr; schedules write the lr into their target', () => {
    const target = { lr: 0.3 };
    const s = new ConstantSchedule(target);
    for (let i = 0; i < 5; i++) expect(s.step()).toBe(0.3);
    const step = new StepSchedule(target, { stepSize: 2, gamma: 0.5 });
    step.step();
    step.step();
    expect(target.lr).toBe(0.15);
  });

  it('cosine reaches etaMin at tMax', () => {
    const target = { lr: 1 };
    const s = new CosineSchedule(target, { tMax: 4, etaMin: 0.1 });
    for (let i = 0; i < 4; i++) s.step();
    expect(Math.abs(target.lr - 0.1)).toBeLessThan(1e-12);
  });

  it('plateau reduces after patience bad epochs and respects cooldown and minLr', () => {
    const target = { lr: 1 };
    const s = new PlateauSchedule(target, { patience: 1, factor: 0.5, cooldown: 1, minLr: 0.3 });
    expect([s.step(1), s.step(1), s.step(1)]).toEqual([1, 1, 0.5]); // 2 bad epochs > patience 1
    expect([s.step(1), s.step(1), s.step(1)]).toEqual([0.5, 0.5, 0.3]); // cooldown eats one bad epoch; floor at minLr
    expect(s.step(0.5)).toBe(0.3);
  });

  it('rejects bad settings with UsageErrors', () => {
    const target = { lr: 1 };
    expect(() => new CosineSchedule(target, { tMax: 0 })).toThrow(UsageError);
    expect(() => new StepSchedule(target, { stepSize: 1.5 })).toThrow(/positive integer/);
    expect(() => new PlateauSchedule(target, { factor: 1 })).toThrow(/factor/);
    expect(() => new PlateauSchedule(target).step()).toThrow(/metric/);
    expect(() => makeSchedule(target, { kind: 'linear' } as unknown as ScheduleSpec)).toThrow(/unknown schedule kind 'linear'/);
  });
});
