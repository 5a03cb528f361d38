/** EDNAS search: the space, trials, the leaderboard, and the workflow's input, state and result. */
import type { ActivityTimeouts, TaskQueues } from './common';
import type { ArchName } from './names';

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

/** Trials kept in the search's state; every trial is also stored in MinIO. */
export const LEADERBOARD_SIZE = 20;

export interface SearchInput {
  datasetId: string;
  seed: number;
  space: SearchSpace;
  /** Stop after this many trials … */
  maxTrials: number;
  /** … or once this much wall time has passed (no new trials start after it). */
  maxWallTimeMs?: number;
  concurrency: number;
  /** Encoder stages of every trial; absent: each architecture's own default. */
  encoderDepth?: number;
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
  /** Best trials so far (at most LEADERBOARD_SIZE). */
  top: TrialResult[];
}

export interface SearchProgress {
  completed: number;
  failed: number;
  running: number;
  maxTrials: number;
}

export interface SearchResult {
  leaderboard: LeaderboardRow[];
  leaderboardKey: string;
  markdownKey: string;
  trials: number;
  failed: number;
}

/** One trial's activity input and outcome. */
export interface SearchTrialRequest {
  searchId: string;
  datasetId: string;
  trial: TrialSpec;
  encoderDepth?: number;
  widthScale?: number;
  epochs: number;
  augment: boolean;
  seed: number;
}

export interface SearchTrialOutcome {
  iou: number;
  dice: number;
  params: number;
  ms: number;
  modelKey: string;
}
