/**
 * Foreground IoU (the paper's metric) and Dice, per image and over a set.
 *
 * Foreground: sigmoid outputs (1 channel) are foreground where p > 0.5; softmax outputs (≥ 2 channels) where the
 * argmax is not class 0 (background), i.e. all non-background classes together. Masks follow the same rule, so
 * [N,H,W,1] {0,1} masks and [N,H,W,C] one-hot masks both work.
 * Convention: an image whose prediction and mask are both empty scores IoU = Dice = 1 (nothing to find, nothing found).
 */
import * as tf from '@tensorflow/tfjs';

export const SIGMOID_THRESHOLD = 0.5;

/** Per-image pixel counts from which every score follows. */
export interface ForegroundCounts {
  intersection: number[];
  predicted: number[];
  actual: number[];
}

export interface SegmentationScores {
  perImageIoU: number[];
  perImageDice: number[];
  /** Mean of the per-image IoU. */
  meanIoU: number;
  /** Σ intersection / Σ union over the whole set. */
  pooledIoU: number;
  meanDice: number;
  pooledDice: number;
}

/** Boolean foreground [N, H, W] of probabilities or masks [N, H, W, C]. */
export function foregroundOf(t: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    if (t.shape[3] === 1) return tf.greater(tf.squeeze(t, [3]), SIGMOID_THRESHOLD) as tf.Tensor3D;
    return tf.notEqual(tf.argMax(t, 3), 0) as tf.Tensor3D;
  });
}

/** Intersection, predicted and actual foreground pixel counts per image; reads the device once. */
export function foregroundCounts(pred: tf.Tensor4D, truth: tf.Tensor4D): ForegroundCounts {
  if (pred.rank !== 4 || truth.rank !== 4 || !tf.util.arraysEqual(pred.shape.slice(0, 3), truth.shape.slice(0, 3))) {
    throw new Error(`Predictions ${JSON.stringify(pred.shape)} and masks ${JSON.stringify(truth.shape)} must be [N, H, W, C] with the same N, H, W.`);
  }
  const n = pred.shape[0];
  const stacked = tf.tidy(() => {
    const p = tf.cast(foregroundOf(pred), 'float32');
    const t = tf.cast(foregroundOf(truth), 'float32');
    return tf.stack([tf.sum(tf.mul(p, t), [1, 2]), tf.sum(p, [1, 2]), tf.sum(t, [1, 2])]);
  });
  const data = stacked.dataSync();
  stacked.dispose();
  return {
    intersection: Array.from(data.subarray(0, n)),
    predicted: Array.from(data.subarray(n, 2 * n)),
    actual: Array.from(data.subarray(2 * n, 3 * n)),
  };
}

function ratioOrOne(numerator: number, denominator: number): number {
  return denominator === 0 ? 1 : numerator / denominator;
}

function mean(values: number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

export function scoresFromCounts(counts: ForegroundCounts): SegmentationScores {
  const n = counts.intersection.length;
  if (n === 0) throw new Error('Cannot score an empty set of images.');
  const perImageIoU: number[] = [];
  const perImageDice: number[] = [];
  let sumI = 0;
  let sumU = 0;
  let sumPA = 0;
  for (let i = 0; i < n; i++) {
    const inter = counts.intersection[i];
    const pa = counts.predicted[i] + counts.actual[i];
    perImageIoU.push(ratioOrOne(inter, pa - inter));
    perImageDice.push(ratioOrOne(2 * inter, pa));
    sumI += inter;
    sumU += pa - inter;
    sumPA += pa;
  }
  return {
    perImageIoU,
    perImageDice,
    meanIoU: mean(perImageIoU),
    pooledIoU: ratioOrOne(sumI, sumU),
    meanDice: mean(perImageDice),
    pooledDice: ratioOrOne(2 * sumI, sumPA),
  };
}

/** Scores of predictions (probabilities or binary masks) against masks, both [N, H, W, C]. */
export function segmentationScores(pred: tf.Tensor4D, truth: tf.Tensor4D): SegmentationScores {
  return scoresFromCounts(foregroundCounts(pred, truth));
}

/**
 * Array form for hand-checkable cases and host-side data: single-channel images laid out one after another,
 * `pixelsPerImage` values each; foreground where value > 0.5 (so {0,1}, {0,255} masks and probabilities all work).
 */
export function countsFromArrays(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  pixelsPerImage: number = pred.length,
): ForegroundCounts {
  if (pred.length !== truth.length) throw new Error(`Prediction has ${pred.length} values but the mask has ${truth.length}.`);
  if (!(pixelsPerImage > 0) || pred.length % pixelsPerImage !== 0) {
    throw new Error(`${pred.length} values do not split into images of ${pixelsPerImage} pixels.`);
  }
  const n = pred.length / pixelsPerImage;
  const counts: ForegroundCounts = { intersection: [], predicted: [], actual: [] };
  for (let i = 0; i < n; i++) {
    let inter = 0;
    let p = 0;
    let t = 0;
    for (let k = i * pixelsPerImage; k < (i + 1) * pixelsPerImage; k++) {
      const inPred = pred[k] > SIGMOID_THRESHOLD;
      const inTruth = truth[k] > SIGMOID_THRESHOLD;
      if (inPred) p++;
      if (inTruth) t++;
      if (inPred && inTruth) inter++;
    }
    counts.intersection.push(inter);
    counts.predicted.push(p);
    counts.actual.push(t);
  }
  return counts;
}

export function scoresFromArrays(pred: ArrayLike<number>, truth: ArrayLike<number>, pixelsPerImage?: number): SegmentationScores {
  return scoresFromCounts(countsFromArrays(pred, truth, pixelsPerImage));
}

/** Foreground IoU of one image given as flat arrays. */
export function iouOfArrays(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  return scoresFromArrays(pred, truth).perImageIoU[0];
}

/** Foreground Dice of one image given as flat arrays. */
export function diceOfArrays(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  return scoresFromArrays(pred, truth).perImageDice[0];
}
