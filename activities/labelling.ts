/**
 * Light activities of the active-learning loop: set-up, selection, labelling requests for doctors,
 * the benchmark oracle, merging labels, reminders and the final report.
 */
import { Context } from '@temporalio/activity';
import sharp from 'sharp';
import { drawInitialSet } from '../data/import/importCore';
import { type DatasetItem, type DatasetManifest, decodeImage, readSplit } from '../data/manifest';
import {
  type AcquisitionFunction, type ActiveLearningCheckpoint, type ActiveLearningState, type EvaluationSplit, type LabelledItem,
  type LabellingRequest, type LabellingRequestItem, type PhaseRecord, runKeys, scoringKeys, type SelectionMode, type SubmittedLabel,
} from '../contracts';
import { encodeCanonicalMask, maskContentHash, normaliseMaskBytes } from '../data/masks';
import { type LabelStudioConnection, pushRequest } from '../labelling/labelStudioBridge';
import { selectBatch, selectionSeed } from '../ml/selection';
import type { ScoresDocument } from '../ml/uncertaintyMap';
import type { ObjectStore } from '../store/objectStore';
import { invalidInput, itemsById, jsonOrFail, manifestOrFail } from './datasets';

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

interface MergeInput {
  runId: string;
  phase: number;
  labelledKey: string;
  poolKey: string;
  items: LabelledItem[];
}

/** Writes the next phase's labelled set (new masks replace earlier ones of the same image) and pool. */
async function mergeIntoNextPhase(store: ObjectStore, input: MergeInput) {
  const labelled = await jsonOrFail<LabelledItem[]>(store, input.labelledKey, 'labelled set');
  const pool = await jsonOrFail<string[]>(store, input.poolKey, 'pool id list');
  const added = new Map(input.items.map((i) => [i.id, i]));
  const nextLabelled = [...labelled.filter((l) => !added.has(l.id)), ...added.values()];
  const nextPool = pool.filter((id) => !added.has(id));
  const labelledKey = runKeys.labelled(input.runId, input.phase + 1);
  const poolKey = runKeys.pool(input.runId, input.phase + 1);
  await store.putJson(labelledKey, nextLabelled);
  await store.putJson(poolKey, nextPool);
  return { labelledKey, labelledCount: nextLabelled.length, poolKey, poolCount: nextPool.length };
}

const URL_EXPIRY_SECONDS = 7 * 24 * 3600;

export function labellingActivities(store: ObjectStore, labelStudio?: LabelStudioConnection) {
  return {
    /**
     * A new run's starting state: the dataset's initial labelled set, pool, validation and test splits — or, with
     * `resumeFrom`, where that earlier run's last completed phase left off (its merged labels, pool and history).
     */
    async initActiveLearning(input: { runId: string; datasetId: string; resumeFrom?: string; initialSeed?: number }): Promise<Partial<ActiveLearningState>> {
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
      const initial = await readSplit(store, input.datasetId, 'initial');
      const labelled: LabelledItem[] = initial.map((id) => {
        const maskKey = items.get(id)?.maskKey;
        if (!maskKey) throw invalidInput(`initial item '${id}' of dataset '${input.datasetId}' has no mask`);
        return { id, maskKey };
      });
      const labelledKey = runKeys.labelled(input.runId, 0);
      await store.putJson(labelledKey, labelled);
      return {
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

    /** Puts a phase's score shards together, in pool order, as its scores.json. */
    async mergeScoreShards(input: { runId: string; phase: number; shards: number }): Promise<{ scoresKey: string; scored: number }> {
      const documents = [];
      for (let shard = 0; shard < input.shards; shard++) {
        documents.push(await jsonOrFail<ScoresDocument>(store, runKeys.scoreShard(input.runId, input.phase, shard), 'score shard'));
      }
      const [first] = documents;
      const merged: ScoresDocument = { ...first, items: documents.flatMap((d) => d.items) };
      const key = scoringKeys.scores(runKeys.phase(input.runId, input.phase));
      await store.putJson(key, merged);
      return { scoresKey: key, scored: merged.items.length };
    },

    /** The phase's batch: top-K, stochastic (∝ score^β, seeded from the run's seed and phase) or stratified over videos. */
    async selectForLabelling(input: {
      scoresKey: string; datasetId: string; k: number; maxPerGroup?: number; selection?: SelectionMode; beta?: number; seed?: number; phase?: number;
    }): Promise<{ ids: string[] }> {
      const scores = await jsonOrFail<ScoresDocument>(store, input.scoresKey, 'scores');
      const fn: AcquisitionFunction = scores.functions[0];
      const items = await itemsById(store, await manifestOrFail(store, input.datasetId));
      const candidates = scores.items.map((item) => ({ id: item.id, score: item.scores[fn] ?? 0, group: items.get(item.id)?.group }));
      const chosen = selectBatch(candidates, {
        mode: input.selection ?? 'top-k', k: input.k, maxPerGroup: input.maxPerGroup, beta: input.beta,
        seed: selectionSeed(input.seed ?? 0, input.phase ?? 0),
      });
      return { ids: chosen.map((c) => c.id) };
    },

    /** Writes request.json with presigned URLs (image PNG, uncertainty map, mask upload) for a labelling tool. */
    async publishLabellingRequest(input: {
      runId: string; phase: number; datasetId: string; ids: string[]; scoresKey: string; predictionsPrefix?: string; maskLabel?: number;
    }): Promise<{ requestKey: string }> {
      const manifest = await manifestOrFail(store, input.datasetId);
      const items = await itemsById(store, manifest);
      const scores = await jsonOrFail<ScoresDocument>(store, input.scoresKey, 'scores');
      const byId = new Map(scores.items.map((s) => [s.id, s]));
      const fn: AcquisitionFunction = scores.functions[0];
      const [height, width] = manifest.size;
      const requestItems: LabellingRequestItem[] = [];
      const predictionOf = async (key: string) => {
        if (!(await store.exists(key))) throw invalidInput(`the model's draft '${key}' is missing`);
        return { predictionKey: key, predictionUrl: await store.presignedGetUrl(key, URL_EXPIRY_SECONDS) };
      };
      for (const id of input.ids) {
        const item = items.get(id);
        if (!item) throw invalidInput(`dataset '${input.datasetId}' has no item '${id}'`);
        const grey = decodeImage(await store.getBytes(item.imageKey), manifest.size, item.imageKey);
        const png = await sharp(Buffer.from(Uint8Array.from(grey, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255))), { raw: { width, height, channels: 1 } }).png().toBuffer();
        const imageKey = runKeys.requestImage(input.runId, input.phase, id);
        await store.putImage(imageKey, png);
        const scored = byId.get(id);
        const maskUploadKey = runKeys.upload(input.runId, input.phase, id);
        requestItems.push({
          id, group: item.group, score: scored?.scores[fn] ?? 0,
          imageKey, imageUrl: await store.presignedGetUrl(imageKey, URL_EXPIRY_SECONDS),
          ...(scored?.map ? { uncertaintyMapKey: scored.map.key, uncertaintyMapUrl: await store.presignedGetUrl(scored.map.key, URL_EXPIRY_SECONDS) } : {}),
          ...(input.predictionsPrefix ? await predictionOf(runKeys.prediction(input.runId, input.phase, id)) : {}),
          maskUploadKey, maskUploadUrl: await store.presignedPutUrl(maskUploadKey, URL_EXPIRY_SECONDS),
        });
      }
      const request: LabellingRequest = {
        runId: input.runId, phase: input.phase, datasetId: input.datasetId, createdAt: new Date().toISOString(), size: manifest.size,
        ...(input.maskLabel !== undefined ? { maskLabel: input.maskLabel } : {}), items: requestItems,
      };
      const requestKey = runKeys.request(input.runId, input.phase);
      await store.putJson(requestKey, request);
      return { requestKey };
    },

    /** Benchmark mode: the dataset's own masks answer the request (with their content hashes, for the merge check). */
    async oracleLabels(input: { datasetId: string; ids: string[]; withHashes?: boolean }): Promise<{ items: (LabelledItem & { contentHash?: string; foreground?: number })[] }> {
      const manifest = await manifestOrFail(store, input.datasetId);
      const items = await itemsById(store, manifest);
      return {
        items: await Promise.all(input.ids.map(async (id) => {
          const maskKey = items.get(id)?.maskKey;
          if (!maskKey) throw invalidInput(`oracle mode needs a stored mask for every pool item; '${id}' has none`);
          if (!input.withHashes) return { id, maskKey };
          const result = await normaliseMaskBytes(await store.getBytes(maskKey), { size: manifest.size });
          if (!result.ok) throw invalidInput(`the dataset's mask of '${id}' is unusable: ${result.reason}`);
          return { id, maskKey, contentHash: maskContentHash(result.mask, manifest.size), foreground: result.foreground };
        })),
      };
    },

    /**
     * Merges a phase's masks into the next labelled set and pool, after checking that every stored mask is still
     * exactly what was accepted (same content hash and foreground). Masks that are not come back in `invalid` and
     * nothing is written; the workflow asks for them again.
     */
    async mergePhaseLabels(input: { runId: string; phase: number; datasetId: string; labelledKey: string; poolKey: string; items: SubmittedLabel[] }): Promise<{
      invalid: { id: string; reason: string }[]; labelledKey?: string; labelledCount?: number; poolKey?: string; poolCount?: number;
    }> {
      const ctx = Context.current();
      const manifest = await manifestOrFail(store, input.datasetId);
      const invalid: { id: string; reason: string }[] = [];
      for (const [index, item] of input.items.entries()) {
        ctx.heartbeat({ checked: index });
        if (!(await store.exists(item.maskKey))) {
          invalid.push({ id: item.id, reason: `the accepted mask of '${item.id}' is gone from storage; send it again` });
          continue;
        }
        const result = await normaliseMaskBytes(await store.getBytes(item.maskKey), { size: manifest.size, allowEmpty: true });
        const hash = result.ok ? maskContentHash(result.mask, manifest.size) : undefined;
        if (!result.ok || hash !== item.contentHash || result.foreground !== item.foreground) {
          invalid.push({ id: item.id, reason: `the stored mask of '${item.id}' changed after it was accepted; send it again` });
        }
      }
      if (invalid.length > 0) return { invalid };
      await store.putJson(runKeys.mergedLabels(input.runId, input.phase), { runId: input.runId, phase: input.phase, mergedAt: new Date().toISOString(), items: input.items });
      const merged = await mergeIntoNextPhase(store, { ...input, items: input.items.map(({ id, maskKey }) => ({ id, maskKey })) });
      return { invalid, ...merged };
    },

    /** Pushes the phase's request to the run's Label Studio project (tasks with the model's drafts as predictions). */
    async pushToLabelStudio(input: { requestKey: string; project: string }): Promise<{ projectId: number; tasks: number }> {
      if (!labelStudio) throw invalidInput('this worker has no Label Studio connection: set LABEL_STUDIO_URL and LABEL_STUDIO_TOKEN on it');
      const ctx = Context.current();
      const request = await jsonOrFail<LabellingRequest>(store, input.requestKey, 'labelling request');
      const pushed = await pushRequest(store, labelStudio, request, input.project, () => ctx.heartbeat());
      return { projectId: pushed.projectId, tasks: Object.keys(pushed.tasks).length };
    },

    async recordReminder(input: { runId: string; phase: number; requestKey: string; reminders: number; remaining: string[] }): Promise<void> {
      Context.current().log.warn('labelling request overdue', { ...input, remaining: input.remaining.length });
      await store.putJson(runKeys.reminders(input.runId, input.phase), { ...input, at: new Date().toISOString() });
    },

    async writeActiveLearningReport(input: {
      runId: string; datasetId: string; acquisition: AcquisitionFunction; history: PhaseRecord[]; stopReason: string; targetIoU: number;
      labelledKey: string; stopOn?: EvaluationSplit;
    }): Promise<{ reportKey: string; markdownKey: string }> {
      const reportKey = runKeys.reportJson(input.runId);
      const markdownKey = runKeys.reportMarkdown(input.runId);
      await store.putJson(reportKey, { ...input, writtenAt: new Date().toISOString() });
      const fmt = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(4));
      const rows = input.history.map((h) => `| ${h.phase} | ${h.labelled} | ${fmt(h.valIoU)} | ${h.iou.toFixed(4)} | ${h.dice.toFixed(4)} | ${(h.trainMs / 1000).toFixed(1)} | ${h.received ?? '—'} | ${h.replaced ?? '—'} |`);
      const markdown = [
        `# Active learning ${input.runId}`, '',
        `Dataset \`${input.datasetId}\`, acquisition \`${input.acquisition}\`, target IoU ${input.targetIoU} on the ${input.stopOn ?? 'test'} split; stopped: **${input.stopReason}**.`,
        'The validation split decides when to stop; the test split only reports.', '',
        '| phase | labelled | validation IoU | test IoU | test Dice | train s | masks received | replaced |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |', ...rows, '',
      ].join('\n');
      await store.putBytes(markdownKey, new TextEncoder().encode(markdown), 'text/markdown');
      return { reportKey, markdownKey };
    },
  };
}
