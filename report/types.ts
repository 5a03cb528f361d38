import type { AutoSummary } from './auto';
/** The data a benchmark report is rendered from: plain JSON, stored beside the report as report.json. */
import type { LeaderboardRow } from '../contracts';

/** One active-learning phase as the report sees it. */
export interface CurvePoint {
  labelled: number;
  iou: number;
  dice: number;
  phase: number;
}

/** The learning curve of one acquisition function (one active-learning run). */
export interface AcquisitionCurve {
  acquisition: string;
  runId: string;
  points: CurvePoint[];
  stopReason: string;
  /** The strategy auto: what it judged and chose (report/auto.ts). */
  auto?: AutoSummary;
}

/** The full-data model of one seed: trained on the initial set plus the whole pool. */
export interface BaselineResult {
  iou: number;
  dice: number;
  labelled: number;
}

/**
 * One seed of a multi-seed benchmark: one curve per strategy (its `acquisition` names the strategy, e.g. `mfe`,
 * `mfe stochastic`, `random`; the same names on every seed), and that seed's full-data baseline.
 */
export interface SeedRun {
  seed: number;
  curves: AcquisitionCurve[];
  baseline?: BaselineResult;
}

export interface BenchmarkReportData {
  title: string;
  benchmarkId: string;
  datasetId: string;
  /** Unlabelled pool at the start; with the initial set it is the whole training set (the paper's "original dataset"). */
  poolSize: number;
  initialSize: number;
  testSize: number;
  targetIoU: number;
  /** Single-seed benchmark: one curve per strategy (e.g. mfe, random). Empty when `seeds` is given. */
  curves: AcquisitionCurve[];
  /** Single-seed benchmark: the full-data model (initial set plus the whole pool). Absent when `seeds` is given. */
  baseline?: BaselineResult;
  /**
   * Multi-seed benchmark: one entry per seed (replaces `curves` and `baseline`). The report then shows means with
   * 95 % intervals over seeds, and paired differences against `reference`.
   */
  seeds?: SeedRun[];
  /** The strategy every other one is compared with on the same seed (default 'random'). */
  reference?: string;
  /** EDNAS search (the paper's Table I). */
  leaderboard?: LeaderboardRow[];
  metadata: {
    /** The benchmark's seed (with `seeds`: the first, or the seed the per-run seeds were derived from). */
    seed: number;
    backend: string;
    startedAt: string;
    finishedAt: string;
    durationsMs: Record<string, number>;
    model: string;
    settings: Record<string, unknown>;
  };
}

/** File names inside a report folder or prefix; the Markdown links the charts by these relative names. */
export const REPORT_FILES = {
  markdown: 'report.md',
  data: 'report.json',
  iouChart: 'iou-vs-labelled.svg',
  diceChart: 'dice-vs-labelled.svg',
  leaderboardChart: 'leaderboard-iou.svg',
  /** The computed statistics (means, intervals, paired differences, verdicts) as JSON. */
  statistics: 'statistics.json',
} as const;
