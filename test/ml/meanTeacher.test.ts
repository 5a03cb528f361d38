/**
 * Mean teacher in the trainer: the ramp-up of the consistency weight, the teacher as the exponential moving average
 * of the student, and a training run that uses unlabelled images — repeatable under its seed, different from the
 * run without them, its teacher near but not equal to the student.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import { consistencyWeight, MEAN_TEACHER_DEFAULTS, trainModel, type TrainOptions, updateTeacher } from '../../ml/train/trainer';
import { discDataset, disposeDataset, tinyNet } from './trainHelpers';

const flat = (model: tf.LayersModel) => model.getWeights().flatMap((w) => Array.from(w.dataSync()));

describe('mean teacher', () => {
  beforeAll(async () => {
    await initBackend();
  });
  const labelled = discDataset(8, 3);
  const unlabelled = discDataset(24, 4);
  afterAll(() => {
    disposeDataset(labelled);
    disposeDataset(unlabelled);
  });

  it('ramps the consistency weight up over the first 30 % of the epochs, then holds it', () => {
    // 10 epochs: the ramp is 3 epochs long.
    expect(consistencyWeight(2, 1, 10)).toBeCloseTo(2 * Math.exp(-5 * (2 / 3) ** 2), 12);
    expect(consistencyWeight(2, 2, 10)).toBeCloseTo(2 * Math.exp(-5 * (1 / 3) ** 2), 12);
    expect(consistencyWeight(2, 3, 10)).toBe(2);
    expect(consistencyWeight(2, 10, 10)).toBe(2);
    expect(consistencyWeight(1, 1, 1)).toBe(1);
    expect(MEAN_TEACHER_DEFAULTS).toMatchObject({ weight: 1, ema: 0.99 });
  });

  it('moves the teacher a (1 − ema) step towards the student, batch-norm statistics included', () => {
    const student = tinyNet(1, 1);
    const teacher = tinyNet(1, 9);
    const before = flat(teacher);
    const target = flat(student);
    updateTeacher(teacher, student, 0.9);
    flat(teacher).forEach((v, i) => expect(v).toBeCloseTo(0.9 * before[i] + 0.1 * target[i], 5));
    expect(teacher.weights.length).toBe(student.weights.length);
    student.dispose();
    teacher.dispose();
  });

  it('trains with the unlabelled images: repeatable under the seed, not the run without them, the teacher trailing the student', async () => {
    const options: TrainOptions = { epochs: 3, batchSize: 4, learningRate: 1e-2, seed: 5, augment: false };
    const run = async (withTeacher: boolean) => {
      const student = tinyNet(1, 1);
      const teacher = tinyNet(1, 9);
      const result = await trainModel(student, labelled, undefined, { ...options, ...(withTeacher ? { meanTeacher: { images: unlabelled.images, teacher } } : {}) });
      const out = { student: flat(student), teacher: flat(teacher), losses: result.history.map((h) => h.loss) };
      student.dispose();
      teacher.dispose();
      return out;
    };
    const first = await run(true);
    const again = await run(true);
    const plain = await run(false);
    expect(again.student).toEqual(first.student);
    expect(again.teacher).toEqual(first.teacher);
    // The consistency term is part of the loss and of the gradients.
    expect(first.losses).not.toEqual(plain.losses);
    expect(first.student).not.toEqual(plain.student);
    // The teacher started as the student's copy (not its own initialisation) and follows it, a step behind.
    const gap = first.teacher.reduce((m, v, i) => Math.max(m, Math.abs(v - first.student[i])), 0);
    const initial = tinyNet(1, 9);
    const fromOwnInit = flat(initial).reduce((m, v, i) => Math.max(m, Math.abs(v - first.teacher[i])), 0);
    initial.dispose();
    expect(gap).toBeGreaterThan(0);
    expect(gap).toBeLessThan(fromOwnInit);
  });
});
