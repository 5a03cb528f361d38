/**
 * Light activities that set a run up: its starting state (a dataset's splits, a benchmark seed's own initial set, a
 * resumed run's merged labels, or — for a dataset without enough masks — the first request's plan), its saved state
 * at phase boundaries, and the dataset its first request's masks make.
 */
import { drawInitialSet } from '../data/import/importCore';
import { planBootstrap } from '../data/bootstrap';
import { deriveLabelledDataset, readSplits } from '../data/derive';
import { type DatasetItem, type DatasetManifest, readSplit } from '../data/manifest';
import {
  type ActiveLearningCheckpoint, type ActiveLearningState, type BootstrapRequestPlan, type LabelledItem, type LabellingRequest, runKeys,
  type SubmittedLabel,
} from '../contracts';
import type { ObjectStore } from '../store/objectStore';
import { invalidInput, itemsById, jsonOrFail, manifestOrFail } from './datasets';
import { verifyAccepted } from './labelChecks';

/** Initial frames a run asks for when the dataset has none and the run names no count (the paper's 40). */
export const DEFAULT_INITIAL_COUNT = 40;
/** Frames asked for per validation or test video without any mask. */
export const DEFAULT_EVAL_FRAMES_PER_VIDEO = 2;

/**
 * A benchmark seed's own start: the initial set drawn afresh from the labelled training frames (the dataset's initial
 * size, spread over videos), the rest of the training split as the pool; validation and test as the dataset has them.
 */
async function initialFromSeed(store: ObjectStore, runId: string, manifest: DatasetManifest, items: Map<string, DatasetItem>, seed: number) {
  const training = [...(await readSplit(store, manifest.id, 'initial')), ...(await readSplit(store, manifest.id, 'pool'))];
  const labelledTraining = training.flatMap((id) => {
    const item = items.get(id)!;
    return item.maskKey ? [{ id, group: item.group }] : [];
  });
  const initialIds = drawInitialSet(labelledTraining, manifest.splits.counts.initial, seed);
  const chosen = new Set(initialIds);
  const labelled: LabelledItem[] = initialIds.map((id) => ({ id, maskKey: items.get(id)!.maskKey! }));
  const pool = training.filter((id) => !chosen.has(id));
  const labelledKey = runKeys.labelled(runId, 0);
  const poolKey = runKeys.pool(runId, 0);
  await store.putJson(labelledKey, labelled);
  await store.putJson(poolKey, pool);
  return {
    labelledKey, labelledCount: labelled.length, poolKey, poolCount: pool.length,
    testKey: manifest.splits.testKey, testCount: manifest.splits.counts.test,
    ...(manifest.splits.valKey ? { valKey: manifest.splits.valKey, valCount: manifest.splits.counts.val ?? 0 } : {}),
  };
}

export interface BootstrapSettings {
  /** Initial frames the run wants; absent: the dataset's initial set, or DEFAULT_INITIAL_COUNT when it has none. */
  initialCount?: number;
  evalFramesPerVideo?: number;
  seed: number;
}

/** What a fresh run starts from: the keys of its splits, or the frames its first request must ask doctors for. */
export type RunStart = Partial<ActiveLearningState> & { bootstrap?: BootstrapRequestPlan };

/** The first request a run with these settings would make on the dataset, or undefined when it has what a run needs. */
async function bootstrapPlanFor(store: ObjectStore, manifest: DatasetManifest, items: Map<string, DatasetItem>, settings: BootstrapSettings) {
  const splits = await readSplits(store, manifest);
  const initialCount = settings.initialCount ?? (splits.initial.length > 0 ? splits.initial.length : DEFAULT_INITIAL_COUNT);
  const plan = planBootstrap([...items.values()].map((i) => ({ id: i.id, group: i.group, labelled: i.maskKey !== undefined })), splits, {
    evalFramesPerVideo: settings.evalFramesPerVideo ?? DEFAULT_EVAL_FRAMES_PER_VIDEO, initialCount, seed: settings.seed,
  });
  if (plan && splits.test.length === 0 && plan.frames.every((f) => f.purpose !== 'test')) {
    throw invalidInput(`dataset '${manifest.id}' has no test video to label: import it with --test-share or --test-videos above 0`);
  }
  return plan;
}

export function runSetupActivities(store: ObjectStore) {
  return {
    /** Whether a run on this dataset would first ask doctors for masks (a pipeline then gathers them before searching). */
    async datasetNeedsLabels(input: { datasetId: string; bootstrap: BootstrapSettings }): Promise<boolean> {
      const manifest = await manifestOrFail(store, input.datasetId);
      return (await bootstrapPlanFor(store, manifest, await itemsById(store, manifest), input.bootstrap)) !== undefined;
    },

    /**
     * A new run's starting state: the dataset's initial labelled set, pool, validation and test splits — or, with
     * `resumeFrom`, where that earlier run's last completed phase left off (its merged labels, pool and history); or,
     * when the dataset lacks masks a run needs (`bootstrap`), the frames to ask doctors for first.
     */
    async initActiveLearning(input: {
      runId: string; datasetId: string; resumeFrom?: string; initialSeed?: number; bootstrap?: BootstrapSettings; firstPhase?: number;
    }): Promise<RunStart> {
      const manifest = await manifestOrFail(store, input.datasetId);
      if (input.resumeFrom) {
        const previous = await jsonOrFail<ActiveLearningCheckpoint>(store, runKeys.checkpoint(input.resumeFrom),
          `run '${input.resumeFrom}' has no saved state (it never finished a phase); its state`);
        if (previous.datasetId !== input.datasetId) {
          throw invalidInput(`run '${input.resumeFrom}' used dataset '${previous.datasetId}', not '${input.datasetId}'`);
        }
        const { pending: _pending, stopRequested: _stop, ...kept } = previous.state;
        return { ...kept, stopRequested: false, invalid: [], resumedFrom: input.resumeFrom };
      }
      const items = await itemsById(store, manifest);
      if (input.initialSeed !== undefined) return initialFromSeed(store, input.runId, manifest, items, input.initialSeed);
      if (input.bootstrap) {
        const plan = await bootstrapPlanFor(store, manifest, items, input.bootstrap);
        if (plan) return { bootstrap: plan };
      }
      const phase = input.firstPhase ?? 0;
      const initial = await readSplit(store, input.datasetId, 'initial');
      if (initial.length === 0) throw invalidInput(`dataset '${input.datasetId}' has no labelled initial frame to train on`);
      const labelled: LabelledItem[] = initial.map((id) => {
        const maskKey = items.get(id)?.maskKey;
        if (!maskKey) throw invalidInput(`initial item '${id}' of dataset '${input.datasetId}' has no mask`);
        return { id, maskKey };
      });
      const labelledKey = runKeys.labelled(input.runId, phase);
      await store.putJson(labelledKey, labelled);
      return {
        ...(phase !== 0 ? { phase } : {}),
        labelledKey, labelledCount: labelled.length,
        poolKey: manifest.splits.poolKey, poolCount: manifest.splits.counts.pool,
        testKey: manifest.splits.testKey, testCount: manifest.splits.counts.test,
        ...(manifest.splits.valKey ? { valKey: manifest.splits.valKey, valCount: manifest.splits.counts.val ?? 0 } : {}),
      };
    },

    /** `runs/<id>/state.json`: the state at a phase boundary, for `--resume-from`. */
    async writeRunCheckpoint(input: { runId: string; datasetId: string; state: ActiveLearningState }): Promise<void> {
      const checkpoint: ActiveLearningCheckpoint = { runId: input.runId, datasetId: input.datasetId, writtenAt: new Date().toISOString(), state: input.state };
      await store.putJson(runKeys.checkpoint(input.runId), checkpoint);
    },

    /**
     * The first request's masks, each verified against what was accepted, become a new dataset: the parent's images
     * with these frames labelled in the split their purpose names, and unusable frames out of every split. Masks that
     * changed since they were accepted come back in `invalid` and nothing is made.
     */
    async completeBootstrap(input: { runId: string; datasetId: string; requestKey: string; items: SubmittedLabel[]; unusable: string[] }): Promise<{
      invalid: { id: string; reason: string }[]; datasetId?: string;
    }> {
      const manifest = await manifestOrFail(store, input.datasetId);
      const request = await jsonOrFail<LabellingRequest>(store, input.requestKey, 'labelling request');
      const purposeOf = new Map(request.items.map((item) => [item.id, item.purpose]));
      const checked = await verifyAccepted(store, manifest.size, input.items);
      if (checked.invalid.length > 0) return { invalid: checked.invalid };
      const labels = input.items.map((item) => {
        const purpose = purposeOf.get(item.id);
        if (purpose === undefined || purpose === 'query') throw invalidInput(`'${item.id}' was not requested for an evaluation or initial set`);
        return { id: item.id, mask: checked.masks.get(item.id)!, purpose };
      });
      const derived = await deriveLabelledDataset(store, input.datasetId, { labels, unusable: input.unusable, note: `run ${input.runId}` });
      return { invalid: [], datasetId: derived.id };
    },
  };
}
