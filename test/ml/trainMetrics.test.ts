import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import {
  diceOfArrays,
  foregroundCounts,
  iouOfArrays,
  scoresFromArrays,
  segmentationScores,
} from '../../ml/train/metrics';
import { binaryCrossEntropy, categoricalCrossEntropy, diceBceLoss, segmentationLoss, softDiceLoss } from '../../ml/train/losses';
import { SeededRng } from '../../ml/train/rng';

describe('metrics on arrays (hand-computed)', () => {
  it('IoU and Dice of overlapping masks', () => {
    // pred foreground {0,1,2}, truth {1,2,3}: I = 2, U = 4, Dice = 4/6.
    const pred = new Float32Array([0.9, 0.8, 0.6, 0.1, 0.0, 0.2]);
    const truth = new Uint8Array([0, 1, 1, 1, 0, 0]);
    expect(iouOfArrays(pred, truth)).toBeCloseTo(0.5, 12);
    expect(diceOfArrays(pred, truth)).toBeCloseTo(2 / 3, 12);
  });

  it('threshold is strict: 0.5 is background', () => {
    expect(iouOfArrays([0.5, 0.51], [1, 1])).toBeCloseTo(0.5, 12);
  });

  it('empty prediction and empty mask score 1; empty prediction against a mask scores 0', () => {
    expect(iouOfArrays([0, 0, 0], [0, 0, 0])).toBe(1);
    expect(diceOfArrays([0, 0, 0], [0, 0, 0])).toBe(1);
    expect(iouOfArrays([0, 0, 0], [0, 1, 0])).toBe(0);
    expect(iouOfArrays([1, 0, 0], [0, 0, 0])).toBe(0);
  });

  it('accepts 0/255 masks', () => {
    expect(iouOfArrays(new Uint8Array([255, 255, 0]), new Uint8Array([255, 0, 0]))).toBeCloseTo(0.5, 12);
  });

  it('mean of per-image IoU differs from pooled IoU as computed by hand', () => {
    // image 1 (4 px): I=1, U=2 → 0.5;  image 2: I=3, U=3 → 1.  mean = 0.75, pooled = 4/5, Dice: 2/3 and 1 → 5/6, pooled 8/9.
    const pred = [1, 1, 0, 0, 1, 1, 1, 0];
    const truth = [1, 0, 0, 0, 1, 1, 1, 0];
    const s = scoresFromArrays(pred, truth, 4);
    expect(s.perImageIoU).toEqual([0.5, 1]);
    expect(s.meanIoU).toBeCloseTo(0.75, 12);
    expect(s.pooledIoU).toBeCloseTo(0.8, 12);
    expect(s.meanDice).toBeCloseTo(5 / 6, 12);
    expect(s.pooledDice).toBeCloseTo(8 / 9, 12);
  });

  it('rejects mismatched sizes', () => {
    expect(() => scoresFromArrays([1, 0], [1])).toThrow(/mask has 1/);
    expect(() => scoresFromArrays([1, 0, 1], [1, 0, 1], 2)).toThrow(/do not split/);
  });
});

describe('metrics and losses on tensors', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('tensor scores equal the array scores, sigmoid and softmax forms', () => {
    const rng = new SeededRng(3);
    const n = 3;
    const px = 5 * 4;
    const probs = Array.from({ length: n * px }, () => rng.next());
    const truth = Array.from({ length: n * px }, () => (rng.next() > 0.6 ? 1 : 0));
    truth.fill(0, 0, px);
    probs.fill(0.1, 0, px); // image 0: empty prediction and empty mask → IoU 1
    const expected = scoresFromArrays(probs, truth, px);
    const p = tf.tensor4d(probs, [n, 5, 4, 1]);
    const t = tf.tensor4d(truth, [n, 5, 4, 1]);
    const sig = segmentationScores(p, t);
    expect(sig.perImageIoU[0]).toBe(1);
    expect(sig.perImageIoU).toEqual(expected.perImageIoU);
    expect(sig.pooledIoU).toBeCloseTo(expected.pooledIoU, 12);
    expect(sig.meanDice).toBeCloseTo(expected.meanDice, 12);
    // Softmax form: channel 1 = p, channel 0 = 1 − p; argmax picks foreground where p > 0.5.
    const p2 = tf.concat([tf.sub(1, p), p], 3) as tf.Tensor4D;
    const t2 = tf.concat([tf.sub(1, t), t], 3) as tf.Tensor4D;
    expect(segmentationScores(p2, t2).perImageIoU).toEqual(expected.perImageIoU);
    const counts = foregroundCounts(p, t);
    expect(counts.actual[0]).toBe(0);
    tf.dispose([p, t, p2, t2]);
  });

  it('losses are finite on saturated predictions, and near zero for a perfect one', () => {
    const t = tf.tensor4d([0, 1, 1, 0], [1, 2, 2, 1]);
    const wrong = tf.tensor4d([1, 0, 0, 1], [1, 2, 2, 1]);
    const loss = diceBceLoss(t, wrong).dataSync()[0];
    expect(Number.isFinite(loss)).toBe(true);
    expect(loss).toBeGreaterThan(10); // −log(1e-7) ≈ 16 plus Dice ≈ 0.8
    expect(diceBceLoss(t, t).dataSync()[0]).toBeLessThan(1e-5);
    const grads = tf.grad((x: tf.Tensor) => diceBceLoss(t, x as tf.Tensor4D))(wrong);
    expect(Array.from(grads.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([t, wrong, grads]);
  });

  it('BCE and CE match hand-computed values; the categorical form reduces to BCE for two classes', () => {
    const t = tf.tensor4d([1, 0], [1, 1, 2, 1]);
    const p = tf.tensor4d([0.8, 0.4], [1, 1, 2, 1]);
    const bce = -(Math.log(0.8) + Math.log(0.6)) / 2;
    expect(binaryCrossEntropy(t, p).dataSync()[0]).toBeCloseTo(bce, 5);
    const t2 = tf.concat([tf.sub(1, t), t], 3) as tf.Tensor4D;
    const p2 = tf.concat([tf.sub(1, p), p], 3) as tf.Tensor4D;
    expect(categoricalCrossEntropy(t2, p2).dataSync()[0]).toBeCloseTo(bce, 5);
    // soft Dice (smooth 1): 1 − (2·0.8 + 1) / (1 + 1.2 + 1)
    expect(softDiceLoss(t, p).dataSync()[0]).toBeCloseTo(1 - 2.6 / 3.2, 5);
    expect(segmentationLoss(t2, p2).dataSync()[0]).toBeGreaterThan(0);
    expect(() => segmentationLoss(t, p2)).toThrow(/same shape/);
    tf.dispose([t, p, t2, p2]);
  });
});
