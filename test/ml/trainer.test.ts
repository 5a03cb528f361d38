import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import { MemoryBlobStore } from '../../store/blobStore';
import type { AugmentConfig } from '../../ml/train/augment';
import {
  checkpointExists,
  FolderBlobStore,
  loadCheckpoint,
  loadModelFromCheckpoint,
  saveCheckpoint,
} from '../../ml/train/checkpoint';
import { evaluateModel, predictMasks, trainModel, type TrainOptions, type TrainProgress } from '../../ml/train/trainer';
import { discDataset, disposeDataset, SIZE, tinyNet } from './trainHelpers';

const LIGHT_AUGMENT: AugmentConfig = {
  horizontalFlip: { p: 0.5 },
  rotation: { p: 0.3, maxDegrees: 20 },
  gaussianNoise: { p: 0.2 },
  brightnessContrast: { p: 0.3 },
};

const base: TrainOptions = { epochs: 4, batchSize: 4, learningRate: 1e-2, seed: 5, augment: LIGHT_AUGMENT };

function expectClose(a: number[], b: number[], relTol: number) {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThanOrEqual(relTol * Math.max(1, Math.abs(b[i]))));
}

describe('trainModel', () => {
  const train = { images: undefined as unknown as tf.Tensor4D, masks: undefined as unknown as tf.Tensor4D };
  const val = { images: undefined as unknown as tf.Tensor4D, masks: undefined as unknown as tf.Tensor4D };

  beforeAll(async () => {
    await initBackend();
    Object.assign(train, discDataset(16, 1));
    Object.assign(val, discDataset(8, 2));
  });
  afterAll(() => {
    disposeDataset(train);
    disposeDataset(val);
  });

  it('drives the loss down and the validation IoU up; the model ends with its best weights', async () => {
    const model = tinyNet();
    const before = evaluateModel(model, val, 8).iou;
    const result = await trainModel(model, train, val, { ...base, epochs: 12 });
    const losses = result.history.map((h) => h.loss);
    expect(Math.min(...losses.slice(-3))).toBeLessThan(0.6 * losses[0]);
    expect(result.bestValIoU!).toBeGreaterThan(0.7);
    expect(result.bestValIoU!).toBeGreaterThan(before + 0.2);
    expect(result.epochsRun).toBe(12);
    expect(result.bestEpoch).toBe(1 + result.history.findIndex((h) => h.valIoU === result.bestValIoU));
    expect(evaluateModel(model, val, 3).iou).toBeCloseTo(result.bestValIoU!, 6);
    const masks = predictMasks(model, val.images, 3);
    expect(masks.shape).toEqual([8, SIZE, SIZE, 1]);
    expect(Array.from(masks.dataSync()).every((v) => v === 0 || v === 1)).toBe(true);
    masks.dispose();
    model.dispose();
  });

  it('same seed gives identical loss curves; another seed does not', async () => {
    const run = async (seed: number) => {
      const model = tinyNet();
      const r = await trainModel(model, train, val, { ...base, epochs: 3, seed, augment: undefined });
      model.dispose();
      return r.history;
    };
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    expect(b.map((h) => h.loss)).toEqual(a.map((h) => h.loss));
    expect(b.map((h) => h.valIoU)).toEqual(a.map((h) => h.valIoU));
    expect(c.map((h) => h.loss)).not.toEqual(a.map((h) => h.loss));
  });

  it('resuming from the checkpoint of epoch 2 continues exactly like the uninterrupted run', async () => {
    const storeA = new MemoryBlobStore();
    const full = tinyNet();
    const uninterrupted = await trainModel(full, train, val, { ...base, checkpoint: { store: storeA, prefix: 'runs/a' } });

    const storeB = new MemoryBlobStore();
    const first = tinyNet();
    const half = await trainModel(first, train, val, { ...base, epochs: 2, checkpoint: { store: storeB, prefix: 'runs/b' } });
    first.dispose();
    expect(half.lastCheckpointKey).toBe('runs/b/epoch-0002');
    // A fresh process would build the model from scratch: different initial weights must not matter.
    const second = tinyNet(1, 99);
    const resumed = await trainModel(second, train, val, {
      ...base,
      checkpoint: { store: storeB, prefix: 'runs/b' },
      resumeFrom: half.lastCheckpointKey,
    });
    expect(resumed.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4]);
    expectClose(resumed.history.map((h) => h.loss), uninterrupted.history.map((h) => h.loss), 1e-5);
    expectClose(resumed.history.map((h) => h.valIoU!), uninterrupted.history.map((h) => h.valIoU!), 1e-4);
    expect(resumed.bestEpoch).toBe(uninterrupted.bestEpoch);
    const wb = second.getWeights();
    const maxDiff = tf.tidy(() => full.getWeights().map((w, i) => tf.abs(tf.sub(w, wb[i])).max().dataSync()[0]));
    maxDiff.forEach((d) => expect(d).toBeLessThan(1e-5));
    // Only the last epoch checkpoint and the best weights remain.
    const metas = (await storeB.list('runs/b/')).filter((k) => k.endsWith('meta.json'));
    expect(metas).toEqual(['runs/b/best/meta.json', 'runs/b/epoch-0004/meta.json']);
    full.dispose();
    second.dispose();
  });

  it('refuses to resume with a different batch size', async () => {
    const store = new MemoryBlobStore();
    const model = tinyNet();
    const r = await trainModel(model, train, undefined, { ...base, epochs: 1, checkpoint: { store, prefix: 'p' } });
    await expect(
      trainModel(model, train, undefined, { ...base, batchSize: 8, checkpoint: { store, prefix: 'p' }, resumeFrom: r.lastCheckpointKey }),
    ).rejects.toThrow(/same training set, batch size and seed/);
    model.dispose();
  });

  it('keeps the tensor count stable across epochs and frees everything it made', async () => {
    const model = tinyNet();
    const before = tf.memory().numTensors;
    const perEpoch: number[] = [];
    const store = new MemoryBlobStore();
    await trainModel(model, train, val, {
      ...base,
      augment: undefined,
      checkpoint: { store, prefix: 'leak' },
      onProgress: (p) => {
        if (p.kind === 'epoch') perEpoch.push(tf.memory().numTensors);
      },
    });
    expect(perEpoch).toHaveLength(4);
    expect(new Set(perEpoch).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('stops at the next batch when cancelled, with an AbortError', async () => {
    const model = tinyNet();
    const controller = new AbortController();
    const seen: TrainProgress[] = [];
    const run = trainModel(model, train, val, {
      ...base,
      epochs: 50,
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p);
        if (p.kind === 'batch' && p.step === 6) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen.filter((p) => p.kind === 'batch').map((p) => p.step).at(-1)).toBe(6);
    model.dispose();
  });

  it('reports progress per batch and per epoch with checkpoint keys', async () => {
    const model = tinyNet();
    const seen: TrainProgress[] = [];
    const store = new MemoryBlobStore();
    await trainModel(model, train, val, { ...base, epochs: 2, checkpoint: { store, prefix: 'prog' }, onProgress: (p) => void seen.push(p) });
    const epochs = seen.filter((p) => p.kind === 'epoch');
    expect(seen.filter((p) => p.kind === 'batch').map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(epochs.map((p) => [p.epoch, p.step, p.stepsPerEpoch, p.checkpointKey])).toEqual([
      [1, 4, 4, 'prog/epoch-0001'],
      [2, 8, 4, 'prog/epoch-0002'],
    ]);
    expect(epochs.every((p) => p.valIoU !== undefined && Number.isFinite(p.loss))).toBe(true);
    model.dispose();
  });

  it('stops early after `patience` epochs without improvement', async () => {
    // All-empty validation masks and a head biased far negative: IoU is 1 from epoch 1 and can never improve.
    const model = tinyNet(1, 1, -10);
    const emptyVal = { images: tf.zeros([4, SIZE, SIZE, 1]) as tf.Tensor4D, masks: tf.zeros([4, SIZE, SIZE, 1]) as tf.Tensor4D };
    const result = await trainModel(model, train, emptyVal, { ...base, learningRate: 1e-4, epochs: 10, earlyStoppingPatience: 2 });
    expect(result.history.map((h) => h.valIoU)).toEqual([1, 1, 1]);
    expect(result.epochsRun).toBe(3);
    expect(result.bestEpoch).toBe(1);
    disposeDataset(emptyVal);
    model.dispose();
  });

  it('trains a two-class softmax model with one-hot masks', async () => {
    const train2 = discDataset(8, 3, 2);
    const model = tinyNet(2);
    const result = await trainModel(model, train2, train2, { ...base, epochs: 3 });
    expect(result.history.every((h) => Number.isFinite(h.loss))).toBe(true);
    expect(result.history[2].loss).toBeLessThan(result.history[0].loss);
    const masks = predictMasks(model, train2.images, 4);
    expect(masks.shape).toEqual([8, SIZE, SIZE, 2]);
    expect(Array.from(masks.sum(3).dataSync()).every((v) => v === 1)).toBe(true);
    masks.dispose();
    disposeDataset(train2);
    model.dispose();
  });

  it('rejects masks whose channels do not match the model', async () => {
    const model = tinyNet(2);
    await expect(trainModel(model, train, undefined, base)).rejects.toThrow(/masks have 1 channels but the model outputs 2/);
    model.dispose();
  });
});

describe('checkpoints', () => {
  let tmp: string;
  beforeAll(async () => {
    await initBackend();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-'));
  });
  afterAll(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it.each(['memory', 'folder'])('save → load gives identical predictions and optimizer state (%s store)', async (kind) => {
    const store = kind === 'memory' ? new MemoryBlobStore() : new FolderBlobStore(tmp);
    const data = discDataset(8, 4);
    const model = tinyNet();
    const optimizer = tf.train.adam(1e-2);
    await trainModel(model, data, undefined, { ...base, epochs: 1 });
    // Give the optimizer real state: a few steps of its own.
    for (let i = 0; i < 3; i++) {
      const cost = optimizer.minimize(() => tf.mean(tf.square(model.apply(data.images, { training: true }) as tf.Tensor)) as tf.Scalar, true);
      cost?.dispose();
    }
    await saveCheckpoint(model, optimizer, store, 'ck/x', { epoch: 7, step: 21, bestMetric: 0.5, history: [] });
    expect(await checkpointExists(store, 'ck/x')).toBe(true);

    const copy = tinyNet(1, 42);
    const restoredOptimizer = tf.train.adam(1e-2);
    const meta = await loadCheckpoint(copy, restoredOptimizer, store, 'ck/x');
    expect(meta).toMatchObject({ epoch: 7, step: 21, bestMetric: 0.5 });
    const a = model.predict(data.images) as tf.Tensor;
    const b = copy.predict(data.images) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    const rebuilt = await loadModelFromCheckpoint(store, 'ck/x');
    const c = rebuilt.predict(data.images) as tf.Tensor;
    expect(Array.from(c.dataSync())).toEqual(Array.from(a.dataSync()));

    const original = await optimizer.getWeights();
    const restored = await restoredOptimizer.getWeights();
    expect(restored.length).toBe(original.length);
    expect(restored.length).toBeGreaterThan(1);
    original.forEach((w, i) => expect(Array.from(restored[i].tensor.dataSync())).toEqual(Array.from(w.tensor.dataSync())));
    tf.dispose([a, b, c, original[0].tensor, restored[0].tensor]);
    optimizer.dispose();
    restoredOptimizer.dispose();
    [model, copy, rebuilt].forEach((m) => m.dispose());
    disposeDataset(data);
  });

  it('the folder store writes, lists, reads back and removes keys', async () => {
    const store = new FolderBlobStore(path.join(tmp, 'kv'));
    await store.putBytes('a/b/one.bin', new Uint8Array([1, 2, 3]));
    await store.putBytes('a/two.json', new Uint8Array([4]));
    await store.putBytes('c.bin', new Uint8Array([5]));
    expect(await store.list('a/')).toEqual(['a/b/one.bin', 'a/two.json']);
    expect(Array.from(await store.getBytes('a/b/one.bin'))).toEqual([1, 2, 3]);
    expect(await store.exists('a/two.json')).toBe(true);
    await store.remove('a/two.json');
    expect(await store.exists('a/two.json')).toBe(false);
    await expect(store.getBytes('a/two.json')).rejects.toMatchObject({ name: 'MissingKeyError', key: 'a/two.json' });
    await expect(store.putBytes('../escape', new Uint8Array([1]))).rejects.toThrow(/outside/);
    expect(await store.list('nothing/')).toEqual([]);
  });

  it('an incomplete checkpoint (no meta.json) is not loaded', async () => {
    const store = new MemoryBlobStore();
    const model = tinyNet();
    await saveCheckpoint(model, undefined, store, 'half', { epoch: 1, step: 1 });
    await store.remove('half/meta.json');
    expect(await checkpointExists(store, 'half')).toBe(false);
    await expect(loadCheckpoint(model, undefined, store, 'half')).rejects.toThrow(/half\/meta.json/);
    model.dispose();
  });

  it('refuses weights from another architecture', async () => {
    const store = new MemoryBlobStore();
    const one = tinyNet(1);
    const two = tinyNet(2);
    await saveCheckpoint(one, undefined, store, 'arch', { epoch: 0, step: 0 });
    await expect(loadCheckpoint(two, undefined, store, 'arch')).rejects.toThrow(/shape/);
    [one, two].forEach((m) => m.dispose());
  });
});
