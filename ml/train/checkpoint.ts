/**
 * Checkpoints: model weights (tfjs layers format, so `tf.loadLayersModel` can rebuild the model), Adam state and a
 * small JSON of training progress, written through a `BlobStore` under a key prefix:
 *
 *   <prefix>/model.json      topology + weights manifest (tfjs ModelJSON)
 *   <prefix>/weights.bin     model weights, trainable and not (batch-norm moving statistics included)
 *   <prefix>/optimizer.json  optimizer class, config and weight specs
 *   <prefix>/optimizer.bin   optimizer weights (Adam: iterations, first and second moments)
 *   <prefix>/meta.json       epoch, step, best metric, RNG state, history — written last
 *
 * meta.json is the commit marker: a checkpoint without it is incomplete (a crash mid-save) and is not loaded.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CHECKPOINT_FILES, checkpointKeys } from '../../contracts/keys';
import { MissingKeyError, type BlobStore } from '../../store/blobStore';
import type { RngState } from './rng';

export interface EpochRecord {
  /** 1-based. */
  epoch: number;
  /** Mean training loss over the epoch's samples. */
  loss: number;
  valIoU?: number;
  valDice?: number;
  ms: number;
}

export interface CheckpointMeta {
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps completed. */
  step: number;
  bestMetric?: number;
  bestEpoch?: number;
  rngState?: RngState;
  history?: EpochRecord[];
  /** Anything else the caller wants to keep (plain JSON). */
  extra?: Record<string, unknown>;
}

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';
const OPTIMIZER_JSON = 'optimizer.json';
const OPTIMIZER_BIN = 'optimizer.bin';
const META_JSON = 'meta.json';
const keyOf = checkpointKeys.file;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function putJson(store: BlobStore, key: string, value: unknown): Promise<void> {
  await store.putBytes(key, encoder.encode(JSON.stringify(value)), 'application/json');
}

async function getJson<T>(store: BlobStore, key: string): Promise<T> {
  return JSON.parse(decoder.decode(await store.getBytes(key))) as T;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** A tfjs IOHandler that saves / loads a layers model (model.json + weights.bin) under `prefix` in a BlobStore. */
export function blobStoreIOHandler(store: BlobStore, prefix: string): Required<Pick<tf.io.IOHandler, 'save' | 'load'>> {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (!artifacts.modelTopology || artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error('Only JSON model topologies are supported; save a tf.LayersModel.');
      }
      const weightData = artifacts.weightData ? tf.io.CompositeArrayBuffer.join(artifacts.weightData) : new ArrayBuffer(0);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      await store.putBytes(keyOf(prefix, WEIGHTS_BIN), new Uint8Array(weightData), 'application/octet-stream');
      await putJson(store, keyOf(prefix, MODEL_JSON), modelJson);
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const modelJson = await getJson<tf.io.ModelJSON>(store, keyOf(prefix, MODEL_JSON));
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const data = toArrayBuffer(await store.getBytes(keyOf(prefix, WEIGHTS_BIN)));
        return [specs, data];
      });
    },
  };
}

/**
 * A BlobStore on a local folder: keys are relative paths. Writes go to a temporary file first and are renamed into
 * place, so a crash never leaves a half-written object under its real key.
 */
export class FolderBlobStore implements BlobStore {
  constructor(readonly root: string) {}

  private pathOf(key: string): string {
    const full = path.resolve(this.root, key);
    if (!full.startsWith(path.resolve(this.root) + path.sep)) throw new Error(`Key '${key}' points outside ${this.root}.`);
    return full;
  }

  async putBytes(key: string, data: Uint8Array): Promise<void> {
    const file = this.pathOf(key);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  }

  async getBytes(key: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await fs.readFile(this.pathOf(key)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingKeyError(key, `folder ${this.root}`);
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await fs.stat(this.pathOf(key))).isFile();
    } catch {
      return false;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const entry of entries) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (!entry.name.endsWith('.tmp')) keys.push(path.relative(this.root, full).split(path.sep).join('/'));
      }
    };
    await walk(this.root);
    return keys.filter((k) => k.startsWith(prefix)).sort();
  }

  async remove(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }
}

export interface SaveCheckpointOptions {
  /** Skip the optimizer state (e.g. for a best-model snapshot that is only ever loaded for inference). */
  weightsOnly?: boolean;
}

/** Saves model weights, optimizer state (unless weightsOnly) and meta under `prefix`; meta.json goes last. */
export async function saveCheckpoint(
  net: tf.LayersModel,
  optimizer: tf.Optimizer | undefined,
  store: BlobStore,
  prefix: string,
  meta: CheckpointMeta,
  options: SaveCheckpointOptions = {},
): Promise<void> {
  await store.remove(keyOf(prefix, META_JSON));
  await net.save(blobStoreIOHandler(store, prefix));
  if (optimizer && !options.weightsOnly) {
    const named = await optimizer.getWeights();
    try {
      const { data, specs } = await tf.io.encodeWeights(named);
      await store.putBytes(keyOf(prefix, OPTIMIZER_BIN), new Uint8Array(data), 'application/octet-stream');
      await putJson(store, keyOf(prefix, OPTIMIZER_JSON), { className: optimizer.getClassName(), config: optimizer.getConfig(), specs });
    } finally {
      // getWeights hands out the optimizer's own variables plus fresh tensors (Adam's iteration count): free the latter.
      for (const { tensor } of named) if (!(tensor instanceof tf.Variable)) tensor.dispose();
    }
  } else {
    await store.remove(keyOf(prefix, OPTIMIZER_BIN));
    await store.remove(keyOf(prefix, OPTIMIZER_JSON));
  }
  await putJson(store, keyOf(prefix, META_JSON), meta);
}

/** True when a complete checkpoint (its meta.json) exists under `prefix`. */
export async function checkpointExists(store: BlobStore, prefix: string): Promise<boolean> {
  return store.exists(keyOf(prefix, META_JSON));
}

export async function readCheckpointMeta(store: BlobStore, prefix: string): Promise<CheckpointMeta> {
  if (!(await checkpointExists(store, prefix))) {
    throw new MissingKeyError(keyOf(prefix, META_JSON), 'the checkpoint store (incomplete or missing checkpoint)');
  }
  return getJson<CheckpointMeta>(store, keyOf(prefix, META_JSON));
}

/**
 * Copies saved weights into `net`. Weights are matched by name when every saved name exists in the model (same
 * build), otherwise by position — names carry per-process counters for unnamed layers — and shapes must agree.
 */
function assignWeights(net: tf.LayersModel, saved: tf.NamedTensorMap, order: string[], prefix: string): void {
  const targets = net.weights;
  if (order.length !== targets.length) {
    throw new Error(`Checkpoint '${prefix}' holds ${order.length} weights but the model has ${targets.length}; it was saved from another architecture.`);
  }
  const byName = targets.every((w) => w.originalName in saved);
  const values = targets.map((w, i) => saved[byName ? w.originalName : order[i]]);
  targets.forEach((w, i) => {
    if (!tf.util.arraysEqual(w.shape as number[], values[i].shape)) {
      throw new Error(`Checkpoint '${prefix}': weight ${w.originalName} has shape ${JSON.stringify(w.shape)} in the model but ${JSON.stringify(values[i].shape)} in the checkpoint.`);
    }
  });
  net.setWeights(values);
}

export interface LoadCheckpointOptions {
  /** Ignore the optimizer state even when the checkpoint has one. */
  weightsOnly?: boolean;
}

/**
 * Loads a checkpoint into an existing model (and, when given, a fresh optimizer of the same kind that has not yet
 * stepped — its moments are replaced, not disposed) and returns the meta.
 */
export async function loadCheckpoint(
  net: tf.LayersModel,
  optimizer: tf.Optimizer | undefined,
  store: BlobStore,
  prefix: string,
  options: LoadCheckpointOptions = {},
): Promise<CheckpointMeta> {
  const meta = await readCheckpointMeta(store, prefix);
  const artifacts = await blobStoreIOHandler(store, prefix).load();
  const specs = artifacts.weightSpecs ?? [];
  const weights = tf.io.decodeWeights(artifacts.weightData ?? new ArrayBuffer(0), specs);
  try {
    assignWeights(net, weights, specs.map((s) => s.name), prefix);
  } finally {
    tf.dispose(Object.values(weights));
  }
  if (optimizer && !options.weightsOnly) {
    if (!(await store.exists(keyOf(prefix, OPTIMIZER_JSON)))) {
      throw new Error(`Checkpoint '${prefix}' has no optimizer state (saved weights-only); load it with weightsOnly: true.`);
    }
    const saved = await getJson<{ className: string; specs: tf.io.WeightsManifestEntry[] }>(store, keyOf(prefix, OPTIMIZER_JSON));
    if (saved.className !== optimizer.getClassName()) {
      throw new Error(`Checkpoint '${prefix}' holds ${saved.className} state but the optimizer is ${optimizer.getClassName()}.`);
    }
    const data = toArrayBuffer(await store.getBytes(keyOf(prefix, OPTIMIZER_BIN)));
    const decoded = tf.io.decodeWeights(data, saved.specs);
    const ordered = saved.specs.map((s) => ({ name: s.name, tensor: decoded[s.name] }));
    try {
      await optimizer.setWeights(ordered);
    } finally {
      // setWeights wraps the values in new variables (which hold their own references).
      tf.dispose(Object.values(decoded));
    }
  }
  return meta;
}

/** Rebuilds a model (topology + weights) from a checkpoint, e.g. for inference in another process. */
export async function loadModelFromCheckpoint(store: BlobStore, prefix: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(blobStoreIOHandler(store, prefix));
}

/** Removes every object of a checkpoint (meta first, so a half-removed checkpoint never looks complete). */
export async function removeCheckpoint(store: BlobStore, prefix: string): Promise<void> {
  await store.remove(keyOf(prefix, META_JSON));
  for (const file of CHECKPOINT_FILES.filter((f) => f !== META_JSON)) await store.remove(keyOf(prefix, file));
}
