/** Shared test set-up: the real services' config with task queues unique to one test file, tiny datasets, inputs. */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { loadConfig, type ProjectConfig } from '../config';
import { importFolderOfPairs } from '../data/import/folderOfPairs';
import { generateSyntheticEcho, writeFolderOfPairs } from '../data/synthetic';
import { initBackend } from '../ml/backend';
import type { ActiveLearningInput, SearchInput } from '../contracts';
import type { ObjectStore } from '../store/objectStore';
import { createWorkers, workflowsPath } from '../worker';

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

/** A tiny synthetic echo dataset imported through the real folder-of-pairs importer into MinIO. */
export async function tinyDataset(
  store: ObjectStore,
  options: { videos?: number; framesPerVideo?: number; size?: number; seed?: number; initialCount?: number; valShare?: number } = {},
): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-tiny-'));
  const size = options.size ?? 32;
  const frames = generateSyntheticEcho({ videos: options.videos ?? 5, framesPerVideo: options.framesPerVideo ?? 6, size, seed: options.seed ?? 1 });
  await writeFolderOfPairs(dir, frames);
  const summary = await importFolderOfPairs(store, { dir, size, initialCount: options.initialCount ?? 4, testShare: 0.2, seed: options.seed ?? 1, name: 'tiny-test',
    ...(options.valShare !== undefined ? { valShare: options.valShare } : {}) });
  fs.rmSync(dir, { recursive: true, force: true });
  return summary.datasetId;
}

/** Active-learning settings for a tiny, fast run (Unet + resnet18 at 1/16 width, depth 3). */
export function tinyActiveLearning(config: ProjectConfig, datasetId: string, overrides: Partial<ActiveLearningInput> = {}): ActiveLearningInput {
  return {
    datasetId,
    model: { arch: 'Unet', encoder: 'resnet18', encoderDepth: 3, widthScale: 0.0625 },
    dropout: { strategy: 'head', rate: 0.3 },
    hyper: { epochs: 2, batchSize: 4, learningRate: 1e-3, seed: 7, augment: false },
    acquisition: 'mfe',
    reduce: 'mean',
    mcSamples: 4,
    mcMode: 'fast',
    labelsPerPhase: 3,
    targetIoU: 0.999,
    maxLabelled: 1000,
    maxPhases: 3,
    oracle: true,
    reminderEveryMs: 24 * 3600_000,
    taskQueues: config.taskQueues,
    ...overrides,
  };
}

export function tinySearch(config: ProjectConfig, datasetId: string, overrides: Partial<SearchInput> = {}): SearchInput {
  return {
    datasetId,
    seed: 3,
    space: { archs: ['Unet', 'FPN', 'Linknet'], encoders: ['resnet18'], learningRates: [1e-3, 4e-4], batchSizes: [4] },
    maxTrials: 3,
    concurrency: 2,
    encoderDepth: 3,
    widthScale: 0.0625,
    epochs: 1,
    augment: false,
    trialsPerRun: 2,
    taskQueues: config.taskQueues,
    ...overrides,
  };
}

export interface RunningWorkers {
  client: Client;
  store: ObjectStore;
  stop(): Promise<void>;
}

/** The real worker (both queues) running in this process, and a client; `stop()` shuts both down. */
export async function startWorkers(config: ProjectConfig): Promise<RunningWorkers> {
  await initBackend(undefined, () => {});
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const { workers, store } = await createWorkers({ config, workflowBundle: await workflowBundle() });
  const running = Promise.all(workers.map((w) => w.run()));
  return {
    client,
    store,
    async stop() {
      for (const w of workers) w.shutdown();
      await running;
      await connection.close();
    },
  };
}

/** Polls every `intervalMs` until `probe` gives a value, or fails naming what it waited for. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 180_000, intervalMs = 300): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
