/**
 * The training loop: Adam on Dice + CE, seeded shuffling and augmentation, per-epoch validation IoU, early stopping,
 * checkpoints every epoch (plus the best weights separately) and exact resumption.
 *
 * Reproducibility: every random choice — shuffle order, augmentation parameters and noise, dropout masks — comes
 * from one `SeededRng` whose state is saved with each checkpoint; dropout masks are reseeded from it at the start of
 * every epoch. A run resumed from the checkpoint of epoch e therefore replays epochs e+1… exactly as the
 * uninterrupted run would (Adam's bias corrections are computed from the step number, see ./adam.ts).
 *
 * Speed: each step runs through ./step.ts — fused batch-norm / ReLU kernels and a one-pass Adam on the native CPU
 * backend; `fusedKernels: false` selects tfjs' stock kernels and Adam (same results up to float rounding).
 */
import * as tf from '@tensorflow/tfjs';
import { checkpointKeys } from '../../contracts/keys';
import type { LrSchedule } from '../../contracts/names';
import { scheduledLearningRate, setLearningRate } from './schedule';
import type { BlobStore } from '../../store/blobStore';
import { setMCDropoutSeed } from '../layers/mcDropout';
import { augmentBatch, PAPER_AUGMENTATIONS, type AugmentConfig } from './augment';
import { type CheckpointMeta, type EpochRecord, loadCheckpoint, readCheckpointMeta, removeCheckpoint, saveCheckpoint } from './checkpoint';

export type { EpochRecord };
import { foregroundCounts, foregroundOf, scoresFromCounts, type ForegroundCounts } from './metrics';
import { SeededRng } from './rng';
import { createTrainStep } from './step';

/** images [N,H,W,C] float in [0,1]; masks [N,H,W,1] in {0,1} (sigmoid models) or one-hot [N,H,W,classes]. */
export interface SegDataset {
  images: tf.Tensor4D;
  masks: tf.Tensor4D;
}

export interface TrainProgress {
  /** 'batch' after every optimizer step, 'epoch' after validation and checkpointing. */
  kind: 'batch' | 'epoch';
  /** 1-based epoch number. */
  epoch: number;
  /** Optimizer steps completed since the run began (resumed runs count the steps before the restart). */
  step: number;
  stepsPerEpoch: number;
  /** The batch's loss, or the epoch's mean loss for kind 'epoch'. */
  loss: number;
  valIoU?: number;
  checkpointKey?: string;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** Undefined → the paper's augmentations (PAPER_AUGMENTATIONS); false → none. */
  augment?: AugmentConfig | false;
  /** Stop after this many epochs without a validation IoU improvement (needs a validation set). */
  earlyStoppingPatience?: number;
  /** The learning rate over the epochs (default constant); recomputed from the epoch, so a resumed run continues it. */
  lrSchedule?: LrSchedule;
  /** Saved at the end of every epoch under `<prefix>/epoch-NNNN` (older ones removed), best weights under `<prefix>/best`. */
  checkpoint?: { store: BlobStore; prefix: string };
  /** A checkpoint prefix (in `checkpoint.store`) to resume from, e.g. a previous `lastCheckpointKey`. */
  resumeFrom?: string;
  /** Called per batch and per epoch; awaited, so a slow callback slows training rather than piling up. */
  onProgress?: (p: TrainProgress) => void | Promise<void>;
  /** Cancellation: checked before every batch; throws TrainingAbortedError. */
  signal?: AbortSignal;
  /** Put the best validation weights back into the model at the end (default true). */
  restoreBestWeights?: boolean;
  /** Fused batch-norm / ReLU kernels and one-pass Adam where the backend allows (default true); false: tfjs' stock ones. */
  fusedKernels?: boolean;
  /** Mean teacher on unlabelled images (`--semi-supervised mean-teacher`; see MeanTeacherOptions). */
  meanTeacher?: MeanTeacherOptions;
}

/**
 * Mean teacher (Tarvainen & Valpola, 2017): `teacher` (the student's architecture) starts as a copy of the model and
 * follows it as an exponential moving average of its weights after every step; each step adds weight(epoch) × the mean
 * squared difference between the student's probabilities of a batch of unlabelled images with Gaussian noise added
 * (training mode) and the teacher's of the same images without it (inference mode). weight(epoch) ramps up as
 * weight · exp(−5 (1 − t)²), t = epoch / (the first 30 % of the epochs), so the first epochs learn from the masks.
 */
export interface MeanTeacherOptions {
  images: tf.Tensor4D;
  teacher: tf.LayersModel;
  /** Consistency weight after the ramp-up (default 1). */
  weight?: number;
  /** EMA decay of the teacher's weights (default 0.99). */
  ema?: number;
  /** Standard deviation of the noise on the student's input, images in [0, 1] (default 0.05). */
  noise?: number;
}

export const MEAN_TEACHER_DEFAULTS = { weight: 1, ema: 0.99, noise: 0.05, rampShare: 0.3 } as const;

/** The consistency weight of an epoch (1-based) under the ramp-up. */
export function consistencyWeight(weight: number, epoch: number, epochs: number): number {
  const ramp = Math.max(1, Math.round(MEAN_TEACHER_DEFAULTS.rampShare * epochs));
  const t = Math.min(1, epoch / ramp);
  return weight * Math.exp(-5 * (1 - t) ** 2);
}

/** The teacher's weights ← ema · teacher + (1 − ema) · student (batch-norm statistics included). */
export function updateTeacher(teacher: tf.LayersModel, student: tf.LayersModel, ema: number): void {
  const target = teacher.weights;
  const source = student.weights;
  tf.tidy(() => target.forEach((w, i) => w.write(tf.add(tf.mul(w.read(), ema), tf.mul(source[i].read(), 1 - ema)))));
}

export interface TrainResult {
  /** Every completed epoch, including those before a resume. */
  history: EpochRecord[];
  /** Epoch with the best validation IoU (the last epoch when there is no validation set; 0 when none ran). */
  bestEpoch: number;
  bestValIoU?: number;
  bestCheckpointKey?: string;
  lastCheckpointKey?: string;
  /** Epochs completed in total (= history.length). */
  epochsRun: number;
}

export interface EvaluationResult {
  /** Mean of the per-image foreground IoU (the paper's metric). */
  iou: number;
  /** Mean of the per-image Dice. */
  dice: number;
  perImageIoU: number[];
  perImageDice: number[];
  /** Σ intersection / Σ union over the set. */
  pooledIoU: number;
}

/** Thrown when `signal` aborts training; `name` is 'AbortError' like DOM aborts. */
export class TrainingAbortedError extends Error {
  constructor(readonly epoch: number, readonly step: number, cause?: unknown) {
    super(`Training was cancelled at epoch ${epoch}, after step ${step}.`, { cause });
    this.name = 'AbortError';
  }
}

/** Identifies the run a checkpoint belongs to; resuming with different values could not replay the same run. */
interface RunFingerprint {
  trainSize: number;
  batchSize: number;
  seed: number;
}

interface ResumeExtra {
  fingerprint: RunFingerprint;
  epochsWithoutImprovement: number;
  bestCheckpointKey?: string;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function outputChannels(model: tf.LayersModel): number {
  const shape = model.outputs[0].shape;
  const channels = shape[shape.length - 1];
  if (model.outputs.length !== 1 || shape.length !== 4 || channels === null) {
    throw new Error(`The model must have one [N, H, W, classes] output, got ${JSON.stringify(model.outputs.map((o) => o.shape))}.`);
  }
  return channels;
}

function checkDataset(model: tf.LayersModel, data: SegDataset, what: string): void {
  const { images, masks } = data;
  if (images.rank !== 4 || masks.rank !== 4 || !tf.util.arraysEqual(images.shape.slice(0, 3), masks.shape.slice(0, 3))) {
    throw new Error(`${what}: images ${JSON.stringify(images.shape)} and masks ${JSON.stringify(masks.shape)} must be [N, H, W, C] with the same N, H, W.`);
  }
  if (images.shape[0] === 0) throw new Error(`${what} is empty.`);
  const classes = outputChannels(model);
  if (masks.shape[3] !== classes) {
    throw new Error(`${what}: masks have ${masks.shape[3]} channels but the model outputs ${classes}; use [N,H,W,1] {0,1} masks for 1 class, one-hot otherwise.`);
  }
}

function checkOptions(opts: TrainOptions): void {
  const positiveInt = (v: number) => Number.isInteger(v) && v > 0;
  if (!(Number.isInteger(opts.epochs) && opts.epochs >= 0)) throw new Error(`epochs must be a non-negative integer, got ${opts.epochs}.`);
  if (!positiveInt(opts.batchSize)) throw new Error(`batchSize must be a positive integer, got ${opts.batchSize}.`);
  if (!(opts.learningRate > 0)) throw new Error(`learningRate must be positive, got ${opts.learningRate}.`);
  if (opts.earlyStoppingPatience !== undefined && !positiveInt(opts.earlyStoppingPatience)) {
    throw new Error(`earlyStoppingPatience must be a positive integer, got ${opts.earlyStoppingPatience}.`);
  }
  if (opts.resumeFrom !== undefined && !opts.checkpoint) {
    throw new Error(`resumeFrom '${opts.resumeFrom}' needs checkpoint.store to read it from.`);
  }
}

function emptyCounts(): ForegroundCounts {
  return { intersection: [], predicted: [], actual: [] };
}

/** Runs `fn` on consecutive batches of `images` (inference mode). */
function forEachBatch(images: tf.Tensor4D, batchSize: number, fn: (batch: tf.Tensor4D, start: number) => void): void {
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`batchSize must be a positive integer, got ${batchSize}.`);
  const n = images.shape[0];
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const batch = tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1]);
    try {
      fn(batch, start);
    } finally {
      batch.dispose();
    }
  }
}

/**
 * Foreground IoU and Dice of the model's predictions in inference mode (batch-norm moving statistics; dropout off
 * unless the model was switched into MC mode with setMCMode).
 */
export function evaluateModel(model: tf.LayersModel, data: SegDataset, batchSize: number): EvaluationResult {
  checkDataset(model, data, 'Evaluation data');
  const counts = emptyCounts();
  forEachBatch(data.images, batchSize, (batch, start) => addBatchCounts(counts, model.predict(batch) as tf.Tensor4D, data.masks, start));
  return evaluationOf(counts);
}

/** What computes a batch's probabilities [batch, H, W, classes] other than the tfjs model (ONNX Runtime on it); the caller disposes them. */
export type BatchProbabilities = (batch: tf.Tensor4D) => Promise<tf.Tensor4D>;

/** `evaluateModel` with the probabilities computed by another engine on the same model (`model` checks the data). */
export async function evaluateWithEngine(model: tf.LayersModel, probabilities: BatchProbabilities, data: SegDataset, batchSize: number): Promise<EvaluationResult> {
  checkDataset(model, data, 'Evaluation data');
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`batchSize must be a positive integer, got ${batchSize}.`);
  const counts = emptyCounts();
  const n = data.images.shape[0];
  for (let start = 0; start < n; start += batchSize) {
    const batch = tf.slice(data.images, [start, 0, 0, 0], [Math.min(batchSize, n - start), -1, -1, -1]);
    try {
      addBatchCounts(counts, await probabilities(batch), data.masks, start);
    } finally {
      batch.dispose();
    }
  }
  return evaluationOf(counts);
}

/** Adds one batch's foreground counts against the masks from `start` on, and disposes `pred`. */
function addBatchCounts(counts: ForegroundCounts, pred: tf.Tensor4D, allMasks: tf.Tensor4D, start: number): void {
  const masks = tf.slice(allMasks, [start, 0, 0, 0], [pred.shape[0], -1, -1, -1]);
  try {
    const c = foregroundCounts(pred, masks);
    counts.intersection.push(...c.intersection);
    counts.predicted.push(...c.predicted);
    counts.actual.push(...c.actual);
  } finally {
    tf.dispose([pred, masks]);
  }
}

function evaluationOf(counts: ForegroundCounts): EvaluationResult {
  const s = scoresFromCounts(counts);
  return { iou: s.meanIoU, dice: s.meanDice, perImageIoU: s.perImageIoU, perImageDice: s.perImageDice, pooledIoU: s.pooledIoU };
}

/**
 * Binary masks predicted for `images`: [N,H,W,1] in {0,1} (p > 0.5) for sigmoid models, one-hot of the argmax
 * [N,H,W,classes] for softmax models — the same layout as the training masks.
 */
export function predictMasks(model: tf.LayersModel, images: tf.Tensor4D, batchSize: number): tf.Tensor4D {
  const classes = outputChannels(model);
  const parts: tf.Tensor4D[] = [];
  try {
    forEachBatch(images, batchSize, (batch) => {
      parts.push(
        tf.tidy(() => {
          const pred = model.predict(batch) as tf.Tensor4D;
          if (classes === 1) return tf.cast(foregroundOf(pred), 'float32').expandDims(3) as tf.Tensor4D;
          return tf.oneHot(tf.argMax(pred, 3), classes).toFloat() as tf.Tensor4D;
        }),
      );
    });
    return tf.concat(parts, 0);
  } finally {
    tf.dispose(parts);
  }
}


interface LoopState {
  rng: SeededRng;
  step: number;
  history: EpochRecord[];
  bestValIoU?: number;
  bestEpoch: number;
  epochsWithoutImprovement: number;
  bestCheckpointKey?: string;
  lastCheckpointKey?: string;
  /** A checkpoint of this run that the next save supersedes. */
  supersededKey?: string;
}

async function resumeState(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  store: BlobStore,
  key: string,
  fingerprint: RunFingerprint,
  prefix: string | undefined,
): Promise<LoopState> {
  const meta = await readCheckpointMeta(store, key);
  const extra = meta.extra as ResumeExtra | undefined;
  if (!extra?.fingerprint || !meta.rngState) {
    throw new Error(`Checkpoint '${key}' was not written by trainModel (no RNG state); it cannot be resumed.`);
  }
  const saved = extra.fingerprint;
  if (saved.trainSize !== fingerprint.trainSize || saved.batchSize !== fingerprint.batchSize || saved.seed !== fingerprint.seed) {
    throw new Error(
      `Checkpoint '${key}' belongs to a run with ${JSON.stringify(saved)}, but this run has ${JSON.stringify(fingerprint)}; ` +
        'resume with the same training set, batch size and seed, or start afresh without resumeFrom.',
    );
  }
  await loadCheckpoint(model, optimizer, store, key);
  return {
    rng: SeededRng.fromState(meta.rngState),
    step: meta.step,
    history: meta.history ?? [],
    bestValIoU: meta.bestMetric,
    bestEpoch: meta.bestEpoch ?? 0,
    epochsWithoutImprovement: extra.epochsWithoutImprovement,
    bestCheckpointKey: extra.bestCheckpointKey,
    lastCheckpointKey: key,
    supersededKey: prefix !== undefined && key.startsWith(checkpointKeys.epochPrefix(prefix)) ? key : undefined,
  };
}

/**
 * Mean teacher's term for one step: a random batch of the unlabelled images (drawn from the run's RNG), the teacher's
 * probabilities of them as the target, the student's of them with noise as the prediction.
 */
function consistencyTerm(model: tf.LayersModel, mt: MeanTeacherOptions, size: number, weight: number, rng: SeededRng): () => tf.Scalar {
  const n = mt.images.shape[0];
  const picked = Array.from({ length: size }, () => rng.nextUint32() % n);
  const noiseSeed = rng.nextUint32();
  return () => {
    const xu = tf.gather(mt.images, tf.tensor1d(picked, 'int32'));
    // The teacher's weights are not among the variables the step differentiates: no gradient reaches them.
    const target = mt.teacher.predict(xu) as tf.Tensor4D;
    const noisy = tf.add(xu, tf.randomNormal(xu.shape, 0, mt.noise ?? MEAN_TEACHER_DEFAULTS.noise, 'float32', noiseSeed)) as tf.Tensor4D;
    return tf.mul(weight, tf.losses.meanSquaredError(target, model.apply(noisy, { training: true }) as tf.Tensor4D)) as tf.Scalar;
  };
}

/**
 * Trains `model` in place with Adam on Dice + cross-entropy, calling it with `training: true` (batch statistics,
 * dropout on). Returns the history; with a validation set the model ends holding its best-IoU weights.
 */
export async function trainModel(
  model: tf.LayersModel,
  train: SegDataset,
  val: SegDataset | undefined,
  opts: TrainOptions,
): Promise<TrainResult> {
  checkOptions(opts);
  checkDataset(model, train, 'Training data');
  if (val) checkDataset(model, val, 'Validation data');
  const augment = opts.augment === undefined ? PAPER_AUGMENTATIONS : opts.augment;
  const n = train.images.shape[0];
  const stepsPerEpoch = Math.ceil(n / opts.batchSize);
  const fingerprint: RunFingerprint = { trainSize: n, batchSize: opts.batchSize, seed: opts.seed };
  const store = opts.checkpoint?.store;
  const prefix = opts.checkpoint?.prefix.replace(/\/+$/, '');
  const trainStep = createTrainStep(model, { learningRate: opts.learningRate, fused: opts.fusedKernels ?? true });
  const mt = opts.meanTeacher;
  if (mt) {
    checkDataset(model, { images: mt.images, masks: mt.images }, 'Mean-teacher images');
    if (mt.teacher.weights.length !== model.weights.length) throw new Error('The mean teacher must have the model\'s architecture.');
    mt.teacher.setWeights(model.getWeights());
  }
  const optimizer = trainStep.optimizer;
  let bestWeights: tf.Tensor[] | undefined;

  try {
    const state: LoopState =
      opts.resumeFrom !== undefined && store
        ? await resumeState(model, optimizer, store, opts.resumeFrom, fingerprint, prefix)
        : { rng: new SeededRng(opts.seed), step: 0, history: [], bestEpoch: 0, epochsWithoutImprovement: 0 };
    const patienceExhausted = () =>
      val !== undefined && opts.earlyStoppingPatience !== undefined && state.epochsWithoutImprovement >= opts.earlyStoppingPatience;

    for (let epoch = state.history.length + 1; epoch <= opts.epochs && !patienceExhausted(); epoch++) {
      const started = Date.now();
      setLearningRate(optimizer, scheduledLearningRate(opts.learningRate, opts.lrSchedule ?? 'constant', epoch - 1, opts.epochs));
      setMCDropoutSeed(state.rng.nextUint32());
      const order = state.rng.permutation(n);
      let lossSum = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        if (opts.signal?.aborted) throw new TrainingAbortedError(epoch, state.step, opts.signal.reason);
        const indices = order.slice(s * opts.batchSize, (s + 1) * opts.batchSize);
        const lossTensor = tf.tidy(() => {
          const picked = tf.tensor1d(indices, 'int32');
          let x = tf.gather(train.images, picked);
          let y = tf.gather(train.masks, picked);
          if (augment) ({ images: x, masks: y } = augmentBatch(x, y, augment, state.rng));
          return trainStep.run(x, y, mt ? consistencyTerm(model, mt, indices.length, consistencyWeight(mt.weight ?? MEAN_TEACHER_DEFAULTS.weight, epoch, opts.epochs), state.rng) : undefined);
        });
        const loss = (await lossTensor.data())[0];
        lossTensor.dispose();
        if (mt) updateTeacher(mt.teacher, model, mt.ema ?? MEAN_TEACHER_DEFAULTS.ema);
        state.step += 1;
        if (!Number.isFinite(loss)) {
          throw new Error(`The loss became ${loss} at epoch ${epoch}, step ${state.step}; lower the learning rate (now ${opts.learningRate}) or check the data for NaNs.`);
        }
        lossSum += loss * indices.length;
        await opts.onProgress?.({ kind: 'batch', epoch, step: state.step, stepsPerEpoch, loss });
        await yieldToEventLoop();
      }

      if (opts.signal?.aborted) throw new TrainingAbortedError(epoch, state.step, opts.signal.reason);
      const record: EpochRecord = { epoch, loss: lossSum / n, ms: 0 };
      if (val) {
        const scores = evaluateModel(model, val, opts.batchSize);
        record.valIoU = scores.iou;
        record.valDice = scores.dice;
        if (state.bestValIoU === undefined || scores.iou > state.bestValIoU) {
          state.bestValIoU = scores.iou;
          state.bestEpoch = epoch;
          state.epochsWithoutImprovement = 0;
          tf.dispose(bestWeights);
          bestWeights = model.getWeights().map((w) => tf.clone(w));
          if (store && prefix !== undefined) {
            state.bestCheckpointKey = checkpointKeys.best(prefix);
            await saveCheckpoint(model, undefined, store, state.bestCheckpointKey, { epoch, step: state.step, bestMetric: scores.iou, bestEpoch: epoch });
          }
        } else {
          state.epochsWithoutImprovement += 1;
        }
      } else {
        state.bestEpoch = epoch;
      }
      record.ms = Date.now() - started;
      state.history.push(record);

      if (store && prefix !== undefined) {
        const key = checkpointKeys.epoch(prefix, epoch);
        const extra: ResumeExtra = {
          fingerprint,
          epochsWithoutImprovement: state.epochsWithoutImprovement,
          ...(state.bestCheckpointKey ? { bestCheckpointKey: state.bestCheckpointKey } : {}),
        };
        const meta: CheckpointMeta = {
          epoch,
          step: state.step,
          ...(state.bestValIoU !== undefined ? { bestMetric: state.bestValIoU } : {}),
          bestEpoch: state.bestEpoch,
          rngState: state.rng.getState(),
          history: state.history,
          extra: { ...extra },
        };
        await saveCheckpoint(model, optimizer, store, key, meta);
        if (state.supersededKey && state.supersededKey !== key) await removeCheckpoint(store, state.supersededKey);
        state.lastCheckpointKey = key;
        state.supersededKey = key;
      }
      await opts.onProgress?.({
        kind: 'epoch',
        epoch,
        step: state.step,
        stepsPerEpoch,
        loss: record.loss,
        ...(record.valIoU !== undefined ? { valIoU: record.valIoU } : {}),
        ...(state.lastCheckpointKey ? { checkpointKey: state.lastCheckpointKey } : {}),
      });
    }

    const lastEpoch = state.history.length;
    if (val && (opts.restoreBestWeights ?? true) && state.bestEpoch > 0 && state.bestEpoch !== lastEpoch) {
      if (bestWeights) model.setWeights(bestWeights);
      else if (store && state.bestCheckpointKey) await loadCheckpoint(model, undefined, store, state.bestCheckpointKey, { weightsOnly: true });
    }
    return {
      history: state.history,
      bestEpoch: state.bestEpoch,
      ...(state.bestValIoU !== undefined ? { bestValIoU: state.bestValIoU } : {}),
      ...(state.bestCheckpointKey ? { bestCheckpointKey: state.bestCheckpointKey } : {}),
      ...(state.lastCheckpointKey ? { lastCheckpointKey: state.lastCheckpointKey } : {}),
      epochsRun: lastEpoch,
    };
  } finally {
    tf.dispose(bestWeights);
    trainStep.dispose();
    // Later MC sampling must not inherit the training run's dropout seed.
    setMCDropoutSeed(undefined);
  }
}
