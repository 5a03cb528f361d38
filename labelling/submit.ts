/**
 * The one path by which masks reach a run, shared by `client.ts labels submit` and the HTTP endpoint:
 * check every mask first (requested id, readable PNG, the image's size), upload, then send the update.
 * Nothing is uploaded or signalled when any item is bad.
 */
import type { Client } from '@temporalio/client';
import sharp from 'sharp';
import type { LabellingRequest } from '../activities/labelling';
import type { ActiveLearningStatus, SubmissionOutcome } from '../shared';
import type { ObjectStore } from '../store/objectStore';
import { statusQuery, submitLabelsUpdate } from '../workflows/messages';

export class SubmissionError extends Error {}

export interface MaskUpload {
  id: string;
  /** An encoded PNG mask (0/255 or 0/1) … */
  png?: Uint8Array;
  /** … or the key of a mask already in the bucket. */
  maskKey?: string;
}

export async function pendingRequest(client: Client, store: ObjectStore, workflowId: string): Promise<{ status: ActiveLearningStatus; request: LabellingRequest }> {
  const status = await client.workflow.getHandle(workflowId).query(statusQuery);
  if (!status.pending) {
    throw new SubmissionError(status.done ? `run '${workflowId}' has finished (${status.stopReason})`
      : `run '${workflowId}' is not waiting for labels (phase ${status.phase}, ${status.stage})`);
  }
  return { status, request: await store.getJson<LabellingRequest>(status.pending.requestKey) };
}

export async function submitMasks(client: Client, store: ObjectStore, workflowId: string, phase: number | undefined, uploads: MaskUpload[]): Promise<SubmissionOutcome> {
  const { status, request } = await pendingRequest(client, store, workflowId);
  if (phase !== undefined && phase !== status.pending!.phase) {
    throw new SubmissionError(`run '${workflowId}' waits for phase ${status.pending!.phase}, not phase ${phase}`);
  }
  if (uploads.length === 0) throw new SubmissionError('no masks to submit');
  const [height, width] = request.size;
  const byId = new Map(request.items.map((item) => [item.id, item]));
  for (const upload of uploads) {
    if (!byId.has(upload.id)) throw new SubmissionError(`'${upload.id}' was not requested in phase ${request.phase}`);
    if (!upload.png && !upload.maskKey) throw new SubmissionError(`'${upload.id}' needs a PNG or a maskKey`);
    if (upload.png) {
      let meta;
      try {
        meta = await sharp(Buffer.from(upload.png)).metadata();
      } catch {
        throw new SubmissionError(`the mask for '${upload.id}' is not a readable image`);
      }
      if (meta.width !== width || meta.height !== height) {
        throw new SubmissionError(`the mask for '${upload.id}' is ${meta.width}×${meta.height}; the image is ${width}×${height}`);
      }
    }
  }
  const items = [];
  for (const upload of uploads) {
    const maskKey = upload.maskKey ?? byId.get(upload.id)!.maskUploadKey;
    if (upload.png) await store.putImage(maskKey, upload.png);
    items.push({ id: upload.id, maskKey });
  }
  return client.workflow.getHandle(workflowId).executeUpdate(submitLabelsUpdate, { args: [{ phase: request.phase, items }] });
}
