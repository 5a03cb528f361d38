import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import type { TrainHeartbeat } from '../../contracts';
import { ObjectStore } from '../../store/objectStore';
import { activeLearning } from '../../workflows';
import { testConfig, tinyActiveLearning, tinyDataset } from '../helpers';

const config = testConfig('crash');

/** The real worker process (`tsx worker.ts`) on this test's task queues. */
function startWorker(log: string[]): ChildProcess {
  const child = spawn(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['worker.ts'], {
    cwd: projectRoot,
    env: { ...process.env, TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel, LOG_LEVEL: 'INFO' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: tsx runs the worker in a child process, and both must die
  });
  child.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  return child;
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

describe('a worker killed mid-training', () => {
  let connection: Connection;
  let client: Client;
  let datasetId: string;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    connection = await Connection.connect({ address: config.temporal.address });
    client = new Client({ connection, namespace: config.temporal.namespace });
    const store = new ObjectStore(config.minio);
    await store.ensureBucket();
    datasetId = await tinyDataset(store, { videos: 5, framesPerVideo: 8, size: 64, initialCount: 16, seed: 5 });
  });

  afterAll(async () => {
    for (const w of workers) killGroup(w);
    await connection?.close();
  });

  it('is replaced by a new worker that resumes training from the last checkpoint', async () => {
    const firstLog: string[] = [];
    workers.push(startWorker(firstLog));
    const workflowId = `test-crash-${Date.now()}`;
    const handle = await client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId,
      args: [tinyActiveLearning(config, datasetId, {
        maxPhases: 1,
        acquisition: 'random', // only the segmentation model trains
        hyper: { epochs: 40, batchSize: 4, learningRate: 1e-3, seed: 7, augment: false },
        timeouts: { heartbeatMs: 4000, trainAttemptMs: 600_000 },
      })],
    });

    // Wait until training has checkpointed at least two epochs (heartbeat details carry the checkpoint key).
    let details: TrainHeartbeat | undefined;
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      const description = await handle.describe();
      const pending = description.raw.pendingActivities?.find((a) => a.activityType?.name === 'trainSegmentationModel');
      const payload = pending?.heartbeatDetails?.payloads?.[0];
      details = payload ? defaultPayloadConverter.fromPayload<TrainHeartbeat>(payload) : undefined;
      if (details?.checkpointKey && details.epoch >= 2) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(details?.checkpointKey).toMatch(new RegExp(`runs/${workflowId}/phase-0/model-seg/checkpoints/epoch-\\d+`));
    const epochAtKill = details!.epoch;

    const exited = new Promise((r) => workers[0].once('exit', r));
    killGroup(workers[0]);
    await exited;

    const secondLog: string[] = [];
    workers.push(startWorker(secondLog));
    const result = await handle.result();
    expect(result.stopReason).toBe('max-phases');
    const phase = result.history[0];
    expect(phase.segAttempts).toBeGreaterThanOrEqual(2);
    expect(phase.segResumedFromEpoch).toBeGreaterThanOrEqual(epochAtKill);
    expect(phase.segResumedFromEpoch).toBeLessThan(40);
    expect(secondLog.join('')).toContain('resuming training from checkpoint');
  }, 300_000);
});
