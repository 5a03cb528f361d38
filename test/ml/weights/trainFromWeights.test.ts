/**
 * The training activity with `--encoder-weights` / `--init-weights`: the uploaded file is loaded into the fresh model
 * (its origin lands in the model's config.json), and a file that does not fit fails as InvalidInput before any
 * training step, with nothing written. Runs the activity in Temporal's mock activity environment on an in-memory
 * store and a tiny grey dataset.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { trainWithCheckpoints } from '../../../activities/training';
import { modelKeys, type TrainOutcome, weightsKeys, type WeightsRef } from '../../../contracts';
import { initBackend } from '../../../ml/backend';
import type { ModelConfig } from '../../../ml/types';
import { MemoryBlobStore } from '../../../store/blobStore';
import type { ObjectStore } from '../../../store/objectStore';

const dir = new URL('../../fixtures/weights/unet-mobilenet_v2-d3/', import.meta.url).pathname;
const bytes = new Uint8Array(fs.readFileSync(path.join(dir, 'model.safetensors')));
const sha256 = createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  await initBackend(undefined, () => {});
});

/** The in-memory store with the JSON helpers of ObjectStore that training uses. */
class MemoryStore extends MemoryBlobStore {
  async putJson(key: string, value: unknown): Promise<void> {
    await this.putBytes(key, new TextEncoder().encode(JSON.stringify(value)));
  }

  async getJson<T>(key: string): Promise<T> {
    return JSON.parse(new TextDecoder().decode(await this.getBytes(key))) as T;
  }
}

async function storeWithWeights(): Promise<ObjectStore> {
  const store = new MemoryStore();
  await store.putBytes(weightsKeys.file(sha256), bytes);
  await store.putBytes(weightsKeys.smpConfig(sha256), new Uint8Array(fs.readFileSync(path.join(dir, 'config.json'))));
  return store as unknown as ObjectStore;
}

function train(store: ObjectStore, ref: WeightsRef, widthScale: number, prefix: string) {
  const data = { images: tf.randomUniform([2, 32, 32, 1], 0, 1, 'float32', 1) as tf.Tensor4D, masks: tf.zeros([2, 32, 32, 1]) as tf.Tensor4D };
  const env = new MockActivityEnvironment();
  const run: Promise<TrainOutcome> = env.run(() => trainWithCheckpoints(store, {
    outputPrefix: prefix,
    model: { arch: 'Unet', encoder: 'mobilenet_v2', encoderDepth: 3, widthScale, initWeights: ref },
    dropout: { strategy: 'none', rate: 0 },
    hyper: { epochs: 1, batchSize: 2, learningRate: 1e-4, seed: 0, augment: false },
    inputShape: [32, 32, 1],
  }, data));
  return run.finally(() => {
    data.images.dispose();
    data.masks.dispose();
  });
}

describe('training from PyTorch weights', () => {
  it('loads the uploaded smp model (RGB summed for the grey input) and records its origin', async () => {
    const store = await storeWithWeights();
    const ref: WeightsRef = { sha256, source: 'unet-mobilenet_v2-d3', scope: 'model', hasSmpConfig: true };
    const outcome = await train(store, ref, 1, 'runs/t/model-a');
    expect(outcome.epochsRun).toBe(1);
    const config = JSON.parse(new TextDecoder().decode(await store.getBytes(modelKeys.config('runs/t/model-a')))) as ModelConfig;
    expect(config.weightsOrigin).toEqual({ source: 'unet-mobilenet_v2-d3', sha256, scope: 'model' });
    expect(config).not.toHaveProperty('initWeights');
  });

  it('refuses weights that do not fit before training, as InvalidInput naming the tensors, and writes nothing', async () => {
    const store = await storeWithWeights();
    const ref: WeightsRef = { sha256, source: 'unet-mobilenet_v2-d3', scope: 'encoder', hasSmpConfig: false };
    const error = await train(store, ref, 0.5, 'runs/t/model-b').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).type).toBe('InvalidInput');
    expect((error as ApplicationFailure).message).toMatch(/weights unet-mobilenet_v2-d3: .*wrong shape: encoder\.features\.0\.0\.weight/s);
    expect(await store.list('runs/t/model-b')).toEqual([]);
  });
});
