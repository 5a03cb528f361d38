/**
 * `--encoder-weights` through the real CLI, services and worker: `imagenet` downloads the encoder's file once from the
 * hub (a local HTTP server standing in for Hugging Face, answering as it does: a HEAD redirect carrying the file's
 * sha256) and the run's models start from it; an unreachable hub and a file that does not fit the model are refused
 * with exit 2 and a reason before any run starts.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { weightsKeys } from '../../contracts';
import type { ModelConfig } from '../../ml/types';
import { type RunningWorkers, startWorkers, testConfig, tinyDataset } from '../helpers';

const config = testConfig('weights');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-weights-cli-'));
const fixture = fs.readFileSync(new URL('../fixtures/weights/unet-mobilenet_v2-d3/model.safetensors', import.meta.url));
const digest = createHash('sha256').update(fixture).digest('hex');

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], {
      cwd: projectRoot, timeout: 180_000,
      env: { ...process.env, TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel, ...env },
    }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}

describe('--encoder-weights through the CLI', () => {
  let running: RunningWorkers;
  let hub: http.Server;
  let hubUrl: string;
  let datasetId: string;
  const hubRequests: string[] = [];

  beforeAll(async () => {
    hub = http.createServer((req, res) => {
      hubRequests.push(`${req.method} ${req.url}`);
      if (req.url === '/smp-hub/mobilenet_v2.imagenet/resolve/main/model.safetensors' && req.method === 'HEAD') {
        res.writeHead(302, { location: '/storage/mobilenet_v2', 'x-linked-etag': `"${digest}"` });
        res.end();
      } else if (req.url === '/smp-hub/mobilenet_v2.imagenet/resolve/main/model.safetensors' || req.url === '/storage/mobilenet_v2') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(fixture);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
    hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
    running = await startWorkers(config);
    datasetId = await tinyDataset(running.store, { videos: 4, framesPerVideo: 4, size: 32, seed: 5, initialCount: 4 });
  });

  afterAll(async () => {
    await running?.stop();
    await new Promise<void>((resolve) => hub.close(() => resolve()));
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  const model = ['--arch', 'Unet', '--encoder', 'mobilenet_v2', '--depth', '3', '--epochs', '1', '--batch', '4', '--k', '2', '--max-phases', '1',
    '--mc-samples', '2', '--no-augment', '--oracle'];

  it('imagenet: downloads once, verified, and the run\'s models start from it', async () => {
    const cache = path.join(scratch, 'cache');
    const runId = `test-weights-${Date.now()}`;
    const env = { ECHO_WEIGHTS_HUB: hubUrl, ECHO_WEIGHTS_CACHE: cache };
    const started = await cli(['al', 'start', '--dataset', datasetId, ...model, '--encoder-weights', 'imagenet', '--id', runId, '--wait'], env);
    expect(started.status, started.err).toBe(0);
    expect(started.err).toContain('sha256 verified');
    expect(fs.readFileSync(path.join(cache, 'weights', 'mobilenet_v2.imagenet', 'model.safetensors'))).toEqual(fixture);
    expect(await running.store.exists(weightsKeys.file(digest))).toBe(true);
    const configs = (await running.store.list(`runs/${runId}/`)).filter((k) => k.endsWith('/config.json'));
    const origins = await Promise.all(configs.map(async (k) => (await running.store.getJson<ModelConfig>(k)).weightsOrigin));
    expect(origins.filter((o) => o !== undefined).length).toBeGreaterThan(0);
    for (const origin of origins.filter((o) => o !== undefined)) expect(origin).toEqual({ source: 'mobilenet_v2.imagenet', sha256: digest, scope: 'encoder' });

    // The second run reads the cache: no new request reaches the hub.
    const requests = hubRequests.length;
    const again = await cli(['al', 'start', '--dataset', datasetId, ...model, '--encoder-weights', 'imagenet', '--id', `${runId}-again`], env);
    expect(again.status, again.err).toBe(0);
    expect(hubRequests).toHaveLength(requests);
    await cli(['stop', `${runId}-again`], env);
  });

  it('refuses before any run starts: an unreachable hub names the file to fetch; weights of another width name the tensors', async () => {
    const offline = await cli(['al', 'start', '--dataset', datasetId, ...model, '--encoder-weights', 'imagenet', '--id', 'test-weights-offline'],
      { ECHO_WEIGHTS_HUB: 'http://127.0.0.1:9', ECHO_WEIGHTS_CACHE: path.join(scratch, 'offline') });
    expect(offline.status).toBe(2);
    expect(offline.err).toMatch(/^error: --encoder-weights imagenet: cannot reach http:\/\/127\.0\.0\.1:9 .*offline: fetch http:\/\/127\.0\.0\.1:9\/smp-hub\/mobilenet_v2\.imagenet\/resolve\/main\/model\.safetensors and put it at /s);

    const narrow = await cli(['al', 'start', '--dataset', datasetId, ...model, '--width', '0.5', '--encoder-weights',
      new URL('../fixtures/weights/unet-mobilenet_v2-d3/', import.meta.url).pathname, '--id', 'test-weights-narrow'], {});
    expect(narrow.status).toBe(2);
    expect(narrow.err).toMatch(/^error: --encoder-weights: .* problem\(s\):/);
    expect(narrow.err).toContain('wrong shape: encoder.features.0.0.weight');
    const listed = await cli(['runs', 'list', '--json'], {});
    const ids = (JSON.parse(listed.out) as { id: string }[]).map((r) => r.id);
    expect(ids).not.toContain('test-weights-offline');
    expect(ids).not.toContain('test-weights-narrow');
  });
});
