import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkers } from '../../worker';
import { roundTrip } from '../../workflows';
import { testConfig, workflowBundle } from '../helpers';
import { recordHistory } from '../historyFixtures';

const config = testConfig('roundtrip');

describe('round trip through the real dev server, the real worker and MinIO', () => {
  let connection: Connection;
  let client: Client;

  beforeAll(async () => {
    connection = await Connection.connect({ address: config.temporal.address });
    client = new Client({ connection, namespace: config.temporal.namespace });
  });

  afterAll(async () => {
    await connection?.close();
  });

  it('workflow → activity → MinIO returns the key of the object it wrote', async () => {
    const { workers, store, connection: workerConnection } = await createWorkers({ config, role: 'light', workflowBundle: await workflowBundle() });
    const workflowId = `test-roundtrip-${Date.now()}`;
    const run = async () => {
      const handle = await client.workflow.start(roundTrip, {
        taskQueue: config.taskQueues.light,
        workflowId,
        args: [{ message: 'ping' }],
      });
      return handle.result();
    };
    const result = await workers[0].runUntil(run());
    await workerConnection.close();
    expect(result.key).toBe(`runs/${workflowId}/roundtrip.json`);
    const stored = await store.getJson<{ message: string }>(result.key);
    expect(stored.message).toBe('ping');
    expect(result.bytes).toBe(await store.size(result.key));
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    recordHistory('roundTrip', workflowId, history);
    const activityTypes = history.events?.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    expect(activityTypes).toEqual(['writeRoundTripObject']);
  });

  it('fails a bad input without retries, as a non-retryable InvalidInput failure', async () => {
    const { workers, connection: workerConnection } = await createWorkers({ config, role: 'light', workflowBundle: await workflowBundle() });
    const handle = await client.workflow.start(roundTrip, {
      taskQueue: config.taskQueues.light,
      workflowId: `test-roundtrip-bad-${Date.now()}`,
      args: [{ message: '' }],
    });
    const outcome = await workers[0].runUntil(handle.result().then(() => 'completed', (e: Error) => e));
    await workerConnection.close();
    expect(outcome).toBeInstanceOf(Error);
    expect(String((outcome as Error & { cause?: { cause?: Error } }).cause?.cause?.message)).toMatch(/non-empty string/);
  });
});
