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
  /** One per acquisition function (e.g. mfe, random). */
  curves: AcquisitionCurve[];
  /** Full-data model: trained on the initial set plus the whole pool. */
  baseline?: { iou: number; dice: number; labelled: number };
  /** EDNAS search (the paper's Table I). */
  leaderboard?: LeaderboardRow[];
  metadata: {
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
} as const;
