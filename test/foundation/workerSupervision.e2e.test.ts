/**
 * The real worker process (`tsx worker.ts`, WORKER_ROLE=all): its accelerator child is restarted when it crashes,
 * and exits when the parent dies, so no orphan keeps serving activities; SIGINT stops both.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { ObjectStore } from '../../store/objectStore';
import { activeLearning } from '../../workflows';
import { testConfig, tinyActiveLearning, tinyDataset, waitFor } from '../helpers';

const config = testConfig('supervision');

/** Processes whose environment names this test's accelerator queue, by role. */
function workerProcesses(): { pid: number; ppid: number; role: string }[] {
  const found: { pid: number; ppid: number; role: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (!env.includes(`TASK_QUEUE_ACCEL=${config.taskQueues.accel}`)) continue;
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes('worker.ts')) continue;
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const role = env.find((v) => v.startsWith('WORKER_ROLE='))?.slice('WORKER_ROLE='.length) ?? 'all';
      found.push({ pid: Number(entry), ppid, role });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

const accelerators = () => workerProcesses().filter((p) => p.role === 'accel');
/** The worker that supervises the accelerator child: the accelerator's parent. */
const supervisor = () => workerProcesses().find((p) => accelerators().some((a) => a.ppid === p.pid));

describe('worker supervision', () => {
  let worker: ChildProcess;
  const log: string[] = [];
  let connection: Connection;
  let client: Client;
  let datasetId: string;

  beforeAll(async () => {
    connection = await Connection.connect({ address: config.temporal.address });
    client = new Client({ connection, namespace: config.temporal.namespace });
    const store = new ObjectStore(config.minio);
    datasetId = await tinyDataset(store, { seed: 8 });
    worker = spawn(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['worker.ts'], {
      cwd: projectRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel },
    });
    worker.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
    worker.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  });

  afterAll(async () => {
    for (const p of workerProcesses()) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await connection?.close();
  });

  it('restarts a crashed accelerator child, which then serves runs; the child exits when the parent is killed', async () => {
    const first = await waitFor(async () => accelerators()[0], 'the accelerator child', 120_000);
    process.kill(first.pid, 'SIGKILL');
    const killedAt = Date.now();
    const second = await waitFor(async () => accelerators().find((a) => a.pid !== first.pid), 'a new accelerator child', 60_000);
    console.log(`[supervision] accelerator child restarted ${((Date.now() - killedAt) / 1000).toFixed(1)} s after it was killed`);
    expect(second.ppid).toBe(first.ppid);
    expect(log.join('')).toMatch(/accelerator worker process exited .*restarting it in 1 s/);

    // The restarted child serves accelerator activities: a run trains and finishes.
    const result = await client.workflow.execute(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId: `test-supervision-${Date.now()}`,
      args: [tinyActiveLearning(config, datasetId, { maxPhases: 1, acquisition: 'random' })],
    });
    expect(result.stopReason).toBe('max-phases');

    // Killing the parent leaves no orphan: the child notices and exits.
    const parent = supervisor()!;
    process.kill(parent.pid, 'SIGKILL');
    const parentKilledAt = Date.now();
    await waitFor(async () => (accelerators().length === 0 ? true : undefined), 'the orphaned accelerator child to exit', 60_000);
    console.log(`[supervision] accelerator child exited ${((Date.now() - parentKilledAt) / 1000).toFixed(1)} s after its parent was killed`);
  }, 300_000);

  it('stops both processes on SIGINT to the `tsx` wrapper, as the demo stops its worker', async () => {
    const graceful = spawn(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['worker.ts'], {
      cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel },
    });
    const out: string[] = [];
    graceful.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
    graceful.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
    const exited = new Promise<number | null>((resolve) => graceful.once('exit', resolve));
    await waitFor(async () => (/role accel,/.test(out.join('')) ? true : undefined), 'the accelerator child to serve', 120_000);
    graceful.kill('SIGINT');
    const signalledAt = Date.now();
    const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 60_000))]);
    expect(code, out.join('')).not.toBe('hung');
    console.log(`[supervision] worker (parent and accelerator child) stopped ${((Date.now() - signalledAt) / 1000).toFixed(1)} s after SIGINT`);
    expect(out.join('')).toMatch(/accel stopped/);
    expect(out.join('')).toMatch(/light stopped/);
    expect(accelerators()).toHaveLength(0);
  }, 240_000);
});
