/** The paper's experiment: learning curves per acquisition function against the full-data baseline. */
import type { ActiveLearningInput, PhaseRecord } from './activeLearning';
import type { ModelChoice, TaskQueues, TrainHyper } from './common';
import type { AcquisitionFunction } from './names';
import type { SearchInput } from './search';

export interface BenchmarkInput {
  title: string;
  datasetId: string;
  seed: number;
  /** Optional EDNAS search first; its best trial then sets the model and hyper-parameters. */
  search?: SearchInput;
  /** Template for every active-learning run; `acquisition` is replaced per run and `oracle` forced on. */
  activeLearning: ActiveLearningInput;
  acquisitions: AcquisitionFunction[];
  /** Also train on the whole training set (initial + pool) for the full-data reference line. */
  baseline: boolean;
  taskQueues: TaskQueues;
}

export interface BaselineRequest {
  runId: string;
  datasetId: string;
  model: ModelChoice;
  hyper: TrainHyper;
}

export interface BaselineOutcome {
  iou: number;
  dice: number;
  labelled: number;
  ms: number;
  backend: string;
}

export interface BenchmarkRunSummary {
  acquisition: AcquisitionFunction;
  runId: string;
  history: PhaseRecord[];
  stopReason: string;
}

export interface BenchmarkReportRequest {
  benchmarkId: string;
  title: string;
  datasetId: string;
  targetIoU: number;
  seed: number;
  searchId?: string;
  runs: BenchmarkRunSummary[];
  baseline?: BaselineOutcome;
  startedAtMs: number;
  finishedAtMs: number;
  durationsMs: Record<string, number>;
  model: string;
  settings: Record<string, unknown>;
}

export interface BenchmarkResult {
  reportKey: string;
  reportPrefix: string;
  curves: { acquisition: AcquisitionFunction; runId: string; labelled: number[]; iou: number[]; stopReason: string }[];
  baseline?: BaselineOutcome;
}
