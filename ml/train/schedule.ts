/** Learning-rate schedules over a training run's epochs (contracts/names.ts: LR_SCHEDULES). */
import type * as tf from '@tensorflow/tfjs';
import type { LrSchedule } from '../../contracts/names';

/** The rate of epoch `epoch` (0-based) of `epochs`: constant; cosine from base to 0; nnU-Net's poly, base · (1 − e/E)^0.9. */
export function scheduledLearningRate(base: number, schedule: LrSchedule, epoch: number, epochs: number): number {
  if (!(Number.isInteger(epochs) && epochs >= 1 && Number.isInteger(epoch) && epoch >= 0 && epoch < epochs)) {
    throw new Error(`epoch must be a whole number in [0, ${epochs}), got ${epoch}.`);
  }
  const progress = epoch / epochs;
  switch (schedule) {
    case 'constant':
      return base;
    case 'cosine':
      return (base * (1 + Math.cos(Math.PI * progress))) / 2;
    case 'poly':
      return base * (1 - progress) ** 0.9;
    default:
      throw new Error(`Unknown learning-rate schedule '${String(schedule)}'.`);
  }
}

/** Sets the learning rate of the trainer's Adam (tfjs' AdamOptimizer and the project's native and one-pass ones read it every update). */
export function setLearningRate(optimizer: tf.Optimizer, rate: number): void {
  if (!('learningRate' in optimizer)) throw new Error(`The optimizer ${optimizer.getClassName()} has no learning rate to schedule.`);
  (optimizer as unknown as { learningRate: number }).learningRate = rate;
}
