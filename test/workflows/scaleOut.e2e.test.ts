/**
 * Scaling out on the accelerator queue: pool scoring in shards gives the same scores as one activity, and two
 * accelerator worker processes share a search's trials and an active-learning phase's shards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accelActivities, lightActivities } from '../../activities';
import { projectRoot } from '../../config';
import { runKeys, SCORE_BLOCK, type ScoreShardRequest, type TrainOutcome, type TrainRequest } from '../../contracts';
import { readManifest } from '../../data/manifest';
import { initBackend } from '../../ml/backend';
import type { ScoresDocument } from '../../ml/uncertaintyMap';
import { ObjectStore } from '../../store/objectStore';
import { activeLearning, search } from '../../workflows';
import { testConfig, tinyActiveLearning, tinyDataset, tinySearch, workflowBundle } from '../helpers';

const config = testConfig('scale-out');

describe('scaling out on the accelerator queue', () => {
  let client: Client;
  let store: ObjectStore;
  let datasetId: string;
  let light: { worker: Worker; running: Promise<void>; connection: NativeConnection } | undefined;
  const accelerators: ChildProcess[] = [];
  let connection: Connection;

  beforeAll(async () => {
    await initBackend(undefined, () => {});
    store = new ObjectStore(config.minio);
    connection = await Connection.connect({ address: config.temporal.address });
    client = new Client({ connection, namespace: config.temporal.namespace });
    // 12 videos × 10 frames: a pool of more than one scoring block.
    datasetId = await tinyDataset(store, { videos: 12, framesPerVideo: 10, size: 32, initialCount: 8, seed: 13 });
  });

  afterAll(async () => {
    for (const child of accelerators) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
    light?.worker.shutdown();
    await light?.running;
    await light?.connection.close();
    await connection?.close();
  });

  it('scores a pool in shards exactly as in one activity', async () => {
    const env = new MockActivityEnvironment();
    const accel = accelActivities({ store });
    const lightSet = lightActivities({ store });
    const manifest = await readManifest(store, datasetId);
    expect(manifest.splits.counts.pool).toBeGreaterThan(SCORE_BLOCK);
    const runId = `test-shards-${Date.now()}`;
    const labelled = (await env.run(lightSet.initActiveLearning, { runId, datasetId })) as { labelledKey?: string };
    const train: TrainRequest = {
      runId, datasetId, trainItemsKey: labelled.labelledKey!, outputPrefix: `runs/${runId}/model-unc`,
      model: { arch: 'Unet', encoder: 'resnet18', encoderDepth: 3, widthScale: 0.0625 }, dropout: { strategy: 'head', rate: 0.3 },
      hyper: { epochs: 1, batchSize: 8, learningRate: 1e-3, seed: 1, augment: false },
    };
    const model = (await env.run(accel.trainSegmentationModel, train)) as TrainOutcome;
    const score = async (phase: number, shardSize: number) => {
      const shards = Math.ceil(manifest.splits.counts.pool / shardSize);
      for (let shard = 0; shard < shards; shard++) {
        const request: ScoreShardRequest = {
          runId, phase, datasetId, poolKey: manifest.splits.poolKey, modelKey: model.modelKey, acquisition: 'mfe', reduce: 'mean',
          samples: 4, mode: 'fast', batchSize: 8, seed: 5, shard, shardSize,
        };
        await env.run(accel.scorePoolShard, request);
      }
      const merged = (await env.run(lightSet.mergeScoreShards, { runId, phase, shards })) as { scoresKey: string };
      return { shards, document: await store.getJson<ScoresDocument>(merged.scoresKey) };
    };
    const whole = await score(0, 4 * SCORE_BLOCK);
    const sharded = await score(1, SCORE_BLOCK);
    expect(whole.shards).toBe(1);
    expect(sharded.shards).toBe(Math.ceil(manifest.splits.counts.pool / SCORE_BLOCK));
    expect(sharded.shards).toBeGreaterThan(1);
    expect(sharded.document.items.map((i) => [i.id, i.scores])).toEqual(whole.document.items.map((i) => [i.id, i.scores]));
    expect(await store.exists(runKeys.scoreShard(runId, 1, 1))).toBe(true);
  });

  it('two accelerator worker processes share a search\'s trials and a phase\'s scoring shards', async () => {
    // Workflows and light activities here; the accelerator queue served by two separate worker processes.
    const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
    const worker = await Worker.create({
      connection: nativeConnection, namespace: config.temporal.namespace, taskQueue: config.taskQueues.light,
      workflowBundle: await workflowBundle(), activities: lightActivities({ store }),
    });
    light = { worker, running: worker.run(), connection: nativeConnection };
    for (let i = 0; i < 2; i++) {
      accelerators.push(spawn(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['worker.ts'], {
        cwd: projectRoot, detached: true, stdio: 'ignore',
        env: { ...process.env, WORKER_ROLE: 'accel', TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel },
      }));
    }
    const searchId = `test-scale-search-${Date.now()}`;
    await client.workflow.execute(search, {
      taskQueue: config.taskQueues.light, workflowId: searchId,
      args: [tinySearch(config, datasetId, { maxTrials: 4, concurrency: 2, trialsPerRun: 10, epochs: 2 })],
    });
    const alId = `test-scale-al-${Date.now()}`;
    const handle = await client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId: alId,
      args: [tinyActiveLearning(config, datasetId, { maxPhases: 2, scoreShardSize: SCORE_BLOCK, mcSamples: 8, mcMode: 'naive' })],
    });
    const result = await handle.result();
    expect(result.history).toHaveLength(2);

    /** The worker identities that ran each activity type (from the recorded histories). */
    const identities = async (workflowId: string, runId?: string) => {
      const events = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
      const typeOf = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name!]));
      const byType = new Map<string, Set<string>>();
      for (const e of events) {
        const started = e.activityTaskStartedEventAttributes;
        if (!started) continue;
        const type = typeOf.get(String(started.scheduledEventId))!;
        byType.set(type, new Set([...(byType.get(type) ?? []), started.identity!]));
      }
      return byType;
    };
    const searchWorkers = (await identities(searchId)).get('runSearchTrial')!;
    const phase0 = await identities(alId, handle.firstExecutionRunId);
    console.log(`[scale-out] search trials ran on ${searchWorkers.size} workers; phase 0's ${phase0.get('scorePoolShard')?.size} shard workers`);
    expect(searchWorkers.size).toBe(2);
    expect(phase0.get('scorePoolShard')!.size).toBe(2);
  }, 600_000);
});

