/**
 * The workflow-logic tier: the real workflow code under Temporal's time-skipping test server, with activities
 * replaced by small in-memory stand-ins (test/workflows/logic/stubs.ts) — no MinIO, no TensorFlow, no services.
 */
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { TaskQueues } from '../../../contracts';
import { SEARCH_ATTRIBUTES } from '../../../contracts/names';
import { ensureTool } from '../../../scripts/tools';
import { workflowBundle } from '../../helpers';

/** Starts the time-skipping test server with the project's search attributes registered. */
export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: ensureTool('temporal-test-server') } },
  });
  const types = { KEYWORD: 2, INT: 3, DOUBLE: 4 } as const;
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(Object.values(SEARCH_ATTRIBUTES).map(({ name, type }) => [name, types[type]])),
  });
  return env;
}

export function uniqueQueues(name: string): TaskQueues {
  const suffix = `${name}-${randomUUID().slice(0, 8)}`;
  return { light: `logic-light-${suffix}`, accel: `logic-accel-${suffix}` };
}

/** Runs `scenario` with the real workflows on the light queue and the given stand-ins on both queues. */
export async function withWorkers<T>(
  env: TestWorkflowEnvironment, queues: TaskQueues, activities: { light: object; accel: object }, scenario: () => Promise<T>,
): Promise<T> {
  const light = await Worker.create({ connection: env.nativeConnection, taskQueue: queues.light, workflowBundle: await workflowBundle(), activities: activities.light });
  const accel = await Worker.create({ connection: env.nativeConnection, taskQueue: queues.accel, activities: activities.accel });
  const run = scenario();
  const [result] = await Promise.all([run, light.runUntil(run), accel.runUntil(run)]);
  return result;
}
