import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { datasetKeys } from '../../data/manifest';
import { createLabelServer } from '../../labelling/server';
import type { ActiveLearningStatus } from '../../contracts';
import type { ObjectStore } from '../../store/objectStore';
import { type RunningWorkers, startWorkers, testConfig, waitFor } from '../helpers';

const config = testConfig('cli');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-cli-'));

/**
 * Runs the real CLI in its own process, on this test's task queues. Asynchronously: the worker runs in this
 * process, and a synchronous spawn would block it from answering the CLI's queries.
 */
function cli(...args: string[]): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], {
      cwd: projectRoot, timeout: 180_000,
      env: { ...process.env, TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel },
    }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}

describe('client.ts against the real services and worker', () => {
  let running: RunningWorkers;
  let client: Client;
  let store: ObjectStore;

  beforeAll(async () => {
    running = await startWorkers(config);
    ({ client, store } = running);
  });

  afterAll(async () => {
    await running?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('imports a dataset, runs active learning with masks from the CLI and from the HTTP endpoint, and reports', async () => {
    const imported = await cli('dataset', 'import', '--format', 'synthetic', '--dir', path.join(scratch, 'synthetic'), '--videos', '5',
      '--frames-per-video', '5', '--size', '32', '--initial', '4', '--seed', '11', '--json');
    expect(imported.status, imported.err).toBe(0);
    const summary = JSON.parse(imported.out) as { datasetId: string; imported: number; splits: { initial: number } };
    const datasetId = summary.datasetId;
    expect(summary).toMatchObject({ imported: 25, splits: { initial: 4 } });
    expect(datasetId).toMatch(/^ds-[0-9a-f]+$/);
    expect((await cli('dataset', 'list')).out).toContain(datasetId);
    expect((await cli('dataset', 'show', datasetId)).out).toMatch(/initial +4/);

    const runId = `test-cli-${Date.now()}`;
    const started = await cli('al', 'start', '--dataset', datasetId, '--arch', 'Unet', '--encoder', 'resnet18', '--depth', '3', '--width', '0.0625',
      '--epochs', '1', '--batch', '4', '--lr', '0.001', '--k', '2', '--max-phases', '3', '--mc-samples', '3', '--no-augment', '--id', runId, '--json');
    expect(started.status, started.err).toBe(0);
    expect(JSON.parse(started.out)).toMatchObject({ workflowId: runId, kind: 'activeLearning', uiUrl: expect.stringContaining(runId) });

    const listed = await cli('runs', 'list', '--json', '--running');
    expect(listed.status, listed.err).toBe(0);
    expect((JSON.parse(listed.out) as { id: string; kind: string; status: string }[]).find((r) => r.id === runId))
      .toMatchObject({ kind: 'activeLearning', status: 'running' });
    expect((await cli('runs', 'list')).out).toMatch(new RegExp(`${runId} +activeLearning +running`));

    const status = async () => {
      const result = await cli('status', runId, '--json');
      if (result.status !== 0) throw new Error(`status failed: ${result.err}`);
      return JSON.parse(result.out) as { status: ActiveLearningStatus };
    };
    await waitFor(async () => (await status()).status.pending, 'the first labelling request');

    const csv = (await cli('labels', 'pending', runId, '--format', 'csv')).out.trim().split('\n');
    expect(csv[0]).toBe('id,group,purpose,score,imageUrl,uncertaintyMapUrl,predictionUrl,maskUploadKey,maskUploadUrl');
    const ids = csv.slice(1).map((line) => line.split(',')[0]);
    expect(ids).toHaveLength(2);
    // A phase's query fills no evaluation set: its purpose cell is empty.
    expect(csv.slice(1).map((line) => line.split(',')[2])).toEqual(['', '']);

    // Bad input changes nothing: a mask of the wrong size is refused before anything is uploaded.
    const badDir = path.join(scratch, 'bad');
    fs.mkdirSync(badDir);
    fs.writeFileSync(path.join(badDir, `${ids[0]}.png`), await store.getBytes(datasetKeys.mask(datasetId, ids[0])));
    const sharp = (await import('sharp')).default;
    fs.writeFileSync(path.join(badDir, `${ids[1]}.png`), await sharp(Buffer.alloc(16 * 16), { raw: { width: 16, height: 16, channels: 1 } }).png().toBuffer());
    const bad = await cli('labels', 'submit', runId, '--dir', badDir);
    expect(bad.status).toBe(1);
    expect(bad.err.trim()).toBe(`error: the mask for '${ids[1]}' was rejected: mask is 16×16; the image is 32×32`);
    expect((await status()).status.pending!.received).toBe(0);
    expect((await cli('labels', 'submit', runId, '--dir', path.join(scratch, 'missing'))).err).toContain('is not a folder');

    // The doctor's masks, from a folder.
    const goodDir = path.join(scratch, 'good');
    fs.mkdirSync(goodDir);
    for (const id of ids) fs.writeFileSync(path.join(goodDir, `${id}.png`), await store.getBytes(datasetKeys.mask(datasetId, id)));
    const good = await cli('labels', 'submit', runId, '--dir', goodDir, '--json');
    expect(good.status, good.err).toBe(0);
    expect(JSON.parse(good.out)).toMatchObject({ workflowId: runId, accepted: expect.arrayContaining(ids), rejected: [], remaining: [] });

    // Phase 1 is answered by a labelling tool through the HTTP endpoint.
    await waitFor(async () => ((await status()).status.pending?.phase === 1 ? true : undefined), 'the second labelling request');
    const server = createLabelServer({ client, store, token: 'secret-token', resolveRun: async (id) => id });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const pending = JSON.parse((await cli('labels', 'pending', runId)).out) as { phase: number; items: { id: string }[] };
      const post = (body: unknown, token = 'secret-token') => fetch(`http://127.0.0.1:${port}/labels`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      expect((await post({}, 'wrong')).status).toBe(401);
      expect((await post({ workflowId: runId })).status).toBe(400);
      expect((await post({ workflowId: runId, phase: 7, items: [{ id: 'x', maskKey: 'k' }] })).status).toBe(409);
      const items = await Promise.all(pending.items.map(async (item) => ({
        id: item.id, maskPng: Buffer.from(await store.getBytes(datasetKeys.mask(datasetId, item.id))).toString('base64'),
      })));
      const response = await post({ workflowId: runId, phase: pending.phase, items });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ accepted: expect.arrayContaining(pending.items.map((i) => i.id)), rejected: [], remaining: [] });
    } finally {
      server.close();
    }

    // A second terminal re-attaches to the running run and follows it to the end.
    const followed = await cli('status', runId, '--wait', '--json');
    expect(followed.status, followed.err).toBe(0);
    expect(JSON.parse(followed.out)).toMatchObject({ workflowId: runId, kind: 'activeLearning', result: { stopReason: 'max-phases' } });
    const finalStatus = (await status()).status;
    expect(finalStatus).toMatchObject({ done: true, stopReason: 'max-phases', labelledCount: 8 });
    const report = await cli('report', runId);
    expect(report.status, report.err).toBe(0);
    expect(report.out).toContain('| phase | labelled | validation IoU | test IoU (± 95 %) |');
    const reportJson = JSON.parse((await cli('report', runId, '--json')).out) as { markdownKey: string; keys: string[] };
    expect(reportJson.markdownKey).toBe(`runs/${runId}/report/active-learning.md`);
    // The time per phase: the chart beside the Markdown and the table in it.
    expect(report.out).toContain('| phase | train s | score + select s | wait + merge s | recorded total s |');
    expect(reportJson.keys).toContain(`runs/${runId}/report/active-learning-time.svg`);
    const stopFinished = await cli('stop', runId);
    expect(stopFinished.status).toBe(1);
    expect(stopFinished.err).toContain('has already finished');

    // Stop, with --json, on a run that is still running.
    const second = `${runId}-b`;
    expect((await cli('al', 'start', '--dataset', datasetId, '--arch', 'Unet', '--encoder', 'resnet18', '--depth', '3', '--width', '0.0625',
      '--epochs', '1', '--batch', '4', '--k', '2', '--mc-samples', '2', '--no-augment', '--id', second)).status).toBe(0);
    const stopped = await cli('stop', second, '--reason', 'test over', '--json');
    expect(stopped.status, stopped.err).toBe(0);
    expect(JSON.parse(stopped.out)).toEqual({ workflowId: second, kind: 'activeLearning', stopSent: true, reason: 'test over' });
    const secondResult = await client.workflow.getHandle(second).result();
    expect(secondResult.stopReason).toBe('stopped');
  }, 300_000); // about 40 CLI processes, each starting tsx: minutes on a loaded 2-core machine
});
