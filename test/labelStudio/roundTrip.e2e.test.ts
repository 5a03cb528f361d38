/**
 * Doctors label in a real Label Studio: a human-mode run pushes its request as tasks with the model's masks as
 * predictions; the test annotates through Label Studio's REST API as a doctor would (a brush, a polygon, a
 * prediction accepted unchanged, a bad annotation); Label Studio's webhook reaches the labels server; the run takes
 * the good masks, refuses the bad one with its reason in `status`, gets the corrected one, merges and goes on.
 * Label Studio also connects to the labels server as its ML backend and gets predictions from it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { type LabellingRequest, runKeys, type SubmittedLabel } from '../../contracts';
import { importDicom } from '../../data/import/dicom';
import { datasetKeys } from '../../data/manifest';
import { maskContentHash, normaliseMaskBytes } from '../../data/masks';
import { LabelStudioClient } from '../../labelling/labelStudio/client';
import { DATA_FIELDS, LV_LABEL, TAGS, UNUSABLE_CHOICE } from '../../labelling/labelStudio/config';
import { polygonToMask } from '../../labelling/labelStudio/polygon';
import { maskToBrushRle } from '../../labelling/labelStudio/rle';
import type { LsTask } from '../../labelling/labelStudio/types';
import { type PhaseTasks, phaseTasksKey } from '../../labelling/labelStudioBridge';
import { createLabelServer } from '../../labelling/server';
import { activeLearning } from '../../workflows';
import { statusQuery } from '../../contracts/messages';
import { type RunningWorkers, startWorkers, testConfig, tinyActiveLearning, tinyDataset, waitFor } from '../helpers';
import { fakeIdentity, sopClass, transferSyntax, writeDicom } from '../data/dicomFixtures';
import { startTestLabelStudio } from './helpers';
import { freePort } from '../ports';

const S = 32;

const token = 'round-trip-labels-token-0123456789';
const webhookSecret = 'round-trip-webhook-secret-0123456789';
const base = testConfig('ls-round-trip');

describe('a labelling round trip through a real Label Studio', () => {
  let labelStudio: Awaited<ReturnType<typeof startTestLabelStudio>>;
  let running: RunningWorkers;
  let server: ReturnType<typeof createLabelServer>;
  let labelsUrl: string;
  let ls: LabelStudioClient;
  const config = { ...base };

  beforeAll(async () => {
    labelStudio = await startTestLabelStudio();
    ls = new LabelStudioClient({ url: labelStudio.ls.url, token: labelStudio.ls.token });
    // The labels server's address first, so the worker registers its webhook there.
    const port = await freePort();
    labelsUrl = `http://127.0.0.1:${port}`;
    config.labelStudio = { ...base.labelStudio, url: labelStudio.ls.url, token: labelStudio.ls.token };
    config.labels = { ...base.labels, publicUrl: labelsUrl, webhookSecret };
    running = await startWorkers(config);
    server = createLabelServer({ client: running.client, store: running.store, token, webhookSecret, resolveRun: async (id) => id });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  }, 900_000);

  afterAll(async () => {
    server?.close();
    await running?.stop();
    await labelStudio?.stop();
  }, 120_000);

  it('pushes tasks with predictions, takes annotations back through the webhook, refuses a bad one visibly, merges and goes on', async () => {
    const store = running.store;
    const datasetId = await tinyDataset(store, { videos: 5, framesPerVideo: 6, size: S, initialCount: 12, seed: 12 });
    const workflowId = `test-ls-round-trip-${Date.now()}`;
    const project = `echo-al round trip ${Date.now()}`;
    const handle = await running.client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId,
      args: [tinyActiveLearning(config, datasetId, {
        oracle: false, labelsPerPhase: 4, maxPhases: 2, labelStudio: { project },
        hyper: { epochs: 12, batchSize: 4, learningRate: 3e-3, seed: 7, augment: false },
      })],
    });

    // Push: one task per requested image, each with the model's mask as a prediction.
    const pending = await waitFor(async () => (await handle.query(statusQuery)).pending, 'the labelling request');
    const request = await store.getJson<LabellingRequest>(pending.requestKey);
    const pushed = await waitFor(async () => (await store.exists(phaseTasksKey(workflowId, 0)) ? store.getJson<PhaseTasks>(phaseTasksKey(workflowId, 0)) : undefined), 'the push to Label Studio');
    const tasks = await ls.listTasks(pushed.projectId);
    expect(tasks).toHaveLength(4);
    const ids = request.items.map((i) => i.id);
    const taskOf = (id: string) => tasks.find((t) => t.id === pushed.tasks[id]) as LsTask<Record<string, unknown>> & { predictions: { model_version: string; result: unknown[] }[] };
    for (const id of ids) {
      const task = taskOf(id);
      expect(task.data).toMatchObject({ echo_item_id: id, echo_run_id: workflowId, echo_phase: 0 });
      // Display URLs and ids only: no credentials or tokens in what every annotator sees.
      for (const secret of [config.minio.secretKey, token, webhookSecret, labelStudio.ls.token]) expect(JSON.stringify(task.data)).not.toContain(secret);
      expect(task.predictions[0].model_version).toBe(`${workflowId}/phase-0`);
    }
    const [brushId, polygonId, acceptedId, badId] = ids;
    // The "accepted unchanged" doctor needs a draft with something in it.
    expect(taskOf(acceptedId).predictions[0].result.length).toBeGreaterThan(0);

    const truth = async (id: string) => {
      const read = await normaliseMaskBytes(await store.getBytes(datasetKeys.mask(datasetId, id)), { size: [S, S] });
      if (!read.ok) throw new Error(read.reason);
      return read.mask;
    };
    const brush = (mask: Uint8Array, label = LV_LABEL) => ({
      type: 'brushlabels', from_name: TAGS.brush, to_name: TAGS.image, original_width: S, original_height: S, image_rotation: 0,
      value: { format: 'rle', rle: maskToBrushRle(mask, S, S), brushlabels: [label] },
    });
    const square: [number, number][] = [[25, 25], [75, 25], [75, 75], [25, 75]];

    // The doctors annotate. Each annotation reaches the run through the webhook; time it.
    const received = (id: string) => waitFor(async () => {
      const s = await handle.query(statusQuery);
      return s.pending && !s.pending.remaining.includes(id) ? true : undefined;
    }, `${id} received`, 60_000);
    const timings: number[] = [];
    const annotate = async (id: string, result: object[], leadTime: number) => {
      const started = Date.now();
      await ls.createAnnotation(pushed.tasks[id], { result: result as never, leadTime });
      await received(id);
      timings.push(Date.now() - started);
    };
    await annotate(brushId, [brush(await truth(brushId))], 41);
    await annotate(polygonId, [{
      type: 'polygonlabels', from_name: TAGS.polygon, to_name: TAGS.image, original_width: S, original_height: S, image_rotation: 0,
      value: { points: square, polygonlabels: [LV_LABEL] },
    }], 17);
    await annotate(acceptedId, taskOf(acceptedId).predictions[0].result as object[], 3);

    // A bad annotation (another label) is refused, and the reason shows in `status`.
    await ls.createAnnotation(pushed.tasks[badId], { result: [brush(await truth(badId), 'RV')] as never, leadTime: 5 });
    const status = await waitFor(async () => {
      const run = await cliStatus(workflowId);
      return /rejected .* from label-studio.*is labelled 'RV', not 'LV'/.test(run) ? run : undefined;
    }, 'the refusal in status', 60_000);
    expect(status).toContain(badId);
    expect((await handle.query(statusQuery)).pending!.remaining).toEqual([badId]);

    // The doctor corrects it (an updated annotation arrives the same way); the phase completes and merges.
    await annotate(badId, [brush(await truth(badId))], 9);
    const merged = await waitFor(async () => (await store.exists(runKeys.mergedLabels(workflowId, 0))
      ? store.getJson<{ items: SubmittedLabel[] }>(runKeys.mergedLabels(workflowId, 0)) : undefined), 'the merge');
    const byId = new Map(merged.items.map((i) => [i.id, i]));
    expect(byId.get(brushId)!.contentHash).toBe(maskContentHash(await truth(brushId), [S, S]));
    expect(byId.get(polygonId)!.contentHash).toBe(maskContentHash(polygonToMask(square, S, S), [S, S]));
    const draft = await normaliseMaskBytes(await store.getBytes(runKeys.prediction(workflowId, 0, acceptedId)), { size: [S, S] });
    expect(draft.ok && byId.get(acceptedId)!.contentHash === maskContentHash(draft.mask, [S, S])).toBe(true);
    const doctor = await ls.whoami();
    for (const item of merged.items) expect(item).toMatchObject({ source: 'label-studio', annotator: `label-studio user ${doctor.id}` });
    expect(byId.get(brushId)!.leadTimeS).toBe(41);
    await waitFor(async () => ((await handle.query(statusQuery)).phase === 1 ? true : undefined), 'the next phase');
    console.log(`[label studio] annotation submit → the run has the mask: ${timings.map((t) => `${(t / 1000).toFixed(2)} s`).join(', ')} ` +
      `(median ${(timings.sort((a, b) => a - b)[Math.floor(timings.length / 2)] / 1000).toFixed(2)} s)`);

    // Label Studio connects to the labels server as its ML backend and gets predictions from it.
    const model = await ls.connectModel({ projectId: pushed.projectId, url: labelsUrl, title: 'echo-al', user: 'label-studio', password: token });
    expect(model.id).toBeGreaterThan(0);
    const test = await ls.testModelPrediction(model.id);
    expect(test.status).toBe(200);
    const predictions = test.response as { model_version: string; result: unknown[] }[];
    expect(predictions[0].model_version).toBe(`${workflowId}/phase-0`);
    await handle.result();
  }, 900_000);

  it('cold start from unlabelled DICOM: the first request shows each frame\'s set, a frame marked unusable in Label Studio is replaced by a new task, the masks make the labelled dataset', async () => {
    const store = running.store;
    // A folder of unlabelled multi-frame ultrasound DICOM studies, imported as a hospital would.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-ls-cold-'));
    for (let study = 1; study <= 6; study++) {
      const written = await writeDicom({
        transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame, rows: S, columns: S, frames: 4,
        identity: fakeIdentity(study, 1, 1),
      });
      fs.writeFileSync(path.join(dir, `study${study}.dcm`), written.bytes);
    }
    const { datasetId, labelled } = await importDicom(store, { dir, salt: 'ls-cold-start-salt', size: S, initialCount: 3, testShare: 0.2, valShare: 0.2, seed: 21, name: 'ls-cold' });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(labelled).toBe(0);
    // What the doctors draw: one outline for every frame.
    const outline = new Uint8Array(S * S);
    for (let y = 8; y < 24; y++) for (let x = 10; x < 22; x++) outline[y * S + x] = 1;

    const workflowId = `test-ls-cold-${Date.now()}`;
    const project = `echo-al cold start ${Date.now()}`;
    const handle = await running.client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId,
      args: [tinyActiveLearning(config, datasetId, { oracle: false, labelsPerPhase: 2, maxPhases: 1, initialCount: 3, evalFramesPerVideo: 1, labelStudio: { project } })],
    });
    const pending = await waitFor(async () => (await handle.query(statusQuery)).pending, 'the first request');
    expect(pending.purposes).toBeDefined();
    const pushed = await waitFor(async () => (await store.exists(phaseTasksKey(workflowId, 0)) ? store.getJson<PhaseTasks>(phaseTasksKey(workflowId, 0)) : undefined), 'the push');
    const tasks = await ls.listTasks<Record<string, unknown>>(pushed.projectId);
    const request = await store.getJson<LabellingRequest>(pending.requestKey);
    const firstIds = request.items.map((i) => i.id);
    expect(tasks).toHaveLength(firstIds.length);
    for (const item of request.items) {
      const task = tasks.find((t) => t.id === pushed.tasks[item.id])!;
      expect(item.purpose).toMatch(/^(validation|test|initial)$/);
      expect(task.data[DATA_FIELDS.purpose]).toBe(item.purpose);
      expect(String(task.data[DATA_FIELDS.caption])).toContain(`for the ${item.purpose === 'initial' ? 'initial training' : item.purpose} set`);
    }

    // The doctor marks an initial frame unusable with the config's choice: the run replaces it, and the replacement
    // appears in Label Studio as a new task with the same purpose.
    const unusableId = request.items.find((i) => i.purpose === 'initial')!.id;
    await ls.createAnnotation(pushed.tasks[unusableId], {
      result: [{ type: 'choices', from_name: TAGS.unusable, to_name: TAGS.image, value: { choices: [UNUSABLE_CHOICE] } }] as never, leadTime: 4,
    });
    const replaced = await waitFor(async () => {
      const s = (await handle.query(statusQuery)).pending;
      return s?.unusable?.includes(unusableId) ? s.remaining.find((id) => !firstIds.includes(id)) : undefined;
    }, 'the replacement', 60_000);
    const extended = await waitFor(async () => {
      const map = await store.getJson<PhaseTasks>(phaseTasksKey(workflowId, 0));
      return map.tasks[replaced] !== undefined ? map : undefined;
    }, 'the replacement pushed to Label Studio', 60_000);
    const replacementTask = (await ls.listTasks<Record<string, unknown>>(pushed.projectId)).find((t) => t.id === extended.tasks[replaced])!;
    expect(replacementTask.data).toMatchObject({ [DATA_FIELDS.itemId]: replaced, [DATA_FIELDS.purpose]: 'initial' });
    expect(Object.keys(extended.tasks)).toHaveLength(firstIds.length + 1);

    // The masks of every other frame come from Label Studio; the run then trains on the dataset they make.
    const brush = (mask: Uint8Array) => ({
      type: 'brushlabels', from_name: TAGS.brush, to_name: TAGS.image, original_width: S, original_height: S, image_rotation: 0,
      value: { format: 'rle', rle: maskToBrushRle(mask, S, S), brushlabels: [LV_LABEL] },
    });
    for (const id of Object.keys(extended.tasks).filter((id) => id !== unusableId)) {
      await ls.createAnnotation(extended.tasks[id], { result: [brush(outline)] as never, leadTime: 10 });
    }
    // Phase 1 runs on the labelled dataset the masks made, without the unusable frame, reports a test IoU, and the
    // run ends there (one phase).
    const result = await handle.result();
    expect(result.stopReason).toBe('max-phases');
    expect(result.history).toHaveLength(1);
    expect(result.history[0].phase).toBe(1);
    expect(result.history[0].iou).toBeGreaterThanOrEqual(0);
    expect((await handle.query(statusQuery)).bootstrappedFrom).toBe(datasetId);
  }, 900_000);

  function cliStatus(workflowId: string): Promise<string> {
    return new Promise((resolve) => {
      execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', 'status', workflowId], {
        cwd: projectRoot, timeout: 60_000, env: { ...process.env, TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel },
      }, (_error, stdout) => resolve(stdout));
    });
  }
});
