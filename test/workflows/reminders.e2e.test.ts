import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lightActivities, accelActivities } from '../../activities';
import { initBackend } from '../../ml/backend';
import { SEARCH_ATTRIBUTES } from '../../scripts/services';
import { ensureTool } from '../../scripts/tools';
import { ObjectStore } from '../../store/objectStore';
import { activeLearning } from '../../workflows';
import { statusQuery, stopSignal } from '../../contracts/messages';
import { testConfig, tinyActiveLearning, tinyDataset, workflowBundle } from '../helpers';

const config = testConfig('reminders');

describe('a labelling request left unanswered for days, under the time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  let store: ObjectStore;
  let datasetId: string;

  beforeAll(async () => {
    await initBackend();
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: ensureTool('temporal-test-server') } },
    });
    // The test server, like any Temporal server, needs the custom search attributes registered first.
    const types = { Keyword: 2, Int: 3, Double: 4 } as const;
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [name, types[type as keyof typeof types]])),
    });
    store = new ObjectStore(config.minio);
    await store.ensureBucket();
    datasetId = await tinyDataset(store);
  });

  afterAll(async () => {
    await env?.teardown();
  });

  it('records a reminder per day while waiting, keeps waiting, and stops cleanly', async () => {
    const bundle = await workflowBundle();
    const light = await Worker.create({ connection: env.nativeConnection, taskQueue: config.taskQueues.light, workflowBundle: bundle, activities: lightActivities({ store }) });
    const accel = await Worker.create({ connection: env.nativeConnection, taskQueue: config.taskQueues.accel, activities: accelActivities({ store }) });
    const workflowId = `test-reminders-${Date.now()}`;
    const scenario = (async () => {
      const handle = await env.client.workflow.start(activeLearning, {
        taskQueue: config.taskQueues.light, workflowId,
        args: [tinyActiveLearning(config, datasetId, { oracle: false, reminderEveryMs: 24 * 3600_000 })],
      });
      // Wait (in test-server time) until the request is out.
      let status = await handle.query(statusQuery);
      while (!status.pending) {
        await env.sleep('1 second');
        status = await handle.query(statusQuery);
      }
      expect(status.pending.reminders).toBe(0);
      const before = await env.currentTimeMs();
      await env.sleep(3 * 24 * 3600_000 + 3600_000);
      expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(3 * 24 * 3600_000);
      status = await handle.query(statusQuery);
      expect(status.pending?.reminders).toBe(3);
      expect(status.pending?.overdue).toBe(true);
      expect(status.done).toBe(false);
      const reminder = await store.getJson<{ reminders: number; remaining: string[] }>(`runs/${workflowId}/phase-0/reminders.json`);
      expect(reminder.reminders).toBe(3);
      expect(reminder.remaining).toHaveLength(3);
      await handle.signal(stopSignal, {});
      const result = await handle.result();
      expect(result.stopReason).toBe('stopped');
    })();
    await Promise.all([light.runUntil(scenario), accel.runUntil(scenario)]);
  });
});
