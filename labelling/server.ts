/**
 * The labels server: labelling tools' way into a run.
 *   POST /labels                 bearer token; { workflowId, phase?, allowEmpty?, label?, items: [{ id, maskKey | maskPng (base64) | unusable: true, allowEmpty? }] }
 *   POST /webhook                Label Studio's webhook (ANNOTATION_CREATED / _UPDATED): the shared-secret header
 *   GET  /health                 liveness (also Label Studio's ML-backend health check)
 *   POST /setup, POST /predict   Label Studio's ML-backend contract: predictions are the run's segmentation-model masks
 * Answers: 200 with { accepted, replaced, duplicates, rejected, remaining }; 400 a malformed body or a rejected mask
 * (every reason listed, nothing stored); 401 without the token or secret; 404 an unknown run; 409 the run is not
 * waiting for that phase; 413 a body over the limit; 503 with Retry-After when the queue is full, a request waited
 * longer than the queue timeout, or Temporal or MinIO is unreachable (an outage is answered as one, within seconds).
 * A burst waits its turn instead of being refused: at most `maxConcurrent` bodies are read at once (counted while
 * they stream and cut off at the limit), at most `SUBMITTING_AT_ONCE` submissions are handed to the run at once,
 * and the rest queue (at most `maxQueued` requests, each for at most `queueTimeoutMs`); the bodies held in memory
 * are bounded too (`HELD_BODIES_PER_LIMIT` × the body limit).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { type Client, ServiceError, WorkflowNotFoundError } from '@temporalio/client';
import { runKeys } from '../contracts';
import { normaliseMaskBytes } from '../data/masks';
import { MissingKeyError } from '../store/blobStore';
import { isStoreUnreachable, type ObjectStore } from '../store/objectStore';
import { handleWebhook, modelVersionOf, taskIdentity, WEBHOOK_SECRET_HEADER } from './labelStudioBridge';
import { predictionFromMask } from './labelStudio/convert';
import type { LsTask } from './labelStudio/types';
import { Slots, SlotTimeoutError } from './slots';
import { type MaskUpload, SubmissionError, submitMasks } from './submit';

export interface LabelServerOptions {
  client: Client;
  store: ObjectStore;
  token: string;
  /** Label Studio's webhook deliveries must carry this in the X-Echo-Webhook-Secret header; none: /webhook is off. */
  webhookSecret?: string;
  /** Resolves a pipeline id to its active-learning child, and rejects ids of other kinds. */
  resolveRun: (id: string) => Promise<string>;
  /** Largest request body (default 32 MiB). */
  maxBodyBytes?: number;
  /** Bodies read at once (default 4); more wait their turn in the queue. */
  maxConcurrent?: number;
  /** Requests queued or in progress at once (default 1000); more get 503. */
  maxQueued?: number;
  /** How long a request may wait for its turn, to be read and then to be handed to the run (default 2 min); then 503. */
  queueTimeoutMs?: number;
  /** TLS: PEM certificate and key files (HTTPS instead of HTTP). */
  tls?: { certFile: string; keyFile: string };
}

export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;
export const DEFAULT_MAX_CONCURRENT = 4;
export const DEFAULT_MAX_QUEUED = 1000;
export const DEFAULT_QUEUE_TIMEOUT_MS = 120_000;
/** Submissions handed to the run at once: below the 10 updates a run takes in flight (Temporal's `history.maxInFlightUpdates`). */
export const SUBMITTING_AT_ONCE = 8;
/** Bodies read and not yet answered are held in memory up to this many times the body limit; past it, 503. */
export const HELD_BODIES_PER_LIMIT = 8;
/** Retry-After (seconds) of a 503: a full queue clears in seconds, an outage takes longer. */
const RETRY_AFTER_BUSY_S = 2;
const RETRY_AFTER_OUTAGE_S = 10;
/** How long a request waits for Temporal to answer before the server calls it unreachable; a success is reused this long. */
const TEMPORAL_PROBE_MS = 3000;
const TEMPORAL_PROBE_REUSE_MS = 1000;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A service the submission needs is unreachable: 503 with Retry-After, never 500. */
class OutageError extends Error {}

/** What is unreachable, when the error says so: Temporal (gRPC unavailable, or no answer before the deadline) or MinIO. */
function outageOf(error: unknown): string | undefined {
  if (error instanceof OutageError) return error.message;
  if (isStoreUnreachable(error)) return (error as Error).message;
  const code = (error as { cause?: { code?: number } }).cause?.code ?? (error as { code?: unknown }).code;
  if (error instanceof ServiceError && code === 14) return `Temporal is unreachable (${error.message})`;
  if (error instanceof ServiceError && code === 4) return `Temporal did not answer in time (${error.message})`;
  return undefined;
}

/** Checks that Temporal answers within a few seconds; concurrent callers share one probe, and a success is reused briefly. */
function temporalProbe(client: Client): () => Promise<void> {
  let okAt = 0;
  let inFlight: Promise<void> | undefined;
  return () => {
    if (Date.now() - okAt < TEMPORAL_PROBE_REUSE_MS) return Promise.resolve();
    inFlight ??= client.connection.withDeadline(Date.now() + TEMPORAL_PROBE_MS, () => client.workflowService.getSystemInfo({}))
      .then(() => {
        okAt = Date.now();
      }, (error: unknown) => {
        throw new OutageError(`Temporal is unreachable (no answer within ${TEMPORAL_PROBE_MS / 1000} s: ${(error as Error).message})`);
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
}

function sameSecret(given: string | undefined, expected: string): boolean {
  // Hashing first makes the comparison constant-time whatever the lengths.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return given !== undefined && timingSafeEqual(digest(given), digest(expected));
}

/** Bearer token, or Basic auth with the token as password (what Label Studio's "Model" connection sends). */
function authorised(header: string | undefined, token: string): boolean {
  if (header?.startsWith('Bearer ')) return sameSecret(header.slice(7), token);
  if (header?.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    return sameSecret(decoded.slice(decoded.indexOf(':') + 1), token);
  }
  return false;
}

/** Reads a body up to `limit` bytes; `hold` is told of each chunk (and throws when the server holds too much). */
async function readBody(req: http.IncomingMessage, limit: number, hold: (bytes: number) => void): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, `request body of ${declared} bytes is over the limit of ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `request body is over the limit of ${limit} bytes`);
    hold((chunk as Buffer).length);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}

interface LabelsBody {
  workflowId: string;
  phase?: number;
  allowEmpty?: boolean;
  label?: number;
  uploads: MaskUpload[];
}

function parseLabels(body: unknown): LabelsBody {
  const b = body as { workflowId?: unknown; phase?: unknown; items?: unknown; allowEmpty?: unknown; label?: unknown };
  if (typeof b?.workflowId !== 'string' || !b.workflowId) throw new HttpError(400, 'workflowId (string) is required');
  if (b.phase !== undefined && !Number.isInteger(b.phase)) throw new HttpError(400, 'phase must be an integer');
  if (b.label !== undefined && !(Number.isInteger(b.label) && (b.label as number) > 0)) throw new HttpError(400, 'label must be a positive integer');
  if (b.allowEmpty !== undefined && typeof b.allowEmpty !== 'boolean') throw new HttpError(400, 'allowEmpty must be true or false');
  if (!Array.isArray(b.items) || b.items.length === 0) throw new HttpError(400, 'items must be a non-empty array');
  const uploads = b.items.map((raw: unknown, i: number): MaskUpload => {
    const item = raw as { id?: unknown; maskKey?: unknown; maskPng?: unknown; allowEmpty?: unknown; annotator?: unknown; unusable?: unknown };
    if (typeof item?.id !== 'string') throw new HttpError(400, `items[${i}].id must be a string`);
    const common = {
      id: item.id,
      ...(typeof item.allowEmpty === 'boolean' ? { allowEmpty: item.allowEmpty } : {}),
      ...(typeof item.annotator === 'string' ? { annotator: item.annotator } : {}),
    };
    if (item.unusable !== undefined && item.unusable !== true) throw new HttpError(400, `items[${i}].unusable must be true when given`);
    if (item.unusable === true) {
      if (item.maskKey !== undefined || item.maskPng !== undefined) throw new HttpError(400, `items[${i}] is marked unusable and cannot carry a mask as well`);
      return { ...common, unusable: true };
    }
    if (typeof item.maskKey === 'string') return { ...common, maskKey: item.maskKey };
    if (typeof item.maskPng === 'string') return { ...common, bytes: new Uint8Array(Buffer.from(item.maskPng, 'base64')) };
    throw new HttpError(400, `items[${i}] needs maskKey or maskPng (base64), or unusable: true`);
  });
  return { workflowId: b.workflowId, phase: b.phase as number | undefined, allowEmpty: b.allowEmpty as boolean | undefined, label: b.label as number | undefined, uploads };
}

function isUnknownRun(error: unknown): boolean {
  return error instanceof WorkflowNotFoundError || /no run '|is not an active-learning run|is a .* run/.test((error as Error)?.message ?? '');
}

/** Label Studio's ML-backend /predict: the run's segmentation-model mask of each task's image, as a brush prediction. */
async function predictTasks(store: ObjectStore, resolveRun: (id: string) => Promise<string>, body: unknown) {
  const tasks = (body as { tasks?: LsTask[] })?.tasks;
  if (!Array.isArray(tasks)) throw new HttpError(400, 'predict needs { tasks: [...] }');
  const results = [];
  for (const task of tasks) {
    const identity = taskIdentity(task as LsTask<Record<string, unknown>>);
    if ('error' in identity) {
      results.push({ result: [], score: 0, model_version: 'echo-al' });
      continue;
    }
    const runId = await resolveRun(identity.runId);
    try {
      const request = await store.getJson<{ size: [number, number] }>(runKeys.request(runId, identity.phase));
      const draft = await normaliseMaskBytes(await store.getBytes(runKeys.prediction(runId, identity.phase, identity.itemId)), { size: request.size, allowEmpty: true });
      if (!draft.ok) throw new Error(draft.reason);
      const [height, width] = request.size;
      const prediction = predictionFromMask(draft.mask, width, height, modelVersionOf(runId, identity.phase), Number((task.data as { echo_score?: number }).echo_score ?? 0));
      results.push(prediction);
    } catch (error) {
      if (!(error instanceof MissingKeyError)) throw error;
      results.push({ result: [], score: 0, model_version: modelVersionOf(runId, identity.phase) });
    }
  }
  return { results };
}

export function createLabelServer(options: LabelServerOptions): http.Server {
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
  const queueTimeoutMs = options.queueTimeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS;
  const maxHeldBytes = HELD_BODIES_PER_LIMIT * limit;
  const reading = new Slots(options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT);
  const submitting = new Slots(SUBMITTING_AT_ONCE);
  const temporalAnswers = temporalProbe(options.client);
  let admitted = 0;
  let heldBytes = 0;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const send = (code: number, body: unknown, headers: Record<string, string> = {}) => {
      if (res.headersSent) return;
      // A body cut off at the limit, or never read, is not read further: answer, then drop the connection.
      const close = code === 413 || !req.readableEnded;
      if (!req.readableEnded) req.resume();
      const retry: Record<string, string> = code === 503 ? { 'retry-after': String(RETRY_AFTER_BUSY_S) } : {};
      res.writeHead(code, { 'content-type': 'application/json', ...(close ? { connection: 'close' } : {}), ...retry, ...headers });
      res.end(JSON.stringify(body), () => {
        if (close) req.socket?.destroy();
      });
    };
    const path = (req.url ?? '').split('?')[0];
    void (async () => {
      if (req.method === 'GET' && path === '/health') return send(200, { status: 'UP', model_class: 'echo-al' });
      const routes: Record<string, boolean> = { '/labels': true, '/webhook': true, '/setup': true, '/predict': true };
      if (req.method !== 'POST' || !routes[path]) return send(404, { error: 'endpoints: POST /labels, POST /webhook, POST /setup, POST /predict, GET /health' });
      if (path === '/webhook') {
        if (!options.webhookSecret) return send(404, { error: 'the webhook is off: start the server with LABELS_WEBHOOK_SECRET set' });
        const given = req.headers[WEBHOOK_SECRET_HEADER.toLowerCase()];
        if (!sameSecret(Array.isArray(given) ? given[0] : given, options.webhookSecret)) return send(401, { error: `missing or wrong ${WEBHOOK_SECRET_HEADER} header` });
      } else if (!authorised(req.headers.authorization, options.token)) {
        return send(401, { error: 'missing or wrong bearer token' }, { 'www-authenticate': 'Bearer' });
      }
      if (admitted >= maxQueued) return send(503, { error: `busy: ${maxQueued} requests are queued; retry shortly` });
      admitted += 1;
      const deadline = Date.now() + queueTimeoutMs;
      let held = 0;
      const hold = (bytes: number) => {
        if (heldBytes + bytes > maxHeldBytes) throw new HttpError(503, `busy: ${Math.round(maxHeldBytes / 2 ** 20)} MiB of submissions are held; retry shortly`);
        held += bytes;
        heldBytes += bytes;
      };
      try {
        const submits = path === '/labels' || path === '/webhook';
        // An outage is answered at once, before the body is read or the request queued behind others.
        if (submits) await temporalAnswers();
        const doneReading = await reading.acquire(deadline);
        let body: unknown;
        try {
          body = parseJson(await readBody(req, limit, hold));
        } finally {
          doneReading();
        }
        if (path === '/setup') return send(200, { model_version: 'echo-al' });
        if (path === '/predict') return send(200, await predictTasks(options.store, options.resolveRun, body));
        const labels = path === '/labels' ? parseLabels(body) : undefined;
        const doneSubmitting = await submitting.acquire(deadline);
        try {
          if (!labels) return send(200, await handleWebhook(options.client, options.store, body as never, options.resolveRun));
          const workflowId = await options.resolveRun(labels.workflowId);
          const outcome = await submitMasks(options.client, options.store, workflowId, labels.uploads, {
            phase: labels.phase, source: 'http', label: labels.label, allowEmpty: labels.allowEmpty,
          });
          return send(200, outcome);
        } finally {
          doneSubmitting();
        }
      } catch (error) {
        if (error instanceof HttpError) return send(error.status, { error: error.message });
        if (error instanceof SlotTimeoutError) return send(503, { error: `busy: ${error.message} (the queue timeout); retry shortly` });
        const outage = outageOf(error);
        if (outage) return send(503, { error: `unavailable: ${outage}; retry later` }, { 'retry-after': String(RETRY_AFTER_OUTAGE_S) });
        if (isUnknownRun(error)) return send(404, { error: error instanceof WorkflowNotFoundError ? 'unknown run' : (error as Error).message });
        if (error instanceof SubmissionError) {
          return send(error.status, { error: error.message, ...(error.rejected.length > 0 ? { rejected: error.rejected } : {}) });
        }
        return send(500, { error: (error as Error).message });
      } finally {
        admitted -= 1;
        heldBytes -= held;
      }
    })();
  };
  if (options.tls) {
    return https.createServer({ cert: fs.readFileSync(options.tls.certFile), key: fs.readFileSync(options.tls.keyFile) }, handler) as unknown as http.Server;
  }
  return http.createServer(handler);
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
