import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LeaderboardRow } from '../../contracts';
import type { ObjectStore } from '../../store/objectStore';
import { pipeline, search } from '../../workflows';
import { leaderboardQuery, searchProgressQuery, stopSignal } from '../../contracts/messages';
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

  it('draws the same trials from the same seed, different ones from another, and never one configuration twice', () => {
    const input = tinySearch(config, 'x', { space: { archs: ['Unet', 'FPN', 'PAN'], encoders: ['a', 'b', 'c'], learningRates: [1, 2, 3], batchSizes: [4, 8, 16] } });
    const draw = (seed: number, n = 8) => Array.from({ length: n }, (_, i) => trialAt({ ...input, seed }, i));
    expect(draw(3)).toEqual(draw(3));
    expect(draw(3)).not.toEqual(draw(4));
    // All 81 configurations of the space, each once.
    const all = draw(5, 81).map((t) => `${t.arch}/${t.encoder}/${t.learningRate}/${t.batchSize}`);
    expect(new Set(all).size).toBe(81);
  });

  it('ranks trials on the validation split, measures only the winners on test, and records a deliberately failing one', async () => {
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
    for (let i = 1; i < ok.length; i += 1) expect(ok[i - 1].valIoU!).toBeGreaterThanOrEqual(ok[i].valIoU!);
    for (const row of ok) {
      expect(row.params).toBeGreaterThan(0);
      expect(row.valIoU).toBeGreaterThanOrEqual(0);
    }
    // The winners (top 3) carry a test IoU; nothing chose by it.
    expect(ok.every((r) => r.testIoU !== undefined)).toBe(true);
    const failed = rows.find((r) => r.status === 'failed')!;
    expect(failed.rank).toBe(4);
    expect(failed.encoder).toBe('resnet-does-not-exist');
    expect(failed.error).toMatch(/resnet-does-not-exist/);
    const stored = await store.getJson<{ rows: LeaderboardRow[] }>(result.leaderboardKey);
    expect(stored.rows).toEqual(rows);
    const markdown = new TextDecoder().decode(await store.getBytes(result.markdownKey));
    expect(markdown).toContain('| rank | validation IoU | validation Dice | test IoU |');
    expect(markdown).toMatch(/\| 1 \| 0\.\d{4} \|/);
    expect(markdown).toContain('failed:');
    expect(await client.workflow.getHandle(workflowId).query(leaderboardQuery)).toHaveLength(4);
    recordHistory('search', workflowId, await client.workflow.getHandle(workflowId).fetchHistory());
  });

  it('a stopped search starts no new trial, lets the running one finish and writes its leaderboard', async () => {
    const workflowId = `test-search-stop-${Date.now()}`;
    const handle = await client.workflow.start(search, {
      taskQueue: config.taskQueues.light, workflowId, args: [tinySearch(config, datasetId, { maxTrials: 6, concurrency: 1, trialsPerRun: 50 })],
    });
    await waitFor(async () => ((await handle.query(searchProgressQuery)).completed >= 1 ? true : undefined), 'the first trial');
    await handle.signal(stopSignal, { reason: 'test' });
    const result = await handle.result();
    expect(result.trials).toBeGreaterThanOrEqual(1);
    expect(result.trials).toBeLessThan(6);
    expect(result.leaderboard.filter((r) => r.status === 'ok')).toHaveLength(result.trials);
    expect(await store.exists(result.markdownKey)).toBe(true);
  });

  it('successive halving (ASHA) promotes the best third of a rung, which continues from its checkpoint, within the epoch budget', async () => {
    const workflowId = `test-search-asha-${Date.now()}`;
    const handle = await client.workflow.start(search, {
      taskQueue: config.taskQueues.light, workflowId,
      args: [tinySearch(config, datasetId, {
        space: { archs: ['Unet', 'FPN', 'Linknet'], encoders: ['resnet18'], learningRates: [1e-3, 4e-4, 1e-4], batchSizes: [4] },
        scheduler: 'asha', asha: { eta: 3, minEpochs: 1, maxEpochs: 3 }, maxTrials: 6, concurrency: 1, trialsPerRun: 4, epochBudget: 12,
      })],
    });
    const result = await handle.result();
    const rows = result.leaderboard.filter((r) => r.status === 'ok');
    // 6 configurations at rung 0 (1 epoch); the best 2 promoted to rung 1 (3 epochs): 6 + 2·2 = 10 epochs ≤ 12.
    expect(rows).toHaveLength(6);
    const promoted = rows.filter((r) => r.rung === 1);
    expect(promoted).toHaveLength(2);
    for (const row of promoted) expect(row.epochs).toBe(3);
    expect(rows.filter((r) => r.rung === 0).every((r) => r.epochs === 1)).toBe(true);
    // Promoted ones rank first; they continued from their rung-0 checkpoint (the epoch-0001 checkpoint was reused).
    expect(result.leaderboard.slice(0, 2).every((r) => r.rung === 1)).toBe(true);
    const progress = await handle.query(searchProgressQuery);
    expect(progress.epochsSpent).toBe(10);
    const logs = await store.list(`runs/${workflowId}/trials/trial-${String(promoted[0].index).padStart(4, '0')}/checkpoints/`);
    expect(logs.some((k) => k.includes('epoch-0003'))).toBe(true);
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
