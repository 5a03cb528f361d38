/**
 * Statistics of a benchmark repeated over S seeds: for each strategy (acquisition function × selection mode) and
 * each seed one learning curve (labelled images → test IoU), and per seed a full-data baseline.
 *
 * - Means come with a two-sided 95 % Student t interval over seeds (df = S − 1); one seed gives a mean and no
 *   interval.
 * - Curves of different lengths: a run that stopped because it reached its target keeps its last IoU up to the
 *   largest labelled count of any run in the benchmark (it had no reason to get worse with more labels, and
 *   dropping it would leave only the seeds that did worse at the high counts). A run that ended for any other
 *   reason (budget, pool, phases, a stop) ends where it ended. Between a run's own points IoU is interpolated
 *   linearly (with a fixed K every seed has the same counts, so this only matters when they differ).
 * - Labels to the target / to the baseline (within 0.01 IoU of that seed's own baseline): the labelled count of the
 *   first phase that reaches it. A seed that never reached it is counted and named, never dropped silently: the mean
 *   is over the seeds that reached it, with "reached in r of S".
 * - AULC: the mean IoU over one labelled range shared by every curve of the benchmark (trapezoids over the curve as
 *   above, divided by the range), so it lies in [0, 1] and strategies and seeds are compared on equal terms.
 * - Paired differences against the reference strategy (`random`) on the same seed, for AULC and labels to target;
 *   the verdict comes from the interval of the paired AULC difference, and needs at least two pairs.
 */
import type { AcquisitionCurve, BenchmarkReportData, CurvePoint, SeedRun } from './types';

/** Two-sided confidence level of every interval in the report. */
/** With fewer seeds than this, the charts draw each seed as a thin line beside the mean instead of a 95 % band. */
export const MIN_SEEDS_FOR_BAND = 3;
export const CONFIDENCE_LEVEL = 0.95;
/** A curve "reaches the baseline" once its IoU is within this of the full-data model's. */
export const BASELINE_TOLERANCE = 0.01;
/** Absorbs floating-point error in thresholds such as 0.87 − 0.01. */
export const THRESHOLD_EPSILON = 1e-9;
/** The strategy every other one is compared with, seed by seed. */
export const DEFAULT_REFERENCE = 'random';

/** P(|T| < t) for Student's t with integer df (Abramowitz & Stegun 26.7.3–4: finite series in θ = atan(t/√df)). */
function studentTCentralMass(t: number, df: number): number {
  const theta = Math.atan(Math.abs(t) / Math.sqrt(df));
  const sin = Math.sin(theta);
  const cos2 = Math.cos(theta) ** 2;
  if (df % 2 === 0) {
    let term = 1;
    let sum = 1;
    for (let j = 1; j <= (df - 2) / 2; j++) {
      term *= ((2 * j - 1) / (2 * j)) * cos2;
      sum += term;
    }
    return sin * sum;
  }
  if (df === 1) return (2 / Math.PI) * theta;
  let term = 1;
  let sum = 1;
  for (let j = 1; j <= (df - 3) / 2; j++) {
    term *= ((2 * j) / (2 * j + 1)) * cos2;
    sum += term;
  }
  return (2 / Math.PI) * (theta + sin * Math.cos(theta) * sum);
}

function checkDf(df: number): void {
  if (!(Number.isInteger(df) && df >= 1)) throw new Error(`Student t needs a positive integer df, got ${df}.`);
}

/** The cumulative distribution function of Student's t with df degrees of freedom (df a positive integer). */
export function studentTCdf(t: number, df: number): number {
  checkDf(df);
  if (Number.isNaN(t)) return Number.NaN;
  if (!Number.isFinite(t)) return t > 0 ? 1 : 0;
  const half = studentTCentralMass(t, df) / 2;
  return t >= 0 ? 0.5 + half : 0.5 - half;
}

/** The p-quantile of Student's t with df degrees of freedom, by bisection on the CDF (exact to ~1e-12). */
export function studentTQuantile(p: number, df: number): number {
  checkDf(df);
  if (!(p > 0 && p < 1)) throw new Error(`A quantile needs p in (0, 1), got ${p}.`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  const mass = 2 * p - 1;
  let low = 0;
  let high = 1;
  while (studentTCentralMass(high, df) < mass) high *= 2;
  for (let i = 0; i < 200 && high - low > 1e-13 * Math.max(1, high); i++) {
    const mid = (low + high) / 2;
    if (studentTCentralMass(mid, df) < mass) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
}

/** A mean over n values; with n ≥ 2 also the sample standard deviation and the two-sided t interval. */
export interface Interval {
  n: number;
  mean: number;
  sd?: number;
  halfWidth?: number;
  lower?: number;
  upper?: number;
}

export function meanInterval(values: readonly number[], level = CONFIDENCE_LEVEL): Interval | undefined {
  if (!(level > 0 && level < 1)) throw new Error(`Confidence level must be in (0, 1), got ${level}.`);
  const n = values.length;
  if (n === 0) return undefined;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const halfWidth = studentTQuantile(1 - (1 - level) / 2, n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, halfWidth, lower: mean - halfWidth, upper: mean + halfWidth };
}

/** The first phase (in phase order) whose test IoU is at least `threshold`, or undefined if none is. */
export function firstPointReaching(curve: Pick<AcquisitionCurve, 'points'>, threshold: number): CurvePoint | undefined {
  return [...curve.points].sort((a, b) => a.phase - b.phase).find((p) => p.iou >= threshold - THRESHOLD_EPSILON);
}

export type CurveMetric = 'iou' | 'dice';

/** A learning curve as a function of the labelled count, with the carry-forward rule of the module header. */
export interface CurveFunction {
  /** Labelled counts in increasing order (for a repeated count, the later phase's value). */
  labelled: number[];
  values: number[];
  /** Last labelled count the function is defined at (beyond the last point when the run carried forward). */
  end: number;
}

export function curveFunction(curve: AcquisitionCurve, metric: CurveMetric, carryTo?: number): CurveFunction | undefined {
  const byLabelled = new Map<number, number>();
  for (const p of [...curve.points].sort((a, b) => a.phase - b.phase)) byLabelled.set(p.labelled, p[metric]);
  const labelled = [...byLabelled.keys()].sort((a, b) => a - b);
  if (labelled.length === 0) return undefined;
  const last = labelled[labelled.length - 1];
  const carries = curve.stopReason === 'target-reached' && carryTo !== undefined && carryTo > last;
  return { labelled, values: labelled.map((x) => byLabelled.get(x)!), end: carries ? carryTo : last };
}

/** The curve's value at a labelled count: exact at its points, linear between them, carried after; undefined outside. */
export function valueAt(fn: CurveFunction, labelled: number): number | undefined {
  const { labelled: xs, values } = fn;
  if (labelled < xs[0] || labelled > fn.end) return undefined;
  if (labelled >= xs[xs.length - 1]) return values[values.length - 1];
  let i = 0;
  while (xs[i + 1] < labelled) i++;
  if (xs[i + 1] === labelled) return values[i + 1];
  if (xs[i] === labelled) return values[i];
  const w = (labelled - xs[i]) / (xs[i + 1] - xs[i]);
  return values[i] + w * (values[i + 1] - values[i]);
}

/** Mean of the curve over [from, to] (trapezoids, exact for the piecewise-linear curve); its value when from = to. */
export function normalisedArea(fn: CurveFunction, from: number, to: number): number | undefined {
  if (to < from || valueAt(fn, from) === undefined || valueAt(fn, to) === undefined) return undefined;
  if (to === from) return valueAt(fn, from);
  const xs = [from, ...fn.labelled.filter((x) => x > from && x < to), to];
  let area = 0;
  for (let i = 1; i < xs.length; i++) area += ((valueAt(fn, xs[i - 1])! + valueAt(fn, xs[i])!) / 2) * (xs[i] - xs[i - 1]);
  return area / (to - from);
}

export interface MeanCurvePoint {
  labelled: number;
  iou: Interval;
  dice: Interval;
  /** Seeds whose value here is carried forward from an earlier point (runs that stopped on reaching the target). */
  carried: number;
}

export interface SeedOutcome {
  seed: number;
  runId: string;
  stopReason: string;
  phases: number;
  bestIoU?: number;
  /** Normalised area under the learning curve over the benchmark's common range. */
  aulc?: number;
  /** First phase reaching the target IoU. */
  toTarget?: CurvePoint;
  /** That seed's full-data baseline IoU, when it has one. */
  baselineIoU?: number;
  /** First phase within BASELINE_TOLERANCE of that seed's baseline. */
  toBaseline?: CurvePoint;
}

/** Labels needed to reach a threshold: how many seeds reached it, and the mean labelled count over those. */
export interface ReachSummary {
  reached: number;
  seeds: number;
  /** Over the seeds that reached it; undefined when none did. */
  labelled?: Interval;
  /** Seeds that never reached it. */
  notReached: number[];
}

export type VerdictKind = 'better' | 'indistinguishable' | 'worse' | 'not-enough-seeds' | 'no-reference' | 'no-common-range';

export interface Verdict {
  kind: VerdictKind;
  text: string;
}

export interface PairedComparison {
  reference: string;
  /** Seed by seed AULC(strategy) − AULC(reference): positive is better. */
  aulc?: Interval;
  /** Seed by seed labels to target, strategy − reference, over seeds where both reached it: negative is better. */
  toTarget?: Interval;
  /** Seeds where only the strategy, or only the reference, reached the target (not in `toTarget`). */
  toTargetOnlyStrategy: number[];
  toTargetOnlyReference: number[];
  verdict: Verdict;
}

export interface StrategyStatistics {
  strategy: string;
  /** Mean curve at every labelled count any of its runs recorded. */
  curve: MeanCurvePoint[];
  seeds: SeedOutcome[];
  aulc?: Interval;
  toTarget: ReachSummary;
  /** Undefined when no seed has a baseline. */
  toBaseline?: ReachSummary;
  /** Undefined for the reference strategy itself. */
  vsReference?: PairedComparison;
  /** Phase-to-phase steps where test IoU went down: of the mean curve, and summed over each seed's own curve. */
  falls: FallCount;
}

export interface FallCount {
  meanFalls: number;
  meanSteps: number;
  seedFalls: number;
  seedSteps: number;
}

/**
 * nnActive's pairwise penalty matrix: `wins[a][b]` counts the labelled budgets (counts every run of both recorded) at
 * which strategy a's test IoU beat b's significantly — the paired difference over seeds has its whole interval above
 * 0 — out of `budgets[a][b]` such budgets. A row's sum says how often a strategy wins, a column's how often it loses.
 */
export interface PenaltyMatrix {
  strategies: string[];
  wins: number[][];
  budgets: number[][];
}

export interface BenchmarkStatistics {
  level: number;
  seeds: number[];
  reference: string;
  targetIoU: number;
  trainingSetSize: number;
  /** The labelled range every curve covers, over which AULC is taken; undefined when the curves share none. */
  range?: { from: number; to: number };
  /** Full-data baseline IoU over the seeds that have one. */
  baseline?: Interval;
  baselineDice?: Interval;
  strategies: StrategyStatistics[];
  /** Undefined with fewer than two strategies. */
  penalty?: PenaltyMatrix;
}

export interface StatisticsInput {
  runs: readonly SeedRun[];
  targetIoU: number;
  /** Initial + pool: the labelled shares are of this. */
  trainingSetSize: number;
  /** Default 'random'. */
  reference?: string;
  level?: number;
}

/** The verdict from the interval of the paired AULC difference. */
export function verdictFrom(difference: Interval | undefined, reference: string): Verdict {
  if (!difference || difference.n < 2 || difference.lower === undefined || difference.upper === undefined) {
    return { kind: 'not-enough-seeds', text: 'not enough seeds' };
  }
  if (difference.lower > 0) return { kind: 'better', text: `better than ${reference}` };
  if (difference.upper < 0) return { kind: 'worse', text: `worse than ${reference}` };
  return { kind: 'indistinguishable', text: `not distinguishable from ${reference}` };
}

function reachSummary(outcomes: readonly SeedOutcome[], pick: (o: SeedOutcome) => CurvePoint | undefined, level: number): ReachSummary {
  const reached = outcomes.filter((o) => pick(o) !== undefined);
  return {
    reached: reached.length,
    seeds: outcomes.length,
    labelled: meanInterval(reached.map((o) => pick(o)!.labelled), level),
    notReached: outcomes.filter((o) => pick(o) === undefined).map((o) => o.seed),
  };
}

/** Steps (in phase order) at which the values went down by more than floating-point noise, and the number of steps. */
export function fallsOf(values: readonly number[]): { falls: number; steps: number } {
  let falls = 0;
  for (let i = 1; i < values.length; i++) if (values[i] < values[i - 1] - THRESHOLD_EPSILON) falls++;
  return { falls, steps: Math.max(0, values.length - 1) };
}

/** See `PenaltyMatrix`: paired IoU differences over seeds at every labelled count both strategies' runs all recorded. */
export function penaltyMatrix(runs: readonly SeedRun[], strategies: readonly string[], level = CONFIDENCE_LEVEL): PenaltyMatrix {
  const iouAt = (strategy: string) => new Map(runs.flatMap((run) => {
    const curve = run.curves.find((c) => c.acquisition === strategy);
    return curve ? [[run.seed, new Map(curve.points.map((p) => [p.labelled, p.iou]))] as const] : [];
  }));
  const bySeed = new Map(strategies.map((s) => [s, iouAt(s)]));
  const wins = strategies.map(() => strategies.map(() => 0));
  const budgets = strategies.map(() => strategies.map(() => 0));
  strategies.forEach((a, i) => strategies.forEach((b, j) => {
    if (i === j) return;
    const seeds = [...bySeed.get(a)!.keys()].filter((seed) => bySeed.get(b)!.has(seed));
    if (seeds.length < 2) return;
    const counts = [...bySeed.get(a)!.get(seeds[0])!.keys()].filter((n) => seeds.every((seed) => bySeed.get(a)!.get(seed)!.has(n) && bySeed.get(b)!.get(seed)!.has(n)));
    for (const n of counts) {
      budgets[i][j] += 1;
      const diff = meanInterval(seeds.map((seed) => bySeed.get(a)!.get(seed)!.get(n)! - bySeed.get(b)!.get(seed)!.get(n)!), level);
      if (diff?.lower !== undefined && diff.lower > 0) wins[i][j] += 1;
    }
  }));
  return { strategies: [...strategies], wins, budgets };
}

/** Strategy names in first-appearance order over the seeds. */
export function strategiesOf(runs: readonly SeedRun[]): string[] {
  return [...new Set(runs.flatMap((r) => r.curves.map((c) => c.acquisition)))];
}

export function benchmarkStatistics(input: StatisticsInput): BenchmarkStatistics {
  const level = input.level ?? CONFIDENCE_LEVEL;
  const reference = input.reference ?? DEFAULT_REFERENCE;
  const { runs, targetIoU, trainingSetSize } = input;
  const allCurves = runs.flatMap((r) => r.curves).filter((c) => c.points.length > 0);
  const carryTo = allCurves.length ? Math.max(...allCurves.flatMap((c) => c.points.map((p) => p.labelled))) : undefined;

  const functions = allCurves.map((c) => curveFunction(c, 'iou', carryTo)!);
  const from = functions.length ? Math.max(...functions.map((f) => f.labelled[0])) : undefined;
  const to = functions.length ? Math.min(...functions.map((f) => f.end)) : undefined;
  const range = from !== undefined && to !== undefined && to >= from ? { from, to } : undefined;

  const strategies = strategiesOf(runs).map((strategy) => {
    const entries = runs.flatMap((run) => {
      const curve = run.curves.find((c) => c.acquisition === strategy);
      return curve ? [{ run, curve }] : [];
    });
    const seeds: SeedOutcome[] = entries.map(({ run, curve }) => {
      const fn = curveFunction(curve, 'iou', carryTo);
      const aulc = fn && range ? normalisedArea(fn, range.from, range.to) : undefined;
      const toTarget = firstPointReaching(curve, targetIoU);
      const toBaseline = run.baseline ? firstPointReaching(curve, run.baseline.iou - BASELINE_TOLERANCE) : undefined;
      return {
        seed: run.seed, runId: curve.runId, stopReason: curve.stopReason, phases: curve.points.length,
        ...(curve.points.length ? { bestIoU: Math.max(...curve.points.map((p) => p.iou)) } : {}),
        ...(aulc !== undefined ? { aulc } : {}),
        ...(toTarget ? { toTarget } : {}),
        ...(run.baseline ? { baselineIoU: run.baseline.iou } : {}),
        ...(toBaseline ? { toBaseline } : {}),
      };
    });

    const iouFns = entries.map(({ curve }) => curveFunction(curve, 'iou', carryTo));
    const diceFns = entries.map(({ curve }) => curveFunction(curve, 'dice', carryTo));
    const counts = [...new Set(entries.flatMap(({ curve }) => curve.points.map((p) => p.labelled)))].sort((a, b) => a - b);
    const curve: MeanCurvePoint[] = counts.map((labelled) => {
      const at = (fns: (CurveFunction | undefined)[]) => fns.flatMap((f) => {
        const v = f && valueAt(f, labelled);
        return v === undefined ? [] : [v];
      });
      const carried = iouFns.filter((f) => f && labelled > f.labelled[f.labelled.length - 1] && labelled <= f.end).length;
      return { labelled, iou: meanInterval(at(iouFns), level)!, dice: meanInterval(at(diceFns), level)!, carried };
    });

    const aulcValues = seeds.flatMap((s) => (s.aulc === undefined ? [] : [s.aulc]));
    const meanFalls = fallsOf(curve.map((p) => p.iou.mean));
    const seedFalls = entries.map(({ curve: c }) => fallsOf([...c.points].sort((a, b) => a.phase - b.phase).map((p) => p.iou)));
    const falls: FallCount = {
      meanFalls: meanFalls.falls, meanSteps: meanFalls.steps,
      seedFalls: seedFalls.reduce((a, f) => a + f.falls, 0), seedSteps: seedFalls.reduce((a, f) => a + f.steps, 0),
    };
    const hasBaseline = entries.some(({ run }) => run.baseline);
    const stats: StrategyStatistics = {
      strategy,
      curve,
      seeds,
      falls,
      ...(aulcValues.length ? { aulc: meanInterval(aulcValues, level) } : {}),
      toTarget: reachSummary(seeds, (s) => s.toTarget, level),
      ...(hasBaseline ? { toBaseline: reachSummary(seeds.filter((s) => s.baselineIoU !== undefined), (s) => s.toBaseline, level) } : {}),
    };
    return stats;
  });

  const referenceStats = strategies.find((s) => s.strategy === reference);
  for (const s of strategies) {
    if (s.strategy === reference) continue;
    if (!referenceStats) {
      s.vsReference = {
        reference, toTargetOnlyStrategy: [], toTargetOnlyReference: [],
        verdict: { kind: 'no-reference', text: `no ${reference} runs to compare with` },
      };
      continue;
    }
    const refBySeed = new Map(referenceStats.seeds.map((o) => [o.seed, o]));
    const pairs = s.seeds.flatMap((o) => (refBySeed.has(o.seed) ? [[o, refBySeed.get(o.seed)!] as const] : []));
    const aulcDiffs = pairs.flatMap(([a, b]) => (a.aulc !== undefined && b.aulc !== undefined ? [a.aulc - b.aulc] : []));
    const targetDiffs = pairs.flatMap(([a, b]) => (a.toTarget && b.toTarget ? [a.toTarget.labelled - b.toTarget.labelled] : []));
    const aulc = meanInterval(aulcDiffs, level);
    const toTarget = meanInterval(targetDiffs, level);
    s.vsReference = {
      reference,
      ...(aulc ? { aulc } : {}),
      ...(toTarget ? { toTarget } : {}),
      toTargetOnlyStrategy: pairs.filter(([a, b]) => a.toTarget && !b.toTarget).map(([a]) => a.seed),
      toTargetOnlyReference: pairs.filter(([a, b]) => !a.toTarget && b.toTarget).map(([a]) => a.seed),
      verdict: !range && pairs.length > 0
        ? { kind: 'no-common-range', text: 'no labelled range common to all curves' }
        : verdictFrom(aulc, reference),
    };
  }

  const baselines = runs.flatMap((r) => (r.baseline ? [r.baseline] : []));
  return {
    level,
    seeds: runs.map((r) => r.seed),
    reference,
    targetIoU,
    trainingSetSize,
    ...(range ? { range } : {}),
    ...(baselines.length ? { baseline: meanInterval(baselines.map((b) => b.iou), level), baselineDice: meanInterval(baselines.map((b) => b.dice), level) } : {}),
    strategies,
    ...(strategies.length >= 2 ? { penalty: penaltyMatrix(runs, strategies.map((s) => s.strategy), level) } : {}),
  };
}

/** A report's seeds: `seeds` as given, or the single-seed fields (`curves`, `baseline`, `metadata.seed`) as one seed. */
export function seedRunsOf(data: Pick<BenchmarkReportData, 'seeds' | 'curves' | 'baseline' | 'metadata'>): SeedRun[] {
  return data.seeds ?? [{ seed: data.metadata.seed, curves: data.curves, ...(data.baseline ? { baseline: data.baseline } : {}) }];
}

/** The statistics of a report's data. */
export function reportStatistics(data: BenchmarkReportData, level = CONFIDENCE_LEVEL): BenchmarkStatistics {
  return benchmarkStatistics({
    runs: seedRunsOf(data), targetIoU: data.targetIoU, trainingSetSize: data.initialSize + data.poolSize,
    ...(data.reference !== undefined ? { reference: data.reference } : {}), level,
  });
}
