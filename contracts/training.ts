/** Payloads of the accelerator activities: training, evaluation, scoring. */
import type { DropoutChoice, ModelChoice, TrainHyper } from './common';
import type { AcquisitionFunction, MCMode, PixelReduction, PredictEngine, UncertaintyFunction } from './names';

export interface TrainRequest {
  runId: string;
  /** Checkpoints and the final model go under this prefix (the model's key). */
  outputPrefix: string;
  datasetId: string;
  /** Object key of the JSON list of labelled items ({ id, maskKey }[]) to train on. */
  trainItemsKey: string;
  /** Object key of a JSON id list used for validation each epoch (optional). */
  valIdsKey?: string;
  model: ModelChoice;
  dropout: DropoutChoice;
  hyper: TrainHyper;
  /** Start from this trained model's weights (the same architecture; a warm-started phase: the previous phase's model). */
  initFrom?: string;
  /** Object key of more labelled items to train on ({ id, maskKey }[]): pseudo-labels, never evaluated on. */
  extraItemsKey?: string;
  /** Mean teacher: object key of the unlabelled pool's id list, whose frames (at most MEAN_TEACHER_MAX_FRAMES, drawn by the seed) train the consistency term. */
  unlabelledKey?: string;
}

/** Mean teacher: at most this many pool frames are held in memory for the consistency term (a seeded draw of them). */
export const MEAN_TEACHER_MAX_FRAMES = 512;

/**
 * Pseudo-labels for the next phase (`--semi-supervised pseudo-label`): the validation split sets how sure is sure
 * enough, then the pool frames below that uncertainty get the segmentation model's mask as a training label.
 */
export interface PseudoLabelRequest {
  runId: string;
  phase: number;
  datasetId: string;
  /** Validation ids (with masks): each frame's uncertainty against the segmentation model's IoU sets the threshold. */
  valKey: string;
  poolKey: string;
  /** The phase's merged pool scores, when they hold `fn` (else the pool is scored here). */
  scoresKey?: string;
  /** Frames requested from doctors this phase: never pseudo-labelled. */
  exclude: string[];
  uncertaintyModelKey: string;
  segmentationModelKey: string;
  fn: UncertaintyFunction;
  reduce: PixelReduction;
  samples: number;
  mode: MCMode;
  batchSize: number;
  seed: number;
  /** Mean validation IoU the frames at or below the threshold must reach. */
  targetIoU: number;
  /** At most this many pseudo-labels (surest first). */
  maxCount: number;
}

export interface PseudoLabelOutcome {
  /** `runKeys.pseudoLabels`: LabelledItem[] (masks under the phase's predictions). */
  itemsKey: string;
  count: number;
  /** Uncertainty at or below which a frame was taken; absent when no validation subset reached the target. */
  threshold?: number;
  validationFrames: number;
  /** Mean validation IoU of the frames at or below the threshold. */
  validationIoU?: number;
}

export interface TrainOutcome {
  modelKey: string;
  params: number;
  epochsRun: number;
  finalLoss: number;
  bestValIoU?: number;
  bestValDice?: number;
  ms: number;
  /** Epoch the attempt resumed from after a worker crash (0 = fresh start). */
  resumedFromEpoch: number;
  attempt: number;
}

/** What a training attempt heartbeats, and resumes from after a retry. */
export interface TrainHeartbeat {
  epoch: number;
  step: number;
  checkpointKey?: string;
  /** What the attempt is doing besides training steps (loading, building, saving). */
  stage?: string;
}

export interface EvaluationRequest {
  datasetId: string;
  modelKey: string;
  /** Object key of the JSON id list to evaluate on. */
  idsKey: string;
  batchSize: number;
  /** What computes the probabilities (`ActiveLearningInput.engine`); absent: `tf` (`recordedEngine`). */
  engine?: PredictEngine;
}

export interface EvaluationOutcome {
  iou: number;
  dice: number;
  images: number;
  /** Videos the images come from, and the half-width of the 95 % interval of the mean IoU with videos as the unit (frames of one video are not independent). */
  videos?: number;
  iouHalfWidth?: number;
}

/**
 * Pool scoring in shards, one accelerator activity each, so N workers score in parallel. Dropout masks are seeded per
 * block of SCORE_BLOCK pool images (from the run's seed, its phase and the block's place in the pool), and shards are
 * whole blocks, so the merged scores are the same however the pool is sharded.
 */
export const SCORE_BLOCK = 64;

export interface ScoreShardRequest {
  runId: string;
  phase: number;
  datasetId: string;
  poolKey: string;
  /** The uncertainty model; absent for functions that need none. */
  modelKey?: string;
  acquisition: AcquisitionFunction;
  reduce: PixelReduction;
  samples: number;
  mode: MCMode;
  batchSize: number;
  seed: number;
  /** Also pooled prefix features (k-center, badge) and predicted areas (clasp) for the selection mode. */
  features?: boolean;
  areas?: boolean;
  /** Score these functions (default: the acquisition function alone), e.g. every uncertainty function for 'auto'. */
  functions?: AcquisitionFunction[];
  /** Where fast MC's deterministic prefix runs (the stochastic tail stays in tfjs); absent: `tf` (`recordedEngine`). */
  engine?: PredictEngine;

  shard: number;
  /** Pool images per shard: a multiple of SCORE_BLOCK. */
  shardSize: number;
}

export interface ScoreShardOutcome {
  shardKey: string;
  scored: number;
}
