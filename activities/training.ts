/**
 * Accelerator activities: training (heartbeats { epoch, step, checkpointKey } and resumes from them after a
 * crash), evaluation, Monte Carlo scoring of the pool, and one EDNAS search trial.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { type DatasetManifest, loadTensors, readSplit } from '../data/manifest';
import { type AcquisitionFunction, randomScores } from '../ml/acquisition';
import { mcScorePool } from '../ml/mcSampling';
import { checkpointExists, loadCheckpoint, readCheckpointMeta, saveCheckpoint } from '../ml/train/checkpoint';
import { evaluateModel, type SegDataset, trainModel, TrainingAbortedError } from '../ml/train/trainer';
import type { ModelConfig } from '../ml/types';
import { UncertaintyMapWriter, writeScores } from '../ml/uncertaintyMap';
import { buildModel, type SegmentationNet } from '../ml/zoo';
import type {
  AcquisitionName, EvaluationOutcome, LabelledItem, ModelChoice, PixelReduce, TrainOutcome, TrainRequest, TrialSpec,
} from '../shared';
import type { ObjectStore } from '../store/objectStore';
import { invalidInput, jsonOrFail, loadLabelled, manifestOrFail } from './datasets';

export interface TrainHeartbeat {
  epoch: number;
  step: number;
  checkpointKey?: string;
}

const modelConfigKey = (modelKey: string) => `${modelKey}/config.json`;
const finalWeightsPrefix = (modelKey: string) => `${modelKey}/final`;

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

async function loadTrained(store: ObjectStore, modelKey: string): Promise<SegmentationNet> {
  const config = await jsonOrFail<ModelConfig>(store, modelConfigKey(modelKey), 'model configuration');
  const net = build(config);
  await loadCheckpoint(net.model, undefined, store, finalWeightsPrefix(modelKey), { weightsOnly: true });
  return net;
}

/** The newest complete epoch checkpoint (meta.json written last) under a prefix. */
async function latestCheckpoint(store: ObjectStore, prefix: string): Promise<{ key: string; epoch: number } | undefined> {
  const complete = (await store.list(`${prefix}/epoch-`))
    .filter((key) => key.endsWith('/meta.json'))
    .map((key) => key.slice(0, -'/meta.json'.length))
    .sort();
  const key = complete.at(-1);
  return key ? { key, epoch: (await readCheckpointMeta(store, key)).epoch } : undefined;
}

/** Loads a trained model and scores it on the ids listed under `idsKey` (mean per-image foreground IoU and Dice). */
export async function evaluateOn(store: ObjectStore, manifest: DatasetManifest, modelKey: string, idsKey: string, batchSize: number): Promise<EvaluationOutcome> {
  const ids = await jsonOrFail<string[]>(store, idsKey, 'test id list');
  if (ids.length === 0) throw invalidInput('the test set is empty');
  const net = await loadTrained(store, modelKey);
  const { images, masks } = await loadTensors(store, manifest, ids, { masks: 'require' });
  try {
    const result = evaluateModel(net.model, { images, masks: masks! }, batchSize);
    return { iou: result.iou, dice: result.dice, images: ids.length };
  } finally {
    images.dispose();
    masks?.dispose();
    net.model.dispose();
  }
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
}

/** Trains with checkpoints each epoch; resumes from the heartbeat's checkpoint after a crash or a retry. */
export async function trainWithCheckpoints(store: ObjectStore, core: TrainCore, data: SegDataset): Promise<TrainOutcome> {
  const ctx = Context.current();
  const started = Date.now();
  const config: ModelConfig = {
    ...core.model, inputShape: core.inputShape, classes: 1, dropout: core.dropout, seed: core.hyper.seed,
  };
  const net = build(config);
  const checkpointPrefix = `${core.outputPrefix}/checkpoints`;
  const previous = ctx.info.heartbeatDetails as TrainHeartbeat | undefined;
  const latest = await latestCheckpoint(store, checkpointPrefix);
  // The newest complete checkpoint wins: heartbeats are throttled, so the last one delivered may name a checkpoint
  // that the trainer has since replaced (and deleted).
  const resumeFrom = latest?.key ?? (previous?.checkpointKey && (await checkpointExists(store, previous.checkpointKey)) ? previous.checkpointKey : undefined);
  const resumedFromEpoch = resumeFrom ? (latest?.epoch ?? previous!.epoch) : 0;
  if (resumeFrom) {
    ctx.log.info('resuming training from checkpoint', { checkpointKey: resumeFrom, epoch: resumedFromEpoch, heartbeat: previous, attempt: ctx.info.attempt });
  }
  let lastCheckpointKey = resumeFrom;
  try {
    const result = await trainModel(net.model, data, undefined, {
      epochs: core.hyper.epochs,
      batchSize: core.hyper.batchSize,
      learningRate: core.hyper.learningRate,
      seed: core.hyper.seed,
      augment: core.hyper.augment ? undefined : false,
      checkpoint: { store, prefix: checkpointPrefix },
      resumeFrom,
      signal: ctx.cancellationSignal,
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
    await saveCheckpoint(net.model, undefined, store, finalWeightsPrefix(core.outputPrefix), { epoch: result.epochsRun, step: 0 }, { weightsOnly: true });
    await store.putJson(modelConfigKey(core.outputPrefix), config);
    return {
      modelKey: core.outputPrefix,
      params: net.paramCount,
      epochsRun: result.epochsRun,
      finalLoss,
      bestValIoU: result.bestValIoU,
      ms: Date.now() - started,
      resumedFromEpoch,
      attempt: ctx.info.attempt,
    };
  } catch (error) {
    throw classify(error);
  } finally {
    net.model.dispose();
  }
}

export function trainingActivities(store: ObjectStore) {
  return {
    async trainSegmentationModel(req: TrainRequest): Promise<TrainOutcome> {
      const manifest = await manifestOrFail(store, req.datasetId);
      const items = await jsonOrFail<LabelledItem[]>(store, req.trainItemsKey, 'labelled set');
      const data = await loadLabelled(store, manifest, items);
      try {
        return await trainWithCheckpoints(store, { ...req, inputShape: [manifest.size[0], manifest.size[1], 1] }, data);
      } finally {
        dispose(data);
      }
    },

    async evaluateSegmentationModel(input: { datasetId: string; modelKey: string; idsKey: string; batchSize: number }): Promise<EvaluationOutcome> {
      const manifest = await manifestOrFail(store, input.datasetId);
      return evaluateOn(store, manifest, input.modelKey, input.idsKey, input.batchSize);
    },

    /** Scores every pool image and writes scores.json and uncertainty maps under runs/<id>/phase-<n>/. */
    async scorePool(input: {
      runId: string; phase: number; datasetId: string; poolKey: string; modelKey?: string; acquisition: AcquisitionName;
      reduce: PixelReduce; samples: number; mode: 'fast' | 'naive'; batchSize: number; seed: number;
    }): Promise<{ scoresKey: string; scored: number }> {
      const ctx = Context.current();
      const manifest = await manifestOrFail(store, input.datasetId);
      const ids = await jsonOrFail<string[]>(store, input.poolKey, 'pool id list');
      const prefix = `runs/${input.runId}/phase-${input.phase}`;
      const run = { samples: input.samples, mode: input.mode, reduce: input.reduce, functions: [input.acquisition] as AcquisitionFunction[] };
      if (input.acquisition === 'random') {
        const scores = randomScores(ids, input.seed);
        const scoresKey = await writeScores(store, prefix, ids.map((id, i) => ({ id, scores: { random: scores[i] } })), run);
        return { scoresKey, scored: ids.length };
      }
      if (!input.modelKey) throw invalidInput(`acquisition '${input.acquisition}' needs the uncertainty model`);
      const net = await loadTrained(store, input.modelKey);
      const maps = new UncertaintyMapWriter(store, prefix, input.acquisition);
      try {
        const results = await mcScorePool({
          net,
          pool: { ids, load: async (batch) => (await loadTensors(store, manifest, batch, { masks: 'none' })).images },
          functions: [input.acquisition],
          samples: input.samples,
          batchSize: input.batchSize,
          reduce: input.reduce,
          mode: input.mode,
          maps,
          onProgress: (p) => ctx.heartbeat({ imagesDone: p.imagesDone, imagesTotal: p.imagesTotal }),
        });
        const scoresKey = await writeScores(store, prefix, results, run, maps);
        return { scoresKey, scored: results.length };
      } finally {
        net.model.dispose();
      }
    },

    /** One EDNAS trial: train on the dataset's labelled training split, score IoU on its test split. */
    async runSearchTrial(input: {
      searchId: string; datasetId: string; trial: TrialSpec; encoderDepth: number; widthScale?: number; epochs: number;
      augment: boolean; seed: number;
    }): Promise<{ iou: number; dice: number; params: number; ms: number; modelKey: string }> {
      const started = Date.now();
      const manifest = await manifestOrFail(store, input.datasetId);
      const trainIds = await readSplit(store, input.datasetId, 'initial');
      const train = await loadTensors(store, manifest, trainIds, { masks: 'require' });
      const data = { images: train.images, masks: train.masks! };
      const outputPrefix = `runs/${input.searchId}/trials/trial-${String(input.trial.index).padStart(4, '0')}`;
      let outcome: TrainOutcome;
      try {
        outcome = await trainWithCheckpoints(store, {
          outputPrefix,
          model: { arch: input.trial.arch, encoder: input.trial.encoder, encoderDepth: input.encoderDepth, widthScale: input.widthScale },
          dropout: { strategy: 'none', rate: 0 },
          hyper: { epochs: input.epochs, batchSize: input.trial.batchSize, learningRate: input.trial.learningRate, seed: input.seed, augment: input.augment },
          inputShape: [manifest.size[0], manifest.size[1], 1],
        }, data);
      } finally {
        dispose(data);
      }
      const evaluation = await evaluateOn(store, manifest, outcome.modelKey, manifest.splits.testKey, input.trial.batchSize);
      return { iou: evaluation.iou, dice: evaluation.dice, params: outcome.params, ms: Date.now() - started, modelKey: outcome.modelKey };
    },
  };
}
