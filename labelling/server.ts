/**
 * A small token-protected HTTP endpoint for labelling tools' completion callbacks.
 *   POST /labels   Authorization: Bearer <token>
 *   { "workflowId": "...", "phase": 0, "items": [{ "id": "...", "maskKey": "..." } | { "id": "...", "maskPng": "<base64>" }] }
 * Answers 200 with { accepted, rejected, remaining }, 400 for a bad request, 401 without the token,
 * 404 for an unknown run, 409 when the run is not waiting for that phase.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { ObjectStore } from '../store/objectStore';
import { type MaskUpload, SubmissionError, submitMasks } from './submit';

export interface LabelServerOptions {
  client: Client;
  store: ObjectStore;
  token: string;
  /** Resolves a pipeline id to its active-learning child, and rejects ids of other kinds. */
  resolveRun: (id: string) => Promise<string>;
  maxBodyBytes?: number;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new SubmissionError(`request body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseSubmission(text: string): { workflowId: string; phase?: number; uploads: MaskUpload[] } {
  let body: { workflowId?: unknown; phase?: unknown; items?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new SubmissionError('body is not JSON');
  }
  if (typeof body.workflowId !== 'string' || !body.workflowId) throw new SubmissionError('workflowId (string) is required');
  if (body.phase !== undefined && !Number.isInteger(body.phase)) throw new SubmissionError('phase must be an integer');
  if (!Array.isArray(body.items) || body.items.length === 0) throw new SubmissionError('items must be a non-empty array');
  const uploads = body.items.map((raw: unknown, i: number) => {
    const item = raw as { id?: unknown; maskKey?: unknown; maskPng?: unknown };
    if (typeof item?.id !== 'string') throw new SubmissionError(`items[${i}].id must be a string`);
    if (typeof item.maskKey === 'string') return { id: item.id, maskKey: item.maskKey };
    if (typeof item.maskPng === 'string') return { id: item.id, png: new Uint8Array(Buffer.from(item.maskPng, 'base64')) };
    throw new SubmissionError(`items[${i}] needs maskKey or maskPng (base64 PNG)`);
  });
  return { workflowId: body.workflowId, phase: body.phase as number | undefined, uploads };
}

export function createLabelServer(options: LabelServerOptions): http.Server {
  const limit = options.maxBodyBytes ?? 64 * 1024 * 1024;
  return http.createServer((req, res) => {
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    void (async () => {
      if (req.method === 'GET' && req.url === '/health') return send(200, { ok: true });
      if (req.method !== 'POST' || req.url !== '/labels') return send(404, { error: 'POST /labels is the only endpoint' });
      if (!tokenMatches(req.headers.authorization, options.token)) return send(401, { error: 'missing or wrong bearer token' });
      try {
        const submission = parseSubmission(await readBody(req, limit));
        const workflowId = await options.resolveRun(submission.workflowId);
        const outcome = await submitMasks(options.client, options.store, workflowId, submission.phase, submission.uploads);
        return send(200, outcome);
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return send(404, { error: 'unknown run' });
        const message = error instanceof Error ? error.message : String(error);
        if (error instanceof SubmissionError) return send(/not waiting|waits for phase|has finished/.test(message) ? 409 : 400, { error: message });
        if (/no run '|is not an active-learning run|is a .* run/.test(message)) return send(404, { error: message });
        return send(500, { error: message });
      }
    })();
  });
}
