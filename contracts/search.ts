/** EDNAS search: the space, trials, the leaderboard, and the workflow's input, state and result. */
import type { ActivityTimeouts, TaskQueues, WeightsRef } from './common';
import type { ArchName, SearchScheduler } from './names';

export interface SearchSpace {
  archs: ArchName[];
  encoders: string[];
  learningRates: number[];
  batchSizes: number[];
}

const PAPER_ARCHS: ArchName[] = ['Unet', 'UnetPlusPlus', 'Linknet', 'FPN', 'PSPNet', 'PAN', 'DeepLabV3', 'DeepLabV3Plus', 'MAnet'];
const PAPER_LEARNING_RATES = [1e-4, 4e-4, 1e-5, 5e-5, 1e-6, 4e-6];
const PAPER_BATCH_SIZES = [4, 8, 16];

/** The default space: all 9 architectures and the paper's learning rates and batch sizes, with 10 encoders of its families. */
export const DEFAULT_SEARCH_SPACE: SearchSpace = {
  archs: PAPER_ARCHS,
  encoders: ['resnet34', 'resnext50_32x4d', 'se_resnext50_32x4d', 'timm-skresnet34', 'timm-regnety_120', 'densenet121',
    'efficientnet-b0', 'dpn98', 'vgg16_bn', 'mobilenet_v2'],
  learningRates: PAPER_LEARNING_RATES,
  batchSizes: PAPER_BATCH_SIZES,
};

/**
 * The paper's space: 46 encoders of its families × 9 architectures × 6 learning rates × 3 batch sizes = 7,452
 * configurations. The paper names the families, not the 46 encoders; these are: ResNet (5), ResNeXt (2),
 * ResNet-D/ResNeSt (4), SE-Net (5), SK-ResNe(X)t (3), DenseNet (4), EfficientNet (8), DPN (6), RegNetX/Y (8), VGG (1).
 */
export const PAPER_SEARCH_SPACE: SearchSpace = {
  archs: PAPER_ARCHS,
  encoders: [
    'resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152',
    'resnext50_32x4d', 'resnext101_32x8d',
    'timm-resnest14d', 'timm-resnest26d', 'timm-resnest50d', 'timm-resnest101e',
    'se_resnet50', 'se_resnet101', 'se_resnet152', 'se_resnext50_32x4d', 'se_resnext101_32x4d',
    'timm-skresnet18', 'timm-skresnet34', 'timm-skresnext50_32x4d',
    'densenet121', 'densenet161', 'densenet169', 'densenet201',
    'efficientnet-b0', 'efficientnet-b1', 'efficientnet-b2', 'efficientnet-b3', 'efficientnet-b4', 'efficientnet-b5', 'efficientnet-b6', 'efficientnet-b7',
    'dpn68', 'dpn68b', 'dpn92', 'dpn98', 'dpn107', 'dpn131',
    'timm-regnetx_002', 'timm-regnetx_016', 'timm-regnetx_032', 'timm-regnetx_064',
    'timm-regnety_004', 'timm-regnety_016', 'timm-regnety_032', 'timm-regnety_120',
    'vgg16_bn',
  ],
  learningRates: PAPER_LEARNING_RATES,
  batchSizes: PAPER_BATCH_SIZES,
};

/** Named spaces (`--space`). */
export const SEARCH_SPACES = { default: DEFAULT_SEARCH_SPACE, paper: PAPER_SEARCH_SPACE } as const;
export type SearchSpaceName = keyof typeof SEARCH_SPACES;

/** Configurations in a space. */
export function spaceSize(space: SearchSpace): number {
  return space.archs.length * space.encoders.length * space.learningRates.length * space.batchSizes.length;
}

export interface TrialSpec {
  index: number;
  arch: ArchName;
  encoder: string;
  learningRate: number;
  batchSize: number;
}

export interface TrialResult extends TrialSpec {
  status: 'ok' | 'failed';
  /** Validation IoU and Dice of the trial's best epoch so far: what ranks it. */
  valIoU?: number;
  valDice?: number;
  /** Test IoU and Dice, measured for the leaderboard's winners only (reported, never used to choose). */
  testIoU?: number;
  testDice?: number;
  /** Epochs trained so far, and the successive-halving rung reached (0 for random search). */
  epochs?: number;
  rung?: number;
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

export interface AshaSettings {
  /** Reduction factor: the top 1/eta of a rung is promoted (default 3). */
  eta: number;
  /** Epochs of the first rung. */
  minEpochs: number;
  /** Epochs of the last rung (a configuration never trains longer). */
  maxEpochs: number;
}

export interface SearchInput {
  datasetId: string;
  seed: number;
  space: SearchSpace;
  /** 'random' (the paper: every trial trains `epochs`) or 'asha' (asynchronous successive halving over epochs). */
  scheduler?: SearchScheduler;
  asha?: AshaSettings;
  /** Stop after this many configurations … */
  maxTrials: number;
  /** … or once this many epochs have been trained in all (no new work starts after it) … */
  epochBudget?: number;
  /** … or once this much wall time has passed (no new trials start after it). */
  maxWallTimeMs?: number;
  concurrency: number;
  /** Encoder stages of every trial; absent: each architecture's own default. */
  encoderDepth?: number;
  widthScale?: number;
  /** PyTorch weights every trial starts from (a space of one encoder; `--encoder-weights`, `--init-weights`). */
  initWeights?: WeightsRef;
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

/** A configuration's result at a successive-halving rung. */
export interface RungEntry {
  index: number;
  valIoU: number;
  /** Promoted to the next rung (running or done there). */
  promoted: boolean;
}

export interface SearchState {
  nextIndex: number;
  completed: number;
  failed: number;
  startedAtMs: number;
  /** Best trials so far (at most LEADERBOARD_SIZE). */
  top: TrialResult[];
  /** Epochs trained in all (every trial, every rung). */
  epochsSpent?: number;
  /** ASHA: each rung's completed results. */
  rungs?: RungEntry[][];
  /** Jobs started in this run of the workflow (continue-as-new counts them). */
  jobsThisRun?: number;
}

export interface SearchProgress {
  completed: number;
  failed: number;
  running: number;
  maxTrials: number;
  epochsSpent?: number;
  epochBudget?: number;
  scheduler?: SearchScheduler;
}

export interface SearchResult {
  leaderboard: LeaderboardRow[];
  leaderboardKey: string;
  markdownKey: string;
  trials: number;
  failed: number;
}

/** One trial's activity input and outcome (a promoted ASHA trial continues from its checkpoints to `epochs`). */
export interface SearchTrialRequest {
  searchId: string;
  datasetId: string;
  trial: TrialSpec;
  encoderDepth?: number;
  widthScale?: number;
  initWeights?: WeightsRef;
  epochs: number;
  augment: boolean;
  seed: number;
}

export interface SearchTrialOutcome {
  /** Best validation IoU and Dice over the epochs trained (the weights kept are that epoch's). */
  valIoU: number;
  valDice: number;
  epochs: number;
  params: number;
  ms: number;
  modelKey: string;
}
