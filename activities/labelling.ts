/**
 * Light activities of the active-learning loop: set-up, selection, labelling requests for doctors,
 * validation of returned masks, the benchmark oracle, merging labels, reminders and the final report.
 */
import { Context } from '@temporalio/activity';
import sharp from 'sharp';
import { decodeImage, readSplit } from '../data/manifest';
import type { AcquisitionFunction } from '../ml/acquisition';
import { selectTopK } from '../ml/selection';
import type { ScoresDocument } from '../ml/uncertaintyMap';
import type { AcquisitionName, LabelledItem, PhaseRecord } from '../shared';
import type { ObjectStore } from '../store/objectStore';
import { invalidInput, itemsById, jsonOrFail, manifestOrFail } from './datasets';

export const runKeys = {
  labelled: (runId: string, phase: number) => `runs/${runId}/labelled/phase-${phase}.json`,
  pool: (runId: string, phase: number) => `runs/${runId}/pool/phase-${phase}.json`,
  request: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/request.json`,
  requestImage: (runId: string, phase: number, id: string) => `runs/${runId}/phase-${phase}/images/${id}.png`,
  upload: (runId: string, phase: number, id: string) => `runs/${runId}/uploads/phase-${phase}/${id}.png`,
  label: (runId: string, id: string) => `runs/${runId}/labels/${id}.png`,
  reminders: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/reminders.json`,
  reportJson: (runId: string) => `runs/${runId}/report/active-learning.json`,
  reportMarkdown: (runId: string) => `runs/${runId}/report/active-learning.md`,
};

export interface LabellingRequestItem {
  id: string;
  group: string;
  score: number;
  imageKey: string;
  imageUrl: string;
  uncertaintyMapKey?: string;
  uncertaintyMapUrl?: string;
  /** Where a labelling tool may PUT the mask (PNG, the image's size, 0/255 or 0/1). */
  maskUploadKey: string;
  maskUploadUrl: string;
}

export interface LabellingRequest {
  runId: string;
  phase: number;
  datasetId: string;
  createdAt: string;
  size: [number, number];
  items: LabellingRequestItem[];
}

const URL_EXPIRY_SECONDS = 7 * 24 * 3600;

export function labellingActivities(store: ObjectStore) {
  return {
    async initActiveLearning(input: { runId: string; datasetId: string }) {
      const manifest = await manifestOrFail(store, input.datasetId);
      const items = await itemsById(store, manifest);
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
      };
    },

    async selectForLabelling(input: { scoresKey: string; datasetId: string; k: number; maxPerGroup?: number }): Promise<{ ids: string[] }> {
      const scores = await jsonOrFail<ScoresDocument>(store, input.scoresKey, 'scores');
      const fn = scores.functions[0] as AcquisitionFunction;
      const items = await itemsById(store, await manifestOrFail(store, input.datasetId));
      const candidates = scores.items.map((item) => ({ id: item.id, score: item.scores[fn] ?? 0, group: items.get(item.id)?.group }));
      const chosen = selectTopK(candidates, { k: input.k, maxPerGroup: input.maxPerGroup });
      return { ids: chosen.map((c) => c.id) };
    },

    /** Writes request.json with presigned URLs (image PNG, uncertainty map, mask upload) for a labelling tool. */
    async publishLabellingRequest(input: { runId: string; phase: number; datasetId: string; ids: string[]; scoresKey: string }): Promise<{ requestKey: string }> {
      const manifest = await manifestOrFail(store, input.datasetId);
      const items = await itemsById(store, manifest);
      const scores = await jsonOrFail<ScoresDocument>(store, input.scoresKey, 'scores');
      const byId = new Map(scores.items.map((s) => [s.id, s]));
      const fn = scores.functions[0] as AcquisitionFunction;
      const [height, width] = manifest.size;
      const requestItems: LabellingRequestItem[] = [];
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
          maskUploadKey, maskUploadUrl: await store.presignedPutUrl(maskUploadKey, URL_EXPIRY_SECONDS),
        });
      }
      const request: LabellingRequest = {
        runId: input.runId, phase: input.phase, datasetId: input.datasetId, createdAt: new Date().toISOString(), size: manifest.size, items: requestItems,
      };
      const requestKey = runKeys.request(input.runId, input.phase);
      await store.putJson(requestKey, request);
      return { requestKey };
    },

    /**
     * Checks each returned mask (exists, decodes, the image's size, binary) and stores a normalised 0/255 copy
     * under runs/<id>/labels/; the accepted items point at those copies.
     */
    async validateLabels(input: { datasetId: string; runId: string; items: LabelledItem[] }) {
      const manifest = await manifestOrFail(store, input.datasetId);
      const [height, width] = manifest.size;
      const { runId } = input;
      const valid: LabelledItem[] = [];
      const invalid: { id: string; reason: string }[] = [];
      for (const item of input.items) {
        if (!(await store.exists(item.maskKey))) {
          invalid.push({ id: item.id, reason: `mask '${item.maskKey}' does not exist` });
          continue;
        }
        let decoded;
        try {
          decoded = await sharp(Buffer.from(await store.getBytes(item.maskKey))).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
        } catch {
          invalid.push({ id: item.id, reason: `mask '${item.maskKey}' is not a readable image` });
          continue;
        }
        if (decoded.info.width !== width || decoded.info.height !== height) {
          invalid.push({ id: item.id, reason: `mask is ${decoded.info.width}×${decoded.info.height}, the image is ${width}×${height}` });
          continue;
        }
        const max = decoded.data.reduce((m, v) => Math.max(m, v), 0);
        const threshold = max <= 1 ? 1 : 128; // 0/1 masks and 0/255 masks
        const normalised = Buffer.from(Uint8Array.from(decoded.data, (v) => (v >= threshold ? 255 : 0)));
        const key = runKeys.label(runId, item.id);
        await store.putImage(key, await sharp(normalised, { raw: { width, height, channels: 1 } }).png().toBuffer());
        valid.push({ id: item.id, maskKey: key });
      }
      return { valid, invalid };
    },

    /** Benchmark mode: the dataset's own masks answer the request. */
    async oracleLabels(input: { datasetId: string; ids: string[] }): Promise<{ items: LabelledItem[] }> {
      const items = await itemsById(store, await manifestOrFail(store, input.datasetId));
      return {
        items: input.ids.map((id) => {
          const maskKey = items.get(id)?.maskKey;
          if (!maskKey) throw invalidInput(`oracle mode needs a stored mask for every pool item; '${id}' has none`);
          return { id, maskKey };
        }),
      };
    },

    async mergeLabels(input: { runId: string; phase: number; labelledKey: string; poolKey: string; items: LabelledItem[] }) {
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
    },

    async recordReminder(input: { runId: string; phase: number; requestKey: string; reminders: number; remaining: string[] }): Promise<void> {
      Context.current().log.warn('labelling request overdue', { ...input, remaining: input.remaining.length });
      await store.putJson(runKeys.reminders(input.runId, input.phase), { ...input, at: new Date().toISOString() });
    },

    async writeActiveLearningReport(input: {
      runId: string; datasetId: string; acquisition: AcquisitionName; history: PhaseRecord[]; stopReason: string; targetIoU: number; labelledKey: string;
    }): Promise<{ reportKey: string; markdownKey: string }> {
      const reportKey = runKeys.reportJson(input.runId);
      const markdownKey = runKeys.reportMarkdown(input.runId);
      await store.putJson(reportKey, { ...input, writtenAt: new Date().toISOString() });
      const rows = input.history.map((h) => `| ${h.phase} | ${h.labelled} | ${h.iou.toFixed(4)} | ${h.dice.toFixed(4)} | ${(h.trainMs / 1000).toFixed(1)} |`);
      const markdown = [
        `# Active learning ${input.runId}`, '',
        `Dataset \`${input.datasetId}\`, acquisition \`${input.acquisition}\`, target IoU ${input.targetIoU}; stopped: **${input.stopReason}**.`, '',
        '| phase | labelled | test IoU | test Dice | train s |', '| --- | --- | --- | --- | --- |', ...rows, '',
      ].join('\n');
      await store.putBytes(markdownKey, new TextEncoder().encode(markdown), 'text/markdown');
      return { reportKey, markdownKey };
    },
  };
}
