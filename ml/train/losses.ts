/**
 * Segmentation losses on probability outputs (the zoo ends in sigmoid for classes = 1, softmax for classes ≥ 2).
 * Probabilities are clipped to [ε, 1 − ε] before any logarithm, so saturated outputs give finite values and gradients.
 */
import * as tf from '@tensorflow/tfjs';

export const PROBABILITY_EPSILON = 1e-7;
/** Added to numerator and denominator of the soft Dice so empty masks give a loss of 0, not NaN. */
export const DICE_SMOOTH = 1;

function checkShapes(yTrue: tf.Tensor, yPred: tf.Tensor, what: string): void {
  if (yTrue.rank !== 4 || !tf.util.arraysEqual(yTrue.shape, yPred.shape)) {
    throw new Error(`${what}: masks ${JSON.stringify(yTrue.shape)} and predictions ${JSON.stringify(yPred.shape)} must both be [N, H, W, C] of the same shape.`);
  }
}

/**
 * 1 − soft Dice, pooled over the whole batch and every pixel, per channel, then averaged over channels
 * (smp's DiceLoss aggregates over the batch the same way).
 */
export function softDiceLoss(yTrue: tf.Tensor4D, yPred: tf.Tensor4D): tf.Scalar {
  checkShapes(yTrue, yPred, 'softDiceLoss');
  return tf.tidy(() => {
    const axes = [0, 1, 2];
    const intersection = tf.sum(tf.mul(yTrue, yPred), axes);
    const total = tf.add(tf.sum(yTrue, axes), tf.sum(yPred, axes));
    const dice = tf.div(tf.add(tf.mul(intersection, 2), DICE_SMOOTH), tf.add(total, DICE_SMOOTH));
    return tf.sub(1, tf.mean(dice)) as tf.Scalar;
  });
}

/** Mean binary cross-entropy of sigmoid probabilities against {0, 1} masks. */
export function binaryCrossEntropy(yTrue: tf.Tensor4D, yPred: tf.Tensor4D): tf.Scalar {
  checkShapes(yTrue, yPred, 'binaryCrossEntropy');
  return tf.tidy(() => {
    const p = tf.clipByValue(yPred, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON);
    const perPixel = tf.add(tf.mul(yTrue, tf.log(p)), tf.mul(tf.sub(1, yTrue), tf.log(tf.sub(1, p))));
    return tf.neg(tf.mean(perPixel)) as tf.Scalar;
  });
}

/** Mean over pixels of −Σ_c y_c log p_c for softmax probabilities against one-hot masks. */
export function categoricalCrossEntropy(yTrue: tf.Tensor4D, yPred: tf.Tensor4D): tf.Scalar {
  checkShapes(yTrue, yPred, 'categoricalCrossEntropy');
  return tf.tidy(() => {
    const p = tf.clipByValue(yPred, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON);
    return tf.neg(tf.mean(tf.sum(tf.mul(yTrue, tf.log(p)), -1))) as tf.Scalar;
  });
}

/** Dice + BCE for a single sigmoid channel. */
export function diceBceLoss(yTrue: tf.Tensor4D, yPred: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => tf.add(softDiceLoss(yTrue, yPred), binaryCrossEntropy(yTrue, yPred)) as tf.Scalar);
}

/** Soft Dice (all classes, background included) + categorical CE for softmax outputs. */
export function diceCceLoss(yTrue: tf.Tensor4D, yPred: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => tf.add(softDiceLoss(yTrue, yPred), categoricalCrossEntropy(yTrue, yPred)) as tf.Scalar);
}

/** Picks the loss from the channel count: 1 → Dice + BCE, ≥ 2 → soft Dice + categorical CE. */
export function segmentationLoss(yTrue: tf.Tensor4D, yPred: tf.Tensor4D): tf.Scalar {
  return yPred.shape[3] === 1 ? diceBceLoss(yTrue, yPred) : diceCceLoss(yTrue, yPred);
}
