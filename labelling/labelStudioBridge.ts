/**
 * Label Studio as the doctors' tool:
 * - push: a phase's labelling request becomes tasks in a project (created with the LV brush + polygon config if
 *   missing), each with the phase's segmentation-model mask as an editable prediction; the task ids are kept in
 *   `runs/<id>/phase-<n>/label-studio.json`. Pushing again (an activity retry) adds nothing twice.
 * - receive: an annotation (from the webhook, or found by polling) becomes a mask (or, with the config's unusable
 *   choice, a frame marked unusable, which the run replaces and pushes as a new task) and goes through the one
 *   submission path (labelling/submit.ts) with its annotator and lead time; rejected annotations are recorded
 *   beside the run with their reason (`status` shows them).
 */
import type { Client } from '@temporalio/client';
import sharp from 'sharp';
import { type LabellingRequest, runKeys, type SubmissionOutcome } from '../contracts';
import { normaliseMaskBytes } from '../data/masks';
import { MissingKeyError } from '../store/blobStore';
import type { ObjectStore } from '../store/objectStore';
import { LabelStudioClient } from './labelStudio/client';
import { DATA_FIELDS, labelConfigXml } from './labelStudio/config';
import { annotationToMasks, type EchoTaskData, predictionFromMask, taskFromRequestItem } from './labelStudio/convert';
import type { LsAnnotation, LsAnnotationWebhookBody, LsTask } from './labelStudio/types';
import { recordRejection } from './rejections';
import { type MaskUpload, pendingRequest, SubmissionError, submitMasks } from './submit';

/** The header Label Studio forwards with each webhook delivery, carrying the shared secret. */
export const WEBHOOK_SECRET_HEADER = 'X-Echo-Webhook-Secret';

export interface LabelStudioConnection {
  url: string;
  token: string;
  /** Where Label Studio can reach the labels server's webhook (`<public labels URL>/webhook`); none: poll instead. */
  webhookUrl?: string;
  webhookSecret?: string;
}

/** `runs/<id>/phase-<n>/label-studio.json` */
export interface PhaseTasks {
  project: string;
  projectId: number;
  phase: number;
  /** Our item id → Label Studio task id. */
  tasks: Record<string, number>;
  pushedAt: string;
}

export const phaseTasksKey = (runId: string, phase: number) => `${runKeys.phase(runId, phase)}/label-studio.json`;

/** The model version Label Studio shows on a prediction. */
export const modelVersionOf = (runId: string, phase: number) => `${runId}/phase-${phase}`;

function clientOf(connection: LabelStudioConnection): LabelStudioClient {
  return new LabelStudioClient({ url: connection.url, token: connection.token });
}

/** Creates the phase's tasks (with the model's drafts as predictions) in the project; safe to repeat. */
export async function pushRequest(store: ObjectStore, connection: LabelStudioConnection, request: LabellingRequest, project: string,
  onProgress: () => void = () => {}): Promise<PhaseTasks> {
  const key = phaseTasksKey(request.runId, request.phase);
  // A request extended after its push (replacements for unusable frames) pushes only what is new.
  const earlier = await store.exists(key) ? await store.getJson<PhaseTasks>(key) : undefined;
  if (earlier && request.items.every((item) => earlier.tasks[item.id] !== undefined)) return earlier;
  const client = clientOf(connection);
  const { project: ls } = await client.ensureProject({ title: project, labelConfig: labelConfigXml(), description: 'Left-ventricle masks for echo-al active learning' });
  if (connection.webhookUrl) {
    if (!connection.webhookSecret) throw new Error('a Label Studio webhook needs LABELS_WEBHOOK_SECRET');
    await client.ensureWebhook({
      projectId: ls.id, url: connection.webhookUrl, headers: { [WEBHOOK_SECRET_HEADER]: connection.webhookSecret },
      actions: ['ANNOTATION_CREATED', 'ANNOTATION_UPDATED'],
    });
  }
  // Tasks this phase already has (an earlier push, or an attempt that stopped before writing the map) are reused.
  const tasks: Record<string, number> = { ...(earlier?.tasks ?? {}) };
  for (const task of await client.listTasks<Partial<EchoTaskData>>(ls.id)) {
    if (task.data[DATA_FIELDS.runId] === request.runId && task.data[DATA_FIELDS.phase] === request.phase && task.data[DATA_FIELDS.itemId]) {
      tasks[task.data[DATA_FIELDS.itemId]!] = task.id;
    }
  }
  const missing = request.items.filter((item) => tasks[item.id] === undefined);
  const [height, width] = request.size;
  if (missing.length > 0) {
    const ids = await client.importTasks(ls.id, missing.map((item) => taskFromRequestItem(item, { runId: request.runId, phase: request.phase })));
    for (const [index, item] of missing.entries()) {
      tasks[item.id] = ids[index];
      if (item.predictionKey) {
        const draft = await normaliseMaskBytes(await store.getBytes(item.predictionKey), { size: request.size, allowEmpty: true });
        if (!draft.ok) throw new Error(`the model's draft of '${item.id}' is unreadable: ${draft.reason}`);
        await client.createPrediction(ids[index], predictionFromMask(draft.mask, width, height, modelVersionOf(request.runId, request.phase), item.score));
      }
      onProgress();
    }
  }
  const phaseTasks: PhaseTasks = { project, projectId: ls.id, phase: request.phase, tasks, pushedAt: new Date().toISOString() };
  await store.putJson(key, phaseTasks);
  return phaseTasks;
}

function userOf(annotation: LsAnnotation, masks: { completedBy: number | null; completedByEmail?: string }): string | undefined {
  if (masks.completedByEmail) return masks.completedByEmail;
  if (masks.completedBy !== null) return `label-studio user ${masks.completedBy}`;
  return annotation.completed_by === undefined ? undefined : String(annotation.completed_by);
}

export interface AnnotationOutcome {
  runId: string;
  itemId: string;
  outcome?: SubmissionOutcome;
  rejected?: string;
}

/** Whose and which item a task is (our fields in its data), or why it is not one of ours. */
export function taskIdentity(task: Pick<LsTask<Partial<EchoTaskData>>, 'data'>): { runId: string; phase: number; itemId: string } | { error: string } {
  const data = task.data ?? {};
  const runId = data[DATA_FIELDS.runId];
  const phase = data[DATA_FIELDS.phase];
  const itemId = data[DATA_FIELDS.itemId];
  if (typeof runId !== 'string' || typeof itemId !== 'string' || !Number.isInteger(phase)) {
    return { error: 'the task was not created by echo-al (no run, phase and item in its data)' };
  }
  return { runId, phase: phase!, itemId };
}

/**
 * One annotation through the submission path. Returns what the run answered, or the reason it was rejected
 * (recorded beside the run). Throws only for infrastructure failures and unknown runs.
 */
export async function submitAnnotation(client: Client, store: ObjectStore, task: Pick<LsTask<Partial<EchoTaskData>>, 'data'>, annotation: LsAnnotation,
  resolveRun: (id: string) => Promise<string> = async (id) => id): Promise<AnnotationOutcome> {
  const identity = taskIdentity(task);
  if ('error' in identity) throw new SubmissionError(identity.error, 400);
  const runId = await resolveRun(identity.runId);
  let request: LabellingRequest;
  try {
    request = await store.getJson<LabellingRequest>(runKeys.request(runId, identity.phase));
  } catch (error) {
    if (error instanceof MissingKeyError) throw new SubmissionError(`run '${runId}' has no labelling request for phase ${identity.phase}`, 409);
    throw error;
  }
  const [height, width] = request.size;
  const masks = annotationToMasks(annotation, width, height);
  const annotator = 'error' in masks ? undefined : userOf(annotation, masks);
  const reject = async (reason: string): Promise<AnnotationOutcome> => {
    await recordRejection(store, runId, { at: new Date().toISOString(), phase: identity.phase, source: 'label-studio', annotator, rejected: [{ id: identity.itemId, reason }] });
    return { runId, itemId: identity.itemId, rejected: reason };
  };
  if ('error' in masks) return reject(masks.error);
  const provenance = { ...(annotator ? { annotator } : {}), ...(masks.leadTime !== null ? { leadTimeS: masks.leadTime } : {}) };
  if ('unusable' in masks) return submitOne(client, store, runId, identity, { id: identity.itemId, unusable: true, ...provenance });
  const png = new Uint8Array(await sharp(Buffer.from(masks.rgba), { raw: { width, height, channels: 4 } }).png().toBuffer());
  return submitOne(client, store, runId, identity, { id: identity.itemId, bytes: png, ...provenance });
}

async function submitOne(client: Client, store: ObjectStore, runId: string, identity: { phase: number; itemId: string }, upload: MaskUpload): Promise<AnnotationOutcome> {
  try {
    const outcome = await submitMasks(client, store, runId, [upload], { phase: identity.phase, source: 'label-studio' });
    return { runId, itemId: identity.itemId, outcome };
  } catch (error) {
    // Refused masks were recorded by the submission path; a run not waiting is the tool's business, not the run's.
    if (error instanceof SubmissionError) return { runId, itemId: identity.itemId, rejected: error.rejected[0]?.reason ?? error.message };
    throw error;
  }
}

/** A webhook delivery: only annotation events of our tasks are read; everything else is acknowledged and ignored. */
export async function handleWebhook(client: Client, store: ObjectStore, body: LsAnnotationWebhookBody<Partial<EchoTaskData>>,
  resolveRun?: (id: string) => Promise<string>): Promise<AnnotationOutcome | { ignored: string }> {
  if (body?.action !== 'ANNOTATION_CREATED' && body?.action !== 'ANNOTATION_UPDATED') return { ignored: `action ${String(body?.action)}` };
  if (!body.annotation || !body.task) throw new SubmissionError('an annotation webhook needs annotation and task', 400);
  return submitAnnotation(client, store, body.task, body.annotation, resolveRun);
}

/** The annotation a task's doctors settled on: the most recently updated one that was not skipped. */
function latestAnnotation(task: LsTask): LsAnnotation | undefined {
  const usable = (task.annotations ?? []).filter((a) => !a.was_cancelled);
  return usable.sort((a, b) => String(b.updated_at ?? '').localeCompare(String(a.updated_at ?? '')))[0];
}

/**
 * For a Label Studio that cannot reach the labels server: reads the project's annotations of the run's waiting
 * phase and submits each (already received masks are no-ops). Returns what happened per item.
 */
export async function pollRun(client: Client, store: ObjectStore, connection: LabelStudioConnection, runId: string): Promise<AnnotationOutcome[]> {
  const { request } = await pendingRequest(client, store, runId);
  let phaseTasks: PhaseTasks;
  try {
    phaseTasks = await store.getJson<PhaseTasks>(phaseTasksKey(runId, request.phase));
  } catch (error) {
    if (error instanceof MissingKeyError) throw new SubmissionError(`run '${runId}' has not pushed phase ${request.phase} to Label Studio`, 409);
    throw error;
  }
  const ours = new Set(Object.values(phaseTasks.tasks));
  const outcomes: AnnotationOutcome[] = [];
  for (const task of await clientOf(connection).listTasks<Partial<EchoTaskData>>(phaseTasks.projectId)) {
    if (!ours.has(task.id)) continue;
    const annotation = latestAnnotation(task);
    if (annotation) outcomes.push(await submitAnnotation(client, store, task, annotation));
  }
  return outcomes;
}
