/**
 * Outages answered as outages: while the real MinIO or Temporal is stopped, POST /labels and the webhook answer
 * 503 with Retry-After within seconds (not 500 after the client's retries), nothing is stored, and `status <run>`
 * still shows the run from Temporal while MinIO is down, naming what it could not read (exit 0).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { datasetKeys } from '../../data/manifest';
import { DATA_FIELDS } from '../../labelling/labelStudio/config';
import { createLabelServer } from '../../labelling/server';
import { restartableService } from '../../scripts/services';
import { activeLearning } from '../../workflows';
import { statusQuery, stopSignal } from '../../contracts/messages';
import { type RunningWorkers, startWorkers, testConfig, tinyActiveLearning, tinyDataset, waitFor } from '../helpers';

const config = testConfig('labels-outage');
const token = 'outage-test-token-0123456789';
const secret = 'outage-test-webhook-secret-0123';
const minio = restartableService(config, 'minio');
const temporal = restartableService(config, 'temporal');

function cli(args: string[]): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], { cwd: projectRoot, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}

describe('labels server and status during outages of the real services', () => {
  let running: RunningWorkers;
  let workflowId: string;
  let datasetId: string;
  let ids: string[];
  let port: number;
  let server: ReturnType<typeof createLabelServer>;
  let masks: string[];

  beforeAll(async () => {
    running = await startWorkers(config);
    datasetId = await tinyDataset(running.store, { seed: 11 });
    workflowId = `test-labels-outage-${Date.now()}`;
    const handle = await running.client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId, args: [tinyActiveLearning(config, datasetId, { oracle: false, labelsPerPhase: 2 })],
    });
    ids = (await waitFor(async () => (await handle.query(statusQuery)).pending, 'the labelling request')).remaining;
    masks = await Promise.all(ids.map(async (id) => Buffer.from(await running.store.getBytes(datasetKeys.mask(datasetId, id))).toString('base64')));
    server = createLabelServer({ client: running.client, store: running.store, token, webhookSecret: secret, resolveRun: async (id) => id });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    // Whatever happened, leave the services running for the tests after this file.
    await minio.start();
    await temporal.start();
    server?.close();
    await running?.client.workflow.getHandle(workflowId).signal(stopSignal, {}).catch(() => undefined);
    await running?.stop();
  });

  const submit = (i: number) => fetch(`http://127.0.0.1:${port}/labels`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ workflowId, phase: 0, items: [{ id: ids[i], maskPng: masks[i] }] }),
  });
  const webhook = (i: number) => fetch(`http://127.0.0.1:${port}/webhook`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'X-Echo-Webhook-Secret': secret },
    body: JSON.stringify({
      action: 'ANNOTATION_CREATED',
      task: { id: 1, data: { [DATA_FIELDS.runId]: workflowId, [DATA_FIELDS.phase]: 0, [DATA_FIELDS.itemId]: ids[i] } },
      annotation: { id: 1, result: [] },
    }),
  });

  /** Status, Retry-After, error text and seconds taken of one request. */
  async function timed(request: () => Promise<Response>) {
    const started = Date.now();
    const response = await request();
    const body = (await response.json()) as { error?: string };
    return { status: response.status, retryAfter: response.headers.get('retry-after'), error: body.error ?? '', seconds: (Date.now() - started) / 1000 };
  }

  it('answers 503 with Retry-After within seconds while MinIO is down; status shows the run and names what it could not read', async () => {
    await minio.stop();
    try {
      for (const request of [() => submit(0), () => webhook(0)]) {
        const answer = await timed(request);
        console.log(`MinIO down: ${answer.status} in ${answer.seconds.toFixed(1)} s, Retry-After ${answer.retryAfter}: ${answer.error}`);
        expect(answer.status, answer.error).toBe(503);
        expect(Number(answer.retryAfter)).toBeGreaterThan(0);
        expect(answer.error).toContain('MinIO');
        expect(answer.seconds).toBeLessThan(8);
      }
      const status = await cli(['status', workflowId]);
      expect(status.status, status.err).toBe(0);
      expect(status.out).toContain(`${workflowId}: activeLearning, running`);
      expect(status.out).toContain('waiting for 2/2 masks (phase 0');
      expect(status.out).toMatch(/could not read: refused submissions \(MinIO at .* is unreachable/);
      const json = await cli(['status', workflowId, '--json']);
      expect(json.status, json.err).toBe(0);
      expect((JSON.parse(json.out) as { status: { unread: string[] } }).status.unread).toHaveLength(1);
    } finally {
      await minio.start();
    }
    // Back up: the same submission is taken.
    const after = await timed(() => submit(0));
    expect(after.status, after.error).toBe(200);
  });

  it('answers 503 with Retry-After within seconds while Temporal is down, and takes masks again once it is back', async () => {
    await temporal.stop();
    try {
      for (const request of [() => submit(1), () => webhook(1)]) {
        const answer = await timed(request);
        console.log(`Temporal down: ${answer.status} in ${answer.seconds.toFixed(1)} s, Retry-After ${answer.retryAfter}: ${answer.error}`);
        expect(answer.status, answer.error).toBe(503);
        expect(Number(answer.retryAfter)).toBeGreaterThan(0);
        expect(answer.error).toContain('Temporal');
        expect(answer.seconds).toBeLessThan(8);
      }
    } finally {
      await temporal.start();
    }
    // Nothing was stored for the refused submissions; once Temporal is back the mask is taken (a tool retrying after Retry-After).
    expect(await running.store.list(`runs/${workflowId}/labels/phase-0/${ids[1]}-`)).toEqual([]);
    const accepted = await waitFor(async () => {
      const answer = await timed(() => submit(1));
      return answer.status === 200 ? answer : undefined;
    }, 'a 200 after the restart', 120_000, 2000);
    expect(accepted.status).toBe(200);
  });
});
