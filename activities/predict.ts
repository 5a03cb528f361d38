/**
 * Activities of the `predict` workflow: one batch of a plan on the accelerator queue (heartbeats per stage; a batch
 * whose record already exists is returned without being redone), and the CSV tables on the light queue. Frames come
 * from the object store: a local folder's frames uploaded by the CLI as 16-bit PNGs, or a dataset's stored images.
 * The options' engine decides what computes the masks (tfjs, or ONNX Runtime on the model converted in-process).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  datasetKeys, type PredictBatchOutcome, type PredictEngine, type PredictBatchRequest, type PredictItem, type PredictModel, type PredictPlan,
  type PredictTablesOutcome, type PredictTablesRequest, recordedEngine,
} from '../contracts';
import { type DatasetManifest, decodeImage, readManifest } from '../data/manifest';
import { MissingKeyError } from '../store/blobStore';
import {
  batchCount, batchFingerprint, batchItems, decodeFramePng, type EngineFactory, type FrameSource, IncompletePredictionError, loadPredictionModels, predictBatch, type PredictionModels,
  writePredictionTables,
} from '../ml/predict';
import type { ObjectStore } from '../store/objectStore';
import { invalidInput } from './datasets';

/** Frames of stored sources: uploaded frames (16-bit PNG) and dataset items (their stored, preprocessed image). */
export function storeFrameSource(store: ObjectStore): FrameSource {
  const manifests = new Map<string, Promise<DatasetManifest>>();
  const manifestOf = (datasetId: string) => {
    let manifest = manifests.get(datasetId);
    if (!manifest) manifests.set(datasetId, (manifest = readManifest(store, datasetId)));
    return manifest;
  };
  return {
    async load(item: PredictItem) {
      const { source } = item;
      if (source.kind === 'stored-frame') return { frame: await decodeFramePng(await store.getBytes(source.key)) };
      if (source.kind === 'dataset') {
        const manifest = await manifestOf(source.datasetId);
        const key = datasetKeys.image(source.datasetId, source.itemId);
        const [height, width] = manifest.size;
        return { region: { width, height, data: decodeImage(await store.getBytes(key), manifest.size, key) } };
      }
      throw new Error(`Image '${item.id}' is a local file (${source.format}); only the CLI process can read it. Upload it first.`);
    },
  };
}

/**
 * How loaded models become their engines: tfjs itself, or ONNX Runtime on their in-process ONNX export — the
 * segmentation model, and the uncertainty model's MC prefix where it converts (its native binding is loaded only then).
 */
export function engineFactory(engine: PredictEngine): EngineFactory | undefined {
  if (engine === 'tf') return undefined;
  return {
    segmentation: async (net) => (await import('../export/onnx/session')).onnxEngine(net),
    mcPrefix: async (net) => (await import('../export/onnx/session')).onnxMcPrefix(net),
  };
}

interface CachedModels {
  key: string;
  models: Promise<PredictionModels>;
  users: number;
  lastUsed: number;
}

/**
 * Models stay loaded between batches of a plan (building and loading a full-size model takes seconds); entries in
 * use are never disposed, idle ones beyond the newest are.
 */
const modelCache: CachedModels[] = [];

async function acquireModels(store: ObjectStore, model: PredictModel, withUncertainty: boolean, engine: PredictEngine): Promise<{ models: PredictionModels; release: () => void }> {
  const key = JSON.stringify({ model, withUncertainty, engine });
  let entry = modelCache.find((e) => e.key === key);
  if (!entry) {
    entry = { key, models: loadPredictionModels(store, model, withUncertainty, engineFactory(engine)), users: 0, lastUsed: Date.now() };
    modelCache.push(entry);
  }
  entry.users += 1;
  const current = entry;
  try {
    const models = await current.models;
    return {
      models,
      release: () => {
        current.users -= 1;
        current.lastUsed = Date.now();
        evictIdle();
      },
    };
  } catch (error) {
    current.users -= 1;
    modelCache.splice(modelCache.indexOf(current), 1);
    throw error;
  }
}

function evictIdle(): void {
  const newest = Math.max(...modelCache.map((e) => e.lastUsed));
  for (const entry of [...modelCache]) {
    if (entry.users === 0 && entry.lastUsed < newest) {
      modelCache.splice(modelCache.indexOf(entry), 1);
      void entry.models.then((m) => m.dispose(), () => undefined);
    }
  }
}

const plans = new Map<string, Promise<PredictPlan>>();

/** Plans are content-addressed (`predictKeys.plan`), so a worker keeps the last few it read. */
function planOf(store: ObjectStore, planKey: string): Promise<PredictPlan> {
  let plan = plans.get(planKey);
  if (!plan) {
    if (plans.size >= 4) plans.delete(plans.keys().next().value!);
    plan = store.getJson<PredictPlan>(planKey);
    plan.catch(() => plans.delete(planKey));
    plans.set(planKey, plan);
  }
  return plan;
}

/** A missing plan, model or frame is bad input (retrying cannot bring it back). */
function classify(error: unknown): unknown {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof MissingKeyError || error instanceof IncompletePredictionError) return invalidInput(error.message);
  return error;
}

export function predictAccelActivities(store: ObjectStore) {
  return {
    async predictImageBatch(req: PredictBatchRequest): Promise<PredictBatchOutcome> {
      const ctx = Context.current();
      const started = Date.now();
      const beat = (stage: string) => ctx.heartbeat({ batch: req.batch, stage });
      beat('reading the plan');
      try {
        const plan = await planOf(store, req.planKey);
        const items = batchItems(plan.items, plan.batchSize, req.batch);
        if (items.length === 0) throw invalidInput(`batch ${req.batch} is beyond the plan's ${batchCount(plan.items.length, plan.batchSize)} batches`);
        beat('loading the model');
        const { models, release } = await acquireModels(store, req.model, req.options.uncertainty, recordedEngine(req.options.engine));
        try {
          const result = await predictBatch({
            batch: req.batch, items, models, frames: storeFrameSource(store), out: store, root: req.outputPrefix, options: req.options,
            fingerprint: batchFingerprint(req.model, req.options, req.batch, items), onStage: beat,
          });
          return { batch: req.batch, images: items.length, computed: result.computed, ms: Date.now() - started };
        } finally {
          release();
        }
      } catch (error) {
        throw classify(error);
      }
    },
  };
}

export function predictLightActivities(store: ObjectStore) {
  return {
    async writePredictionTables(req: PredictTablesRequest): Promise<PredictTablesOutcome> {
      try {
        const written = await writePredictionTables(store, req.outputPrefix, req.batchCount);
        return { imagesCsvKey: written.imagesKey, videosCsvKey: written.videosKey, images: written.images, videos: written.videos };
      } catch (error) {
        throw classify(error);
      }
    },
  };
}
