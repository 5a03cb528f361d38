/**
 * Nothing lost, nothing stuck: the real services are stopped and restarted under running work.
 * - MinIO down for longer than the old retry span (≈ 25 s killed a run) during training and during scoring;
 * - the Temporal server restarted mid-training;
 * - 50 concurrent submissions, 50 resubmissions and a submission racing the end of the phase.
 * Each scenario prints its observed recovery time. An outage starts as soon as the store shows the targeted work
 * mid-way (polled every 100 ms), the work is long enough that it cannot finish first, and each test asserts that
 * the outage did hit it — whatever the machine's speed.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { type ActiveLearningInput, modelKeys, runKeys, scoringKeys } from '../../contracts';
import { datasetKeys } from '../../data/manifest';
import { maskContentHash, normaliseMaskBytes } from '../../data/masks';
import { SubmissionError, submitMasks } from '../../labelling/submit';
import { restartableService } from '../../scripts/services';
import type { ObjectStore } from '../../store/objectStore';
import { activeLearning } from '../../workflows';
import { statusQuery } from '../../contracts/messages';
import { type RunningWorkers, startWorkers, testConfig, tinyActiveLearning, tinyDataset, waitFor } from '../helpers';

const config = testConfig('chaos');

function cli(args: string[]): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], {
      cwd: projectRoot, timeout: 120_000, env: { ...process.env, TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel },
    }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}
const OUTAGE_MS = 35_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const minio = restartableService(config, 'minio');
const temporal = restartableService(config, 'temporal');

describe('outages and races against the real services', () => {
  let running: RunningWorkers;
  let client: Client;
  let store: ObjectStore;
  let datasetId: string;
  let bigPool: string;

  beforeAll(async () => {
    running = await startWorkers(config);
    ({ client, store } = running);
    datasetId = await tinyDataset(store, { videos: 5, framesPerVideo: 8, size: 64, initialCount: 16, seed: 5 });
    bigPool = await tinyDataset(store, { videos: 10, framesPerVideo: 8, size: 32, initialCount: 4, seed: 6 });
  });

  afterAll(async () => {
    // Whatever happened, leave the services running for the tests after this file.
    await minio.start();
    await temporal.start();
    await running?.stop();
  });

  const settings = (overrides: Partial<ActiveLearningInput>): ActiveLearningInput => tinyActiveLearning(config, datasetId, {
    maxPhases: 1, acquisition: 'random',
    hyper: { epochs: 25, batchSize: 4, learningRate: 1e-3, seed: 7, augment: false },
    timeouts: { heartbeatMs: 10_000, trainAttemptMs: 600_000, outageWindowMs: 15 * 60_000 },
    ...overrides,
  });

  /** Epochs phase 0's segmentation model has checkpointed (its newest complete checkpoint), read from the store. */
  async function checkpointedEpochs(workflowId: string): Promise<number> {
    const prefix = `${modelKeys.checkpoints(runKeys.segmentationModel(workflowId, 0))}/epoch-`;
    const complete = (await store.list(prefix)).filter((key) => key.endsWith('/meta.json'));
    return Math.max(0, ...complete.map((key) => Number(key.slice(prefix.length, -'/meta.json'.length))));
  }

  /** Polls every 100 ms until phase 0's segmentation model has checkpointed `epochs` epochs; returns the count seen. */
  const whenCheckpointed = (workflowId: string, epochs: number) =>
    waitFor(async () => {
      const done = await checkpointedEpochs(workflowId);
      return done >= epochs ? done : undefined;
    }, `${epochs} checkpointed epochs`, 300_000, 100);

  /** A run's recorded events, and the ids of the times it scheduled activities of one type. */
  async function activityEvents(workflowId: string, runId: string, activity: string) {
    const events = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    const scheduled = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity).map((e) => String(e.eventId)));
    return { events, isOurs: (scheduledEventId: unknown) => scheduled.has(String(scheduledEventId)) };
  }

  /** The attempt an activity of a run finally completed on (from its recorded history). */
  async function attemptsOf(workflowId: string, runId: string, activity: string): Promise<number> {
    const { events, isOurs } = await activityEvents(workflowId, runId, activity);
    return Math.max(0, ...events.map((e) => e.activityTaskStartedEventAttributes)
      .filter((started) => started && isOurs(started.scheduledEventId)).map((started) => started!.attempt ?? 1));
  }

  /** When the first activity of this type in a run completed (ms since the epoch), from its recorded history. */
  async function activityCompletedAt(workflowId: string, runId: string, activity: string): Promise<number> {
    const { events, isOurs } = await activityEvents(workflowId, runId, activity);
    const completed = events.find((e) => e.activityTaskCompletedEventAttributes && isOurs(e.activityTaskCompletedEventAttributes.scheduledEventId));
    if (!completed?.eventTime) throw new Error(`no completed ${activity} in ${workflowId}`);
    return Number(completed.eventTime.seconds) * 1000 + Math.floor((completed.eventTime.nanos ?? 0) / 1e6);
  }

  it('survives MinIO down for 35 s during training: the attempt resumes from its checkpoint', async () => {
    const workflowId = `test-chaos-train-${Date.now()}`;
    // The outage starts once epoch 2 is checkpointed; 150 epochs, each ending with a checkpoint written to MinIO, leave
    // the training far from its end, and it cannot finish without MinIO.
    const input = settings({ hyper: { epochs: 150, batchSize: 4, learningRate: 1e-3, seed: 7, augment: false } });
    const handle = await client.workflow.start(activeLearning, { taskQueue: config.taskQueues.light, workflowId, args: [input] });
    const epochAtStop = await whenCheckpointed(workflowId, 2);
    await minio.stop();
    await sleep(OUTAGE_MS);
    await minio.start();
    const restarted = Date.now();
    const result = await handle.result();
    console.log(`[chaos] MinIO outage of ${OUTAGE_MS / 1000} s during training: run finished ${((Date.now() - restarted) / 1000).toFixed(1)} s after MinIO came back ` +
      `(attempts ${result.history[0].segAttempts}, resumed from epoch ${result.history[0].segResumedFromEpoch})`);
    expect(result.stopReason).toBe('max-phases');
    // The outage hit the training: the attempt it cut off was retried, from a checkpoint at least as late as the one
    // seen before the outage.
    expect(result.history[0].segAttempts, 'the outage did not interrupt the training').toBeGreaterThanOrEqual(2);
    expect(result.history[0].segResumedFromEpoch).toBeGreaterThanOrEqual(epochAtStop);
  }, 600_000);

  it('survives MinIO down for 35 s during scoring', async () => {
    const workflowId = `test-chaos-score-${Date.now()}`;
    // Naive MC with many samples keeps the scoring busy; the outage starts once its first uncertainty map is stored,
    // and the shard cannot finish without writing the other maps and its scores.
    const handle = await client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId,
      args: [settings({ acquisition: 'mfe', maxPhases: 2, mcMode: 'naive', mcSamples: 150, hyper: { epochs: 2, batchSize: 2, learningRate: 1e-3, seed: 7, augment: false } })],
    });
    const maps = scoringKeys.mapsPrefix(runKeys.phase(workflowId, 0));
    await waitFor(async () => ((await store.list(maps)).length > 0 ? true : undefined), 'the first uncertainty map', 300_000, 100);
    await minio.stop();
    await sleep(OUTAGE_MS);
    await minio.start();
    const restarted = Date.now();
    const result = await handle.result();
    // Scoring is the shards' activities and their merge: the outage cut one of them off.
    const scoringAttempts = Math.max(...await Promise.all(['scorePoolShard', 'mergeScoreShards'].map((a) => attemptsOf(workflowId, handle.firstExecutionRunId, a))));
    console.log(`[chaos] MinIO outage of ${OUTAGE_MS / 1000} s during scoring: run finished ${((Date.now() - restarted) / 1000).toFixed(1)} s after MinIO came back (scoring attempts ${scoringAttempts})`);
    expect(result.stopReason).toBe('max-phases');
    expect(result.history).toHaveLength(2);
    // The outage cut the scoring attempt off: it completed on a later attempt.
    expect(scoringAttempts, 'the outage did not interrupt the scoring').toBeGreaterThanOrEqual(2);
  }, 600_000);

  it('survives a Temporal server restart mid-training, retried within the heartbeat bound', async () => {
    const workflowId = `test-chaos-temporal-${Date.now()}`;
    // The restart begins once epoch 2 is checkpointed; 58 epochs remain, each with its checkpoint round trips.
    const input = settings({ hyper: { epochs: 60, batchSize: 4, learningRate: 1e-3, seed: 7, augment: false } });
    const handle = await client.workflow.start(activeLearning, { taskQueue: config.taskQueues.light, workflowId, args: [input] });
    await whenCheckpointed(workflowId, 2);
    const stopping = Date.now();
    await temporal.stop();
    await sleep(5000);
    const startedAgain = Date.now();
    await temporal.start();
    const result = await handle.result();
    const after = (Date.now() - startedAgain) / 1000;
    console.log(`[chaos] Temporal restart mid-training: run finished ${after.toFixed(1)} s after the server came back (attempts ${result.history[0].segAttempts})`);
    expect(result.stopReason).toBe('max-phases');
    // The restart hit the training: the segmentation model's training completed after the server began to stop.
    const completedAt = await activityCompletedAt(workflowId, handle.firstExecutionRunId, 'trainSegmentationModel');
    expect(completedAt, 'the training finished before Temporal stopped').toBeGreaterThan(stopping);
    // A lost completion costs at most the heartbeat timeout before the retry; the rest of the training remains.
    if (result.history[0].segAttempts > 1) expect(result.history[0].segResumedFromEpoch).toBeGreaterThanOrEqual(2);
  }, 600_000);

  it('a run that outlasts its outage window fails with its cause in status; --resume-from continues from its merged labels', async () => {
    const workflowId = `test-chaos-resume-${Date.now()}`;
    const input = settings({
      acquisition: 'random', oracle: true, maxPhases: 3, labelsPerPhase: 3,
      // Enough epochs that phase 1's training lasts seconds, so the poll below sees it.
      hyper: { epochs: 40, batchSize: 4, learningRate: 1e-3, seed: 7, augment: false },
      timeouts: { heartbeatMs: 10_000, trainAttemptMs: 600_000, outageWindowMs: 15_000 },
    });
    const handle = await client.workflow.start(activeLearning, { taskQueue: config.taskQueues.light, workflowId, args: [input] });
    // Phase 0 merged (its state saved); phase 1 training when MinIO goes away for longer than the window.
    await waitFor(async () => {
      const s = await handle.query(statusQuery).catch(() => undefined);
      return s && s.phase === 1 && s.stage === 'training' ? true : undefined;
    }, 'phase 1 training');
    await minio.stop();
    const failed = await handle.result().then(() => undefined, (error: Error) => error);
    await minio.start();
    expect(failed).toBeDefined();
    const status = await cli(['status', workflowId]);
    expect(status.out).toMatch(/FAILED — failed: .*(unreachable|ECONNREFUSED)/);
    const resumedId = `${workflowId}-resumed`;
    const resumed = await cli(['al', 'start', '--dataset', datasetId, '--resume-from', workflowId, '--id', resumedId, '--arch', 'Unet', '--encoder', 'resnet18',
      '--depth', '3', '--width', '0.0625', '--epochs', '2', '--batch', '4', '--lr', '0.001', '--k', '3', '--max-phases', '3', '--acquisition', 'random',
      '--oracle', '--no-augment', '--stop-on', 'test', '--seed', '7', '--target', '0.999']);
    expect(resumed.status, resumed.err).toBe(0);
    const result = await client.workflow.getHandle<typeof activeLearning>(resumedId).result();
    // Phase 0 came from the failed run; phases 1 and 2 ran here.
    expect(result.history.map((h) => h.phase)).toEqual([0, 1, 2]);
    expect(result.history.map((h) => h.labelled)).toEqual([16, 19, 22]);
    expect((await cli(['status', resumedId, '--json'])).out).toContain(`"resumedFrom": "${workflowId}"`);
  }, 600_000);

  it('merges every accepted mask exactly once under 50 concurrent submissions, 50 resubmissions and a race with the phase end; history stays bounded', async () => {
    const workflowId = `test-chaos-submissions-${Date.now()}`;
    const handle = await client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId,
      args: [tinyActiveLearning(config, bigPool, { oracle: false, labelsPerPhase: 50, maxPhases: 2 })],
    });
    const pending = await waitFor(async () => (await handle.query(statusQuery)).pending, 'the labelling request');
    expect(pending.requested).toBe(50);
    const ids = pending.remaining;
    const truth = async (id: string) => store.getBytes(datasetKeys.mask(bigPool, id));
    const submitOne = (id: string, bytes: Uint8Array) => submitMasks(client, store, workflowId, [{ id, bytes }], { source: 'chaos' });
    const before = (await handle.fetchHistory()).events!.length;

    // 49 masks at once, then all 49 again: the second round changes nothing and adds no history.
    const first = await Promise.all(ids.slice(0, 49).map(async (id) => submitOne(id, await truth(id))));
    expect(first.flatMap((o) => o.accepted).sort()).toEqual(ids.slice(0, 49).sort());
    const afterFirst = (await handle.fetchHistory()).events!.length;
    const again = await Promise.all(ids.slice(0, 49).map(async (id) => submitOne(id, await truth(id))));
    expect(again.flatMap((o) => o.duplicates).sort()).toEqual(ids.slice(0, 49).sort());
    expect((await handle.fetchHistory()).events!.length).toBe(afterFirst);
    // Per accepted update a handful of events, never more.
    expect((afterFirst - before) / 49).toBeLessThanOrEqual(6);

    // The last mask and a replacement of another race the phase's end: each is either merged or refused with 409.
    const empty = new Uint8Array(await (await import('sharp')).default(Buffer.alloc(32 * 32), { raw: { width: 32, height: 32, channels: 1 } }).png().toBuffer());
    const [last, racing] = await Promise.allSettled([
      submitOne(ids[49], await truth(ids[49])),
      submitMasks(client, store, workflowId, [{ id: ids[0], bytes: empty, allowEmpty: true }], { source: 'chaos' }),
    ]);
    expect(last.status).toBe('fulfilled');
    if (racing.status === 'rejected') {
      expect(racing.reason).toBeInstanceOf(SubmissionError);
      expect((racing.reason as SubmissionError).status).toBe(409);
    }
    const replaced = racing.status === 'fulfilled' && racing.value.replaced.includes(ids[0]);
    const result = await handle.result();
    expect(result.history[0].received).toBe(50);
    const labelled = await store.getJson<{ id: string; maskKey: string }[]>(runKeys.labelled(workflowId, 1));
    for (const id of ids) {
      const entries = labelled.filter((l) => l.id === id);
      expect(entries, id).toHaveLength(1);
      const merged = await normaliseMaskBytes(await store.getBytes(entries[0].maskKey), { size: [32, 32], allowEmpty: true });
      const sent = id === ids[0] && replaced ? empty : await truth(id);
      const expected = await normaliseMaskBytes(sent, { size: [32, 32], allowEmpty: true });
      expect(merged.ok && expected.ok && maskContentHash(merged.mask, [32, 32]) === maskContentHash(expected.mask, [32, 32]), id).toBe(true);
    }
    console.log(`[chaos] 50 concurrent submissions: ${((afterFirst - before) / 49).toFixed(1)} history events each; 49 resubmissions: 0 events; ` +
      `racing replacement ${racing.status === 'fulfilled' ? (replaced ? 'accepted before the phase closed' : 'answered') : 'refused (409)'}`);
  }, 600_000);
});
