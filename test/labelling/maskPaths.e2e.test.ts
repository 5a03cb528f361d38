/**
 * Every kind of mask a doctor or tool may send, through both ways in — `labels submit` (the real CLI process) and
 * POST /labels — against a real run: each is stored exactly (the canonical mask under its content hash holds
 * exactly the foreground that was meant) or rejected with its reason, and a rejection stores nothing.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { runKeys } from '../../contracts';
import { maskContentHash, normaliseMaskBytes } from '../../data/masks';
import { createLabelServer } from '../../labelling/server';
import { activeLearning } from '../../workflows';
import { statusQuery, stopSignal } from '../../contracts/messages';
import { type RunningWorkers, startWorkers, testConfig, tinyActiveLearning, tinyDataset, waitFor } from '../helpers';

const config = testConfig('mask-paths');
const S = 32;
const N = S * S;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-masks-'));

const where = (predicate: (x: number, y: number, i: number) => boolean) =>
  Array.from({ length: N }, (_, i) => i).filter((i) => predicate(i % S, Math.floor(i / S), i));
/** The LV: a block. */
const block = where((x, y) => x >= 9 && x <= 20 && y >= 6 && y <= 24);
/** 55 scattered pixels (i ↦ 7i mod 1024 is a permutation). */
const scattered = where((_x, _y, i) => (i * 7) % N < 55);
const edge = where((x, y) => x >= 8 && x <= 21 && y >= 5 && y <= 25).filter((i) => !block.includes(i));

async function png(data: Uint8Array | Uint16Array, channels: 1 | 2 | 3 | 4, size = S): Promise<Uint8Array> {
  const sixteen = data instanceof Uint16Array;
  const space = channels <= 2 ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb';
  return new Uint8Array(await sharp(data, { raw: { width: size, height: size, channels } }).toColourspace(space).png().toBuffer());
}

function grey(values: [number[], number][], TypedArray: Uint8ArrayConstructor | Uint16ArrayConstructor = Uint8Array, n = N) {
  const data = new TypedArray(n);
  for (const [pixels, value] of values) for (const i of pixels) data[i] = value;
  return data;
}

function interleave(channels: 2 | 3 | 4, sample: (i: number) => number[]): Uint8Array {
  const data = new Uint8Array(N * channels);
  for (let i = 0; i < N; i++) data.set(sample(i), i * channels);
  return data;
}

interface MaskCase {
  name: string;
  bytes: Uint8Array;
  label?: number;
  allowEmpty?: boolean;
  /** Foreground pixels it must be stored with … */
  foreground?: number[];
  /** … or the reason it must be rejected with. */
  rejected?: RegExp;
}

async function cases(): Promise<MaskCase[]> {
  const inBlock = new Set(block);
  const inEdge = new Set(edge);
  const colour = [51, 221, 255];
  const labelMap = grey([[where((x) => x < 8), 2], [where((x) => x > 24), 3], [block, 1]]);
  const full = await png(grey([[block, 255]]), 1);
  return [
    { name: '0/1', bytes: await png(grey([[block, 1]]), 1), foreground: block },
    { name: '0/255', bytes: full, foreground: block },
    { name: '16-bit 0/65535', bytes: await png(grey([[block, 65535]], Uint16Array), 1), foreground: block },
    { name: '16-bit 0/1', bytes: await png(grey([[scattered, 1]], Uint16Array), 1), foreground: scattered },
    { name: 'grey+alpha stroke', bytes: await png(interleave(2, (i) => [255, inBlock.has(i) ? 255 : inEdge.has(i) ? 90 : 0]), 2), foreground: block },
    { name: 'colour on black', bytes: await png(interleave(3, (i) => (inBlock.has(i) ? colour : [0, 0, 0])), 3), foreground: block },
    { name: 'anti-aliased RGBA brush', bytes: await png(interleave(4, (i) => (inBlock.has(i) ? [200, 0, 0, 255] : inEdge.has(i) ? [200, 0, 0, 100] : [0, 0, 0, 0])), 4), foreground: block },
    { name: 'label map without a label', bytes: await png(labelMap, 1), rejected: /several labels \(0, 1, 2, 3\).*label/i },
    { name: 'label map with label 1', bytes: await png(labelMap, 1), label: 1, foreground: block },
    { name: 'empty', bytes: await png(grey([]), 1), rejected: /empty|no foreground/i },
    { name: 'empty, said to have no LV', bytes: await png(grey([]), 1), allowEmpty: true, foreground: [] },
    { name: 'two colours', bytes: await png(interleave(3, (i) => (inBlock.has(i) ? [255, 0, 0] : inEdge.has(i) ? [0, 255, 0] : [0, 0, 0])), 3), rejected: /colour/i },
    { name: 'wrong size', bytes: await png(grey([[[0, 1, 2], 255]], Uint8Array, 16 * 16), 1, 16), rejected: /mask is 16×16; the image is 32×32/ },
    { name: 'truncated', bytes: full.subarray(0, Math.floor(full.length / 2)), rejected: /truncated|unreadable|not a readable|damaged/i },
    { name: 'crisp JPEG', bytes: new Uint8Array(await sharp(grey([[block, 255]]), { raw: { width: S, height: S, channels: 1 } }).jpeg({ quality: 95 }).toBuffer()), foreground: block },
  ];
}

function cli(args: string[]): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], {
      cwd: projectRoot, timeout: 120_000, env: { ...process.env, TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel },
    }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}

describe('masks through labels submit and POST /labels', () => {
  let running: RunningWorkers;
  let workflowId: string;
  let itemId: string;
  let port: number;
  let server: ReturnType<typeof createLabelServer>;
  const token = 'mask-paths-token-0123456789';

  beforeAll(async () => {
    running = await startWorkers(config);
    const datasetId = await tinyDataset(running.store, { seed: 4 });
    workflowId = `test-mask-paths-${Date.now()}`;
    const handle = await running.client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId, args: [tinyActiveLearning(config, datasetId, { oracle: false, labelsPerPhase: 2, maxPhases: 2 })],
    });
    const pending = await waitFor(async () => (await handle.query(statusQuery)).pending, 'the labelling request');
    itemId = pending.remaining[0]; // the other requested image stays unanswered, so the phase stays open
    server = createLabelServer({ client: running.client, store: running.store, token, resolveRun: async (id) => id });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    server?.close();
    await running?.client.workflow.getHandle(workflowId).signal(stopSignal, {}).catch(() => undefined);
    await running?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  const storedLabels = () => running.store.list(runKeys.phaseLabelsPrefix(workflowId, 0));

  async function expectStoredExactly(foreground: number[]): Promise<void> {
    const mask = new Uint8Array(N);
    for (const i of foreground) mask[i] = 1;
    const key = runKeys.phaseLabel(workflowId, 0, itemId, maskContentHash(mask, [S, S]));
    const stored = await normaliseMaskBytes(await running.store.getBytes(key), { size: [S, S], allowEmpty: true });
    if (!stored.ok) throw new Error(stored.reason);
    expect(Array.from(stored.mask.keys()).filter((i) => stored.mask[i] === 1)).toEqual(foreground);
  }

  it('through the CLI: each mask stored exactly or rejected with its reason (exit 1), nothing stored for a rejection', async () => {
    for (const c of await cases()) {
      const dir = path.join(scratch, `cli-${c.name.replace(/\W+/g, '-')}`);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, `${itemId}${c.name.includes('JPEG') ? '.jpg' : '.png'}`), c.bytes);
      const before = await storedLabels();
      const args = ['labels', 'submit', workflowId, '--dir', dir, ...(c.label ? ['--label', String(c.label)] : []), ...(c.allowEmpty ? ['--allow-empty'] : [])];
      const run = await cli(args);
      if (c.rejected) {
        expect(run.status, `${c.name}: ${run.out}${run.err}`).toBe(1);
        expect(run.err, c.name).toMatch(c.rejected);
        expect(run.err.trim().split('\n'), c.name).toHaveLength(1);
        expect(await storedLabels(), c.name).toEqual(before);
      } else {
        expect(run.status, `${c.name}: ${run.err}`).toBe(0);
        await expectStoredExactly(c.foreground!);
      }
    }
  });

  it('through POST /labels: 200 and stored exactly, or 400 with the reason and nothing stored', async () => {
    for (const c of await cases()) {
      const before = await storedLabels();
      const response = await fetch(`http://127.0.0.1:${port}/labels`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ workflowId, phase: 0, label: c.label, allowEmpty: c.allowEmpty, items: [{ id: itemId, maskPng: Buffer.from(c.bytes).toString('base64') }] }),
      });
      const body = await response.json() as { rejected?: { id: string; reason: string }[]; accepted?: string[] };
      if (c.rejected) {
        expect(response.status, c.name).toBe(400);
        expect(body.rejected?.[0]?.reason, c.name).toMatch(c.rejected);
        expect(await storedLabels(), c.name).toEqual(before);
      } else {
        expect(response.status, `${c.name}: ${JSON.stringify(body)}`).toBe(200);
        await expectStoredExactly(c.foreground!);
      }
    }
    // The refusals are recorded beside the run, where `status` shows them.
    const status = await cli(['status', workflowId]);
    expect(status.out).toMatch(/rejected .* from http/);
  });
});
