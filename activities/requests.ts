/**
 * Light activities around a labelling request: writing it (request.json with presigned URLs for labelling tools),
 * adding frames that replace ones doctors marked unusable, the benchmark oracle's answer, the Label Studio push and
 * reminders.
 */
import { Context } from '@temporalio/activity';
import sharp from 'sharp';
import { type DatasetItem, type DatasetManifest, decodeImage } from '../data/manifest';
import {
  type AcquisitionFunction, type LabelledItem, type LabellingRequest, type LabellingRequestItem, type LabelPurpose, runKeys,
} from '../contracts';
import { maskContentHash, normaliseMaskBytes } from '../data/masks';
import { type LabelStudioConnection, pushRequest } from '../labelling/labelStudioBridge';
import type { ScoresDocument } from '../ml/uncertaintyMap';
import type { ObjectStore } from '../store/objectStore';
import { invalidInput, itemsById, jsonOrFail, manifestOrFail } from './datasets';

const URL_EXPIRY_SECONDS = 7 * 24 * 3600;

interface RequestContext {
  runId: string;
  phase: number;
  datasetId: string;
  manifest: DatasetManifest;
  items: Map<string, DatasetItem>;
  scores?: { fn: AcquisitionFunction; byId: Map<string, ScoresDocument['items'][number]> };
  predictionsPrefix?: string;
}

function scoresOf(document: ScoresDocument | undefined): RequestContext['scores'] {
  return document && { fn: document.functions[0], byId: new Map(document.items.map((item) => [item.id, item])) };
}

/** One item of a request: the image as PNG, its uncertainty map and the model's draft when there are, the upload URL. */
async function requestItem(store: ObjectStore, ctx: RequestContext, id: string, purpose?: LabelPurpose): Promise<LabellingRequestItem> {
  const item = ctx.items.get(id);
  if (!item) throw invalidInput(`dataset '${ctx.datasetId}' has no item '${id}'`);
  const [height, width] = ctx.manifest.size;
  const grey = decodeImage(await store.getBytes(item.imageKey), ctx.manifest.size, item.imageKey);
  const png = await sharp(Buffer.from(Uint8Array.from(grey, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255))), { raw: { width, height, channels: 1 } }).png().toBuffer();
  const imageKey = runKeys.requestImage(ctx.runId, ctx.phase, id);
  await store.putImage(imageKey, png);
  const scored = ctx.scores?.byId.get(id);
  const maskUploadKey = runKeys.upload(ctx.runId, ctx.phase, id);
  let prediction = {};
  if (ctx.predictionsPrefix) {
    const key = runKeys.prediction(ctx.runId, ctx.phase, id);
    if (!(await store.exists(key))) throw invalidInput(`the model's draft '${key}' is missing`);
    prediction = { predictionKey: key, predictionUrl: await store.presignedGetUrl(key, URL_EXPIRY_SECONDS) };
  }
  return {
    id, group: item.group, ...(purpose && purpose !== 'query' ? { purpose } : {}), score: ctx.scores ? scored?.scores[ctx.scores.fn] ?? 0 : 0,
    imageKey, imageUrl: await store.presignedGetUrl(imageKey, URL_EXPIRY_SECONDS),
    ...(scored?.map ? { uncertaintyMapKey: scored.map.key, uncertaintyMapUrl: await store.presignedGetUrl(scored.map.key, URL_EXPIRY_SECONDS) } : {}),
    ...prediction,
    maskUploadKey, maskUploadUrl: await store.presignedPutUrl(maskUploadKey, URL_EXPIRY_SECONDS),
  };
}

export function requestActivities(store: ObjectStore, labelStudio?: LabelStudioConnection) {
  return {
    /**
     * Writes request.json with presigned URLs (image PNG, uncertainty map, the model's draft, mask upload) for a
     * labelling tool; `purposes` names the set each frame's mask fills (a run's first request on an unlabelled dataset).
     */
    async publishLabellingRequest(input: {
      runId: string; phase: number; datasetId: string; ids: string[]; scoresKey?: string; predictionsPrefix?: string; maskLabel?: number;
      purposes?: Record<string, LabelPurpose>;
    }): Promise<{ requestKey: string }> {
      const manifest = await manifestOrFail(store, input.datasetId);
      const ctx: RequestContext = {
        runId: input.runId, phase: input.phase, datasetId: input.datasetId, manifest, items: await itemsById(store, manifest),
        scores: scoresOf(input.scoresKey ? await jsonOrFail<ScoresDocument>(store, input.scoresKey, 'scores') : undefined), predictionsPrefix: input.predictionsPrefix,
      };
      const requestItems: LabellingRequestItem[] = [];
      for (const id of input.ids) requestItems.push(await requestItem(store, ctx, id, input.purposes?.[id]));
      const request: LabellingRequest = {
        runId: input.runId, phase: input.phase, datasetId: input.datasetId, createdAt: new Date().toISOString(), size: manifest.size,
        ...(input.maskLabel !== undefined ? { maskLabel: input.maskLabel } : {}), items: requestItems,
      };
      const requestKey = runKeys.request(input.runId, input.phase);
      await store.putJson(requestKey, request);
      return { requestKey };
    },

    /** Adds frames to a published request (replacements for frames doctors marked unusable); those already in it stay. */
    async extendLabellingRequest(input: { requestKey: string; ids: string[]; purposes?: Record<string, LabelPurpose> }): Promise<{ added: number }> {
      const request = await jsonOrFail<LabellingRequest>(store, input.requestKey, 'labelling request');
      const manifest = await manifestOrFail(store, request.datasetId);
      const ctx: RequestContext = { runId: request.runId, phase: request.phase, datasetId: request.datasetId, manifest, items: await itemsById(store, manifest) };
      const present = new Set(request.items.map((item) => item.id));
      const added: LabellingRequestItem[] = [];
      for (const id of input.ids) if (!present.has(id)) added.push(await requestItem(store, ctx, id, input.purposes?.[id]));
      await store.putJson(input.requestKey, { ...request, items: [...request.items, ...added] });
      return { added: added.length };
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
  };
}
