/**
 * The dataset contract: what an importer writes to the object store and what training, MC sampling and
 * evaluation read back. Everything here is plain JSON except the per-item image and mask objects.
 *
 * Layout under `datasets/<id>/`:
 * - `manifest.json`            DatasetManifest; written last, so it exists only for a complete dataset
 * - `items.json`               DatasetItem[] (can be 100,000 entries: never put it in a workflow payload)
 * - `splits/{initial,pool,test}.json`   item id lists
 * - `import-summary.json`      what the importer imported and skipped (returned again on a re-import)
 * - `images/<itemId>.bin`      float32 little-endian raw, shape [H, W, 1], values in [0, 1]
 * - `masks/<itemId>.png`       8-bit grey PNG of the preprocessed size, 0 = background, 255 = structure
 *
 * Sizes are [height, width]; spacing is [row spacing, column spacing] in mm of the original image.
 * A dataset id is a content hash of the importer's inputs and options, so re-importing is idempotent.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { datasetKeys } from '../contracts/keys';
import { SPLIT_NAMES, type SplitName } from '../contracts/names';
import { type BlobStore, decodeFloat32, encodeFloat32, MissingKeyError } from '../store/blobStore';

export { datasetKeys, type SplitName };
export const splitNames = SPLIT_NAMES;

export interface DatasetItem {
  id: string;
  /** Video or patient the frame comes from: splits never separate a group. */
  group: string;
  /**
   * Items with the same split group are never separated by the train/test split (e.g. every series of one DICOM
   * study); absent: the item's group.
   */
  splitGroup?: string;
  imageKey: string;
  /** Absent for unlabelled frames. */
  maskKey?: string;
  /** Source file(s), relative to the import folder. */
  source: string;
  /** [height, width] before preprocessing (the whole frame, also when a crop was taken). */
  originalSize: [number, number];
  /** The part of the original frame the image was cut from, in original pixels; absent: the whole frame. */
  crop?: { x: number; y: number; width: number; height: number };
  /** [row, column] pixel spacing in mm, where the source format records it. */
  spacing?: [number, number];
  /** sha256 of the preprocessed image (and mask) bytes. */
  contentHash: string;
}

export interface DatasetManifest {
  id: string;
  name: string;
  createdAt: string;
  /** [height, width] of every stored image and mask. */
  size: [number, number];
  channels: 1;
  itemCount: number;
  itemsKey: string;
  splits: {
    initialKey: string;
    poolKey: string;
    testKey: string;
    /** The validation split (labelled, by video, never trained on): absent in datasets made before it existed. */
    valKey?: string;
    /** Unlabelled frames of the validation and test videos (datasets imported without every mask): what a run asks doctors to label for evaluation. */
    valUnlabelledKey?: string;
    testUnlabelledKey?: string;
    counts: { initial: number; pool: number; test: number; val?: number; valUnlabelled?: number; testUnlabelled?: number };
  };
  /** How the dataset was made, e.g. "camus:nifti" or "folder-of-pairs". */
  source: string;
  seed: number;
}

export interface DatasetSplits {
  initial: string[];
  pool: string[];
  test: string[];
  /** Labelled frames of held-out videos that choose (absent in datasets made before validation splits existed). */
  val?: string[];
  /** Unlabelled frames of the validation and test videos (absent when there are none). */
  valUnlabelled?: string[];
  testUnlabelled?: string[];
}

/** Item ids become object keys and file names: keep them to a safe alphabet. */
export const itemIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

async function readJson<T>(store: BlobStore, key: string): Promise<T> {
  const bytes = await store.getBytes(key);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (error) {
    throw new Error(`Object '${key}' is not valid JSON (${(error as Error).message}); the dataset is damaged: re-import it.`);
  }
}

/** Image object bytes: float32 little-endian, row-major [H, W, 1]. */
export function encodeImage(image: Float32Array): Uint8Array {
  return encodeFloat32(image);
}

export function decodeImage(bytes: Uint8Array, size: [number, number], key = 'image'): Float32Array {
  const expected = size[0] * size[1] * 4;
  if (bytes.length !== expected) {
    throw new Error(`Object '${key}' has ${bytes.length} bytes; a ${size[0]}×${size[1]} float32 image needs ${expected}. Re-import the dataset.`);
  }
  return decodeFloat32(bytes, key);
}

/** Mask object bytes: 8-bit grey PNG, 0/255, from a 0/1 mask. */
export async function encodeMask(mask: Uint8Array, size: [number, number]): Promise<Uint8Array> {
  const grey = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) grey[i] = mask[i] ? 255 : 0;
  const png = await sharp(grey, { raw: { width: size[1], height: size[0], channels: 1 } })
    .png({ compressionLevel: 9 })
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** Decodes a stored mask PNG to 0/1 values. */
export async function decodeMask(bytes: Uint8Array, size: [number, number], key = 'mask'): Promise<Uint8Array> {
  const { data, info } = await sharp(bytes).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  if (info.height !== size[0] || info.width !== size[1]) {
    throw new Error(`Mask '${key}' is ${info.height}×${info.width}; the dataset's size is ${size[0]}×${size[1]}. Re-import the dataset.`);
  }
  const mask = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) mask[i] = data[i] >= 128 ? 1 : 0;
  return mask;
}

/** sha256 of the preprocessed image bytes and, when labelled, the 0/1 mask. */
export function itemContentHash(image: Float32Array, mask?: Uint8Array): string {
  const hash = createHash('sha256');
  hash.update(encodeImage(image));
  if (mask) hash.update(mask);
  return hash.digest('hex');
}

/** Writes one preprocessed item's image (and mask) and returns its keys. */
export async function writeItemData(
  store: BlobStore,
  datasetId: string,
  itemId: string,
  size: [number, number],
  image: Float32Array,
  mask?: Uint8Array,
): Promise<{ imageKey: string; maskKey?: string }> {
  if (!itemIdPattern.test(itemId)) throw new Error(`Item id '${itemId}' has characters other than letters, digits, '.', '_' and '-'.`);
  const pixels = size[0] * size[1];
  if (image.length !== pixels) throw new Error(`Item '${itemId}': image has ${image.length} values, ${size[0]}×${size[1]} needs ${pixels}.`);
  const imageKey = datasetKeys.image(datasetId, itemId);
  await store.putBytes(imageKey, encodeImage(image), 'application/octet-stream');
  if (!mask) return { imageKey };
  if (mask.length !== pixels) throw new Error(`Item '${itemId}': mask has ${mask.length} values, ${size[0]}×${size[1]} needs ${pixels}.`);
  const maskKey = datasetKeys.mask(datasetId, itemId);
  await store.putBytes(maskKey, await encodeMask(mask, size), 'image/png');
  return { imageKey, maskKey };
}

export interface DatasetSpec {
  id: string;
  name: string;
  size: [number, number];
  source: string;
  seed: number;
  createdAt?: string;
}

function checkSplits(items: readonly DatasetItem[], splits: DatasetSplits): void {
  const byId = new Map<string, DatasetItem>();
  for (const item of items) {
    if (byId.has(item.id)) throw new Error(`Duplicate item id '${item.id}' in the dataset's items.`);
    byId.set(item.id, item);
  }
  const seen = new Map<string, SplitName>();
  for (const name of splitNames) {
    for (const id of splits[name] ?? []) {
      const item = byId.get(id);
      if (!item) throw new Error(`Split '${name}' names item '${id}', which is not in the dataset's items.`);
      const other = seen.get(id);
      if (other) throw new Error(`Item '${id}' is in both the '${other}' and the '${name}' split.`);
      seen.set(id, name);
      const unlabelledSplit = name === 'pool' || name === 'valUnlabelled' || name === 'testUnlabelled';
      if (!unlabelledSplit && !item.maskKey) {
        throw new Error(`Item '${id}' in the '${name}' split has no mask; initial, validation and test items must be labelled.`);
      }
    }
  }
  for (const heldOut of ['test', 'val', 'testUnlabelled', 'valUnlabelled'] as const) {
    const groups = new Set((splits[heldOut] ?? []).map((id) => byId.get(id)!.group));
    for (const id of [...splits.initial, ...splits.pool]) {
      const group = byId.get(id)!.group;
      if (groups.has(group)) throw new Error(`Group '${group}' is in the ${heldOut} split and also in training (item '${id}'): split by group.`);
    }
  }
}

/**
 * Writes items, splits and, last, the manifest, after the images and masks are in place
 * (`writeItemData`). A crash before the manifest leaves no readable dataset; re-running overwrites.
 */
export async function writeDataset(
  store: BlobStore,
  spec: DatasetSpec,
  items: readonly DatasetItem[],
  splits: DatasetSplits,
): Promise<DatasetManifest> {
  if (!itemIdPattern.test(spec.id)) throw new Error(`Dataset id '${spec.id}' has characters other than letters, digits, '.', '_' and '-'.`);
  checkSplits(items, splits);
  const itemsKey = datasetKeys.items(spec.id);
  await store.putBytes(itemsKey, encodeJson(items), 'application/json');
  for (const name of splitNames) {
    const ids = splits[name];
    const optional = name === 'valUnlabelled' || name === 'testUnlabelled';
    if (ids && (!optional || ids.length > 0)) await store.putBytes(datasetKeys.split(spec.id, name), encodeJson(ids), 'application/json');
  }
  const manifest: DatasetManifest = {
    id: spec.id,
    name: spec.name,
    createdAt: spec.createdAt ?? new Date().toISOString(),
    size: spec.size,
    channels: 1,
    itemCount: items.length,
    itemsKey,
    splits: {
      initialKey: datasetKeys.split(spec.id, 'initial'),
      poolKey: datasetKeys.split(spec.id, 'pool'),
      testKey: datasetKeys.split(spec.id, 'test'),
      ...(splits.val ? { valKey: datasetKeys.split(spec.id, 'val') } : {}),
      ...(splits.valUnlabelled?.length ? { valUnlabelledKey: datasetKeys.split(spec.id, 'valUnlabelled') } : {}),
      ...(splits.testUnlabelled?.length ? { testUnlabelledKey: datasetKeys.split(spec.id, 'testUnlabelled') } : {}),
      counts: {
        initial: splits.initial.length, pool: splits.pool.length, test: splits.test.length, ...(splits.val ? { val: splits.val.length } : {}),
        ...(splits.valUnlabelled?.length ? { valUnlabelled: splits.valUnlabelled.length } : {}),
        ...(splits.testUnlabelled?.length ? { testUnlabelled: splits.testUnlabelled.length } : {}),
      },
    },
    source: spec.source,
    seed: spec.seed,
  };
  await store.putBytes(datasetKeys.manifest(spec.id), encodeJson(manifest), 'application/json');
  return manifest;
}

/** A dataset id with no manifest: a `MissingKeyError`, so callers that handle missing keys handle it too. */
export class DatasetNotFoundError extends MissingKeyError {
  constructor(readonly datasetId: string, key: string) {
    super(key);
    this.name = 'DatasetNotFoundError';
    this.message = `Dataset '${datasetId}' does not exist (no ${key}); import it first, or pick an id from \`dataset list\`.`;
  }
}

export async function readManifest(store: BlobStore, datasetId: string): Promise<DatasetManifest> {
  const key = datasetKeys.manifest(datasetId);
  if (!(await store.exists(key))) throw new DatasetNotFoundError(datasetId, key);
  return readJson<DatasetManifest>(store, key);
}

/** The dataset's items (all of them: for big pools prefer split ids plus loadTensors). */
export async function readItems(store: BlobStore, dataset: DatasetManifest | string): Promise<DatasetItem[]> {
  const manifest = typeof dataset === 'string' ? await readManifest(store, dataset) : dataset;
  return readJson<DatasetItem[]>(store, manifest.itemsKey);
}

export async function readSplit(store: BlobStore, datasetId: string, split: SplitName): Promise<string[]> {
  if (!splitNames.includes(split)) throw new Error(`Unknown split '${split}'; use one of ${splitNames.join(', ')}.`);
  return readJson<string[]>(store, datasetKeys.split(datasetId, split));
}

/** Complete datasets (those with a manifest), oldest first. */
export async function listDatasets(store: BlobStore): Promise<DatasetManifest[]> {
  const keys = await store.list('datasets/');
  const manifests: DatasetManifest[] = [];
  for (const key of keys) {
    if (/^datasets\/[^/]+\/manifest\.json$/.test(key)) manifests.push(await readJson<DatasetManifest>(store, key));
  }
  return manifests.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

// Datasets never change once their manifest exists (the id is a content hash), so their item tables can be cached.
const itemTables = new WeakMap<BlobStore, Map<string, Promise<Map<string, DatasetItem>>>>();

function itemTable(store: BlobStore, manifest: DatasetManifest): Promise<Map<string, DatasetItem>> {
  let perStore = itemTables.get(store);
  if (!perStore) {
    perStore = new Map();
    itemTables.set(store, perStore);
  }
  let table = perStore.get(manifest.id);
  if (!table) {
    table = readItems(store, manifest).then((items) => new Map(items.map((item) => [item.id, item])));
    table.catch(() => perStore.delete(manifest.id));
    perStore.set(manifest.id, table);
  }
  return table;
}

async function mapLimited<T, R>(values: readonly T[], limit: number, fn: (value: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(values.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, values.length) }, async () => {
    while (next < values.length) {
      const index = next++;
      results[index] = await fn(values[index], index);
    }
  });
  await Promise.all(workers);
  return results;
}

export interface LoadTensorsOptions {
  /**
   * 'auto' (default): masks when every requested item has one; 'require': throw when one lacks a mask;
   * 'none': images only.
   */
  masks?: 'auto' | 'require' | 'none';
  /** Called after each item is read (items done, total): long loads report progress (activities heartbeat). */
  onProgress?: (done: number, total: number) => void;
  /** Parallel object reads (default 16). */
  concurrency?: number;
}

/**
 * Loads items as tensors: images [N, H, W, 1] float32 in [0, 1], masks [N, H, W, 1] float32 0/1.
 * The caller owns (and disposes) the returned tensors.
 */
export async function loadTensors(
  store: BlobStore,
  manifest: DatasetManifest,
  ids: readonly string[],
  options: LoadTensorsOptions = {},
): Promise<{ images: tf.Tensor4D; masks?: tf.Tensor4D }> {
  const table = await itemTable(store, manifest);
  const missing = ids.filter((id) => !table.has(id));
  if (missing.length > 0) {
    throw new Error(`Dataset '${manifest.id}' has no item(s) ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}.`);
  }
  const items = ids.map((id) => table.get(id)!);
  const unlabelled = items.filter((item) => !item.maskKey).map((item) => item.id);
  const mode = options.masks ?? 'auto';
  if (mode === 'require' && unlabelled.length > 0) {
    throw new Error(`Item(s) ${unlabelled.slice(0, 5).join(', ')} have no mask, but masks were required.`);
  }
  const withMasks = mode !== 'none' && unlabelled.length === 0;
  const [height, width] = manifest.size;
  const pixels = height * width;
  const imageData = new Float32Array(items.length * pixels);
  const maskData = withMasks ? new Float32Array(items.length * pixels) : undefined;
  let done = 0;
  await mapLimited(items, options.concurrency ?? 16, async (item, index) => {
    imageData.set(decodeImage(await store.getBytes(item.imageKey), manifest.size, item.imageKey), index * pixels);
    if (maskData) {
      const mask = await decodeMask(await store.getBytes(item.maskKey!), manifest.size, item.maskKey);
      const offset = index * pixels;
      for (let i = 0; i < pixels; i++) maskData[offset + i] = mask[i];
    }
    done += 1;
    options.onProgress?.(done, items.length);
  });
  const shape: [number, number, number, number] = [items.length, height, width, 1];
  return {
    images: tf.tensor4d(imageData, shape, 'float32'),
    ...(maskData ? { masks: tf.tensor4d(maskData, shape, 'float32') } : {}),
  };
}
