import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import { MemoryBlobStore } from '../../store/blobStore';
import { loadCheckpoint, loadModelFromCheckpoint } from '../../ml/train/checkpoint';
import { trainModel } from '../../ml/train/trainer';
import type { ModelConfig } from '../../ml/types';
import { buildModel } from '../../ml/zoo';
import { discDataset, disposeDataset, SIZE } from './trainHelpers';

const config: ModelConfig = {
  arch: 'Unet',
  encoder: 'resnet34',
  encoderDepth: 3,
  inputShape: [SIZE, SIZE, 1],
  classes: 1,
  dropout: { strategy: 'decoder', rate: 0.2 },
  widthScale: 0.125,
  seed: 3,
};

describe('trainer with a zoo model', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('trains a small Unet/resnet34, resumes it exactly, and restores identical predictions from its checkpoint', async () => {
    const data = discDataset(8, 7);
    const net = buildModel(config).model;
    const store = new MemoryBlobStore();
    const result = await trainModel(net, data, data, {
      epochs: 3,
      batchSize: 4,
      learningRate: 3e-3,
      seed: 1,
      checkpoint: { store, prefix: 'zoo' },
    });
    expect(result.history.every((h) => Number.isFinite(h.loss))).toBe(true);
    expect(result.history[2].loss).toBeLessThan(result.history[0].loss);

    // Stop after epoch 2 and resume in a model built with another seed: the same curve continues.
    const store2 = new MemoryBlobStore();
    const opts = { epochs: 3, batchSize: 4, learningRate: 3e-3, seed: 1, checkpoint: { store: store2, prefix: 'zoo2' } };
    const first = buildModel(config).model;
    const half = await trainModel(first, data, data, { ...opts, epochs: 2 });
    first.dispose();
    const second = buildModel({ ...config, seed: 11 }).model;
    const resumed = await trainModel(second, data, data, { ...opts, resumeFrom: half.lastCheckpointKey });
    second.dispose();
    resumed.history.forEach((h, i) => expect(h.loss).toBeCloseTo(result.history[i].loss, 5));

    const fresh = buildModel({ ...config, seed: 9 }).model;
    await loadCheckpoint(fresh, undefined, store, result.lastCheckpointKey!, { weightsOnly: true });
    const rebuilt = await loadModelFromCheckpoint(store, result.lastCheckpointKey!);
    // `net` may hold the best rather than the last weights; compare with the last checkpoint loaded twice.
    const a = fresh.predict(data.images) as tf.Tensor;
    const b = rebuilt.predict(data.images) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([a, b]);
    [net, fresh, rebuilt].forEach((m) => m.dispose());
    disposeDataset(data);
  });
});
