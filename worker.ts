/**
 * Runs the workflow worker and the activity workers for the light and the accelerator task queues.
 *   WORKER_ROLE=all|light|accel   which queues this process serves (default all: light here, accel in a child process)
 *   WORKER_SPLIT=0                with WORKER_ROLE=all, serve both queues in this one process
 *   ACCEL_CONCURRENCY             concurrent accelerator activities (default 1: one per GPU)
 *   LIGHT_CONCURRENCY             concurrent light activities (default 8)
 *   LOG_LEVEL                     Temporal SDK log level: TRACE|DEBUG|INFO|WARN|ERROR (default WARN)
 * SIGINT/SIGTERM shut down gracefully: running activities finish or heartbeat-timeout and resume elsewhere.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, type LogLevel, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { accelActivities, lightActivities } from './activities';
import { loadConfig, type ProjectConfig } from './config';
import { initBackend } from './ml/backend';
import { ObjectStore } from './store/objectStore';

export type WorkerRole = 'all' | 'light' | 'accel';

export const workflowsPath = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}=${raw} must be a positive integer.`);
  return value;
}

export interface CreateWorkersOptions {
  config?: ProjectConfig;
  role?: WorkerRole;
  connection?: NativeConnection;
  /** Pre-bundled workflow code (tests bundle once per file). */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export async function createWorkers(options: CreateWorkersOptions = {}): Promise<{ workers: Worker[]; connection: NativeConnection; store: ObjectStore }> {
  const config = options.config ?? loadConfig();
  const role = options.role ?? ((process.env.WORKER_ROLE as WorkerRole | undefined) ?? 'all');
  if (!['all', 'light', 'accel'].includes(role)) throw new Error(`WORKER_ROLE=${role} is not one of all, light, accel.`);
  const connection = options.connection ?? (await NativeConnection.connect({ address: config.temporal.address }));
  const store = new ObjectStore(config.minio);
  await store.ensureBucket();
  const workflowSource = options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath };
  const workers: Worker[] = [];
  if (role === 'all' || role === 'light') {
    workers.push(await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.taskQueues.light,
      ...workflowSource,
      activities: lightActivities({ store }),
      maxConcurrentActivityTaskExecutions: intFromEnv('LIGHT_CONCURRENCY', 8),
    }));
  }
  if (role === 'all' || role === 'accel') {
    workers.push(await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.taskQueues.accel,
      activities: accelActivities({ store }),
      maxConcurrentActivityTaskExecutions: intFromEnv('ACCEL_CONCURRENCY', 1),
    }));
  }
  return { workers, connection, store };
}

/**
 * With WORKER_ROLE=all the accelerator queue is served by a child process: TensorFlow's kernels run on the main
 * thread, and a long training step in the same process would stall workflow tasks past their timeout.
 */
function spawnAccelerator(): ChildProcess {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    env: { ...process.env, WORKER_ROLE: 'accel' },
    stdio: 'inherit',
  });
  return child;
}

async function main(): Promise<void> {
  // Worker lifecycle notices are INFO; LOG_LEVEL=INFO shows them, the default keeps the console readable.
  Runtime.install({ logger: new DefaultLogger((process.env.LOG_LEVEL ?? 'WARN') as LogLevel) });
  const config = loadConfig();
  const requested = (process.env.WORKER_ROLE as WorkerRole | undefined) ?? 'all';
  const split = requested === 'all' && process.env.WORKER_SPLIT !== '0';
  const role: WorkerRole = split ? 'light' : requested;
  const backend = role === 'light' ? 'not loaded (light role)' : await initBackend();
  const { workers, connection } = await createWorkers({ config, role });
  const accelerator = split ? spawnAccelerator() : undefined;
  let stopping = false;
  accelerator?.once('exit', (code, signal) => {
    if (stopping) return;
    console.error(`[worker] the accelerator worker process exited (${code ?? signal}); stopping`);
    process.exitCode = 1;
    for (const w of workers) w.shutdown();
  });
  console.log(`[worker] role ${role}${split ? ' (+ accelerator child process)' : ''}, TF backend ${backend}, Temporal ${config.temporal.address}, ` +
    `queues ${workers.map((w) => w.options.taskQueue).join(', ')}`);
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    stopping = true;
    if (accelerator && accelerator.exitCode === null) {
      accelerator.kill('SIGTERM');
      await new Promise((resolve) => accelerator.once('exit', resolve));
    }
    await connection.close();
  }
  console.log(`[worker] ${role} stopped`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(`[worker] error: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
