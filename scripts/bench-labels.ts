/**
 * A burst against the labels server, as a labelling tool sending a batch makes it: N single-mask POST /labels at
 * once, against a real run waiting for N masks (services started if needed, a worker in this process, the labels
 * server as its own process: `client.ts labels serve`, so its memory is its own).
 *
 *   npx tsx scripts/bench-labels.ts [--requests 200] [--max-concurrent N] [--max-queued N] [--queue-timeout 2m] [--size 32]
 *
 * Server options not given keep the server's defaults. Printed: the answers by status (refusals: anything but 200),
 * latency p50 / p95 / max, the server's resident memory before, at its peak during the burst (sampled every 50 ms)
 * and its high-water mark (VmHWM), and how many masks the run received.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../config';
import type { ActiveLearningInput } from '../contracts';
import { statusQuery, stopSignal } from '../contracts/messages';
import { importSyntheticEcho } from '../data/import';
import { datasetKeys } from '../data/manifest';
import { activeLearning } from '../workflows';
import { benchOptions, intOption, printCommand } from './benchArgs';
import { startBenchWorkers } from './benchWorkers';

const USAGE = 'npx tsx scripts/bench-labels.ts [--requests 200] [--max-concurrent N] [--max-queued N] [--queue-timeout 2m] [--size 32]';
const values = benchOptions(USAGE, {
  requests: { type: 'string', default: '200' }, size: { type: 'string', default: '32' },
  'max-concurrent': { type: 'string' }, 'max-queued': { type: 'string' }, 'queue-timeout': { type: 'string' },
});
const requests = intOption(USAGE, 'requests', values.requests);
const size = intOption(USAGE, 'size', values.size, 8);
printCommand('bench-labels.ts');
const serverFlags = (['max-concurrent', 'max-queued', 'queue-timeout'] as const).flatMap((name) => (values[name] ? [`--${name}`, values[name]!] : []));

const freePort = () => new Promise<number>((resolve) => {
  const probe = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address() as net.AddressInfo;
    probe.close(() => resolve(port));
  });
});

/** Resident memory of a process in MiB (VmRSS, or VmHWM: its peak), from /proc. */
function memoryMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Starts `client.ts labels serve` (node with tsx's loader, so the pid is the server's) and waits for its start line. */
async function startLabelServer(port: number, token: string): Promise<ChildProcess> {
  const server = spawn(process.execPath, ['--import', 'tsx', 'client.ts', 'labels', 'serve', '--port', String(port), ...serverFlags], {
    cwd: projectRoot, env: { ...process.env, LABELS_TOKEN: token }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('labels server on')) resolve();
    });
    server.once('exit', (code) => reject(new Error(`labels serve exited with ${code}: ${out}`)));
  });
  return server;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

async function main(): Promise<void> {
  const { taskQueues, suffix, store, client, stop } = await startBenchWorkers('labels');
  const workflowId = `bench-labels-${suffix}`;
  let server: ChildProcess | undefined;
  try {
    // Enough training frames for one request of N: 80 % of the videos are training videos, 4 frames start labelled.
    const framesPerVideo = 16;
    const videos = Math.ceil((requests + 8) / (0.8 * framesPerVideo)) + 1;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-labels-'));
    const imported = await importSyntheticEcho(store, { dir, videos, framesPerVideo, size, seed: 3, initialCount: 4, testShare: 0.2 });
    fs.rmSync(dir, { recursive: true, force: true });
    const input: ActiveLearningInput = {
      datasetId: imported.datasetId,
      model: { arch: 'Unet', encoder: 'resnet18', encoderDepth: 3, widthScale: 0.0625 },
      dropout: { strategy: 'head', rate: 0.3 },
      hyper: { epochs: 1, batchSize: 4, learningRate: 1e-3, seed: 7, augment: false },
      acquisition: 'random', reduce: 'mean', mcSamples: 2, mcMode: 'fast', labelsPerPhase: requests, targetIoU: 0.999,
      maxLabelled: 100_000, maxPhases: 2, oracle: false, reminderEveryMs: 24 * 3600_000, taskQueues,
    };
    const handle = await client.workflow.start(activeLearning, { taskQueue: taskQueues.light, workflowId, args: [input] });
    let ids: string[] = [];
    for (const deadline = Date.now() + 600_000; ids.length === 0; await new Promise((r) => setTimeout(r, 500))) {
      if (Date.now() > deadline) throw new Error('the run did not ask for masks within 10 minutes');
      ids = (await handle.query(statusQuery)).pending?.remaining ?? [];
    }
    if (ids.length < requests) throw new Error(`the run asks for ${ids.length} masks, not ${requests}`);
    const bodies = await Promise.all(ids.map(async (id) => JSON.stringify({
      workflowId, phase: 0, items: [{ id, maskPng: Buffer.from(await store.getBytes(datasetKeys.mask(imported.datasetId, id))).toString('base64') }],
    })));

    const token = randomBytes(18).toString('base64url');
    const port = await freePort();
    server = await startLabelServer(port, token);
    const pid = server.pid!;
    const rssBefore = memoryMiB(pid, 'VmRSS');
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, memoryMiB(pid, 'VmRSS'));
    }, 50);

    console.log(`run ${workflowId} waits for ${ids.length} masks (${size}×${size}); labels server pid ${pid} ${serverFlags.join(' ') || '(defaults)'}: ` +
      `${requests} single-mask POST /labels at once…`);
    const started = performance.now();
    const answers = await Promise.all(bodies.map(async (body) => {
      const sent = performance.now();
      try {
        const response = await fetch(`http://127.0.0.1:${port}/labels`, {
          method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body,
        });
        const text = await response.text();
        return { status: response.status, ms: performance.now() - sent, retryAfter: response.headers.get('retry-after'), text };
      } catch (error) {
        return { status: 0, ms: performance.now() - sent, retryAfter: null, text: (error as Error).message };
      }
    }));
    const wallS = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const rssHwm = memoryMiB(pid, 'VmHWM');

    const byStatus = new Map<number, number>();
    for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
    const refused = answers.filter((a) => a.status !== 200);
    const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
    const status = await handle.query(statusQuery);
    const received = status.pending && status.pending.phase === 0 ? ids.length - status.pending.remaining.length : ids.length;
    console.log(`answers: ${[...byStatus].map(([code, n]) => `${n} × ${code || 'no answer'}`).join(', ')}; refusals ${refused.length}` +
      `${refused.length ? ` (e.g. ${refused[0].status}${refused[0].retryAfter ? `, Retry-After ${refused[0].retryAfter}` : ''}: ${refused[0].text.slice(0, 160)})` : ''}`);
    console.log(`latency: p50 ${(percentile(ms, 50) / 1000).toFixed(2)} s, p95 ${(percentile(ms, 95) / 1000).toFixed(2)} s, max ${(ms.at(-1)! / 1000).toFixed(2)} s; ` +
      `all answered in ${wallS.toFixed(1)} s`);
    console.log(`labels server memory: RSS ${rssBefore.toFixed(0)} MiB before, ${rssPeak.toFixed(0)} MiB at the peak sampled, high-water mark ${rssHwm.toFixed(0)} MiB`);
    console.log(`the run received ${received} of ${ids.length} masks (phase 0 ${status.pending?.phase === 0 ? status.stage : 'closed'})`);
  } finally {
    server?.kill('SIGTERM');
    await client.workflow.getHandle(workflowId).signal(stopSignal, {}).catch(() => undefined);
    await stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
