import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LabelledItem, type LabellingRequest, parseAutoCandidates, runKeys, scoringKeys, type StrategyChoice } from '../../contracts';
import { normaliseMaskBytes } from '../../data/masks';
import type { ObjectStore } from '../../store/objectStore';
import { activeLearning } from '../../workflows';
import { historyQuery, statusQuery } from '../../contracts/messages';
import { recordHistory } from '../historyFixtures';
import { type RunningWorkers, startWorkers, testConfig, tinyActiveLearning, tinyDataset } from '../helpers';

const config = testConfig('al');

describe('activeLearning on the real dev server, worker and MinIO', () => {
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

  it('oracle mode runs 3 phases with growing labelled counts and a per-phase history', async () => {
    const workflowId = `test-al-oracle-${Date.now()}`;
    const handle = await client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId, args: [tinyActiveLearning(config, datasetId)],
    });
    const result = await handle.result();
    expect(result.stopReason).toBe('max-phases');
    expect(result.history.map((h) => h.phase)).toEqual([0, 1, 2]);
    expect(result.history.map((h) => h.labelled)).toEqual([4, 7, 10]);
    for (const h of result.history) {
      expect(h.iou).toBeGreaterThanOrEqual(0);
      expect(h.iou).toBeLessThanOrEqual(1);
      expect(h.acquisition).toBe('mfe');
    }
    // Each phase is its own run (continueAsNew); the last one answers queries.
    const last = client.workflow.getHandle(workflowId);
    expect((await last.query(historyQuery)).length).toBe(3);
    const status = await last.query(statusQuery);
    expect(status.done).toBe(true);
    expect(status.labelledCount).toBe(10);
    const report = await store.getJson<{ stopReason: string; history: unknown[] }>(result.reportKey);
    expect(report.history).toHaveLength(3);
    const request = await store.getJson<LabellingRequest>(`runs/${workflowId}/phase-1/request.json`);
    expect(request.items).toHaveLength(3);
    expect(request.items[0].uncertaintyMapKey).toMatch(/maps\/.*\.png$/);
    const description = await last.describe();
    expect(description.typedSearchAttributes.get({ name: 'EchoLabelledCount', type: 'INT' } as never)).toBe(10);
    const first = client.workflow.getHandle(workflowId, handle.firstExecutionRunId);
    recordHistory('activeLearning-oracle', workflowId, await first.fetchHistory());
  });

  it('--semi-supervised pseudo-label: phase 0 pseudo-labels sure pool frames (never the requested ones) and phase 1 trains on them', async () => {
    const withVal = await tinyDataset(store, { videos: 6, framesPerVideo: 6, initialCount: 8, valShare: 0.2, seed: 5 });
    const workflowId = `test-al-pseudo-${Date.now()}`;
    const result = await client.workflow.execute(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId,
      // A low bar, so that a tiny model's sure frames qualify: this test is about the mechanics (the threshold's rule
      // has its own unit test).
      args: [tinyActiveLearning(config, withVal, {
        maxPhases: 2, semiSupervised: 'pseudo-label', pseudoLabelIoU: 0.05, hyper: { epochs: 12, batchSize: 4, learningRate: 3e-3, seed: 7, augment: false },
      })],
    });
    const validation = await store.getJson<{ fn: string; frames: { id: string; score: number; iou: number }[] }>(runKeys.validationScores(workflowId, 0));
    expect(validation.fn).toBe('mfe');
    expect(validation.frames.length).toBeGreaterThan(0);
    const made = await store.getJson<LabelledItem[]>(runKeys.pseudoLabels(workflowId, 0));
    expect(made.length).toBeGreaterThan(0);
    expect(made.length).toBeLessThanOrEqual(8);
    expect(result.history[0].pseudoLabels).toBeUndefined();
    expect(result.history[1].pseudoLabels).toBe(made.length);
    const requested = (await store.getJson<{ items: { id: string }[] }>(runKeys.mergedLabels(workflowId, 0))).items.map((i) => i.id);
    for (const item of made) {
      expect(requested).not.toContain(item.id);
      expect(item.maskKey).toBe(runKeys.prediction(workflowId, 0, item.id));
      const mask = await normaliseMaskBytes(await store.getBytes(item.maskKey), { size: [32, 32], allowEmpty: true });
      expect(mask.ok).toBe(true);
    }
  }, 600_000);

  it('the strategy auto: one scoring gives every candidate its column, the split request is judged against the oracle\'s masks, and the choice selects after', async () => {
    const workflowId = `test-al-auto-${Date.now()}`;
    const candidates = parseAutoCandidates(['random', 'mfe:clasp', 'mfe:badge']) as StrategyChoice[];
    const result = await client.workflow.execute(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId,
      args: [tinyActiveLearning(config, datasetId, { labelsPerPhase: 3, maxPhases: 3, auto: { candidates, explorePhases: 1 } })],
    });
    expect(result.history.map((h) => h.labelled)).toEqual([4, 7, 10]);
    const [explored, chosen, last] = result.history.map((h) => h.auto);
    expect(explored?.picked).toEqual({ random: 1, 'mfe:clasp': 1, 'mfe:badge': 1 });
    // The error of each candidate's frame is 1 − its IoU under phase 0's segmentation model against the oracle's mask.
    for (const name of ['random', 'mfe:clasp', 'mfe:badge']) {
      expect(explored?.error?.[name]).toBeGreaterThanOrEqual(0);
      expect(explored?.error?.[name]).toBeLessThanOrEqual(1);
    }
    const errors = explored!.error!;
    const highest = Object.keys(errors).reduce((a, b) => (errors[b] > errors[a] ? b : a));
    expect(chosen).toEqual({ selectedBy: highest });
    expect(last).toBeUndefined();
    // Phase 0's scores hold the random column beside mfe, and the features and areas badge and clasp read.
    const scores = await store.getJson<{ functions: string[]; featureDim?: number; items: { scores: Record<string, number>; area?: number }[] }>(
      scoringKeys.scores(runKeys.phase(workflowId, 0)),
    );
    expect([...scores.functions].sort()).toEqual(['mfe', 'random']);
    expect(scores.featureDim).toBeGreaterThan(0);
    for (const item of scores.items) {
      expect(item.scores.random).toBeGreaterThanOrEqual(0);
      expect(item.area).toBeGreaterThanOrEqual(0);
    }
    const request = await store.getJson<LabellingRequest>(`runs/${workflowId}/phase-0/request.json`);
    expect(request.items).toHaveLength(3);
  }, 600_000);

  it('--semi-supervised mean-teacher: the segmentation models train with the pool as unlabelled frames, and the run goes on', async () => {
    const workflowId = `test-al-mt-${Date.now()}`;
    const result = await client.workflow.execute(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId, args: [tinyActiveLearning(config, datasetId, { maxPhases: 2, semiSupervised: 'mean-teacher' })],
    });
    expect(result.history.map((h) => h.labelled)).toEqual([4, 7]);
    for (const h of result.history) expect(h.iou).toBeGreaterThanOrEqual(0);
    expect(result.history.every((h) => h.pseudoLabels === undefined)).toBe(true);
  }, 600_000);
});
