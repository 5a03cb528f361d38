/**
 * Cold start end to end, as a hospital team would do it with the CLI: a folder of unlabelled multi-frame ultrasound
 * DICOM → `dataset import` → `al start` asks for validation, test and initial frames → a frame marked unusable is
 * replaced → the masks through `labels submit` → phase 1 trains on the dataset they make and reports test IoU.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import type { LabellingRequestItem } from '../../contracts';
import { readManifest } from '../../data/manifest';
import { activeLearning } from '../../workflows';
import { fakeIdentity, maskPng, sopClass, transferSyntax, writeDicom } from '../data/dicomFixtures';
import { type RunningWorkers, startWorkers, testConfig, waitFor } from '../helpers';

const config = testConfig('cold-start');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-cold-start-'));
const env = { TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel, DICOM_ID_SALT: 'cold-start-test-salt' };

function cli(args: string[]): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], { cwd: projectRoot, timeout: 180_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}

async function pending(runId: string): Promise<LabellingRequestItem[]> {
  const listed = await cli(['labels', 'pending', runId, '--format', 'json']);
  if (listed.status !== 0) throw new Error(listed.err);
  return (JSON.parse(listed.out) as { items: LabellingRequestItem[] }).items;
}

describe('a folder of unlabelled studies becomes a trained model', () => {
  let running: RunningWorkers;
  let client: Client;

  beforeAll(async () => {
    running = await startWorkers(config);
    ({ client } = running);
  });

  afterAll(async () => {
    await running?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('imports without masks, asks for the evaluation and initial frames, replaces an unusable one, then trains and reports test IoU', async () => {
    const dir = path.join(scratch, 'studies');
    fs.mkdirSync(dir);
    for (let study = 1; study <= 6; study++) {
      const written = await writeDicom({
        transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame, rows: 32, columns: 32, frames: 4,
        identity: fakeIdentity(study, 1, 1),
      });
      fs.writeFileSync(path.join(dir, `study${study}.dcm`), written.bytes);
    }
    const imported = await cli(['dataset', 'import', '--format', 'dicom', '--dir', dir, '--size', '32', '--test-videos', '2', '--val-videos', '1', '--json']);
    expect(imported.status, imported.err).toBe(0);
    const summary = JSON.parse(imported.out) as { datasetId: string; imported: number; labelled: number; splits: Record<string, number> };
    expect(summary).toMatchObject({ imported: 24, labelled: 0 });
    expect(summary.splits).toMatchObject({ initial: 0, test: 0, val: 0, testUnlabelled: 8, valUnlabelled: 4, pool: 12 });

    const runId = `test-cold-${Date.now()}`;
    const started = await cli(['al', 'start', '--dataset', summary.datasetId, '--id', runId, '--arch', 'Unet', '--encoder', 'resnet18', '--depth', '3',
      '--width', '0.0625', '--epochs', '2', '--batch', '4', '--lr', '0.001', '--k', '2', '--max-phases', '1', '--initial', '4',
      '--eval-frames-per-video', '1', '--no-augment', '--seed', '3', '--json']);
    expect(started.status, started.err).toBe(0);

    const requested = await waitFor(async () => pending(runId).catch(() => undefined), 'the first request');
    const purposes = (items: LabellingRequestItem[]) => items.map((i) => i.purpose).sort();
    expect(purposes(requested)).toEqual(['initial', 'initial', 'initial', 'initial', 'test', 'test', 'validation']);
    const status = await cli(['status', runId]);
    expect(status.out).toMatch(/the dataset lacks masks: the first request asks doctors for the evaluation and initial frames.*validation 1, test 2, initial 4/);

    // The doctor cannot label one initial frame: it is replaced by another initial frame.
    const unusable = requested.find((i) => i.purpose === 'initial')!.id;
    const marked = await cli(['labels', 'submit', runId, '--unusable', unusable, '--json']);
    expect(marked.status, marked.err).toBe(0);
    const after = await waitFor(async () => {
      const items = await pending(runId);
      return items.some((i) => !requested.some((r) => r.id === i.id)) ? items : undefined;
    }, 'the replacement frame');
    expect(after.some((i) => i.id === unusable)).toBe(false);
    expect(purposes(after)).toEqual(['initial', 'initial', 'initial', 'initial', 'test', 'test', 'validation']);

    const masks = path.join(scratch, 'masks');
    fs.mkdirSync(masks);
    const plane = new Uint8Array(32 * 32);
    for (let y = 8; y < 24; y++) for (let x = 10; x < 22; x++) plane[y * 32 + x] = 1;
    for (const item of after) fs.writeFileSync(path.join(masks, `${item.id}.png`), await maskPng(plane, 32, 32));
    const submitted = await cli(['labels', 'submit', runId, '--dir', masks, '--json']);
    expect(submitted.status, submitted.err).toBe(0);
    expect(JSON.parse(submitted.out).accepted).toHaveLength(7);

    const result = await client.workflow.getHandle<typeof activeLearning>(runId).result();
    expect(result.stopReason).toBe('max-phases');
    expect(result.history).toHaveLength(1);
    expect(result.history[0]).toMatchObject({ phase: 1, labelled: 4, testVideos: 2 });
    expect(result.history[0].iou).toBeGreaterThanOrEqual(0);
    expect(result.history[0].valIoU).toBeDefined();
    const final = await cli(['status', runId, '--json']);
    const finalStatus = JSON.parse(final.out) as { status: { bootstrappedFrom?: string } };
    expect(finalStatus.status.bootstrappedFrom).toBe(summary.datasetId);
    // The labelled dataset: the masks in its test, validation and initial splits, the unusable frame in none.
    const datasets = await cli(['dataset', 'list', '--json']);
    const made = (JSON.parse(datasets.out) as { id: string; name: string }[]).find((d) => d.name.includes(`run ${runId}`));
    expect(made).toBeDefined();
    const manifest = await readManifest(running.store, made!.id);
    expect(manifest.splits.counts).toMatchObject({ initial: 4, test: 2, val: 1, testUnlabelled: 6, valUnlabelled: 3, pool: 7 });
  }, 600_000);
});
