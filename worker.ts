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
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { accelActivities, lightActivities } from './activities';
import { loadConfig, type ProjectConfig } from './config';
import type { WorkerRole } from './contracts/names';
import { initBackend } from './ml/backend';
import { ObjectStore } from './store/objectStore';

/** The Label Studio connection light activities push requests through, when the worker's environment gives one. */
function labelStudioConnection(config: ProjectConfig) {
  const { url, token } = config.labelStudio;
  if (!url || !token) return undefined;
  const { publicUrl, webhookSecret } = config.labels;
  return { url, token, ...(publicUrl && webhookSecret ? { webhookUrl: `${publicUrl.replace(/\/$/, '')}/webhook`, webhookSecret } : {}) };
}

export const workflowsPath = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));

export interface CreateWorkersOptions {
  config?: ProjectConfig;
  role?: WorkerRole;
  connection?: NativeConnection;
  /** Pre-bundled workflow code (tests bundle once per file). */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export async function createWorkers(options: CreateWorkersOptions = {}): Promise<{ workers: Worker[]; connection: NativeConnection; store: ObjectStore }> {
  const config = options.config ?? loadConfig();
  const role = options.role ?? config.worker.role;
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
      activities: lightActivities({ store, labelStudio: labelStudioConnection(config) }),
      maxConcurrentActivityTaskExecutions: config.worker.lightConcurrency,
    }));
  }
  if (role === 'all' || role === 'accel') {
    workers.push(await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.taskQueues.accel,
      activities: accelActivities({ store }),
      maxConcurrentActivityTaskExecutions: config.worker.accelConcurrency,
    }));
  }
  return { workers, connection, store };
}

const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 60_000;
/** A child that ran this long before crashing restarts after the shortest delay again. */
const HEALTHY_RUN_MS = 60_000;

/**
 * With WORKER_ROLE=all the accelerator queue is served by a child process (TensorFlow's kernels run on the main
 * thread; a long training step in the same process would stall workflow tasks past their timeout). The parent
 * restarts a crashed child with backoff (1 s doubling to 1 min), and the child exits when the parent dies (it
 * watches the IPC channel), so a killed parent never leaves an orphan serving activities.
 */
class AcceleratorSupervisor {
  private child?: ChildProcess;
  private stopping = false;
  private delayMs = RESTART_MIN_MS;
  private restartTimer?: NodeJS.Timeout;
  restarts = 0;

  start(): void {
    const startedAt = Date.now();
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      env: { ...process.env, WORKER_ROLE: 'accel' },
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      if (Date.now() - startedAt > HEALTHY_RUN_MS) this.delayMs = RESTART_MIN_MS;
      console.error(`[worker] the accelerator worker process exited (${code ?? signal}); restarting it in ${this.delayMs / 1000} s`);
      this.restartTimer = setTimeout(() => {
        this.restarts += 1;
        this.start();
      }, this.delayMs);
      this.delayMs = Math.min(this.delayMs * 2, RESTART_MAX_MS);
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

/** In a supervised child: when the parent's IPC channel closes (the parent died), stop serving and exit. */
function exitWithParent(workers: Worker[]): void {
  if (!process.connected) return;
  // The IPC channel must not keep this process alive once its workers have stopped (a parent waiting for it to
  // exit would wait forever); 'disconnect' still fires while the workers run.
  process.channel?.unref();
  process.once('disconnect', () => {
    console.error('[worker] the parent worker process is gone; the accelerator worker stops');
    for (const w of workers) w.shutdown();
    // In-flight activities are cancelled; their heartbeats stop and Temporal retries them on a live worker.
    setTimeout(() => process.exit(1), 10_000).unref();
  });
}

/** Connects to Temporal, waiting through an outage (a worker started before the server, or during a restart). */
async function connectWithRetry(address: string): Promise<NativeConnection> {
  for (let delayMs = RESTART_MIN_MS; ; delayMs = Math.min(delayMs * 2, RESTART_MAX_MS)) {
    try {
      return await NativeConnection.connect({ address });
    } catch (error) {
      console.error(`[worker] cannot reach Temporal at ${address} (${(error as Error).message}); retrying in ${delayMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

async function main(): Promise<void> {
  // Worker lifecycle notices are INFO; LOG_LEVEL=INFO shows them, the default keeps the console readable.
  const config = loadConfig();
  Runtime.install({ logger: new DefaultLogger(config.worker.logLevel) });
  const requested = config.worker.role;
  const split = requested === 'all' && config.worker.split;
  const role: WorkerRole = split ? 'light' : requested;
  const backend = role === 'light' ? 'not loaded (light role)' : await initBackend();
  const connection = await connectWithRetry(config.temporal.address);
  const { workers } = await createWorkers({ config, role, connection });
  exitWithParent(workers);
  const accelerator = split ? new AcceleratorSupervisor() : undefined;
  accelerator?.start();
  console.log(`[worker] role ${role}${split ? ' (+ accelerator child process)' : ''}, TF backend ${backend}, Temporal ${config.temporal.address}, ` +
    `queues ${workers.map((w) => w.options.taskQueue).join(', ')}${role === 'light' ? '' : `, ONNX Runtime on ${config.onnxProvider}`}`);
  // The GPU image's CUDA 11.2 serves tfjs-node-gpu; onnxruntime-node's CUDA provider needs CUDA 12 (README, "Compute backend").
  if (backend === 'tfjs-node-gpu' && config.onnxProvider === 'cpu') {
    console.log('[worker] note: work with --engine onnx (the default) runs on this host\'s CPU; start it with --engine tf to use the GPU');
  }
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await accelerator?.stop();
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
