/** Downloading weights: against a local HTTP server serving a fixture (tests never reach the internet). */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DownloadError, fetchImagenetWeights, fetchVerified, imagenetWeights, offlineImagenetMessage } from '../../../ml/weights/download';
import { encodeSafetensors } from '../../../ml/weights/safetensors';

const fixture = encodeSafetensors([{ name: 'conv1.weight', shape: [2, 1, 1, 1], data: Float32Array.from([1, 2]) }]);
const digest = createHash('sha256').update(fixture).digest('hex');
let server: http.Server;
let base: string;
let requests = 0;
let dir: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests++;
    if (req.url === '/smp-hub/resnet18.imagenet/model.safetensors') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from(fixture));
    } else if (req.url?.startsWith('/hub/') && req.url.endsWith('/resolve/main/model.safetensors')) {
      // As the Hugging Face hub answers: HEAD redirects to the storage with the LFS sha256 in X-Linked-Etag.
      const lying = req.url.includes('/smp-hub/lying.');
      if (req.method === 'HEAD') {
        res.writeHead(302, { location: '/smp-hub/resnet18.imagenet/model.safetensors', 'x-linked-etag': `"${lying ? 'f'.repeat(64) : digest}"` });
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.from(fixture));
      }
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dl-'));
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('weights download', () => {
  it('downloads once, verifies the sha256, and serves the cache afterwards', async () => {
    const file = path.join(dir, 'cache', 'model.safetensors');
    expect(await fetchVerified(`${base}/smp-hub/resnet18.imagenet/model.safetensors`, file, digest)).toBe(digest);
    expect(new Uint8Array(fs.readFileSync(file))).toEqual(fixture);
    const before = requests;
    expect(await fetchVerified(`${base}/smp-hub/resnet18.imagenet/model.safetensors`, file, digest)).toBe(digest);
    expect(requests).toBe(before);
  });

  it('keeps nothing when the hash differs or the server refuses', async () => {
    const file = path.join(dir, 'bad', 'model.safetensors');
    await expect(fetchVerified(`${base}/smp-hub/resnet18.imagenet/model.safetensors`, file, '0'.repeat(64))).rejects.toThrow(/expected 0{64}: not kept/);
    await expect(fetchVerified(`${base}/missing`, file)).rejects.toThrow(DownloadError);
    await expect(fetchVerified(`${base}/missing`, file)).rejects.toThrow(/HTTP 404/);
    expect(fs.existsSync(path.dirname(file)) ? fs.readdirSync(path.dirname(file)) : []).toEqual([]);
  });

  it('names the file to fetch and where to put it on an offline machine', () => {
    const { url, file } = imagenetWeights('resnet34', '/srv/echo/.cache');
    expect(url).toBe('https://huggingface.co/smp-hub/resnet34.imagenet/resolve/main/model.safetensors');
    expect(file).toBe('/srv/echo/.cache/weights/resnet34.imagenet/model.safetensors');
    expect(offlineImagenetMessage('resnet34', '/srv/echo/.cache')).toBe(`offline: fetch ${url} and put it at ${file} (or pass its path to --encoder-weights)`);
  });

  it('imagenet: downloads from the hub once, checked against the sha256 the hub declares, then reads the cache', async () => {
    const cache = path.join(dir, 'hub-cache');
    const log: string[] = [];
    const file = await fetchImagenetWeights('resnet18', cache, `${base}/hub`, (m) => log.push(m));
    expect(file).toBe(path.join(cache, 'weights', 'resnet18.imagenet', 'model.safetensors'));
    expect(new Uint8Array(fs.readFileSync(file))).toEqual(fixture);
    expect(log.at(-1)).toBe('downloaded, sha256 verified');
    const before = requests;
    expect(await fetchImagenetWeights('resnet18', cache, `${base}/hub`)).toBe(file);
    expect(requests).toBe(before);
  });

  it('imagenet: keeps nothing when the file differs from what the hub declares', async () => {
    const cache = path.join(dir, 'lying-cache');
    await expect(fetchImagenetWeights('lying', cache, `${base}/hub`)).rejects.toThrow(/expected f{64}: not kept/);
    expect(fs.existsSync(cache)).toBe(false);
  });

  it('imagenet: an unreachable hub fails at once, naming the file to fetch and where to put it', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const cache = path.join(dir, 'offline-cache');
    const error = await fetchImagenetWeights('resnet34', cache, `http://127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as Error).message).toContain(`cannot reach http://127.0.0.1:${port}`);
    expect((error as Error).message).toContain(`offline: fetch http://127.0.0.1:${port}/smp-hub/resnet34.imagenet/resolve/main/model.safetensors and put it at ${path.join(cache, 'weights', 'resnet34.imagenet', 'model.safetensors')}`);
    expect(fs.existsSync(cache)).toBe(false);
  });
});
