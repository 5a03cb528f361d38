/**
 * Names and payload types shared by workflows, activities, the worker and the CLI.
 * Imported by workflow code: no Node built-ins, no I/O.
 */

export interface TaskQueues {
  /** Workflows and light I/O activities. */
  light: string;
  /** Training, MC sampling and evaluation: scale out by adding workers here, one per GPU. */
  accel: string;
}

export const DEFAULT_TASK_QUEUES: TaskQueues = { light: 'echo-al-light', accel: 'echo-al-accel' };

export interface RoundTripInput {
  message: string;
  taskQueues?: TaskQueues;
}

export interface RoundTripResult {
  key: string;
  bytes: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Models and training

import type { ArchName } from './ml/types';

export type { ArchName };
export type AcquisitionName = 'cfe' | 'mfe' | 'mi' | 'std' | 'random';
export type PixelReduce = 'mean' | 'sum' | 'max';

/** An architecture choice; input shape and classes come from the dataset. */
export interface ModelChoice {
  arch: ArchName;
  encoder: string;
  encoderDepth: number;
  /** Channel multiplier (1 = faithful smp structure; tests use small values). */
  widthScale?: number;
}

export interface TrainHyper {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  augment: boolean;
  earlyStoppingPatience?: number;
}

export interface ActivityTimeouts {
  /** A training attempt that sends no heartbeat for this long is retried elsewhere, from its last checkpoint. */
  heartbeatMs: number;
  /** Longest single training / scoring attempt. */
  trainAttemptMs: number;
}

export const DEFAULT_TIMEOUTS: ActivityTimeouts = { heartbeatMs: 120_000, trainAttemptMs: 24 * 3600_000 };

export interface TrainRequest {
  runId: string;
  /** Checkpoints and the final model go under this prefix. */
  outputPrefix: string;
  datasetId: string;
  /** Object key of the JSON list of labelled items ({ id, maskKey }[]) to train on. */
  trainItemsKey: string;
  /** Object key of a JSON id list used for validation each epoch (optional). */
  valIdsKey?: string;
  model: ModelChoice;
  dropout: { strategy: 'none' | 'head' | 'decoder'; rate: number };
  hyper: TrainHyper;
}

export interface TrainOutcome {
  modelKey: string;
  params: number;
  epochsRun: number;
  finalLoss: number;
  bestValIoU?: number;
  ms: number;
  /** Epoch the attempt resumed from after a worker crash (0 = fresh start). */
  resumedFromEpoch: number;
  attempt: number;
}

export interface EvaluationOutcome {
  iou: number;
  dice: number;
  images: number;
}

export interface LabelledItem {
  id: string;
  maskKey: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Search (EDNAS)

export interface SearchSpace {
  archs: ArchName[];
  encoders: string[];
  learningRates: number[];
  batchSizes: number[];
}

/** The paper's sets (Table I's search). */
export const PAPER_SEARCH_SPACE: SearchSpace = {
  archs: ['Unet', 'UnetPlusPlus', 'Linknet', 'FPN', 'PSPNet', 'PAN', 'DeepLabV3', 'DeepLabV3Plus', 'MAnet'],
  encoders: ['resnet34', 'resnext50_32x4d', 'se_resnext50_32x4d', 'timm-skresnet34', 'timm-regnety_120', 'densenet121',
    'efficientnet-b0', 'dpn98', 'vgg16_bn', 'mobilenet_v2'],
  learningRates: [1e-4, 4e-4, 1e-5, 5e-5, 1e-6, 4e-6],
  batchSizes: [4, 8, 16],
};

export interface TrialSpec {
  index: number;
  arch: ArchName;
  encoder: string;
  learningRate: number;
  batchSize: number;
}

export interface TrialResult extends TrialSpec {
  status: 'ok' | 'failed';
  iou?: number;
  dice?: number;
  params?: number;
  ms: number;
  modelKey?: string;
  error?: string;
}

export interface LeaderboardRow extends TrialResult {
  rank: number;
}

export interface SearchInput {
  datasetId: string;
  seed: number;
  space: SearchSpace;
  /** Stop after this many trials … */
  maxTrials: number;
  /** … or once this much wall time has passed (no new trials start after it). */
  maxWallTimeMs?: number;
  concurrency: number;
  encoderDepth: number;
  widthScale?: number;
  epochs: number;
  augment: boolean;
  /** Extra trials run first, as given (e.g. a known-good baseline). */
  extraTrials?: Omit<TrialSpec, 'index'>[];
  /** continueAsNew after this many trials, to keep the history short. */
  trialsPerRun: number;
  taskQueues: TaskQueues;
  timeouts?: ActivityTimeouts;
  /** Carried across continueAsNew; absent on the first run. */
  state?: SearchState;
}

export interface SearchState {
  nextIndex: number;
  completed: number;
  failed: number;
  startedAtMs: number;
  /** Best trials so far (at most LEADERBOARD_SIZE); every trial is also stored in MinIO. */
  top: TrialResult[];
}

export const LEADERBOARD_SIZE = 20;

export interface SearchResult {
  leaderboard: LeaderboardRow[];
  leaderboardKey: string;
  markdownKey: string;
  trials: number;
  failed: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Active learning

export interface ActiveLearningInput {
  datasetId: string;
  model: ModelChoice;
  dropout: { strategy: 'head' | 'decoder'; rate: number };
  hyper: TrainHyper;
  acquisition: AcquisitionName;
  reduce: PixelReduce;
  mcSamples: number;
  mcMode: 'fast' | 'naive';
  /** Images requested per phase (paper: 50). */
  labelsPerPhase: number;
  /** Stop when the segmentation model's test IoU reaches this (paper: 0.87). */
  targetIoU: number;
  /** Stop when this many images are labelled. */
  maxLabelled: number;
  maxPhases: number;
  /** Masks are already stored: an activity answers each request (benchmark mode, as in the paper). */
  oracle: boolean;
  /** At most this many images per video in one request (the paper's open redundancy problem). */
  maxPerGroup?: number;
  /** A reminder is recorded each time a request stays unanswered this long. */
  reminderEveryMs: number;
  taskQueues: TaskQueues;
  timeouts?: ActivityTimeouts;
  state?: ActiveLearningState;
}

export interface PhaseRecord {
  phase: number;
  labelled: number;
  iou: number;
  dice: number;
  acquisition: AcquisitionName;
  trainMs: number;
  scoreMs?: number;
  waitMs?: number;
  segResumedFromEpoch: number;
  segAttempts: number;
}

export interface InvalidSubmission {
  phase: number;
  id?: string;
  reason: string;
}

export interface LabelRequest {
  phase: number;
  requestKey: string;
  ids: string[];
  received: LabelledItem[];
  requestedAtMs: number;
  reminders: number;
  overdue: boolean;
}

export interface ActiveLearningState {
  phase: number;
  labelledKey: string;
  labelledCount: number;
  poolKey: string;
  poolCount: number;
  testKey: string;
  testCount: number;
  history: PhaseRecord[];
  /** The last 20 invalid submissions. */
  invalid: InvalidSubmission[];
  pending?: LabelRequest;
  stopRequested: boolean;
}

export interface ActiveLearningStatus {
  stage: string;
  phase: number;
  labelledCount: number;
  poolCount: number;
  lastIoU?: number;
  pending?: { phase: number; requestKey: string; requested: number; received: number; remaining: string[]; reminders: number; overdue: boolean };
  invalid: InvalidSubmission[];
  done: boolean;
  stopReason?: string;
}

export interface LabelsSubmission {
  phase: number;
  items: LabelledItem[];
}

export interface SubmissionOutcome {
  accepted: string[];
  rejected: { id?: string; reason: string }[];
  remaining: string[];
}

export interface ActiveLearningResult {
  stopReason: 'target-reached' | 'budget-spent' | 'pool-empty' | 'max-phases' | 'stopped';
  history: PhaseRecord[];
  reportKey: string;
  labelledKey: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Pipeline

export interface PipelineInput {
  search?: SearchInput;
  /** Active-learning settings; its `model` and `hyper.learningRate/batchSize` are replaced by the search's best trial unless `useGivenModel`. */
  activeLearning: ActiveLearningInput;
  useGivenModel?: boolean;
}

export interface PipelineResult {
  search?: SearchResult;
  /** Absent when the pipeline was stopped during the search. */
  activeLearning?: ActiveLearningResult;
}

// ---------------------------------------------------------------------------------------------------------------
// Benchmark (the paper's experiment: learning curves per acquisition function against the full-data baseline)

export interface BenchmarkInput {
  title: string;
  datasetId: string;
  seed: number;
  /** Optional EDNAS search first; its best trial then sets the model and hyper-parameters. */
  search?: SearchInput;
  /** Template for every active-learning run; `acquisition` is replaced per run and `oracle` forced on. */
  activeLearning: ActiveLearningInput;
  acquisitions: AcquisitionName[];
  /** Also train on the whole training set (initial + pool) for the full-data reference line. */
  baseline: boolean;
  taskQueues: TaskQueues;
}

export interface BaselineOutcome {
  iou: number;
  dice: number;
  labelled: number;
  ms: number;
  backend: string;
}

export interface BenchmarkResult {
  reportKey: string;
  reportPrefix: string;
  curves: { acquisition: AcquisitionName; runId: string; labelled: number[]; iou: number[]; stopReason: string }[];
  baseline?: BaselineOutcome;
}
