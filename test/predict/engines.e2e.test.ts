/**
 * The engines through the workers (real Temporal dev server, MinIO, worker): `predict --workflow` gives the same masks
 * with `--engine onnx` as with `--engine tf`, with and without `--uncertainty` (scores within 1e-5), and records the
 * engine in the workflow's input; a tiny active-learning run started with `al start --engine onnx` completes, and its
 * input and every evaluation and scoring request it scheduled carry the engine.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ActiveLearningCheckpoint, type PredictBatchRecord, runKeys } from '../../contracts';
import { type RunningWorkers, startWorkers, testConfig, tinyDataset } from '../helpers';
import { cli as runCli, echoFrames, framePng, storeTinyModel } from './helpers';

const config = testConfig('engines');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-engines-'));
const pngDir = path.join(scratch, 'png');
const runId = `test-engines-run-${randomUUID().slice(0, 8)}`;
const queues = { TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel };
const cli = (...args: string[]) => runCli(args, queues);

/** The JSON payloads of a workflow's (every run's) start input and of the activities it scheduled, by activity name. */
async function recordedInputs(client: Client, workflowId: string): Promise<{ input: Record<string, unknown>; activities: Map<string, Record<string, unknown>[]> }> {
  const decode = (data: Uint8Array | null | undefined) => JSON.parse(new TextDecoder().decode(data!)) as Record<string, unknown>;
  const activities = new Map<string, Record<string, unknown>[]>();
  let input: Record<string, unknown> | undefined;
  for await (const execution of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const history = await client.workflow.getHandle(workflowId, execution.runId).fetchHistory();
    for (const event of history.events ?? []) {
      const started = event.workflowExecutionStartedEventAttributes;
      if (started && !started.continuedExecutionRunId) input = decode(started.input?.payloads?.[0]?.data);
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled) {
        const name = scheduled.activityType!.name!;
        activities.set(name, [...(activities.get(name) ?? []), decode(scheduled.input?.payloads?.[0]?.data)]);
      }
    }
  }
  return { input: input!, activities };
}

function batchRecords(dir: string): PredictBatchRecord[] {
  const batches = path.join(dir, 'batches');
  return fs.readdirSync(batches).sort().map((file) => JSON.parse(fs.readFileSync(path.join(batches, file), 'utf8')) as PredictBatchRecord);
}

describe('the ONNX Runtime engine through the workers', () => {
  let running: RunningWorkers;
  let client: Client;

  beforeAll(async () => {
    running = await startWorkers(config);
    ({ client } = running);
    await storeTinyModel(running.store, runKeys.segmentationModel(runId, 0), { seed: 1 });
    await storeTinyModel(running.store, runKeys.uncertaintyModel(runId, 0), { seed: 3, dropout: { strategy: 'head', rate: 0.3 } });
    const checkpoint: ActiveLearningCheckpoint = {
      runId, datasetId: 'none', writtenAt: new Date().toISOString(),
      state: {
        phase: 1, labelledKey: 'k', labelledCount: 4, poolKey: 'k', poolCount: 0, testKey: 'k', testCount: 1, invalid: [], stopRequested: false,
        history: [{ phase: 0, labelled: 4, iou: 0.6, dice: 0.7, valIoU: 0.6, acquisition: 'mfe', trainMs: 1, segResumedFromEpoch: 0, segAttempts: 1 }],
      },
    };
    await running.store.putJson(runKeys.checkpoint(runId), checkpoint);
    fs.mkdirSync(pngDir, { recursive: true });
    for (const f of echoFrames([40, 56], { frames: 3, videos: 2 })) fs.writeFileSync(path.join(pngDir, `${f.id}.png`), await framePng(f));
  });

  afterAll(async () => {
    await running?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('predict --workflow: --engine onnx gives --engine tf\'s masks, with and without --uncertainty, and the workflow input records the engine', async () => {
    const cases = (['tf', 'onnx'] as const).flatMap((engine) => [false, true].map((uncertainty) => ({ engine, uncertainty, id: `test-engines-${engine}-${uncertainty ? 'mc' : 'plain'}-${randomUUID().slice(0, 8)}` })));
    const runs = await Promise.all(cases.map((c) => cli(
      'predict', '--run', runId, '--input', pngDir, '--workflow', '--id', c.id, '--engine', c.engine, '--batch', '3', '--json',
      ...(c.uncertainty ? ['--uncertainty', '--samples', '3'] : []), '--out', path.join(scratch, c.id),
    )));
    for (const run of runs) expect(run.status, run.err).toBe(0);
    for (const c of cases) {
      const { input } = await recordedInputs(client, c.id);
      expect((input.options as { engine?: string }).engine, c.id).toBe(c.engine);
    }
    for (const uncertainty of [false, true]) {
      const [tf, onnx] = (['tf', 'onnx'] as const).map((engine) => path.join(scratch, cases.find((c) => c.engine === engine && c.uncertainty === uncertainty)!.id));
      const masks = fs.readdirSync(path.join(tf, 'masks')).sort();
      expect(masks).toHaveLength(6);
      expect(fs.readdirSync(path.join(onnx, 'masks')).sort()).toEqual(masks);
      for (const mask of masks) expect(fs.readFileSync(path.join(onnx, 'masks', mask)).equals(fs.readFileSync(path.join(tf, 'masks', mask))), mask).toBe(true);
      const tfRows = batchRecords(tf).flatMap((r) => r.rows);
      const onnxRows = batchRecords(onnx).flatMap((r) => r.rows);
      expect(onnxRows.map(({ uncertainty: _u, ...row }) => row)).toEqual(tfRows.map(({ uncertainty: _u, ...row }) => row));
      onnxRows.forEach((row, i) => {
        if (!uncertainty) return expect(row.uncertainty).toBeUndefined();
        expect(row.uncertainty).toBeGreaterThan(0);
        expect(Math.abs(row.uncertainty! - tfRows[i].uncertainty!), row.id).toBeLessThan(1e-5);
      });
    }
  });

  it('al start --engine onnx: the run completes, and its input and its evaluation and scoring requests record the engine', async () => {
    const datasetId = await tinyDataset(running.store);
    const workflowId = `test-engines-al-${randomUUID().slice(0, 8)}`;
    const started = await cli(
      'al', 'start', '--dataset', datasetId, '--id', workflowId, '--oracle', '--engine', 'onnx', '--arch', 'Unet', '--encoder', 'resnet18', '--depth', '3',
      '--width', '0.0625', '--epochs', '1', '--batch', '4', '--lr', '1e-3', '--no-augment', '--mc-samples', '4', '--k', '3', '--max-phases', '2',
      '--target', '0.999', '--json', '--wait',
    );
    expect(started.status, started.err).toBe(0);
    const result = await client.workflow.getHandle(workflowId).result() as { stopReason: string; history: { phase: number; iou: number }[] };
    expect(result.stopReason).toBe('max-phases');
    expect(result.history.map((h) => h.phase)).toEqual([0, 1]);
    const { input, activities } = await recordedInputs(client, workflowId);
    expect(input.engine).toBe('onnx');
    const evaluations = activities.get('evaluateSegmentationModel') ?? [];
    const scorings = activities.get('scorePoolShard') ?? [];
    expect(evaluations.length).toBeGreaterThanOrEqual(2);
    expect(scorings.length).toBeGreaterThanOrEqual(1);
    for (const request of [...evaluations, ...scorings]) expect(request.engine).toBe('onnx');
  });
});
