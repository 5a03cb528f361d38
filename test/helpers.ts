/** Shared test set-up: the real services' config with task queues unique to one test file. */
import { randomUUID } from 'node:crypto';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { loadConfig, type ProjectConfig } from '../config';
import { workflowsPath } from '../worker';

export function testConfig(name: string): ProjectConfig {
  const config = loadConfig();
  const suffix = `${name}-${randomUUID().slice(0, 8)}`;
  return { ...config, taskQueues: { light: `test-light-${suffix}`, accel: `test-accel-${suffix}` } };
}

// Worker state changes and polling notices would drown the test output.
Runtime.install({ logger: new DefaultLogger('WARN') });

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundles the workflow code once per test file (webpack takes seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: { error: console.error, warn: () => {}, info: () => {}, debug: () => {}, trace: () => {}, log: () => {} } });
  return bundle;
}
