/**
 * Accelerator activities: training (heartbeats { epoch, step, checkpointKey } and resumes from them after a
 * crash), evaluation, Monte Carlo scoring of the pool, and one EDNAS search trial.
 */
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type * as tf from '@tensorflow/tfjs';
import { type DatasetManifest, loadTensors, readSplit } from '../data/manifest';
import { SeededRng } from '../ml/train/rng';
import {
  type AcquisitionFunction, checkpointKeys, MEAN_TEACHER_MAX_FRAMES, type EvaluationOutcome, type EvaluationRequest, type LabelledItem, modelKeys, type ModelChoice, runKeys,
  SCORE_BLOCK, type ScoreShardOutcome, type ScoreShardRequest, searchKeys, type SearchTrialOutcome, type SearchTrialRequest, type TrainHeartbeat, type TrainOutcome,
  type TrainRequest, type PredictEngine, recordedEngine, weightsKeys, type WeightsRef,
} from '../contracts';
import { randomScores } from '../ml/acquisition';
import { applyTorchWeights, planTorchWeights, WeightsMismatchError } from '../ml/weights/load';
import { SafetensorsError } from '../ml/weights/safetensors';
import { mcScorePool } from '../ml/mcSampling';
import { checkpointExists, loadCheckpoint, readCheckpointMeta, saveCheckpoint } from '../ml/train/checkpoint';
import { evaluateModel, evaluateWithEngine, predictMasks as predictBinaryMasks, type SegDataset, trainModel, TrainingAbortedError } from '../ml/train/trainer';
import type { MCPrefixEngine, SegmentationEngine } from '../ml/predict';
import { encodeCanonicalMask } from '../data/masks';
import type { ModelConfig } from '../ml/types';
import { scoresDocument, UncertaintyMapWriter } from '../ml/uncertaintyMap';
import { buildModel, defaultEncoderDepth, type SegmentationNet } from '../ml/zoo';
import { encodeFloat32 } from '../store/blobStore';
import type { ObjectStore } from '../store/objectStore';
import { meanInterval } from '../report/stats';
import { invalidInput, itemsById, jsonOrFail, loadLabelled, manifestOrFail } from './datasets';

export type { TrainHeartbeat };

function build(config: ModelConfig): SegmentationNet {
  try {
    return buildModel(config);
  } catch (error) {
    throw invalidInput(`cannot build ${config.arch} + ${config.encoder}: ${(error as Error).message}`);
  }
}

/** Classifies training failures: bad input and divergence are final, out-of-memory is final for this config. */
function classify(error: unknown): unknown {
  if (error instanceof ApplicationFailure || error instanceof TrainingAbortedError) return error;
  const message = (error as Error)?.message ?? String(error);
  if (/OOM|out of memory|Failed to allocate|bad_alloc/i.test(message)) return ApplicationFailure.nonRetryable(message, 'OutOfMemory');
  return error;
}

export async function loadTrained(store: ObjectStore, modelKey: string): Promise<SegmentationNet> {
  const config = await jsonOrFail<ModelConfig>(store, modelKeys.config(modelKey), 'model configuration');
  const net = build(config);
  await loadCheckpoint(net.model, undefined, store, modelKeys.finalWeights(modelKey), { weightsOnly: true });
  return net;
}

/** Loads a trained model's final weights into a freshly built net of the same architecture (a warm start). */
async function warmStart(store: ObjectStore, net: SegmentationNet, modelKey: string): Promise<void> {
  const from = await jsonOrFail<ModelConfig>(store, modelKeys.config(modelKey), 'warm-start model configuration');
  try {
    await loadCheckpoint(net.model, undefined, store, modelKeys.finalWeights(modelKey), { weightsOnly: true });
  } catch (error) {
    throw invalidInput(`cannot start from '${modelKey}' (${from.arch} + ${from.encoder}): ${(error as Error).message}`);
  }
}

/**
 * Loads PyTorch weights the CLI uploaded (`--encoder-weights`, `--init-weights`) into a fresh net: the plan is checked
 * against the model first, and a mismatch fails the activity as InvalidInput naming every offending tensor, before
 * any training or writing.
 */
async function startFromWeights(store: ObjectStore, net: SegmentationNet, ref: WeightsRef): Promise<NonNullable<ModelConfig['weightsOrigin']>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'echo-weights-'));
  try {
    await fs.writeFile(path.join(dir, 'model.safetensors'), await store.getBytes(weightsKeys.file(ref.sha256)));
    if (ref.hasSmpConfig) await fs.writeFile(path.join(dir, 'config.json'), await store.getBytes(weightsKeys.smpConfig(ref.sha256)));
    let planned;
    try {
      planned = planTorchWeights(net.model, net.config, ref.hasSmpConfig ? dir : path.join(dir, 'model.safetensors'), ref.scope);
    } catch (error) {
      if (error instanceof WeightsMismatchError || error instanceof SafetensorsError) throw invalidInput(`weights ${ref.source}: ${error.message}`);
      throw error;
    }
    const origin = applyTorchWeights(net.model, planned);
    if (origin.sha256 !== ref.sha256) throw invalidInput(`weights ${ref.source}: stored file's sha256 ${origin.sha256} is not the uploaded ${ref.sha256}.`);
    return { source: ref.source, sha256: ref.sha256, scope: ref.scope };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** The newest complete epoch checkpoint (meta.json written last) under a prefix. */
async function latestCheckpoint(store: ObjectStore, prefix: string): Promise<{ key: string; epoch: number } | undefined> {
  const complete = (await store.list(checkpointKeys.epochPrefix(prefix)))
    .filter((key) => key.endsWith('/meta.json'))
    .map((key) => key.slice(0, -'/meta.json'.length))
    .sort();
  const key = complete.at(-1);
  return key ? { key, epoch: (await readCheckpointMeta(store, key)).epoch } : undefined;
}

/** Images evaluated (and predicted) per step: bounds memory for any test set, and heartbeats between steps. */
const EVAL_CHUNK = 32;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Loads a trained model and scores it on the ids listed under `idsKey` (mean per-image foreground IoU and Dice),
 * in chunks, heartbeating after each so a large split never outlasts the heartbeat timeout. With `engine` 'onnx'
 * the probabilities come from ONNX Runtime on the model converted in-process (absent: `tf`).
 */
export async function evaluateOn(store: ObjectStore, manifest: DatasetManifest, modelKey: string, idsKey: string, batchSize: number,
  engine?: PredictEngine): Promise<EvaluationOutcome> {
  const ctx = Context.current();
  const ids = await jsonOrFail<string[]>(store, idsKey, 'evaluation id list');
  if (ids.length === 0) throw invalidInput(`the evaluation split '${idsKey}' is empty`);
  ctx.heartbeat({ stage: 'building', done: 0, total: ids.length });
  const net = await loadTrained(store, modelKey);
  const iou: number[] = [];
  const dice: number[] = [];
  const groups = await itemsById(store, manifest);
  let onnx: SegmentationEngine | undefined;
  try {
    if (recordedEngine(engine) === 'onnx') onnx = await (await import('../export/onnx/session')).onnxEngine(net);
    for (let start = 0; start < ids.length; start += EVAL_CHUNK) {
      const chunk = ids.slice(start, start + EVAL_CHUNK);
      const { images, masks } = await loadTensors(store, manifest, chunk, { masks: 'require' });
      try {
        const data = { images, masks: masks! };
        const result = onnx ? await evaluateWithEngine(net.model, (batch) => onnx!.probabilities(batch), data, batchSize) : evaluateModel(net.model, data, batchSize);
        iou.push(...result.perImageIoU);
        dice.push(...result.perImageDice);
      } finally {
        images.dispose();
        masks?.dispose();
      }
      ctx.heartbeat({ stage: 'evaluating', done: start + chunk.length, total: ids.length });
      await yieldToEventLoop();
    }
  } finally {
    onnx?.dispose();
    net.model.dispose();
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  // The interval of the mean IoU has videos as its unit: per-video means, then a t interval over them.
  const byVideo = new Map<string, number[]>();
  ids.forEach((id, i) => {
    const video = groups.get(id)?.group ?? id;
    byVideo.set(video, [...(byVideo.get(video) ?? []), iou[i]]);
  });
  const interval = meanInterval([...byVideo.values()].map(mean));
  return { iou: mean(iou), dice: mean(dice), images: ids.length, videos: byVideo.size, ...(interval?.halfWidth !== undefined ? { iouHalfWidth: interval.halfWidth } : {}) };
}

/**
 * Images of the validation split scored after every epoch (early stopping, the best epoch's weights): a fixed,
 * deterministic subset when the split is larger, so an epoch's validation stays well inside the heartbeat timeout.
 */
export const VALIDATION_IMAGES_PER_EPOCH = 256;

/** The validation split as tensors for per-epoch scoring (the first VALIDATION_IMAGES_PER_EPOCH ids, sorted). */
export async function loadValidation(store: ObjectStore, manifest: DatasetManifest, idsKey: string): Promise<SegDataset> {
  const ids = [...(await jsonOrFail<string[]>(store, idsKey, 'validation id list'))].sort().slice(0, VALIDATION_IMAGES_PER_EPOCH);
  if (ids.length === 0) throw invalidInput(`the validation split '${idsKey}' is empty`);
  const { images, masks } = await loadTensors(store, manifest, ids, { masks: 'require', onProgress: heartbeatLoading() });
  return { images, masks: masks! };
}

/** The dropout seed of one block of pool images: from the run's seed and phase (`seed`) and the block's place. */
export function blockDropoutSeed(seed: number, block: number): number {
  let h = Math.imul((seed | 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(block + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x27d4eb2d);
  return (h ^ (h >>> 15)) >>> 0;
}

/** A loading-progress callback that heartbeats, keeping a training attempt's last position in the details. */
function heartbeatLoading(): (done: number, total: number) => void {
  const ctx = Context.current();
  const previous = ctx.info.heartbeatDetails as TrainHeartbeat | undefined;
  return (done, total) => ctx.heartbeat({ epoch: previous?.epoch ?? 0, step: previous?.step ?? 0, checkpointKey: previous?.checkpointKey, stage: `loading ${done}/${total}` } satisfies TrainHeartbeat);
}

function dispose(data: SegDataset): void {
  data.images.dispose();
  data.masks.dispose();
}

interface TrainCore {
  outputPrefix: string;
  model: ModelChoice;
  dropout: TrainRequest['dropout'];
  hyper: TrainRequest['hyper'];
  inputShape: [number, number, number];
  /** A trained model whose weights a fresh attempt starts from. */
  initFrom?: string;
}

function withoutWeights(model: ModelChoice): Omit<ModelChoice, 'initWeights'> {
  const { initWeights: _weights, ...rest } = model;
  return rest;
}

/** Trains with checkpoints each epoch; resumes from the heartbeat's checkpoint after a crash or a retry. */
export async function trainWithCheckpoints(store: ObjectStore, core: TrainCore, data: SegDataset, val?: SegDataset, unlabelled?: tf.Tensor4D): Promise<TrainOutcome> {
  const ctx = Context.current();
  const started = Date.now();
  const config: ModelConfig = {
    ...withoutWeights(core.model), encoderDepth: core.model.encoderDepth ?? defaultEncoderDepth(core.model.arch),
    inputShape: core.inputShape, classes: 1, dropout: core.dropout, seed: core.hyper.seed,
  };
  const previous = ctx.info.heartbeatDetails as TrainHeartbeat | undefined;
  // Heartbeats outside the training loop keep the last training position, so a retry still resumes from it.
  const beat = (stage: string) => ctx.heartbeat({ epoch: previous?.epoch ?? 0, step: previous?.step ?? 0, checkpointKey: previous?.checkpointKey, stage } satisfies TrainHeartbeat);
  beat('building');
  const net = build(config);
  const checkpointPrefix = modelKeys.checkpoints(core.outputPrefix);
  const latest = await latestCheckpoint(store, checkpointPrefix);
  // The newest complete checkpoint wins: heartbeats are throttled, so the last one delivered may name a checkpoint
  // that the trainer has since replaced (and deleted).
  const resumeFrom = latest?.key ?? (previous?.checkpointKey && (await checkpointExists(store, previous.checkpointKey)) ? previous.checkpointKey : undefined);
  const resumedFromEpoch = resumeFrom ? (latest?.epoch ?? previous!.epoch) : 0;
  if (resumeFrom) {
    ctx.log.info('resuming training from checkpoint', { checkpointKey: resumeFrom, epoch: resumedFromEpoch, heartbeat: previous, attempt: ctx.info.attempt });
  }
  let lastCheckpointKey = resumeFrom;
  const initWeights = core.model.initWeights;
  // Mean teacher: the student's architecture, its weights set from the student when training starts (also on resume).
  const teacher = unlabelled ? build(config) : undefined;
  try {
    // A warm start (the previous phase's model) supersedes the PyTorch weights the first phase started from.
    if (!resumeFrom && core.initFrom) await warmStart(store, net, core.initFrom);
    else if (!resumeFrom && initWeights) config.weightsOrigin = await startFromWeights(store, net, initWeights);
    else if (initWeights) config.weightsOrigin = { source: initWeights.source, sha256: initWeights.sha256, scope: initWeights.scope };
    const result = await trainModel(net.model, data, val, {
      epochs: core.hyper.epochs,
      batchSize: core.hyper.batchSize,
      learningRate: core.hyper.learningRate,
      ...(core.hyper.earlyStoppingPatience !== undefined ? { earlyStoppingPatience: core.hyper.earlyStoppingPatience } : {}),
      ...(core.hyper.lrSchedule ? { lrSchedule: core.hyper.lrSchedule } : {}),
      seed: core.hyper.seed,
      augment: core.hyper.augment ? undefined : false,
      checkpoint: { store, prefix: checkpointPrefix },
      resumeFrom,
      signal: ctx.cancellationSignal,
      ...(unlabelled && teacher ? { meanTeacher: { images: unlabelled, teacher: teacher.model } } : {}),
      onProgress: (p) => {
        if (p.checkpointKey) lastCheckpointKey = p.checkpointKey;
        const epochDone = p.kind === 'epoch' ? p.epoch : p.epoch - 1;
        ctx.heartbeat({ epoch: epochDone, step: p.step, checkpointKey: lastCheckpointKey } satisfies TrainHeartbeat);
      },
    });
    const finalLoss = result.history.at(-1)?.loss ?? Number.NaN;
    if (!Number.isFinite(finalLoss)) {
      throw ApplicationFailure.nonRetryable(`training diverged (loss ${finalLoss}) with learning rate ${core.hyper.learningRate}`, 'Diverged');
    }
    ctx.heartbeat({ epoch: result.epochsRun, step: 0, checkpointKey: lastCheckpointKey, stage: 'saving' } satisfies TrainHeartbeat);
    await saveCheckpoint(net.model, undefined, store, modelKeys.finalWeights(core.outputPrefix), { epoch: result.epochsRun, step: 0 }, { weightsOnly: true });
    await store.putJson(modelKeys.config(core.outputPrefix), config);
    ctx.heartbeat({ epoch: result.epochsRun, step: 0, checkpointKey: lastCheckpointKey, stage: 'saved' } satisfies TrainHeartbeat);
    return {
      modelKey: core.outputPrefix,
      params: net.paramCount,
      epochsRun: result.epochsRun,
      finalLoss,
      bestValIoU: result.bestValIoU,
      ...(result.bestEpoch > 0 && result.history[result.bestEpoch - 1]?.valDice !== undefined ? { bestValDice: result.history[result.bestEpoch - 1].valDice } : {}),
      ms: Date.now() - started,
      resumedFromEpoch,
      attempt: ctx.info.attempt,
    };
  } catch (error) {
    throw classify(error);
  } finally {
    net.model.dispose();
    teacher?.model.dispose();
  }
}

/**
 * The model's masks of `ids` (0/255 PNG at the stored image size) under the phase's predictions prefix
 * (`runKeys.prediction`), chunk by chunk; returns the keys in the order of `ids`.
 */
export async function storePredictedMasks(
  store: ObjectStore, manifest: DatasetManifest, net: SegmentationNet, input: { runId: string; phase: number; ids: string[]; batchSize: number },
  onChunk: (done: number) => void,
): Promise<string[]> {
  const keys: string[] = [];
  const pixels = manifest.size[0] * manifest.size[1];
  for (let start = 0; start < input.ids.length; start += EVAL_CHUNK) {
    const chunk = input.ids.slice(start, start + EVAL_CHUNK);
    const { images } = await loadTensors(store, manifest, chunk, { masks: 'none' });
    let masks: Uint8Array;
    try {
      const predicted = predictBinaryMasks(net.model, images, input.batchSize);
      masks = Uint8Array.from(await predicted.data());
      predicted.dispose();
    } finally {
      images.dispose();
    }
    for (const [index, id] of chunk.entries()) {
      const key = runKeys.prediction(input.runId, input.phase, id);
      await store.putImage(key, await encodeCanonicalMask(masks.subarray(index * pixels, (index + 1) * pixels), manifest.size));
      keys.push(key);
    }
    onChunk(start + chunk.length);
    await yieldToEventLoop();
  }
  return keys;
}

/** Mean teacher's unlabelled frames: the pool's, or a seeded draw of MEAN_TEACHER_MAX_FRAMES of them (in pool order). */
async function loadUnlabelled(store: ObjectStore, manifest: DatasetManifest, poolKey: string, seed: number): Promise<tf.Tensor4D> {
  const pool = await jsonOrFail<string[]>(store, poolKey, 'pool id list');
  if (pool.length === 0) throw invalidInput('mean teacher needs unlabelled frames, and the pool is empty');
  const keep = pool.length <= MEAN_TEACHER_MAX_FRAMES ? pool
    : new SeededRng(seed).permutation(pool.length).slice(0, MEAN_TEACHER_MAX_FRAMES).sort((a, b) => a - b).map((i) => pool[i]);
  return (await loadTensors(store, manifest, keep, { masks: 'none', onProgress: heartbeatLoading() })).images;
}

export function trainingActivities(store: ObjectStore) {
  return {
    async trainSegmentationModel(req: TrainRequest): Promise<TrainOutcome> {
      const manifest = await manifestOrFail(store, req.datasetId);
      const labelled = await jsonOrFail<LabelledItem[]>(store, req.trainItemsKey, 'labelled set');
      // Pseudo-labels train beside the doctors' masks (never in place of one: a frame with a real mask keeps it).
      const extra = req.extraItemsKey ? await jsonOrFail<LabelledItem[]>(store, req.extraItemsKey, 'pseudo-labels') : [];
      const real = new Set(labelled.map((item) => item.id));
      const items = [...labelled, ...extra.filter((item) => !real.has(item.id))];
      const data = await loadLabelled(store, manifest, items, heartbeatLoading());
      const val = req.valIdsKey ? await loadValidation(store, manifest, req.valIdsKey) : undefined;
      const unlabelled = req.unlabelledKey ? await loadUnlabelled(store, manifest, req.unlabelledKey, req.hyper.seed) : undefined;
      try {
        return await trainWithCheckpoints(store, { ...req, inputShape: [manifest.size[0], manifest.size[1], 1] }, data, val, unlabelled);
      } finally {
        dispose(data);
        if (val) dispose(val);
        unlabelled?.dispose();
      }
    },

    async evaluateSegmentationModel(input: EvaluationRequest): Promise<EvaluationOutcome> {
      const manifest = await manifestOrFail(store, input.datasetId);
      return evaluateOn(store, manifest, input.modelKey, input.idsKey, input.batchSize, input.engine);
    },

    /**
     * The strategy `auto`: the segmentation model's error (1 − IoU) on each candidate's picks, against the masks that
     * came back for them (frames marked unusable have none and are left out): summed per candidate, with the count.
     */
    async judgeCandidatePicks(input: {
      datasetId: string; modelKey: string; picks: Record<string, string[]>; items: { id: string; maskKey: string }[]; batchSize: number;
    }): Promise<{ errors: Record<string, { frames: number; errorSum: number }> }> {
      const manifest = await manifestOrFail(store, input.datasetId);
      const maskOf = new Map(input.items.map((item) => [item.id, item.maskKey]));
      const judged = [...new Set(Object.values(input.picks).flat())].filter((id) => maskOf.has(id)).map((id) => ({ id, maskKey: maskOf.get(id)! }));
      const iouOf = new Map<string, number>();
      if (judged.length > 0) {
        const net = await loadTrained(store, input.modelKey);
        const data = await loadLabelled(store, manifest, judged);
        try {
          evaluateModel(net.model, data, input.batchSize).perImageIoU.forEach((iou, i) => iouOf.set(judged[i].id, iou));
        } finally {
          dispose(data);
          net.model.dispose();
        }
      }
      const errors = Object.fromEntries(Object.entries(input.picks).map(([name, ids]) => {
        const ious = ids.filter((id) => iouOf.has(id)).map((id) => iouOf.get(id)!);
        return [name, { frames: ious.length, errorSum: ious.reduce((sum, iou) => sum + (1 - iou), 0) }];
      }));
      return { errors };
    },

    /**
     * One shard of the pool (`shard` × `shardSize` onwards): scores and uncertainty maps, written as a scores document
     * under the phase's scores/ prefix; mergeScoreShards puts the shards together.
     */
    async scorePoolShard(input: ScoreShardRequest): Promise<ScoreShardOutcome> {
      const ctx = Context.current();
      if (!(input.shardSize > 0 && input.shardSize % SCORE_BLOCK === 0)) throw invalidInput(`shardSize must be a positive multiple of ${SCORE_BLOCK}`);
      const manifest = await manifestOrFail(store, input.datasetId);
      const pool = await jsonOrFail<string[]>(store, input.poolKey, 'pool id list');
      const start = input.shard * input.shardSize;
      const ids = pool.slice(start, start + input.shardSize);
      const prefix = runKeys.phase(input.runId, input.phase);
      const functions = input.functions ?? [input.acquisition];
      const run = { samples: input.samples, mode: input.mode, reduce: input.reduce, functions };
      const shardKey = runKeys.scoreShard(input.runId, input.phase, input.shard);
      if (input.acquisition === 'random') {
        if (input.features || input.areas) throw invalidInput('random scores have no model to give features or predicted areas: use an uncertainty function with this selection mode');
        const scores = randomScores(ids, input.seed);
        await store.putJson(shardKey, scoresDocument(ids.map((id, i) => ({ id, scores: { random: scores[i] } })), run));
        return { shardKey, scored: ids.length };
      }
      if (!input.modelKey) throw invalidInput(`acquisition '${input.acquisition}' needs the uncertainty model`);
      const net = await loadTrained(store, input.modelKey);
      // Fast MC's deterministic prefix on ONNX Runtime when the run asks for it (naive MC has no prefix to move).
      let onnxPrefix: MCPrefixEngine | undefined;
      const maps = new UncertaintyMapWriter(store, prefix, functions.find((fn) => fn !== 'random') ?? 'mfe');
      const results: { id: string; scores: Partial<Record<AcquisitionFunction, number>>; area?: number }[] = [];
      const features = new Map<string, Float32Array>();
      try {
        if (recordedEngine(input.engine) === 'onnx' && (input.mode === 'fast' || input.features)) onnxPrefix = await (await import('../export/onnx/session')).onnxMcPrefix(net);
        // Block by block, each with its own dropout seed: the same images get the same masks whatever the sharding.
        for (let offset = 0; offset < ids.length; offset += SCORE_BLOCK) {
          const block = (start + offset) / SCORE_BLOCK;
          const blockIds = ids.slice(offset, offset + SCORE_BLOCK);
          results.push(...await mcScorePool({
            net,
            pool: { ids: blockIds, load: async (batch) => (await loadTensors(store, manifest, batch, { masks: 'none', onProgress: () => ctx.heartbeat({ stage: 'loading' }) })).images },
            functions,
            samples: input.samples,
            batchSize: input.batchSize,
            reduce: input.reduce,
            mode: input.features ? 'fast' : input.mode,
            maps,
            ...(input.areas ? { areas: true } : {}),
            ...(input.features ? { onFeatures: (id: string, f: Float32Array) => void features.set(id, f) } : {}),
            dropoutSeed: blockDropoutSeed(input.seed, block),
            // The 'random' column beside uncertainty ones (auto's candidates): the same scores as a random-only run's.
            ...(functions.includes('random') ? { randomSeed: input.seed } : {}),
            ...(onnxPrefix ? { prefix: onnxPrefix.run } : {}),
            onProgress: (p) => ctx.heartbeat({ imagesDone: offset + p.imagesDone, imagesTotal: ids.length }),
          }));
        }
      } finally {
        onnxPrefix?.dispose();
        net.model.dispose();
      }
      let featureRows: { key: string; dim: number } | undefined;
      if (input.features) {
        const dim = features.get(results[0]?.id)?.length ?? 0;
        const rows = new Float32Array(results.length * dim);
        results.forEach((r, i) => rows.set(features.get(r.id)!, i * dim));
        featureRows = { key: runKeys.scoreShardFeatures(input.runId, input.phase, input.shard), dim };
        await store.putBytes(featureRows.key, encodeFloat32(rows), 'application/octet-stream');
      }
      await store.putJson(shardKey, scoresDocument(results, run, maps, featureRows));
      return { shardKey, scored: results.length };
    },

    /**
     * The segmentation model's masks of `ids` (0/255 PNG at the stored image size) under the phase's predictions
     * prefix: the drafts doctors correct, and the pre-annotations a labelling tool shows.
     */
    async predictMasks(input: { runId: string; phase: number; datasetId: string; modelKey: string; ids: string[]; batchSize: number }): Promise<{ prefix: string; predicted: number }> {
      const ctx = Context.current();
      const manifest = await manifestOrFail(store, input.datasetId);
      const net = await loadTrained(store, input.modelKey);
      try {
        await storePredictedMasks(store, manifest, net, input, (done) => ctx.heartbeat({ done, total: input.ids.length }));
      } finally {
        net.model.dispose();
      }
      return { prefix: runKeys.predictionsPrefix(input.runId, input.phase), predicted: input.ids.length };
    },

    /**
     * One EDNAS trial: trains on every labelled image of the training split (the initial set, and pool images that
     * have masks — all of them in a benchmark dataset), scored on the validation split after every epoch; the kept
     * weights are the best epoch's. A trial with checkpoints (a promoted ASHA configuration) continues from them.
     */
    async runSearchTrial(input: SearchTrialRequest): Promise<SearchTrialOutcome> {
      const started = Date.now();
      const manifest = await manifestOrFail(store, input.datasetId);
      if (!manifest.splits.valKey || !manifest.splits.counts.val) {
        throw invalidInput(`dataset '${input.datasetId}' has no validation split to rank trials on (the test split only reports); ` +
          `\`client.ts dataset resplit ${input.datasetId}\` makes a copy with one`);
      }
      const items = await itemsById(store, manifest);
      const trainIds = [...(await readSplit(store, input.datasetId, 'initial')), ...(await readSplit(store, input.datasetId, 'pool'))]
        .filter((id) => items.get(id)?.maskKey !== undefined);
      const train = await loadTensors(store, manifest, trainIds, { masks: 'require', onProgress: heartbeatLoading() });
      const data = { images: train.images, masks: train.masks! };
      const val = await loadValidation(store, manifest, manifest.splits.valKey);
      const outputPrefix = searchKeys.trialModel(input.searchId, input.trial.index);
      let outcome: TrainOutcome;
      try {
        outcome = await trainWithCheckpoints(store, {
          outputPrefix,
          model: {
            arch: input.trial.arch, encoder: input.trial.encoder, encoderDepth: input.encoderDepth, widthScale: input.widthScale,
            ...(input.initWeights ? { initWeights: input.initWeights } : {}),
          },
          dropout: { strategy: 'none', rate: 0 },
          hyper: { epochs: input.epochs, batchSize: input.trial.batchSize, learningRate: input.trial.learningRate, seed: input.seed, augment: input.augment },
          inputShape: [manifest.size[0], manifest.size[1], 1],
        }, data, val);
      } finally {
        dispose(data);
        dispose(val);
      }
      return {
        valIoU: outcome.bestValIoU ?? 0, valDice: outcome.bestValDice ?? 0, epochs: outcome.epochsRun,
        params: outcome.params, ms: Date.now() - started, modelKey: outcome.modelKey,
      };
    },
  };
}
