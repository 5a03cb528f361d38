/** The labels server's hygiene against a real run: tokens, secrets, limits, the upload area, TLS. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeys } from '../../contracts';
import { datasetKeys } from '../../data/manifest';
import { createLabelServer } from '../../labelling/server';
import { activeLearning } from '../../workflows';
import { statusQuery, stopSignal } from '../../contracts/messages';
import { type RunningWorkers, startWorkers, testConfig, tinyActiveLearning, tinyDataset, waitFor } from '../helpers';

const config = testConfig('labels-server');
const token = 'server-test-token-0123456789';
const secret = 'server-test-webhook-secret-0123';

describe('labels server', () => {
  let running: RunningWorkers;
  let workflowId: string;
  let datasetId: string;
  let ids: string[];
  const servers: ReturnType<typeof createLabelServer>[] = [];

  async function serve(options: Partial<Parameters<typeof createLabelServer>[0]> = {}): Promise<number> {
    const server = createLabelServer({ client: running.client, store: running.store, token, webhookSecret: secret, resolveRun: async (id) => id, ...options });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  }

  beforeAll(async () => {
    running = await startWorkers(config);
    datasetId = await tinyDataset(running.store, { seed: 9 });
    workflowId = `test-labels-server-${Date.now()}`;
    const handle = await running.client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId, args: [tinyActiveLearning(config, datasetId, { oracle: false, labelsPerPhase: 2 })],
    });
    ids = (await waitFor(async () => (await handle.query(statusQuery)).pending, 'the labelling request')).remaining;
  });

  afterAll(async () => {
    for (const server of servers) server.close();
    await running?.client.workflow.getHandle(workflowId).signal(stopSignal, {}).catch(() => undefined);
    await running?.stop();
  });

  const post = (port: number, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${token}` }, route = '/labels') =>
    fetch(`http://127.0.0.1:${port}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('wants the bearer token on /labels and the shared secret on /webhook', async () => {
    const port = await serve();
    expect((await post(port, {}, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await post(port, {}, {})).status).toBe(401);
    const basic = `Basic ${Buffer.from(`label-studio:${token}`).toString('base64')}`;
    expect((await post(port, {}, { authorization: basic }, '/setup')).status).toBe(200);
    expect((await post(port, { action: 'ANNOTATION_CREATED' }, { authorization: `Bearer ${token}` }, '/webhook')).status).toBe(401);
    expect((await post(port, { action: 'PROJECT_UPDATED' }, { 'X-Echo-Webhook-Secret': secret }, '/webhook')).status).toBe(200);
    const noWebhook = await serve({ webhookSecret: undefined });
    expect((await post(noWebhook, { action: 'ANNOTATION_CREATED' }, { 'X-Echo-Webhook-Secret': secret }, '/webhook')).status).toBe(404);
  });

  it('refuses another image\'s upload key as a maskKey (a swapped key): nothing is stored or merged', async () => {
    const port = await serve();
    const request = await running.store.getJson<{ items: { id: string; maskUploadUrl: string; maskUploadKey: string }[] }>(
      (await running.client.workflow.getHandle(workflowId).query(statusQuery)).pending!.requestKey);
    const [a, b] = [ids[0], ids[1]].map((id) => request.items.find((i) => i.id === id)!);
    // A valid mask PUT to image B's upload URL, then submitted as image A's.
    expect((await fetch(b.maskUploadUrl, { method: 'PUT', body: await running.store.getBytes(datasetKeys.mask(datasetId, a.id)) })).ok).toBe(true);
    const swapped = await post(port, { workflowId, phase: 0, items: [{ id: a.id, maskKey: b.maskUploadKey }] });
    expect(swapped.status).toBe(400);
    const answer = (await swapped.json()) as { rejected: { id: string; reason: string }[] };
    expect(answer.rejected).toHaveLength(1);
    expect(answer.rejected[0].id).toBe(a.id);
    expect(answer.rejected[0].reason).toContain(`the upload key issued for '${a.id}' in phase 0 (${a.maskUploadKey})`);
    expect(await running.store.list(runKeys.phaseLabelsPrefix(workflowId, 0))).toEqual([]);
    const status = await running.client.workflow.getHandle(workflowId).query(statusQuery);
    expect(status.pending!.remaining).toEqual(expect.arrayContaining([a.id, b.id]));
    await running.store.remove(b.maskUploadKey);
  });

  it('takes a maskKey only from the request\'s own upload area, saying nothing about other keys', async () => {
    const port = await serve();
    const elsewhere = await Promise.all([datasetKeys.mask(datasetId, ids[0]), `datasets/${datasetId}/no-such-object.png`].map(async (maskKey) => {
      const response = await post(port, { workflowId, items: [{ id: ids[0], maskKey }] });
      expect(response.status).toBe(400);
      return ((await response.json()) as { rejected: { reason: string }[] }).rejected[0].reason;
    }));
    // An existing and a missing key get the same answer.
    expect(elsewhere[0]).toBe(elsewhere[1]);
    expect(elsewhere[0]).toContain(`runs/${workflowId}/uploads/phase-0/`);
    const response = await post(port, { workflowId, items: [{ id: ids[0], maskKey: `runs/${workflowId}/uploads/phase-0/${ids[0]}.png` }] });
    expect(((await response.json()) as { rejected: { reason: string }[] }).rejected[0].reason).toContain('nothing has been uploaded');
    // The upload URL a tool PUTs to works end to end.
    const request = await running.store.getJson<{ items: { id: string; maskUploadUrl: string; maskUploadKey: string }[] }>(
      (await running.client.workflow.getHandle(workflowId).query(statusQuery)).pending!.requestKey);
    const item = request.items.find((i) => i.id === ids[0])!;
    expect((await fetch(item.maskUploadUrl, { method: 'PUT', body: await running.store.getBytes(datasetKeys.mask(datasetId, ids[0])) })).ok).toBe(true);
    const uploaded = await post(port, { workflowId, items: [{ id: ids[0], maskKey: item.maskUploadKey }] });
    expect(uploaded.status).toBe(200);
    expect(((await uploaded.json()) as { accepted: string[] }).accepted).toEqual([ids[0]]);
  });

  it('cuts off bodies over the limit while they stream (413)', async () => {
    const port = await serve({ maxBodyBytes: 4096, maxConcurrent: 1 });
    const big = { workflowId, items: [{ id: ids[1], maskPng: 'A'.repeat(10_000) }] };
    expect((await post(port, big)).status).toBe(413);
    // Streamed without a length: counted as it arrives.
    const chunked = await new Promise<number>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(`POST /labels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\n\r\n`);
        for (let i = 0; i < 10; i++) socket.write(`400\r\n${'A'.repeat(1024)}\r\n`);
      });
      socket.once('data', (d) => {
        resolve(Number(/HTTP\/1\.1 (\d+)/.exec(d.toString())![1]));
        socket.destroy();
      });
    });
    expect(chunked).toBe(413);
  });

  /** A request whose body never completes: it holds a reading slot until the socket is destroyed. */
  async function slowBody(port: number): Promise<net.Socket> {
    const slow = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => slow.once('connect', resolve));
    slow.write(`POST /labels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"workflowId":`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    return slow;
  }

  it('queues a request past the read cap instead of refusing it; 503 with Retry-After only past the queue or its timeout', async () => {
    const bad = { workflowId, items: [{ id: ids[1], maskKey: 'x' }] };
    // One slow body holds the only reading slot: the next request waits for it, then gets its own answer.
    const queued = await serve({ maxConcurrent: 1 });
    let slow = await slowBody(queued);
    const waiting = post(queued, bad);
    await new Promise((resolve) => setTimeout(resolve, 500));
    slow.destroy();
    expect((await waiting).status).toBe(400);
    // A full queue: 503 at once, with Retry-After.
    const full = await serve({ maxConcurrent: 1, maxQueued: 1 });
    slow = await slowBody(full);
    const refused = await post(full, bad);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(((await refused.json()) as { error: string }).error).toContain('1 requests are queued');
    slow.destroy();
    // A turn that does not come within the queue timeout: 503 with Retry-After.
    const slowQueue = await serve({ maxConcurrent: 1, queueTimeoutMs: 700 });
    slow = await slowBody(slowQueue);
    const started = Date.now();
    const timedOut = await post(slowQueue, bad);
    expect(timedOut.status).toBe(503);
    expect(timedOut.headers.get('retry-after')).toBe('2');
    expect(Date.now() - started).toBeLessThan(5000);
    slow.destroy();
  });

  it('serves HTTPS with a certificate', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-tls-'));
    const [certFile, keyFile] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    const port = await serve({ tls: { certFile, keyFile } });
    const status = await new Promise<number>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/health', ca: fs.readFileSync(certFile), checkServerIdentity: () => undefined }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).once('error', reject);
    });
    expect(status).toBe(200);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
