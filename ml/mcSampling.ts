/**
 * Monte Carlo dropout over a pool of images: T stochastic passes per batch, streamed into per-pixel moments
 * (never T × pool × H × W), reduced to per-image acquisition scores.
 *
 * Two ways to draw the same samples:
 * - naive: T full forward passes with the model's dropout layers in MC mode;
 * - fast: the deterministic prefix (every deterministic tensor the stochastic part reads: for 'head' dropout the
 *   whole decoder; for 'decoder' dropout the encoder, the first decoder unit and the skip halves of convolutions
 *   over [upsampled, skip] — ml/zoo/mcSplit.ts) once per batch, then only the stochastic tail, for many passes at
 *   once: the prefix output stays on the backend, is tiled along the batch axis (pass-major) — or, when only
 *   dropout reads it ('head'), broadcast by the dropout layer itself — and the tail runs once per group of passes,
 *   its dropout layers drawing one mask per stacked pass (`withMCPasses`). Batch-norm uses moving statistics in
 *   both modes, so the prefix output is identical on every pass and the two modes sample the same distribution
 *   (with seeded masks, the same numbers, pass for pass).
 */
import * as tf from '@tensorflow/tfjs';
import type { MCMode } from '../contracts/names';
import {
  MCMomentAccumulator,
  randomScores,
  type AcquisitionFunction,
  type PixelReduction,
  type UncertaintyFunction,
} from './acquisition';
import { MCDropout, setMCDropoutSeed, setMCMode, stackCopies, withMCPasses, withReusedMaskBuffer } from './layers/mcDropout';

export type { MCMode };

/** Prefix = the deterministic part; tail = the rest, taking the prefix's outputs as inputs and sharing weights. */
export interface MCSplit {
  prefix: tf.LayersModel;
  tail: tf.LayersModel;
}

/**
 * Computes a batch's MC prefix outputs somewhere other than tfjs (ONNX Runtime: export/onnx/session.ts): the values
 * `mcSplit().prefix` gives for the images, within float rounding, in its output order. The caller disposes them.
 */
export type MCPrefixRunner = (images: tf.Tensor4D) => Promise<tf.Tensor[]>;

/** What MC sampling needs from the zoo's SegmentationNet (structurally compatible with it). */
export interface MCNet {
  model: tf.LayersModel;
  mcSplit?: () => MCSplit;
}

/** A batch of the pool: ids and their images [batch, H, W, channels]. mcScorePool disposes `images`. */
export interface PoolBatch {
  ids: string[];
  images: tf.Tensor4D;
}

/** A pool given by ids and a loader, called once per batch, so the pool never sits in memory whole. */
export interface PoolLoader {
  ids: readonly string[];
  /** Returns images [ids.length, H, W, channels]; mcScorePool disposes the tensor. */
  load: (ids: string[]) => Promise<tf.Tensor4D>;
}

export type PoolSource = PoolLoader | AsyncIterable<PoolBatch> | Iterable<PoolBatch>;

export interface MCProgress {
  batchIndex: number;
  imagesDone: number;
  /** Known when the pool is a loader. */
  imagesTotal?: number;
  elapsedMs: number;
}

/** Receives per-pixel uncertainty (row-major H × W) of one function for each image, e.g. to write a PNG. */
export interface UncertaintyMapSink {
  fn: UncertaintyFunction;
  onMap: (id: string, map: Float32Array, height: number, width: number) => void | Promise<void>;
}

export interface MCScoreOptions<F extends AcquisitionFunction> {
  net: MCNet;
  pool: PoolSource;
  functions: readonly F[];
  /** Stochastic passes per image (paper: 30). */
  samples?: number;
  /** Images per batch when the pool is a loader (default 8). */
  batchSize?: number;
  reduce?: PixelReduction;
  /** Default 'fast' when the net has an MC split, else 'naive'. */
  mode?: MCMode;
  /**
   * Fast mode: at most this many values (floats) of stacked prefix output per tail call — tiled, or for an input
   * only dropout reads the dropout's output — i.e. passes are stacked in groups of ⌊max / (prefix output per pass)⌋
   * (at least 1). Default 2^24 (64 MB).
   */
  maxStackedValues?: number;
  /** Fixes the dropout masks (reproducible runs, tests); unseeded when absent. */
  dropoutSeed?: number;
  /** Fast mode: runs the deterministic prefix (once per batch) instead of tfjs; the stochastic tail stays in tfjs. */
  prefix?: MCPrefixRunner;
  /** Required when `functions` includes 'random'. */
  randomSeed?: number;
  maps?: UncertaintyMapSink;
  /** Global-average-pooled prefix features per image (for k-center diversity); needs an MC split. */
  onFeatures?: (id: string, features: Float32Array) => void | Promise<void>;
  /** Also report each image's predicted foreground share (`area`: pixels whose mean probability is above 0.5). */
  areas?: boolean;
  onProgress?: (progress: MCProgress) => void | Promise<void>;
}

export interface MCImageScores<F extends AcquisitionFunction = AcquisitionFunction> {
  id: string;
  scores: Record<F, number>;
  /** Predicted foreground share in [0, 1], with `areas`. */
  area?: number;
}

function countMCDropout(model: tf.LayersModel): number {
  let count = 0;
  const visit = (layers: tf.layers.Layer[]) => {
    for (const layer of layers) {
      if (layer instanceof MCDropout) count += 1;
      else if (layer instanceof tf.LayersModel) visit(layer.layers);
    }
  };
  visit(model.layers);
  return count;
}

async function* batchesOf(pool: PoolSource, batchSize: number): AsyncGenerator<PoolBatch> {
  if ('load' in pool) {
    for (let start = 0; start < pool.ids.length; start += batchSize) {
      const ids = pool.ids.slice(start, start + batchSize);
      yield { ids, images: await pool.load(ids) };
    }
  } else {
    yield* pool;
  }
}

function asList(output: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
  return Array.isArray(output) ? output : [output];
}

function single(output: tf.Tensor | tf.Tensor[], what: string): tf.Tensor {
  const list = asList(output);
  if (list.length !== 1) throw new Error(`${what} must have one output (probabilities); it has ${list.length}.`);
  return list[0];
}

/** Concatenated global average pools of every rank-4 prefix output: [batch, features]. */
function pooledFeatures(prefixOutputs: tf.Tensor[]): tf.Tensor2D {
  return tf.tidy(() => tf.concat(prefixOutputs.map((t) => (t.rank === 4 ? t.mean([1, 2]) : t.reshape([t.shape[0], -1]))), 1) as tf.Tensor2D);
}

/**
 * Values (floats) of tail input a group of stacked passes may hold by default: 2^24 (64 MB) bounds the tiled prefix
 * output and keeps each tail activation within a few hundred MB, while groups stay large enough (e.g. 4 passes of a
 * batch of 4 at 256² × 16 channels) that per-call overhead no longer counts.
 */
export const DEFAULT_MAX_STACKED_VALUES = 2 ** 24;

/** Passes per tail call: as many as fit `maxValues` (at least one, at most `passes`). */
export function passesPerTailCall(prefixOutputs: readonly tf.Tensor[], passes: number, maxValues = DEFAULT_MAX_STACKED_VALUES): number {
  const perPass = prefixOutputs.reduce((sum, t) => sum + t.size, 0);
  return Math.max(1, Math.min(passes, Math.floor(maxValues / Math.max(1, perPass))));
}

/** tfjs-layers' InputLayer / Node internals read here: which layers consume a model input. */
interface ConsumedInput {
  outboundNodes: { outboundLayer: tf.layers.Layer }[];
}

/**
 * For each tail input: true when only MCDropout layers read it. Such an input need not be tiled for stacked passes
 * — the dropout layer broadcasts it, each pass with its own mask (`rowsPerPass`) — which for 'head' dropout saves
 * copying the prefix output T times.
 */
export function dropoutOnlyInputs(tail: tf.LayersModel): boolean[] {
  return tail.inputLayers.map((layer) => {
    const consumers = (layer as unknown as ConsumedInput).outboundNodes.map((node) => node.outboundLayer);
    return consumers.length > 0 && consumers.every((consumer) => consumer instanceof MCDropout);
  });
}

/** `passes` stochastic tail passes in one call: probabilities [passes · batch, …], pass-major. */
function stackedTailPasses(tail: tf.LayersModel, prefixOutputs: tf.Tensor[], passes: number, shared: readonly boolean[]): tf.Tensor {
  return tf.tidy(() => {
    const inputs = prefixOutputs.map((t, i) => (shared[i] ? t : stackCopies(t, passes)));
    const rowsPerPass = prefixOutputs[0].shape[0];
    const output = withMCPasses(passes, () => tail.apply(inputs.length === 1 ? inputs[0] : inputs, { training: false }) as tf.Tensor | tf.Tensor[], { rowsPerPass });
    return single(output, 'The MC tail');
  });
}

/** Models with a run in progress: MC mode is a flag on shared layers, so two runs on one model would interfere. */
const modelsInUse = new WeakSet<tf.LayersModel>();

/**
 * Scores every image of the pool with each requested function from the same T passes.
 * Returns scores in pool order. Leaves no tensors behind; MC mode is switched off again at the end.
 * One run per model at a time; a seeded run (`dropoutSeed`) should also not overlap runs on other models,
 * because the mask seed is process-wide.
 */
export async function mcScorePool<F extends AcquisitionFunction>(options: MCScoreOptions<F>): Promise<MCImageScores<F>[]> {
  const { net, pool, functions, maps, onFeatures, onProgress } = options;
  const samples = options.samples ?? 30;
  const batchSize = options.batchSize ?? 8;
  const reduce = options.reduce ?? 'mean';
  const mode: MCMode = options.mode ?? (net.mcSplit ? 'fast' : 'naive');
  if (!(Number.isInteger(samples) && samples >= 1)) throw new Error(`samples (T) must be a positive integer, got ${samples}.`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`batchSize must be a positive integer, got ${batchSize}.`);
  if (options.maxStackedValues !== undefined && !(options.maxStackedValues >= 1)) {
    throw new Error(`maxStackedValues must be at least 1, got ${options.maxStackedValues}.`);
  }
  if (functions.length === 0) throw new Error('Ask for at least one acquisition function.');
  if (functions.includes('random' as F) && options.randomSeed === undefined) {
    throw new Error("The 'random' acquisition function needs randomSeed.");
  }
  if ((mode === 'fast' || onFeatures) && !net.mcSplit) {
    throw new Error(`${mode === 'fast' ? 'Fast MC' : 'Pooled features'} need the net's mcSplit(); use mode 'naive' without features.`);
  }
  const uncertaintyFns = functions.filter((f): f is F & UncertaintyFunction => f !== 'random');
  // 'random' alone needs no passes (nor dropout); anything else, or maps, needs the T samples.
  const passes = uncertaintyFns.length > 0 || maps ? samples : 0;

  if (modelsInUse.has(net.model)) {
    throw new Error('An MC run on this model is already in progress; await it before starting another.');
  }
  const split = net.mcSplit?.();
  if (split && countMCDropout(split.prefix) > 0) {
    throw new Error('The MC split is wrong: its prefix contains MCDropout layers, so it is not deterministic.');
  }
  const stochastic = mode === 'fast' ? split!.tail : net.model;
  const sharedTailInputs = mode === 'fast' ? dropoutOnlyInputs(split!.tail) : [];
  if (passes > 0 && setMCMode(stochastic, true) === 0) {
    throw new Error(`The ${mode === 'fast' ? 'MC tail' : 'model'} has no MCDropout layers: build it with dropout strategy 'head' or 'decoder'.`);
  }
  modelsInUse.add(net.model);
  if (options.dropoutSeed !== undefined) setMCDropoutSeed(options.dropoutSeed);

  const total = 'load' in pool ? pool.ids.length : undefined;
  const results: MCImageScores<F>[] = [];
  const started = performance.now();
  const accumulator = new MCMomentAccumulator();
  let batchIndex = 0;
  try {
    // Masks of stacked passes are drawn into one reused buffer for the whole run.
    await withReusedMaskBuffer(async () => {
      for await (const { ids, images } of batchesOf(pool, batchSize)) {
        let prefixOutputs: tf.Tensor[] = [];
        try {
          if (images.shape[0] !== ids.length) {
            throw new Error(`A pool batch has ${ids.length} ids but ${images.shape[0]} images.`);
          }
          if (split && ((mode === 'fast' && passes > 0) || onFeatures)) {
            prefixOutputs = options.prefix
              ? await options.prefix(images)
              : tf.tidy(() => asList(split.prefix.apply(images, { training: false }) as tf.Tensor | tf.Tensor[]));
          }
          const group = mode === 'fast' ? passesPerTailCall(prefixOutputs, passes, options.maxStackedValues) : 1;
          for (let done = 0; done < passes; done += group) {
            const stacked = Math.min(group, passes - done);
            const probs = mode === 'fast'
              ? stackedTailPasses(split!.tail, prefixOutputs, stacked, sharedTailInputs)
              : tf.tidy(() => single(net.model.apply(images, { training: false }) as tf.Tensor | tf.Tensor[], 'The model'));
            try {
              accumulator.add(probs, stacked);
            } finally {
              probs.dispose();
            }
          }

          const scoreTable = new Map<F, ArrayLike<number>>();
          if (uncertaintyFns.length > 0) {
            const stacked = tf.tidy(() => tf.stack(uncertaintyFns.map((fn) => accumulator.imageScores(fn, reduce))));
            const values = await stacked.data();
            stacked.dispose();
            uncertaintyFns.forEach((fn, i) => scoreTable.set(fn, values.subarray(i * ids.length, (i + 1) * ids.length)));
          }
          if (functions.includes('random' as F)) scoreTable.set('random' as F, randomScores(ids, options.randomSeed!));
          let areas: Float32Array | undefined;
          if (options.areas) {
            if (passes === 0) throw new Error('Predicted areas need MC passes: ask for an uncertainty function too.');
            const share = accumulator.foregroundShare();
            areas = (await share.data()) as Float32Array;
            share.dispose();
          }
          ids.forEach((id, i) => {
            const scores = {} as Record<F, number>;
            for (const fn of functions) scores[fn] = scoreTable.get(fn)![i];
            results.push(areas ? { id, scores, area: areas[i] } : { id, scores });
          });

          if (maps) {
            const mapTensor = accumulator.pixelMap(maps.fn);
            const values = await mapTensor.data();
            // The output's size, which a model may choose to differ from the input's.
            const [, height, width] = mapTensor.shape;
            mapTensor.dispose();
            const size = height * width;
            for (let i = 0; i < ids.length; i++) {
              await maps.onMap(ids[i], Float32Array.from(values.subarray(i * size, (i + 1) * size)), height, width);
            }
          }
          if (onFeatures) {
            const features = pooledFeatures(prefixOutputs);
            const values = await features.data();
            const dim = features.shape[1];
            features.dispose();
            for (let i = 0; i < ids.length; i++) {
              await onFeatures(ids[i], Float32Array.from(values.subarray(i * dim, (i + 1) * dim)));
            }
          }
        } finally {
          images.dispose();
          tf.dispose(prefixOutputs);
          accumulator.dispose();
        }
        batchIndex += 1;
        await onProgress?.({ batchIndex, imagesDone: results.length, imagesTotal: total, elapsedMs: performance.now() - started });
      }
    });
  } finally {
    modelsInUse.delete(net.model);
    setMCMode(stochastic, false);
    if (options.dropoutSeed !== undefined) setMCDropoutSeed(undefined);
  }
  return results;
}
