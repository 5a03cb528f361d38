/** Payload types every workflow shares: task queues, model and training choices, timeouts, labelled items. */
import type { ArchName, DropoutStrategy, LrSchedule, MCDropoutStrategy } from './names';

export interface TaskQueues {
  /** Workflows and light I/O activities. */
  light: string;
  /** Training, MC sampling and evaluation: scale out by adding workers here, one per GPU. */
  accel: string;
}

/** An architecture choice; input shape and classes come from the dataset. */
export interface ModelChoice {
  arch: ArchName;
  encoder: string;
  /** Encoder stages, 3–5; absent: the architecture's own default (5; PSPNet 3, as in smp). */
  encoderDepth?: number;
  /** Channel multiplier (1 = faithful smp structure; tests use small values). */
  widthScale?: number;
  /** PyTorch weights a fresh model starts from (`--encoder-weights`, `--init-weights`): uploaded by the CLI. */
  initWeights?: WeightsRef;
}

/** What PyTorch weights fill: the encoder alone, or the whole model (a smp save_pretrained of the same model). */
export type WeightsScope = 'encoder' | 'model';

/** A safetensors file in the object store (`weightsKeys`), named by its sha256, and where it came from. */
export interface WeightsRef {
  sha256: string;
  /** Basename of the file or directory the user gave. */
  source: string;
  scope: WeightsScope;
  /** smp's config.json beside the file, when the user gave a save_pretrained directory. */
  hasSmpConfig: boolean;
}

export interface TrainHyper {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  augment: boolean;
  /** Stop after this many epochs without a validation IoU improvement (the best epoch's weights are kept). */
  earlyStoppingPatience?: number;
  /** Default 'constant'. */
  lrSchedule?: LrSchedule;
}

export interface DropoutChoice<S extends DropoutStrategy = DropoutStrategy> {
  strategy: S;
  rate: number;
}

export type MCDropoutChoice = DropoutChoice<MCDropoutStrategy>;

export interface ActivityTimeouts {
  /**
   * An accelerator attempt that sends no heartbeat for this long is retried, from its last checkpoint. Every long
   * activity heartbeats at least once per batch, so this bounds how long a lost completion (a worker or Temporal
   * restart) delays the run.
   */
  heartbeatMs: number;
  /** Longest single training / scoring attempt. */
  trainAttemptMs: number;
  /**
   * How long infrastructure may be unreachable (object store, Temporal, a worker) before a run gives up: failed
   * attempts are retried with backoff (at most a minute apart) for this long. Bad input, divergence and
   * out-of-memory are never retried.
   */
  outageWindowMs?: number;
}

export const DEFAULT_OUTAGE_WINDOW_MS = 6 * 3600_000;

export const DEFAULT_TIMEOUTS: ActivityTimeouts = { heartbeatMs: 60_000, trainAttemptMs: 24 * 3600_000, outageWindowMs: DEFAULT_OUTAGE_WINDOW_MS };

/** A labelled image: its dataset id and where its mask is (the dataset's own, or a doctor's stored label). */
export interface LabelledItem {
  id: string;
  maskKey: string;
}
