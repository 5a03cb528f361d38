/** Dataset access shared by the activities: manifests, labelled sets as tensors, and clear failures for bad input. */
import { ApplicationFailure } from '@temporalio/activity';
import * as tf from '@tensorflow/tfjs';
import { type DatasetItem, type DatasetManifest, decodeMask, loadTensors, readItems, readManifest } from '../data/manifest';
import { MissingKeyError } from '../store/blobStore';
import type { SegDataset } from '../ml/train/trainer';
import type { LabelledItem } from '../contracts';
import type { ObjectStore } from '../store/objectStore';

export function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'InvalidInput');
}

export async function manifestOrFail(store: ObjectStore, datasetId: string): Promise<DatasetManifest> {
  try {
    return await readManifest(store, datasetId);
  } catch (error) {
    if (error instanceof MissingKeyError) throw invalidInput(`dataset '${datasetId}' does not exist (no manifest); import it first`);
    throw error;
  }
}

export async function jsonOrFail<T>(store: ObjectStore, key: string, what: string): Promise<T> {
  try {
    return await store.getJson<T>(key);
  } catch (error) {
    if (error instanceof MissingKeyError) throw invalidInput(`${what} '${key}' does not exist`);
    throw error;
  }
}

export async function itemsById(store: ObjectStore, manifest: DatasetManifest): Promise<Map<string, DatasetItem>> {
  return new Map((await readItems(store, manifest)).map((item) => [item.id, item]));
}

/** Images from the dataset and masks from wherever the labels are (the dataset's own or a doctor's upload). */
export async function loadLabelled(
  store: ObjectStore, manifest: DatasetManifest, items: readonly LabelledItem[], onProgress?: (done: number, total: number) => void,
): Promise<SegDataset> {
  if (items.length === 0) throw invalidInput('the labelled set is empty: nothing to train on');
  const total = 2 * items.length;
  const { images } = await loadTensors(store, manifest, items.map((i) => i.id), { masks: 'none', onProgress: (done) => onProgress?.(done, total) });
  const [height, width] = manifest.size;
  const maskData = new Float32Array(items.length * height * width);
  let done = items.length;
  try {
    await Promise.all(items.map(async (item, index) => {
      const mask = await decodeMask(await store.getBytes(item.maskKey), manifest.size, item.maskKey);
      maskData.set(mask, index * height * width);
      done += 1;
      onProgress?.(done, total);
    }));
  } catch (error) {
    images.dispose();
    throw error;
  }
  return { images, masks: tf.tensor4d(maskData, [items.length, height, width, 1]) };
}
