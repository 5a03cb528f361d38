import { describe, expect, it } from 'vitest';
import {
  benchmarkStatistics, curveFunction, fallsOf, meanInterval, normalisedArea, penaltyMatrix, studentTCdf, studentTQuantile, valueAt, verdictFrom,
} from '../../report/stats';
import type { AcquisitionCurve, SeedRun } from '../../report/types';

/** A curve at labelled 10, 20, 30, … with the given IoUs (Dice = IoU + 0.1). */
function curve(acquisition: string, seed: number, ious: number[], stopReason = 'budget-spent'): AcquisitionCurve {
  return {
    acquisition, runId: `bench-${seed}-${acquisition}`, stopReason,
    points: ious.map((iou, i) => ({ phase: i + 1, labelled: 10 * (i + 1), iou, dice: iou + 0.1 })),
  };
}

describe('Student t', () => {
  it('gives the two-sided 95 % quantiles of the tables', () => {
    // t_{0.975, df} from standard tables.
    const table: Array<[number, number]> = [[1, 12.7062], [2, 4.3027], [3, 3.1824], [4, 2.7764], [9, 2.2622], [10, 2.2281], [30, 2.0423], [100, 1.9840]];
    for (const [df, t] of table) expect(studentTQuantile(0.975, df), `df ${df}`).toBeCloseTo(t, 4);
    // One-sided 95 % with df = 5, and the lower tail by symmetry.
    expect(studentTQuantile(0.95, 5)).toBeCloseTo(2.0150, 4);
    expect(studentTQuantile(0.025, 4)).toBeCloseTo(-2.7764, 4);
    expect(studentTQuantile(0.5, 7)).toBe(0);
  });

  it('has the closed-form CDF for small df', () => {
    expect(studentTCdf(0, 3)).toBe(0.5);
    // df = 1 is the Cauchy distribution: F(1) = 3/4.
    expect(studentTCdf(1, 1)).toBeCloseTo(0.75, 12);
    // df = 2: F(t) = 1/2 + t / (2 √(2 + t²)).
    expect(studentTCdf(2, 2)).toBeCloseTo(0.5 + 2 / (2 * Math.sqrt(6)), 12);
    expect(studentTCdf(-2, 2)).toBeCloseTo(0.5 - 2 / (2 * Math.sqrt(6)), 12);
    // df = 3: F(t) = 1/2 + (θ + sin θ cos θ) / π with θ = atan(t / √3).
    const theta = Math.atan(1.5 / Math.sqrt(3));
    expect(studentTCdf(1.5, 3)).toBeCloseTo(0.5 + (theta + Math.sin(theta) * Math.cos(theta)) / Math.PI, 12);
    expect(studentTCdf(Infinity, 4)).toBe(1);
    expect(() => studentTCdf(1, 0)).toThrow(/positive integer df/);
    expect(() => studentTQuantile(1, 3)).toThrow(/p in \(0, 1\)/);
  });

  it('makes a mean with a t interval, and no interval from one value', () => {
    // Values 1, 2, 3: mean 2, s = 1, half-width t_{0.975,2} · 1/√3 = 4.3027 / 1.7321 = 2.4841.
    const iv = meanInterval([1, 2, 3])!;
    expect(iv.n).toBe(3);
    expect(iv.mean).toBe(2);
    expect(iv.sd).toBeCloseTo(1, 12);
    expect(iv.halfWidth).toBeCloseTo(2.4841, 4);
    expect(iv.lower).toBeCloseTo(-0.4841, 4);
    expect(iv.upper).toBeCloseTo(4.4841, 4);
    // 90 % interval of the same values: t_{0.95,2} = 2.9200.
    expect(meanInterval([1, 2, 3], 0.9)!.halfWidth).toBeCloseTo(2.92 / Math.sqrt(3), 3);
    expect(meanInterval([0.7])).toEqual({ n: 1, mean: 0.7 });
    expect(meanInterval([])).toBeUndefined();
  });
});

describe('learning curves as functions', () => {
  it('interpolates between points, carries forward only after reaching the target', () => {
    const reached = curveFunction(curve('mfe', 1, [0.5, 0.8], 'target-reached'), 'iou', 40)!;
    expect(reached.end).toBe(40);
    expect(valueAt(reached, 10)).toBe(0.5);
    expect(valueAt(reached, 15)).toBeCloseTo(0.65, 12);
    expect(valueAt(reached, 35)).toBe(0.8);
    expect(valueAt(reached, 41)).toBeUndefined();
    expect(valueAt(reached, 5)).toBeUndefined();
    const budget = curveFunction(curve('mfe', 1, [0.5, 0.8], 'budget-spent'), 'iou', 40)!;
    expect(budget.end).toBe(20);
    expect(valueAt(budget, 30)).toBeUndefined();
    expect(curveFunction(curve('mfe', 1, []), 'iou')).toBeUndefined();
  });

  it('normalises the area to the mean IoU over the range', () => {
    // 0.5 → 0.8 over 10–20, then carried 0.8 to 30: (0.65 · 10 + 0.8 · 10) / 20 = 0.725.
    const fn = curveFunction(curve('mfe', 1, [0.5, 0.8], 'target-reached'), 'iou', 30)!;
    expect(normalisedArea(fn, 10, 30)).toBeCloseTo(0.725, 12);
    // A range that starts between points: 15–20 averages 0.65 → 0.8 = 0.725 · 5, then 0.8 · 10 → (3.625 + 8) / 15.
    expect(normalisedArea(fn, 15, 30)).toBeCloseTo(11.625 / 15, 12);
    expect(normalisedArea(fn, 20, 20)).toBe(0.8);
    expect(normalisedArea(fn, 10, 31)).toBeUndefined();
  });
});

describe('benchmark statistics', () => {
  // Three seeds; target IoU 0.8; 100-image training set.
  const runs: SeedRun[] = [
    { seed: 1, baseline: { iou: 0.81, dice: 0.9, labelled: 100 }, curves: [curve('mfe', 1, [0.5, 0.8], 'target-reached'), curve('random', 1, [0.5, 0.6, 0.7])] },
    { seed: 2, baseline: { iou: 0.9, dice: 0.95, labelled: 100 }, curves: [curve('mfe', 2, [0.6, 0.7, 0.9]), curve('random', 2, [0.5, 0.7, 0.8])] },
    { seed: 3, baseline: { iou: 0.86, dice: 0.93, labelled: 100 }, curves: [curve('mfe', 3, [0.5, 0.75, 0.85]), curve('random', 3, [0.6, 0.7, 0.75])] },
  ];
  const stats = benchmarkStatistics({ runs, targetIoU: 0.8, trainingSetSize: 100 });
  const mfe = stats.strategies.find((s) => s.strategy === 'mfe')!;
  const random = stats.strategies.find((s) => s.strategy === 'random')!;

  it('takes AULC over the range every curve covers, per seed', () => {
    expect(stats.range).toEqual({ from: 10, to: 30 });
    // random: (0.55 + 0.65) / 2 = 0.6, (0.6 + 0.75) / 2 = 0.675, (0.65 + 0.725) / 2 = 0.6875.
    random.seeds.forEach((s, i) => expect(s.aulc).toBeCloseTo([0.6, 0.675, 0.6875][i], 12));
    // mfe seed 1 carries 0.8 from 20 to 30: (0.65 + 0.8) / 2 = 0.725; seed 2: 0.725; seed 3: (0.625 + 0.8) / 2 = 0.7125.
    mfe.seeds.forEach((s, i) => expect(s.aulc).toBeCloseTo([0.725, 0.725, 0.7125][i], 12));
    expect(mfe.aulc!.mean).toBeCloseTo(0.720833, 6);
  });

  it('averages the curve at every labelled count, counting carried seeds', () => {
    expect(mfe.curve.map((p) => p.labelled)).toEqual([10, 20, 30]);
    const at30 = mfe.curve[2];
    // 0.8 (seed 1, carried), 0.9, 0.85.
    expect(at30.iou.mean).toBeCloseTo(0.85, 12);
    expect(at30.iou.n).toBe(3);
    expect(at30.carried).toBe(1);
    expect(at30.dice.mean).toBeCloseTo(0.95, 12);
    // s = 0.05: half-width 4.3027 · 0.05 / √3 = 0.12421.
    expect(at30.iou.halfWidth).toBeCloseTo(0.12421, 4);
    expect(mfe.curve[0].carried).toBe(0);
  });

  it('counts labels to the target and to each seed\'s baseline, naming the seeds that never got there', () => {
    // mfe: 20, 30, 30 → mean 26.667, s = 5.7735, half-width 4.3027 · 5.7735 / √3 = 14.342.
    expect(mfe.toTarget.reached).toBe(3);
    expect(mfe.toTarget.labelled!.mean).toBeCloseTo(26.6667, 4);
    expect(mfe.toTarget.labelled!.halfWidth).toBeCloseTo(14.342, 3);
    expect(mfe.seeds.map((s) => s.toTarget?.labelled)).toEqual([20, 30, 30]);
    // random reached 0.8 only on seed 2.
    expect(random.toTarget).toMatchObject({ reached: 1, seeds: 3, notReached: [1, 3] });
    expect(random.toTarget.labelled).toEqual({ n: 1, mean: 30 });
    // Baselines 0.81, 0.9, 0.86 → thresholds 0.80, 0.89, 0.85 (0.81 − 0.01 is 0.8000000000000002 in floating point).
    expect(mfe.seeds.map((s) => s.toBaseline?.labelled)).toEqual([20, 30, 30]);
    expect(random.toBaseline).toMatchObject({ reached: 0, seeds: 3, notReached: [1, 2, 3] });
    expect(random.toBaseline!.labelled).toBeUndefined();
    expect(stats.baseline!.mean).toBeCloseTo((0.81 + 0.9 + 0.86) / 3, 12);
  });

  it('pairs every strategy with random on the same seed', () => {
    const vs = mfe.vsReference!;
    // AULC differences 0.125, 0.05, 0.025: mean 0.066667, s = 0.052042, half-width 4.3027 · 0.052042 / √3 = 0.12928.
    expect(vs.aulc!.mean).toBeCloseTo(0.066667, 6);
    expect(vs.aulc!.sd).toBeCloseTo(0.052042, 6);
    expect(vs.aulc!.halfWidth).toBeCloseTo(0.12928, 4);
    expect(vs.verdict).toEqual({ kind: 'indistinguishable', text: 'not distinguishable from random' });
    // Labels to target: only seed 2 has both (30 − 30); seeds 1 and 3 only mfe reached.
    expect(vs.toTarget).toEqual({ n: 1, mean: 0 });
    expect(vs.toTargetOnlyStrategy).toEqual([1, 3]);
    expect(vs.toTargetOnlyReference).toEqual([]);
    expect(random.vsReference).toBeUndefined();
  });

  it('says better or worse only when the interval of the paired AULC difference excludes 0', () => {
    // mfe beats random by 0.1, 0.11, 0.09 IoU everywhere: differences 0.1, 0.11, 0.09 → interval [0.075, 0.125].
    const clear: SeedRun[] = [0.1, 0.11, 0.09].map((gap, seed) => ({
      seed, curves: [curve('random', seed, [0.5, 0.6]), curve('mfe', seed, [0.5 + gap, 0.6 + gap]), curve('std', seed, [0.5 - gap, 0.6 - gap])],
    }));
    const clearStats = benchmarkStatistics({ runs: clear, targetIoU: 0.9, trainingSetSize: 50 });
    const byName = (name: string) => clearStats.strategies.find((s) => s.strategy === name)!.vsReference!;
    expect(byName('mfe').aulc!.lower).toBeCloseTo(0.1 - 4.3027 * 0.01 / Math.sqrt(3), 4);
    expect(byName('mfe').verdict.text).toBe('better than random');
    expect(byName('std').verdict.text).toBe('worse than random');
    // One seed is never enough, whatever the difference.
    const one = benchmarkStatistics({ runs: clear.slice(0, 1), targetIoU: 0.9, trainingSetSize: 50 });
    expect(one.strategies.find((s) => s.strategy === 'mfe')!.vsReference!.verdict).toEqual({ kind: 'not-enough-seeds', text: 'not enough seeds' });
    expect(one.strategies.find((s) => s.strategy === 'mfe')!.vsReference!.aulc).toEqual({ n: 1, mean: expect.closeTo(0.1, 12) });
    // Without random runs there is nothing to pair with.
    const noRandom = benchmarkStatistics({ runs: clear.map((r) => ({ ...r, curves: r.curves.filter((c) => c.acquisition !== 'random') })), targetIoU: 0.9, trainingSetSize: 50 });
    expect(noRandom.strategies[0].vsReference!.verdict.kind).toBe('no-reference');
    // Another reference can be named.
    const vsStd = benchmarkStatistics({ runs: clear, targetIoU: 0.9, trainingSetSize: 50, reference: 'std' });
    expect(vsStd.strategies.find((s) => s.strategy === 'random')!.vsReference!.verdict.text).toBe('better than std');
  });

  it('reads verdicts from intervals', () => {
    expect(verdictFrom({ n: 2, mean: 0.1, lower: 0.01, upper: 0.19 }, 'random').kind).toBe('better');
    expect(verdictFrom({ n: 2, mean: -0.1, lower: -0.19, upper: -0.01 }, 'random').kind).toBe('worse');
    expect(verdictFrom({ n: 5, mean: 0.1, lower: -0.01, upper: 0.21 }, 'random').kind).toBe('indistinguishable');
    expect(verdictFrom({ n: 1, mean: 0.3 }, 'random').kind).toBe('not-enough-seeds');
    expect(verdictFrom(undefined, 'random').kind).toBe('not-enough-seeds');
  });

  it('ends curves that stopped for other reasons where they ended, and shortens the common range to fit', () => {
    const uneven: SeedRun[] = [0, 1].map((seed) => ({
      seed, curves: [curve('random', seed, [0.5, 0.6, 0.7, 0.8]), curve('mfe', seed, seed === 0 ? [0.55, 0.65] : [0.5, 0.7, 0.75], 'stopped')],
    }));
    const s = benchmarkStatistics({ runs: uneven, targetIoU: 0.95, trainingSetSize: 100 });
    expect(s.range).toEqual({ from: 10, to: 20 });
    const mfeUneven = s.strategies.find((x) => x.strategy === 'mfe')!;
    // At 30 only seed 1 has a value: n = 1, no interval, nothing carried.
    expect(mfeUneven.curve[2]).toMatchObject({ labelled: 30, carried: 0, iou: { n: 1, mean: 0.75 } });
    expect(mfeUneven.seeds.map((x) => x.aulc)).toEqual([expect.closeTo(0.6, 12), expect.closeTo(0.6, 12)]);
  });
});

describe('falls and the pairwise penalty matrix', () => {
  it('counts the steps where IoU went down, of the mean curve and of each seed', () => {
    const runs: SeedRun[] = [
      { seed: 1, curves: [curve('random', 1, [0.5, 0.4, 0.6])] },
      { seed: 2, curves: [curve('random', 2, [0.5, 0.7, 0.6])] },
    ];
    expect(fallsOf([0.5, 0.4, 0.4, 0.6])).toEqual({ falls: 1, steps: 3 });
    expect(fallsOf([])).toEqual({ falls: 0, steps: 0 });
    const stats = benchmarkStatistics({ runs, targetIoU: 0.9, trainingSetSize: 100 });
    // Mean curve 0.5, 0.55, 0.6 rises; the seeds fell once each.
    expect(stats.strategies[0].falls).toEqual({ meanFalls: 0, meanSteps: 2, seedFalls: 2, seedSteps: 4 });
  });

  it('counts the budgets where a strategy beat another significantly over seeds', () => {
    // a beats b by 0.1 ± small noise at 10 and 20; at 30 the difference changes sign between seeds.
    const runs: SeedRun[] = [1, 2, 3].map((seed) => ({
      seed,
      curves: [curve('a', seed, [0.6 + 0.001 * seed, 0.7, seed === 2 ? 0.5 : 0.8]), curve('b', seed, [0.5, 0.6 - 0.001 * seed, 0.7])],
    }));
    const p = penaltyMatrix(runs, ['a', 'b']);
    expect(p.budgets).toEqual([[0, 3], [3, 0]]);
    expect(p.wins).toEqual([[0, 2], [0, 0]]);
    expect(benchmarkStatistics({ runs, targetIoU: 0.9, trainingSetSize: 100, reference: 'b' }).penalty).toEqual(p);
    // One seed gives no interval: no budget is counted.
    expect(penaltyMatrix(runs.slice(0, 1), ['a', 'b']).budgets).toEqual([[0, 0], [0, 0]]);
  });
});
