/**
 * `predict` and `export` against the real services and worker: a run's latest model, a dataset's items at their
 * original size, the workflow path (same outputs as the local path; a batch already written is not redone), the
 * export package loaded in a fresh process, and the errors of unknown runs and runs without a model.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { type ActiveLearningCheckpoint, type ModelPackageMetadata, type PredictBatchRecord, predictKeys, runKeys } from '../../contracts';
import { importDicom } from '../../data/import';
import { datasetKeys, decodeImage, readItems, readManifest, type DatasetItem } from '../../data/manifest';
import { fromUint16, loadStoredModel, toUint16 } from '../../ml/predict';
import type { ObjectStore } from '../../store/objectStore';
import { activeLearning } from '../../workflows';
import { recordHistory } from '../historyFixtures';
import { fakeIdentity, maskPng, transferSyntax, writeDicom } from '../data/dicomFixtures';
import { type RunningWorkers, startWorkers, testConfig, tinyActiveLearning } from '../helpers';
import { cli as runCli, echoFrames, framePng, MODEL_SIZE, parseCsv, readMask, storeTinyModel } from './helpers';

const config = testConfig('predict');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-predict-services-'));
const pngDir = path.join(scratch, 'png');
const runId = `test-predict-run-${randomUUID().slice(0, 8)}`;
const queues = { TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel };
const cli = (...args: string[]) => runCli(args, queues);

/** Every file under a folder, relative path → bytes. */
function tree(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (at: string) => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.set(path.relative(dir, full), fs.readFileSync(full));
    }
  };
  walk(dir);
  return files;
}

/** Tables and images are the same; batch records differ only in when they were written and how long they took. */
function expectSameOutputs(a: string, b: string): void {
  const left = tree(a);
  const right = tree(b);
  expect([...right.keys()].sort()).toEqual([...left.keys()].sort());
  for (const [file, bytes] of left) {
    if (file.startsWith('batches/')) {
      const strip = (buffer: Buffer) => (({ rows, batch }: PredictBatchRecord) => ({ rows, batch }))(JSON.parse(buffer.toString()) as PredictBatchRecord);
      expect(strip(right.get(file)!), file).toEqual(strip(bytes));
    } else {
      expect(right.get(file)!.equals(bytes), file).toBe(true);
    }
  }
}

describe('predict and export with the services', () => {
  let running: RunningWorkers;
  let client: Client;
  let store: ObjectStore;
  let datasetId: string;
  let items: DatasetItem[];

  beforeAll(async () => {
    running = await startWorkers(config);
    ({ client, store } = running);
    // An active-learning run's objects: phase 0 and phase 1 models (phase 1 with its MC-dropout model), and state.json.
    await storeTinyModel(store, runKeys.segmentationModel(runId, 0), { seed: 1 });
    await storeTinyModel(store, runKeys.segmentationModel(runId, 1), { seed: 2 });
    await storeTinyModel(store, runKeys.uncertaintyModel(runId, 1), { seed: 3, dropout: { strategy: 'head', rate: 0.3 } });

    // A DICOM dataset at the model's size: two clips (videos), cut to their ultrasound region, with a spacing.
    const dicomDir = path.join(scratch, 'dicom');
    const masksDir = path.join(scratch, 'masks');
    fs.mkdirSync(dicomDir, { recursive: true });
    fs.mkdirSync(masksDir, { recursive: true });
    for (const clip of [1, 2]) {
      const written = await writeDicom({
        transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', rows: 48, columns: 64, frames: 3,
        identity: fakeIdentity(clip, 1, 1),
        regions: [{ spatialFormat: 1, minX: 8, minY: 4, maxX: 55, maxY: 43, units: 3, deltaX: 0.05, deltaY: 0.04 }],
      });
      fs.writeFileSync(path.join(dicomDir, `clip${clip}.dcm`), written.bytes);
      const plane = new Uint8Array(48 * 64);
      for (let y = 10; y < 30; y++) for (let x = 20; x < 40; x++) plane[y * 64 + x] = 255;
      fs.writeFileSync(path.join(masksDir, `clip${clip}_1.png`), await maskPng(plane, 64, 48));
    }
    const summary = await importDicom(store, { dir: dicomDir, masksDir, salt: `salt-${randomUUID()}`, size: MODEL_SIZE, initialCount: 1, testShare: 0.5, seed: 1 });
    datasetId = summary.datasetId;
    items = await readItems(store, await readManifest(store, datasetId));
    const checkpoint: ActiveLearningCheckpoint = {
      runId, datasetId, writtenAt: new Date().toISOString(),
      state: {
        phase: 2, labelledKey: 'k', labelledCount: 9, poolKey: 'k', poolCount: 0, testKey: 'k', testCount: 1, invalid: [], stopRequested: false,
        history: [
          { phase: 0, labelled: 4, iou: 0.61, dice: 0.7, valIoU: 0.63, acquisition: 'mfe', trainMs: 1, segResumedFromEpoch: 0, segAttempts: 1 },
          { phase: 1, labelled: 9, iou: 0.71, dice: 0.8, valIoU: 0.74, acquisition: 'mfe', trainMs: 1, segResumedFromEpoch: 0, segAttempts: 1 },
        ],
      },
    };
    await store.putJson(runKeys.checkpoint(runId), checkpoint);

    fs.mkdirSync(pngDir, { recursive: true });
    for (const f of echoFrames([40, 56], { frames: 5, videos: 2 })) fs.writeFileSync(path.join(pngDir, `${f.id}.png`), await framePng(f));
  });

  afterAll(async () => {
    await running?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('predicts a dataset\'s items at their original size with a run\'s latest model: the model\'s mask put back in the ultrasound region, areas, ED/ES per video', async () => {
    const out = path.join(scratch, 'dataset-local');
    const run = await cli('predict', '--run', runId, '--dataset', datasetId, '--out', out, '--overlay', '--json');
    expect(run.status, run.err).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ mode: 'local', images: 6, videos: 2, model: runKeys.segmentationModel(runId, 1) });
    const manifest = await readManifest(store, datasetId);
    const net = await loadStoredModel(store, runKeys.segmentationModel(runId, 1));
    const rows = parseCsv(fs.readFileSync(path.join(out, 'predictions.csv'), 'utf8'));
    expect(rows.map((r) => r.image)).toEqual(items.map((i) => i.id));
    try {
      for (const item of items) {
        const row = rows.find((r) => r.image === item.id)!;
        const { width, height, mask } = await readMask(path.join(out, row.mask));
        expect([height, width]).toEqual([48, 64]);
        expect(item.crop).toEqual({ x: 8, y: 4, width: 48, height: 40 });
        // Expected: the stored image (the crop region at the dataset size) through the model, nearest back to the region.
        const image = decodeImage(await store.getBytes(datasetKeys.image(datasetId, item.id)), manifest.size);
        const small = tf.tidy(() => (net.model.predict(tf.tensor4d(image, [1, MODEL_SIZE, MODEL_SIZE, 1])) as tf.Tensor).greater(0.5).dataSync());
        const expected = new Uint8Array(48 * 64);
        for (let y = 0; y < 40; y++) {
          for (let x = 0; x < 48; x++) {
            expected[(4 + y) * 64 + 8 + x] = small[Math.floor(((y + 0.5) * MODEL_SIZE) / 40) * MODEL_SIZE + Math.floor(((x + 0.5) * MODEL_SIZE) / 48)];
          }
        }
        expect(expected.some((v) => v === 1)).toBe(true);
        expect(Buffer.from(mask).equals(Buffer.from(expected)), item.id).toBe(true);
        const area = mask.reduce((a, b) => a + b, 0);
        expect(row).toMatchObject({ video: item.group, lv_area_px: String(area), width: '64', height: '48' });
        expect(Number(row.lv_area_mm2)).toBeCloseTo(area * 0.4 * 0.5, 4);
        expect(fs.existsSync(path.join(out, row.overlay))).toBe(true);
      }
    } finally {
      net.model.dispose();
    }
    const videos = parseCsv(fs.readFileSync(path.join(out, 'videos.csv'), 'utf8'));
    expect(videos.map((v) => v.video).sort()).toEqual([...new Set(items.map((i) => i.group))].sort());
    for (const video of videos) {
      const frames = rows.filter((r) => r.video === video.video).map((r) => ({ id: r.image, area: Number(r.lv_area_px) }));
      const max = Math.max(...frames.map((f) => f.area));
      const min = Math.min(...frames.map((f) => f.area));
      expect(video).toMatchObject({ frames: '3', ed_image: frames.find((f) => f.area === max)!.id, ed_lv_area_px: String(max), es_image: frames.find((f) => f.area === min)!.id, es_lv_area_px: String(min) });
    }
  });

  it('runs as a workflow on the workers with the same outputs as the local path, and a restart skips the batches already written', async () => {
    const common = ['--run', runId, '--input', pngDir, '--overlay', '--uncertainty', '--samples', '3', '--batch', '3', '--json'];
    const local = await cli('predict', ...common, '--out', path.join(scratch, 'png-local'));
    expect(local.status, local.err).toBe(0);
    expect(JSON.parse(local.out)).toMatchObject({ mode: 'local', images: 10, batches: 4, computedBatches: 4 });

    const predictId = `test-predict-${randomUUID().slice(0, 8)}`;
    const first = await cli('predict', ...common, '--workflow', '--id', predictId, '--out', path.join(scratch, 'png-workflow'));
    expect(first.status, first.err).toBe(0);
    expect(JSON.parse(first.out)).toMatchObject({ mode: 'workflow', workflowId: predictId, images: 10, videos: 2, batches: 4, computedBatches: 4, skippedBatches: 0 });
    expectSameOutputs(path.join(scratch, 'png-local'), path.join(scratch, 'png-workflow'));
    // The frames reached the workers through the store, as 16-bit PNGs.
    expect(await store.list(`${predictKeys.prefix(predictId)}frames/`)).toHaveLength(10);

    // A failed run restarted with the same id: batch 2's outputs are gone, the other batches' stay as they were.
    const root = predictKeys.output(predictId);
    const before = await Promise.all([0, 1, 3].map((b) => store.getJson<PredictBatchRecord>(predictKeys.batchRecord(root, b))));
    await store.remove(predictKeys.batchRecord(root, 2));
    const lostMask = before[1].rows[0].id;
    await store.remove(predictKeys.mask(root, lostMask));
    const again = await cli('predict', ...common, '--workflow', '--id', predictId, '--out', path.join(scratch, 'png-again'));
    expect(again.status, again.err).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ mode: 'workflow', images: 10, computedBatches: 1, skippedBatches: 3 });
    const after = await Promise.all([0, 1, 3].map((b) => store.getJson<PredictBatchRecord>(predictKeys.batchRecord(root, b))));
    expect(after.map((r) => r.writtenAt)).toEqual(before.map((r) => r.writtenAt));
    // Batch 2 was predicted again with the same results; batch 1's deleted mask was not (its record says it is done).
    expect(await store.exists(predictKeys.mask(root, lostMask))).toBe(false);
    const redone = fs.readFileSync(path.join(scratch, 'png-again', 'batches', 'batch-00002.json'), 'utf8');
    const original = fs.readFileSync(path.join(scratch, 'png-local', 'batches', 'batch-00002.json'), 'utf8');
    expect((JSON.parse(redone) as PredictBatchRecord).rows).toEqual((JSON.parse(original) as PredictBatchRecord).rows);
    // In the restarted run's history: four batch activities, of which one computed and three found their batch written.
    const history = await client.workflow.getHandle(predictId).fetchHistory();
    recordHistory('predict', predictId, history);
    const outcomes = history.events!.flatMap((e) => {
      const data = e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
      return data ? [JSON.parse(new TextDecoder().decode(data)) as { batch?: number; computed?: boolean }] : [];
    }).filter((o) => o.batch !== undefined);
    expect(outcomes.map((o) => [o.batch, o.computed]).sort()).toEqual([[0, false], [1, false], [2, true], [3, false]]);
  });

  it('exports a run\'s latest model as a package that a fresh process loads with the loader alone, giving predict\'s masks', async () => {
    const dir = path.join(scratch, 'package');
    const exported = await cli('export', runId, '--out', dir, '--json');
    expect(exported.status, exported.err).toBe(0);
    const { metadata } = JSON.parse(exported.out) as { metadata: ModelPackageMetadata };
    const commit = await new Promise<string>((resolve) => execFile('git', ['rev-parse', 'HEAD'], { cwd: projectRoot }, (_e, out) => resolve(out.trim())));
    const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    expect(metadata).toMatchObject({
      architecture: 'Unet', encoder: 'resnet18', encoderDepth: 3, widthScale: 0.0625, inputShape: [MODEL_SIZE, MODEL_SIZE, 1],
      input: { height: MODEL_SIZE, width: MODEL_SIZE, channels: 1 }, output: { threshold: 0.5 },
      source: { modelKey: runKeys.segmentationModel(runId, 1), runId, phase: 1, datasetId, labelledCount: 9, validationIoU: 0.74, testIoU: 0.71 },
      code: { version: pkg.version, gitCommit: commit },
      uncertainty: { path: 'uncertainty/', dropout: { strategy: 'head', rate: 0.3 } },
    });
    for (const file of ['model.json', 'weights.bin', 'metadata.json', 'README.md', 'uncertainty/model.json', 'uncertainty/weights.bin']) {
      expect(fs.existsSync(path.join(dir, file)), file).toBe(true);
    }
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'metadata.json'), 'utf8'))).toEqual(metadata);
    expect(fs.readFileSync(path.join(dir, 'README.md'), 'utf8')).toContain('loadSegmentationModel');
    const earlier = await cli('export', runKeys.segmentationModel(runId, 0), '--out', path.join(scratch, 'package-0'), '--json');
    expect(earlier.status, earlier.err).toBe(0);
    expect(JSON.parse(earlier.out)).toMatchObject({ metadata: { source: { phase: 0, labelledCount: 4, testIoU: 0.61 } } });

    // predict with the package, then the same frames in the same batches through the loader in a fresh process.
    const out = path.join(scratch, 'png-package');
    const predicted = await cli('predict', '--package', dir, '--input', pngDir, '--out', out, '--batch', '3', '--json');
    expect(predicted.status, predicted.err).toBe(0);
    const rows = parseCsv(fs.readFileSync(path.join(out, 'predictions.csv'), 'utf8'));
    const job = { batchSize: 3, frames: [] as { id: string; width: number; height: number; file: string }[] };
    for (const row of rows) {
      const frame = echoFrames([40, 56], { frames: 5, videos: 2 }).find((f) => f.id === row.image)!;
      const grey = fromUint16(toUint16(Float32Array.from(frame.image, (v) => Math.round(v * 255) / 255)), 56, 40);
      const file = path.join(scratch, `${row.image}.u16`);
      fs.writeFileSync(file, toUint16(grey.data));
      job.frames.push({ id: row.image, width: 56, height: 40, file });
    }
    fs.writeFileSync(path.join(scratch, 'job.json'), JSON.stringify(job));
    const status = await new Promise<number>((resolve) => execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'),
      [path.join('test', 'predict', 'loaderProcess.ts'), dir, path.join(scratch, 'job.json'), path.join(scratch, 'loaded.json')],
      { cwd: projectRoot, timeout: 120_000 }, (error) => resolve(error ? 1 : 0)));
    expect(status).toBe(0);
    const loaded = JSON.parse(fs.readFileSync(path.join(scratch, 'loaded.json'), 'utf8')) as { backend: string; metadata: ModelPackageMetadata; masks: Record<string, string> };
    expect(loaded.backend).toBe(tf.getBackend());
    expect(loaded.metadata.source.runId).toBe(runId);
    for (const row of rows) {
      const { mask } = await readMask(path.join(out, row.mask));
      expect(mask.some((v) => v === 1)).toBe(true);
      expect(Buffer.from(loaded.masks[row.image], 'base64').equals(Buffer.from(mask)), row.image).toBe(true);
    }
    // On the workers (the package uploaded as a model) the outputs are the same.
    const viaWorkers = await cli('predict', '--package', dir, '--input', pngDir, '--out', path.join(scratch, 'png-package-workflow'), '--batch', '3', '--workflow', '--json');
    expect(viaWorkers.status, viaWorkers.err).toBe(0);
    expectSameOutputs(out, path.join(scratch, 'png-package-workflow'));
    // The package gives the run's own masks: predict --run on the same frames wrote the same files.
    for (const row of rows) {
      expect(fs.readFileSync(path.join(out, row.mask)).equals(fs.readFileSync(path.join(scratch, 'png-local', row.mask))), row.image).toBe(true);
    }
  });

  it('exports the same model as ONNX (--format onnx): model.onnx and its metadata, which ONNX Runtime runs to the model\'s probabilities', async () => {
    const dir = path.join(scratch, 'onnx');
    const exported = await cli('export', runId, '--out', dir, '--format', 'onnx', '--json');
    expect(exported.status, exported.err).toBe(0);
    const { format, metadata } = JSON.parse(exported.out) as { format: string; metadata: ModelPackageMetadata };
    expect(format).toBe('onnx');
    expect(fs.readdirSync(dir).sort()).toEqual(['metadata.json', 'model.onnx']);
    expect(metadata).toMatchObject({
      architecture: 'Unet', inputShape: [MODEL_SIZE, MODEL_SIZE, 1],
      source: { modelKey: runKeys.segmentationModel(runId, 1), runId, phase: 1, datasetId, labelledCount: 9 }, uncertainty: null,
    });
    const net = await loadStoredModel(store, runKeys.segmentationModel(runId, 1));
    const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'));
    const x = tf.randomUniform([2, MODEL_SIZE, MODEL_SIZE, 1], 0, 1, 'float32', 3);
    const expected = (net.model.predict(x) as tf.Tensor).dataSync();
    const { output } = await session.run({ input: new ort.Tensor('float32', x.dataSync() as Float32Array, [2, MODEL_SIZE, MODEL_SIZE, 1]) });
    x.dispose();
    net.model.dispose();
    await session.release();
    const actual = output.data as Float32Array;
    expect(Math.max(...Array.from(expected, (e, i) => Math.abs(e - actual[i])))).toBeLessThan(1e-4);
  });

  it('names an unknown run and a run without a model yet (exit 1)', async () => {
    const unknown = `no-such-run-${randomUUID().slice(0, 8)}`;
    const missing = await cli('predict', '--run', unknown, '--input', pngDir, '--out', path.join(scratch, 'x'));
    expect(missing.status).toBe(1);
    expect(missing.err.trim()).toBe(`error: no run '${unknown}'; \`client.ts runs list\` lists the runs`);
    const exportMissing = await cli('export', unknown, '--out', path.join(scratch, 'y'));
    expect(exportMissing.status).toBe(1);
    expect(exportMissing.err).toContain(`no run '${unknown}'`);
    const noModel = await cli('predict', '--model', `runs/${unknown}/phase-0/model-seg`, '--input', pngDir, '--out', path.join(scratch, 'x'));
    expect(noModel.status).toBe(1);
    expect(noModel.err).toContain(`no model at 'runs/${unknown}/phase-0/model-seg'`);

    // A run that exists but has trained nothing: its workflow waits on a queue no worker serves.
    const waiting = `test-predict-waiting-${randomUUID().slice(0, 8)}`;
    const handle = await client.workflow.start(activeLearning, {
      taskQueue: `nobody-${randomUUID()}`, workflowId: waiting, args: [tinyActiveLearning(config, datasetId)],
    });
    try {
      const early = await cli('predict', '--run', waiting, '--input', pngDir, '--out', path.join(scratch, 'x'));
      expect(early.status).toBe(1);
      expect(early.err.trim()).toBe(`error: run '${waiting}' (activeLearning) has no trained segmentation model yet; its first model is saved when phase 0's training ends`);
    } finally {
      await handle.terminate('test over');
    }
  });
});
