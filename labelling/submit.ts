/**
 * The one path by which masks reach a run, shared by `client.ts labels submit`, the HTTP endpoint and Label Studio:
 * 1. every mask is checked first — requested in the waiting phase, readable, the image's size, and read by the one
 *    mask normaliser (data/masks.ts: 0/1, 0/255, 16-bit, grey+alpha, one colour, brush alpha; a multi-label map only
 *    with a label value; empty only when the submitter says the frame has no structure);
 * 2. if any mask is rejected, no mask is stored and nothing is sent: the answer lists every reason, and the refusal
 *    is recorded beside the run (labelling/rejections.ts) so `status` shows it;
 * 3. the canonical 0/255 masks are stored under the run's per-phase label prefix, named by their content hash;
 * 4. one Temporal update hands them to the run, which answers synchronously (accepted, replaced, duplicates).
 * Resending the same masks is a no-op that never reaches the workflow history.
 */
import { type Client, ServiceError, WorkflowUpdateFailedError } from '@temporalio/client';
import {
  type ActiveLearningStatus, type LabelProvenance, type LabellingRequest, type LabelsSubmission, runKeys, SUBMISSION_REJECTIONS,
  type SubmissionOutcome, type SubmittedLabel, UNUSABLE_FRAME,
} from '../contracts';
import { encodeCanonicalMask, maskContentHash, normaliseMaskBytes } from '../data/masks';
import { MissingKeyError } from '../store/blobStore';
import type { ObjectStore } from '../store/objectStore';
import { statusQuery, submitLabelsUpdate } from '../contracts/messages';
import { recordRejection } from './rejections';

/** A submission the user must fix: HTTP status 400 (bad masks), 409 (the run is not waiting for them). */
export class SubmissionError extends Error {
  constructor(message: string, readonly status: 400 | 409 = 400, readonly rejected: { id?: string; reason: string }[] = []) {
    super(message);
    this.name = 'SubmissionError';
  }
}

export interface MaskUpload extends Partial<Omit<LabelProvenance, 'source'>> {
  id: string;
  /** An encoded mask (PNG, TIFF or JPEG, read by data/masks.ts) … */
  bytes?: Uint8Array;
  /** … or the key the labelling tool PUT it to: only the upload key the request issued for this id is accepted. */
  maskKey?: string;
  /** The frame truly shows no structure: an empty mask is accepted. */
  allowEmpty?: boolean;
  /** The doctor cannot label this frame (no LV visible, off-axis): no mask; it leaves the pool and is replaced. */
  unusable?: boolean;
  /** Null: the mask is already binary (e.g. made from a DICOM SEG segment), so no label value applies to it. */
  label?: null;
}

export interface SubmitOptions {
  /** The phase the masks answer; default: the one waiting. */
  phase?: number;
  /** Who sends them: 'cli', 'http', 'label-studio'. */
  source: string;
  /** Grey value of the structure in multi-label masks (default: the run's configured label). */
  label?: number;
  /** Accept empty masks for every item. */
  allowEmpty?: boolean;
}

/** Attempts of the status query when Temporal answers that no worker processed it in time (a busy worker). */
const QUERY_ATTEMPTS = 4;

function queryTimedOut(error: unknown): boolean {
  const cause = (error as { cause?: { code?: number; details?: string } }).cause;
  return cause?.code === 4 || /query timed out/i.test(`${cause?.details ?? ''} ${(error as Error).message ?? ''}`);
}

/**
 * The run's status. A burst of submissions (a labelling tool sending a whole batch at once) can keep the worker
 * busy past Temporal's query deadline; that is retried with backoff (1, 2, 4 s) instead of failing the submission.
 */
async function queryStatus(client: Client, workflowId: string): Promise<ActiveLearningStatus> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.workflow.getHandle(workflowId).query(statusQuery);
    } catch (error) {
      if (attempt >= QUERY_ATTEMPTS || !queryTimedOut(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
    }
  }
}

export async function pendingRequest(client: Client, store: ObjectStore, workflowId: string): Promise<{ status: ActiveLearningStatus; request: LabellingRequest }> {
  const status = await queryStatus(client, workflowId);
  if (!status.pending || status.pending.closed) {
    throw new SubmissionError(status.done ? `run '${workflowId}' has finished (${status.stopReason})`
      : status.pending?.closed ? `run '${workflowId}' has closed phase ${status.pending.phase} (its masks are being merged)`
        : `run '${workflowId}' is not waiting for labels (phase ${status.phase}, ${status.stage})`, 409);
  }
  return { status, request: await store.getJson<LabellingRequest>(status.pending.requestKey) };
}

interface Checked {
  label?: SubmittedLabel & { mask: Uint8Array };
  rejection?: { id: string; reason: string };
}

async function checkUpload(store: ObjectStore, runId: string, request: LabellingRequest, upload: MaskUpload, options: SubmitOptions): Promise<Checked> {
  const reject = (reason: string): Checked => ({ rejection: { id: upload.id, reason } });
  const requested = request.items.find((item) => item.id === upload.id);
  if (!requested) return reject(`'${upload.id}' was not requested in phase ${request.phase}`);
  const provenance = {
    source: options.source,
    ...(upload.annotator !== undefined ? { annotator: upload.annotator } : {}),
    ...(upload.leadTimeS !== undefined ? { leadTimeS: upload.leadTimeS } : {}),
  };
  if (upload.unusable) {
    if (upload.bytes || upload.maskKey) return reject('is marked unusable and cannot carry a mask as well');
    return { label: { id: upload.id, mask: new Uint8Array(0), contentHash: UNUSABLE_FRAME, foreground: 0, maskKey: '', unusable: true, ...provenance } };
  }
  let bytes = upload.bytes;
  if (!bytes) {
    if (!upload.maskKey) return reject('needs a mask (bytes) or the maskKey it was uploaded to');
    // Only the upload key issued for this id in this phase: a mask PUT to another image's URL is never filed under
    // this one, and nothing is said about keys elsewhere in the bucket.
    const issued = requested.maskUploadKey;
    if (upload.maskKey !== issued) return reject(`maskKey must be the upload key issued for '${upload.id}' in phase ${request.phase} (${issued}), not another key`);
    try {
      bytes = await store.getBytes(upload.maskKey);
    } catch (error) {
      if (error instanceof MissingKeyError) return reject(`nothing has been uploaded to ${upload.maskKey}`);
      throw error;
    }
  }
  const result = await normaliseMaskBytes(bytes, {
    size: request.size, label: upload.label === null ? undefined : options.label ?? request.maskLabel, allowEmpty: upload.allowEmpty ?? options.allowEmpty,
  });
  if (!result.ok) return reject(result.reason);
  const contentHash = maskContentHash(result.mask, request.size);
  return {
    label: {
      id: upload.id, mask: result.mask, contentHash, foreground: result.foreground, maskKey: runKeys.phaseLabel(runId, request.phase, upload.id, contentHash),
      ...provenance,
    },
  };
}

/** The content hash of a stored canonical mask (undefined if it no longer reads as one). */
async function storedHash(store: ObjectStore, key: string, size: [number, number]): Promise<string | undefined> {
  const stored = await normaliseMaskBytes(await store.getBytes(key), { size, allowEmpty: true });
  return stored.ok ? maskContentHash(stored.mask, size) : undefined;
}

/** How long a submission keeps retrying an update the server turned away for the moment. */
const UPDATE_RETRY_MS = 60_000;

/**
 * Why the server turned an update away for the moment, or undefined for a final answer: an update that reaches a run
 * just as it continues as new (the phase closing) is aborted, and sent again reaches the next run, whose validator
 * answers for itself (the phase has moved on: 409); a run takes at most 10 updates in flight at once (Temporal's
 * `history.maxInFlightUpdates`), so a burst from a labelling tool waits its turn; the server may be briefly unavailable.
 */
function transientUpdateFailure(error: unknown): string | undefined {
  if (!(error instanceof ServiceError)) return undefined;
  const text = `${error.message} ${(error.cause as Error | undefined)?.message ?? ''} ${(error.cause as { details?: string } | undefined)?.details ?? ''}`;
  const code = (error.cause as { code?: number } | undefined)?.code;
  if (/update was aborted/i.test(text)) return 'aborted';
  if (code === 8 || /in-flight updates|RESOURCE_EXHAUSTED/i.test(text)) return 'too many updates in flight';
  if (code === 14 || /UNAVAILABLE/i.test(text)) return 'unavailable';
  return undefined;
}

/** Sends the update, retrying what the server turned away for the moment with jittered backoff (up to a minute). */
async function sendUpdate(client: Client, workflowId: string, submission: LabelsSubmission): Promise<SubmissionOutcome> {
  const deadline = Date.now() + UPDATE_RETRY_MS;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await client.workflow.getHandle(workflowId).executeUpdate(submitLabelsUpdate, { args: [submission] });
    } catch (error) {
      if (!transientUpdateFailure(error) || Date.now() >= deadline) throw error;
      const backoffMs = Math.min(5000, 100 * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, backoffMs / 2 + Math.random() * backoffMs / 2));
    }
  }
}

function validatorMessage(error: WorkflowUpdateFailedError): string {
  return (error.cause as Error | undefined)?.message ?? error.message;
}

export async function submitMasks(client: Client, store: ObjectStore, workflowId: string, uploads: MaskUpload[], options: SubmitOptions): Promise<SubmissionOutcome> {
  if (uploads.length === 0) throw new SubmissionError('no masks to submit');
  const { status, request } = await pendingRequest(client, store, workflowId);
  if (options.phase !== undefined && options.phase !== request.phase) {
    throw new SubmissionError(`run '${workflowId}' waits for phase ${request.phase}, not phase ${options.phase}`, 409);
  }

  // 1–2. Check everything before anything is stored.
  const checked = await Promise.all(uploads.map((upload) => checkUpload(store, workflowId, request, upload, options)));
  const rejected = checked.flatMap((c) => (c.rejection ? [c.rejection] : []));
  const labels = new Map<string, SubmittedLabel & { mask: Uint8Array }>();
  for (const { label } of checked) {
    if (!label) continue;
    const earlier = labels.get(label.id);
    if (earlier && earlier.contentHash !== label.contentHash) rejected.push({ id: label.id, reason: `two different masks for '${label.id}' in one submission` });
    labels.set(label.id, label);
  }
  if (rejected.length > 0) {
    await recordRejection(store, workflowId, {
      at: new Date().toISOString(), phase: request.phase, source: options.source, rejected,
      ...(uploads[0].annotator ? { annotator: uploads[0].annotator } : {}),
    });
    throw new SubmissionError(rejected.length === 1 ? `the mask for '${rejected[0].id}' was rejected: ${rejected[0].reason}`
      : `${rejected.length} masks were rejected; nothing was stored`, 400, rejected);
  }

  // 3. Store the canonical masks (content-addressed: the same mask twice is one object).
  const created: string[] = [];
  for (const label of labels.values()) {
    if (label.unusable) continue;
    const existed = await store.exists(label.maskKey);
    if (existed && (await storedHash(store, label.maskKey, request.size)) === label.contentHash) continue;
    await store.putImage(label.maskKey, await encodeCanonicalMask(label.mask, request.size));
    if (!existed) created.push(label.maskKey);
  }
  const items: SubmittedLabel[] = [...labels.values()].map(({ mask: _mask, ...item }) => item);

  // 4. Hand them to the run. A refusal leaves nothing behind that this submission stored.
  try {
    return await sendUpdate(client, workflowId, { phase: request.phase, items });
  } catch (error) {
    if (!(error instanceof WorkflowUpdateFailedError)) throw error;
    const message = validatorMessage(error);
    if (message.startsWith(SUBMISSION_REJECTIONS.alreadyReceived)) {
      return { accepted: [], replaced: [], duplicates: items.map((i) => i.id), rejected: [], remaining: status.pending!.remaining };
    }
    await Promise.all(created.map((key) => store.remove(key)));
    if (message.startsWith(SUBMISSION_REJECTIONS.notWaiting)) throw new SubmissionError(`run '${workflowId}' is ${message}`, 409);
    throw new SubmissionError(message, 400);
  }
}
