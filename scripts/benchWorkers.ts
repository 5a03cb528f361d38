/**
 * What the bench scripts that drive real workflows share: the local services, the TensorFlow backend, a light and an
 * accelerator worker on task queues of their own (so a bench never takes another process's work), and a client.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { loadConfig, type ProjectConfig } from '../config';
import { initBackend } from '../ml/backend';
import type { ObjectStore } from '../store/objectStore';
import { createWorkers, workflowsPath } from '../worker';
import { startServices } from './services';

export interface BenchWorkers {
  config: ProjectConfig;
  taskQueues: ProjectConfig['taskQueues'];
  /** The queues' random suffix, for the bench's workflow ids. */
  suffix: string;
  store: ObjectStore;
  client: Client;
  /** Stops the workers and closes the client's connection. */
  stop(): Promise<void>;
}

/** Starts the services (if needed), the backend and the workers for bench `name` (`bench-<name>-light-…`). */
export async function startBenchWorkers(name: string): Promise<BenchWorkers> {
  const config = loadConfig();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  await startServices(config);
  await initBackend(undefined, () => {});
  const suffix = randomUUID().slice(0, 8);
  const taskQueues = { light: `bench-${name}-light-${suffix}`, accel: `bench-${name}-accel-${suffix}` };
  const quiet = () => {};
  const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: { error: console.error, warn: quiet, info: quiet, debug: quiet, trace: quiet, log: quiet } });
  const { workers, store } = await createWorkers({ config: { ...config, taskQueues }, workflowBundle });
  const running = Promise.all(workers.map((w) => w.run()));
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  return {
    config, taskQueues, suffix, store, client,
    async stop() {
      for (const w of workers) w.shutdown();
      await running;
      await connection.close();
    },
  };
}
