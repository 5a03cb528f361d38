import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LeaderboardRow } from '../../contracts';
import type { ObjectStore } from '../../store/objectStore';
import { pipeline, search } from '../../workflows';
import { leaderboardQuery, searchProgressQuery, stopSignal } from '../../workflows/messages';
import { trialAt } from '../../workflows/search';
import { recordHistory } from '../historyFixtures';
import { type RunningWorkers, startWorkers, waitFor, testConfig, tinyActiveLearning, tinyDataset, tinySearch } from '../helpers';

const config = testConfig('search');

describe('EDNAS search and the pipeline on the real dev server, worker and MinIO', () => {
  let running: RunningWorkers;
  let client: Client;
  let store: ObjectStore;
  let datasetId: string;

  beforeAll(async () => {
    running = await startWorkers(config);
    ({ client, store } = running);
    datasetId = await tinyDataset(store);
  });

  afterAll(async () => {
    await running?.stop();
  });

  it('draws the same trials from the same seed, and different ones from another', () => {
    const input = tinySearch(config, 'x', { space: { archs: ['Unet', 'FPN', 'PAN'], encoders: ['a', 'b', 'c'], learningRates: [1, 2, 3], batchSizes: [4, 8, 16] } });
    const draw = (seed: number) => Array.from({ length: 8 }, (_, i) => trialAt({ ...input, seed }, i));
    expect(draw(3)).toEqual(draw(3));
    expect(draw(3)).not.toEqual(draw(4));
  });

  it('ranks a few trials by test IoU and records a deliberately failing one', async () => {
    const workflowId = `test-search-${Date.now()}`;
    const input = tinySearch(config, datasetId, {
      // Trial 0 names an encoder that does not exist: it must fail, be recorded, and not stop the search.
      extraTrials: [{ arch: 'Unet', encoder: 'resnet-does-not-exist', learningRate: 1e-3, batchSize: 4 }],
      maxTrials: 4,
      trialsPerRun: 2, // forces one continueAsNew
    });
    const handle = await client.workflow.start(search, { taskQueue: config.taskQueues.light, workflowId, args: [input] });
    const result = await handle.result();
    expect(result.trials).toBe(4);
    expect(result.failed).toBe(1);
    const rows = result.leaderboard;
    expect(rows.map((r) => r.rank)).toEqual([1, 2, 3, 4]);
    const ok = rows.filter((r) => r.status === 'ok');
    expect(ok).toHaveLength(3);
    for (let i = 1; i < ok.length; i += 1) expect(ok[i - 1].iou!).toBeGreaterThanOrEqual(ok[i].iou!);
    for (const row of ok) expect(row.params).toBeGreaterThan(0);
    const failed = rows.find((r) => r.status === 'failed')!;
    expect(failed.rank).toBe(4);
    expect(failed.encoder).toBe('resnet-does-not-exist');
    expect(failed.error).toMatch(/resnet-does-not-exist/);
    const stored = await store.getJson<{ rows: LeaderboardRow[] }>(result.leaderboardKey);
    expect(stored.rows).toEqual(rows);
    const markdown = new TextDecoder().decode(await store.getBytes(result.markdownKey));
    expect(markdown).toMatch(/\| 1 \| 0\.\d{4} \|/);
    expect(markdown).toContain('failed:');
    expect(await client.workflow.getHandle(workflowId).query(leaderboardQuery)).toHaveLength(4);
    recordHistory('search', workflowId, await client.workflow.getHandle(workflowId).fetchHistory());
  });

  it('a stopped search starts no new trial, lets the running one finish and writes its leaderboard', async () => {
    const workflowId = `test-search-stop-${Date.now()}`;
    const handle = await client.workflow.start(search, {
      taskQueue: config.taskQueues.light, workflowId, args: [tinySearch(config, datasetId, { maxTrials: 50, concurrency: 1, trialsPerRun: 50 })],
    });
    await waitFor(async () => ((await handle.query(searchProgressQuery)).completed >= 1 ? true : undefined), 'the first trial');
    await handle.signal(stopSignal, { reason: 'test' });
    const result = await handle.result();
    expect(result.trials).toBeGreaterThanOrEqual(1);
    expect(result.trials).toBeLessThan(50);
    expect(result.leaderboard.filter((r) => r.status === 'ok')).toHaveLength(result.trials);
    expect(await store.exists(result.markdownKey)).toBe(true);
  });

  it('pipeline runs the search, then active learning with the best trial as child workflows', async () => {
    const workflowId = `test-pipeline-${Date.now()}`;
    const handle = await client.workflow.start(pipeline, {
      taskQueue: config.taskQueues.light, workflowId,
      args: [{
        search: tinySearch(config, datasetId, { maxTrials: 2, trialsPerRun: 10 }),
        activeLearning: tinyActiveLearning(config, datasetId, { maxPhases: 2 }),
      }],
    });
    const result = await handle.result();
    const best = result.search!.leaderboard[0];
    expect(result.activeLearning!.history).toHaveLength(2);
    const child = await client.workflow.getHandle(`${workflowId}-al`).describe();
    expect(child.status.name).toBe('COMPLETED');
    const al = (await client.workflow.getHandle(`${workflowId}-al`).fetchHistory()).events![0].workflowExecutionStartedEventAttributes!;
    const input = JSON.parse(Buffer.from(al.input!.payloads![0].data!).toString());
    expect(input.model.arch).toBe(best.arch);
    expect(input.hyper.learningRate).toBe(best.learningRate);
    recordHistory('pipeline', workflowId, await handle.fetchHistory());
  });
});
