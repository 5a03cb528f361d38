/** Learning-rate schedules, and that every Adam the trainer can use reads the rate they set at the next update. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import { scheduledLearningRate, setLearningRate } from '../../ml/train/schedule';
import { type AdamKind, createAdam } from '../../ml/train/step';

beforeAll(async () => {
  await initBackend(undefined, () => {});
});

describe('learning-rate schedules', () => {
  it('constant, cosine down to 0, and nnU-Net poly', () => {
    expect([0, 5, 9].map((e) => scheduledLearningRate(0.1, 'constant', e, 10))).toEqual([0.1, 0.1, 0.1]);
    expect(scheduledLearningRate(0.1, 'cosine', 0, 10)).toBeCloseTo(0.1, 12);
    expect(scheduledLearningRate(0.1, 'cosine', 5, 10)).toBeCloseTo(0.05, 12);
    expect(scheduledLearningRate(0.1, 'poly', 5, 10)).toBeCloseTo(0.1 * 0.5 ** 0.9, 12);
    const poly = Array.from({ length: 10 }, (_, e) => scheduledLearningRate(1, 'poly', e, 10));
    expect(poly.every((v, i) => i === 0 || v < poly[i - 1])).toBe(true);
    expect(() => scheduledLearningRate(1, 'poly', 10, 10)).toThrow(/epoch must be/);
  });

  it('every Adam takes a new rate at its next update (the update scales with it)', () => {
    for (const kind of ['native', 'tfjs', 'one-pass'] as AdamKind[]) {
      const step = (rate: number) => {
        const w = tf.variable(tf.tensor1d([1, -2, 3]), true, `w_${kind}_${rate}_${Math.random().toString(36).slice(2)}`);
        const adam = createAdam(1e-3, kind);
        setLearningRate(adam, rate);
        adam.applyGradients({ [w.name]: tf.tensor1d([0.5, 0.5, -0.5]) });
        const moved = tf.sub(w, tf.tensor1d([1, -2, 3])).dataSync();
        adam.dispose();
        w.dispose();
        return Array.from(moved);
      };
      const small = step(0.01);
      const large = step(0.02);
      small.forEach((v, i) => expect(large[i] / v, kind).toBeCloseTo(2, 3));
    }
  });
});
