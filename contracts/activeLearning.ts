/** The active-learning workflow's input, state (carried across continueAsNew), status query and result. */
import type { ActivityTimeouts, MCDropoutChoice, ModelChoice, TaskQueues, TrainHyper } from './common';
import type { LabelProvenance, SubmittedLabel } from './labelling';
import type { AutoChoice } from './strategy';
import type { AcquisitionFunction, EvaluationSplit, LabelPurpose, MCMode, PixelReduction, PredictEngine, SelectionMode, SemiSupervisedMode, StopReason } from './names';

export interface ActiveLearningInput {
  datasetId: string;
  model: ModelChoice;
  dropout: MCDropoutChoice;
  hyper: TrainHyper;
  acquisition: AcquisitionFunction;
  /** How the batch is chosen from the scores (default top-K), and β for stochastic selection. */
  selection?: SelectionMode;
  selectionBeta?: number;
  /**
   * The strategy `auto`: the first `explorePhases` requests are split among the candidates, and the one whose frames
   * the segmentation model got most wrong selects from then on (`acquisition` and `selection` are then unused for it).
   */
  auto?: AutoChoice;
  reduce: PixelReduction;
  mcSamples: number;
  mcMode: MCMode;
  /**
   * What evaluates the segmentation model on validation and test and runs the MC prefix of pool scoring: ONNX Runtime
   * on the trained model converted in-process, or tfjs (training is tfjs either way). The CLI always writes it;
   * absent in runs recorded before it did, which means `tf` (`recordedEngine`).
   */
  engine?: PredictEngine;
  /** Images requested per phase (paper: 50). */
  labelsPerPhase: number;
  /** Stop when the segmentation model's IoU on `stopOn` reaches this (paper: 0.87). */
  targetIoU: number;
  /** The split the stop rule reads: 'validation' (the default, when the dataset has one) or 'test' (the paper's). */
  stopOn?: EvaluationSplit;
  /** Stop when this many images are labelled. */
  maxLabelled: number;
  maxPhases: number;
  /** Masks are already stored: an activity answers each request (benchmark mode, as in the paper). */
  oracle: boolean;
  /** At most this many images per video in one request (the paper's open redundancy problem). */
  maxPerGroup?: number;
  /** A reminder is recorded each time a request stays unanswered this long. */
  reminderEveryMs: number;
  /** Grey value of the structure when doctors send multi-label masks (`labels submit --label`, the importer's `--label`). */
  maskLabel?: number;
  /** Push each labelling request to this Label Studio project (created if missing), where doctors label. */
  labelStudio?: { project: string };
  /** Pool images per scoring shard (a multiple of SCORE_BLOCK; default 256): shards score in parallel on several workers. */
  scoreShardSize?: number;
  /**
   * Benchmarks: draw the initial labelled set afresh from the training split with this seed (spread over videos,
   * the dataset's initial size), so each seed of a paired comparison starts from its own set.
   */
  initialSeed?: number;
  /** Continue from this earlier run's merged labels and phases (`al start --resume-from`). */
  resumeFrom?: string;
  /** Each phase's models start from the previous phase's (segmentation from segmentation, uncertainty from uncertainty). */
  warmStart?: boolean;
  /**
   * The unlabelled pool in training: 'pseudo-label' gives the next phase's segmentation model the current one's
   * masks of the pool frames the uncertainty model is sure about (sure: at or below the uncertainty whose validation
   * frames reach `pseudoLabelIoU` on average), at most as many as the real masks. Default 'none'.
   */
  semiSupervised?: SemiSupervisedMode;
  /** Mean validation IoU that sets the pseudo-label threshold (default 0.8). */
  pseudoLabelIoU?: number;
  /**
   * A dataset without enough masks: the run first asks doctors for them (README, "Starting from unlabelled
   * studies") — `evalFramesPerVideo` frames of every validation and test video that has none (default 2), and the
   * initial training set up to `initialCount` frames (default: the dataset's, or 40 when it has none), spread over
   * the training videos.
   */
  initialCount?: number;
  evalFramesPerVideo?: number;
  /** Set when the run's labels for the evaluation and initial sets made `datasetId` from this dataset. */
  bootstrappedFrom?: string;
  /** End once the first request's masks have made the labelled dataset (a pipeline then searches on it). */
  bootstrapOnly?: boolean;
  taskQueues: TaskQueues;
  timeouts?: ActivityTimeouts;
  state?: ActiveLearningState;
}

export interface PhaseRecord {
  phase: number;
  labelled: number;
  /** Test-split IoU and Dice of the phase's segmentation model (reported; never used to choose). */
  iou: number;
  dice: number;
  /** Validation-split IoU and Dice, when the dataset has a validation split (what the stop rule reads). */
  valIoU?: number;
  valDice?: number;
  /** The test set's videos and the half-width of the 95 % interval its mean IoU comes with (what such a test set can tell apart). */
  testVideos?: number;
  testIoUHalfWidth?: number;
  acquisition: AcquisitionFunction;
  trainMs: number;
  scoreMs?: number;
  waitMs?: number;
  segResumedFromEpoch: number;
  segAttempts: number;
  /** Masks merged at the end of the phase, and how many of them replaced an earlier mask of the same image. */
  received?: number;
  replaced?: number;
  /** Pseudo-labelled pool frames the phase's segmentation model trained on beside the `labelled` real masks. */
  pseudoLabels?: number;
  /**
   * A warm-started phase whose segmentation model did worse on validation than the previous phase's was trained again
   * from scratch: both validation IoUs, and which pair the phase kept (the better on validation).
   */
  warmRetry?: { warmValIoU: number; scratchValIoU: number; kept: 'warm' | 'scratch' };
  /**
   * The strategy `auto`: while exploring, the frames each candidate picked for this phase's request and, once their
   * masks are back, the segmentation model's mean error (1 − IoU) on them; after, the candidate that selected.
   */
  auto?: { picked?: Record<string, number>; error?: Record<string, number>; selectedBy?: string };
}

export interface InvalidSubmission {
  phase: number;
  id?: string;
  reason: string;
}

export interface LabelReplacement extends LabelProvenance {
  id: string;
  atMs: number;
}

export interface LabelRequest {
  phase: number;
  requestKey: string;
  ids: string[];
  received: SubmittedLabel[];
  requestedAtMs: number;
  reminders: number;
  overdue: boolean;
  /** Set once the phase's labels are being merged: later submissions are refused, naming this phase. */
  closed?: boolean;
  /** Masks replaced by a later submission of the same image (the last 20). */
  replacements?: LabelReplacement[];
  replacedCount?: number;
  /** The set each requested frame's mask fills, when not a phase's query (the run's first request on an unlabelled dataset). */
  purposes?: Record<string, LabelPurpose>;
  /** Frames doctors marked unusable: they count as answered, leave the pool and are replaced from `reserve`. */
  unusable?: string[];
  /** Candidates that replace unusable frames, in order (for the first request: per purpose). */
  reserve?: { id: string; purpose?: LabelPurpose }[];
  /** unusable frame → the frame that replaced it in the request ('' when the reserve had none left). */
  replacementOf?: Record<string, string>;
}

export interface ActiveLearningState {
  phase: number;
  labelledKey: string;
  labelledCount: number;
  poolKey: string;
  poolCount: number;
  testKey: string;
  testCount: number;
  /** Absent for datasets imported before validation splits existed. */
  valKey?: string;
  valCount?: number;
  history: PhaseRecord[];
  /** The last 20 invalid submissions. */
  invalid: InvalidSubmission[];
  pending?: LabelRequest;
  stopRequested: boolean;
  /** The run this one continued from (`--resume-from`). */
  resumedFrom?: string;
  /** The last trained phase's models, which a warm-started phase starts from. */
  previousModels?: { seg: string; unc?: string };
  /** The previous phase's pseudo-labels (`runKeys.pseudoLabels`), for this phase's segmentation model. */
  pseudoLabels?: { key: string; count: number };
  /** The strategy `auto`: each candidate's judged frames and summed error so far, this phase's picks, and the choice once made. */
  auto?: AutoState;
}

export interface AutoState {
  tallies: Record<string, { frames: number; errorSum: number }>;
  judgedPhases: number;
  /** The pending request's frames per candidate (exploring phases), and the segmentation model that judges them. */
  picks?: Record<string, string[]>;
  judgeModelKey?: string;
  chosen?: string;
}

export interface PendingStatus {
  phase: number;
  requestKey: string;
  requested: number;
  received: number;
  remaining: string[];
  reminders: number;
  overdue: boolean;
  closed?: boolean;
  replaced?: number;
  replacements?: LabelReplacement[];
  /** Requested frames per purpose (absent for a phase's query). */
  purposes?: Partial<Record<LabelPurpose, number>>;
  unusable?: string[];
}

export interface ActiveLearningStatus {
  stage: string;
  phase: number;
  labelledCount: number;
  poolCount: number;
  /** Test IoU of the last phase. */
  lastIoU?: number;
  lastValIoU?: number;
  stopOn?: EvaluationSplit;
  pending?: PendingStatus;
  invalid: InvalidSubmission[];
  done: boolean;
  stopReason?: StopReason;
  resumedFrom?: string;
  /** The dataset the run started from, when its first request labelled the evaluation and initial sets. */
  bootstrappedFrom?: string;
}

export interface ActiveLearningResult {
  stopReason: StopReason;
  /** The dataset the run made from its first request's masks (stop reason 'labelled'). */
  labelledDatasetId?: string;
  history: PhaseRecord[];
  reportKey: string;
  labelledKey: string;
}

/**
 * What a run on a dataset without enough masks asks doctors for first: frames for the validation, test and initial
 * sets, in that order, and reserve frames that replace ones marked unusable.
 */
export interface BootstrapRequestPlan {
  frames: { id: string; purpose: LabelPurpose }[];
  reserve: { id: string; purpose: LabelPurpose }[];
}

/** `runs/<id>/state.json`, written at every phase boundary: what `--resume-from` continues from. */
export interface ActiveLearningCheckpoint {
  runId: string;
  datasetId: string;
  writtenAt: string;
  state: ActiveLearningState;
}
