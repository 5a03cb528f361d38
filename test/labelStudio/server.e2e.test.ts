/**
 * Against a real Label Studio started here (own port, own temporary data folder, stopped at the end):
 * project, tasks with predictions, annotations as a doctor would send them, and webhooks.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabelStudioClient, LabelStudioError, type WebhookSpec } from '../../labelling/labelStudio/client';
import { labelConfigXml, LV_LABEL, TAGS } from '../../labelling/labelStudio/config';
import { annotationToMasks, predictionFromMask, taskFromRequestItem, type AnnotationMasks, type EchoTaskData } from '../../labelling/labelStudio/convert';
import { brushRleToMask, maskToBrushRle } from '../../labelling/labelStudio/rle';
import type { LsAnnotationWebhookBody } from '../../labelling/labelStudio/types';
import { startLabelStudio, type LabelStudioStartOptions, type RunningLabelStudio } from '../../scripts/labelStudio';
import { labelStudioBin, randomMask, startTestLabelStudio, TEST_LABEL_STUDIO_USER } from './helpers';
import { freePort } from '../ports';

const W = 12;
const H = 8;
const TITLE = 'echo-al lv-study';

let dataDir: string;
let options: LabelStudioStartOptions;
let ls: RunningLabelStudio | undefined;
let client: LabelStudioClient;

beforeAll(async () => {
  const started = await startTestLabelStudio();
  ls = started.ls;
  dataDir = started.dataDir;
  options = { bin: labelStudioBin(), port: Number(new URL(ls.url).port), dataDir, ...TEST_LABEL_STUDIO_USER, startTimeoutMs: 420_000 };
  client = new LabelStudioClient({ url: ls.url, token: ls.token });
}, 900_000);

afterAll(async () => {
  await ls?.stop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('Label Studio REST client against a real server', () => {
  it('creates the project once, by exact title, and replaces a changed label config', async () => {
    const similar = await client.ensureProject({ title: `${TITLE} (old copy)`, labelConfig: labelConfigXml() });
    expect(similar.created).toBe(true);
    const first = await client.ensureProject({ title: TITLE, labelConfig: labelConfigXml() });
    expect(first.created).toBe(true);
    expect(first.project.id).not.toBe(similar.project.id);
    const again = await client.ensureProject({ title: TITLE, labelConfig: labelConfigXml() });
    expect(again).toMatchObject({ created: false, configUpdated: false });
    expect(again.project.id).toBe(first.project.id);
    const changed = await client.ensureProject({ title: TITLE, labelConfig: labelConfigXml().replace('#e4572e', '#ff0000') });
    expect(changed).toMatchObject({ created: false, configUpdated: true });
    expect(changed.project.label_config).toContain('#ff0000');
    const back = await client.ensureProject({ title: TITLE, labelConfig: labelConfigXml() });
    expect(back).toMatchObject({ created: false, configUpdated: true });
    expect((await client.findProject(TITLE))?.label_config).toBe(labelConfigXml());
  });

  it('names the endpoint and status of a failure, never the token', async () => {
    const wrong = new LabelStudioClient({ url: ls!.url, token: 'not-the-token-12345' });
    const error = await wrong.findProject(TITLE).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LabelStudioError);
    expect((error as LabelStudioError).status).toBe(401);
    expect((error as Error).message).toMatch(/GET \/api\/projects\/ answered 401/);
    expect((error as Error).message).not.toContain('not-the-token-12345');
    const missing = await client.getAnnotation(999_999).catch((e: unknown) => e as LabelStudioError);
    expect((missing as LabelStudioError).status).toBe(404);
    expect((missing as Error).message).not.toContain(ls!.token);
  });

  it('imports tasks with predictions and reads them back, page by page', async () => {
    const { project } = await client.ensureProject({ title: TITLE, labelConfig: labelConfigXml() });
    const masks = [randomMask(W, H, 1), randomMask(W, H, 2), randomMask(W, H, 3)];
    const items = masks.map((_, i) => ({
      id: `video00${i}_frame004`, group: `video00${i}`, score: 0.5 - i / 10,
      imageUrl: `http://127.0.0.1:9/echo-al/runs/r/phase-0/images/video00${i}_frame004.png?X-Amz-Signature=x`,
      uncertaintyMapUrl: `http://127.0.0.1:9/echo-al/runs/r/phase-0/maps/video00${i}_frame004.png?X-Amz-Signature=y`,
    }));
    const tasks = items.map((item, i) => ({
      ...taskFromRequestItem(item, { runId: 'lv-study', phase: 0 }),
      // Predictions inline for the first two; the third gets one through POST /api/predictions/.
      ...(i < 2 ? { predictions: [predictionFromMask(masks[i], W, H, 'phase-0-seg', 0.9)] } : {}),
    }));
    const ids = await client.importTasks(project.id, tasks);
    expect(ids).toHaveLength(3);
    const created = await client.createPrediction(ids[2], predictionFromMask(masks[2], W, H, 'phase-0-seg', 0.7));
    expect(created.task).toBe(ids[2]);

    const listed = await client.listTasks<EchoTaskData>(project.id, 2);
    const mine = listed.filter((t) => ids.includes(t.id)).sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id));
    expect(mine.map((t) => t.data.echo_item_id)).toEqual(items.map((i) => i.id));
    mine.forEach((task, i) => {
      expect(task.data).toEqual(tasks[i].data);
      expect(task.predictions).toHaveLength(1);
      const [region] = task.predictions![0].result;
      expect(region).toMatchObject({ from_name: TAGS.brush, to_name: TAGS.image, original_width: W, original_height: H });
      expect(brushRleToMask(region.value.rle as number[], W, H)).toEqual(masks[i]);
    });
  });

  it('returns a brush annotation pixel-exact and a polygon annotation with its exact area', async () => {
    const { project } = await client.ensureProject({ title: TITLE, labelConfig: labelConfigXml() });
    const [brushTask, polygonTask] = await client.importTasks(project.id, ['brush', 'polygon'].map((kind) => taskFromRequestItem(
      { id: `${kind}_item`, score: 0.3, imageUrl: `http://127.0.0.1:9/${kind}.png` }, { runId: 'lv-study', phase: 1 })));
    const drawn = randomMask(W, H, 42);
    const brushAnnotation = await client.createAnnotation(brushTask, {
      leadTime: 41.5,
      result: [{ type: 'brushlabels', from_name: TAGS.brush, to_name: TAGS.image, original_width: W, original_height: H, image_rotation: 0,
        value: { format: 'rle', rle: maskToBrushRle(drawn, W, H), brushlabels: [LV_LABEL] } }],
    });
    // A rectangle from 25 % to 75 % of the width and 25 % to 100 % of the height: 6 × 6 pixels.
    const polygonAnnotation = await client.createAnnotation(polygonTask, {
      result: [{ type: 'polygonlabels', from_name: TAGS.polygon, to_name: TAGS.image, original_width: W, original_height: H,
        value: { points: [[25, 25], [75, 25], [75, 100], [25, 100]], polygonlabels: [LV_LABEL], closed: true } }],
    });

    const brushBack = annotationToMasks(await client.getAnnotation(brushAnnotation.id), W, H) as AnnotationMasks;
    expect(brushBack.kind).toBe('brush');
    expect(brushBack.mask).toEqual(drawn);
    expect(brushBack.leadTime).toBe(41.5);
    expect(brushBack.completedBy).toBe((await client.whoami()).id);
    expect(Number.isNaN(Date.parse(brushBack.updatedAt!))).toBe(false);

    const polygonBack = annotationToMasks(await client.getAnnotation(polygonAnnotation.id), W, H) as AnnotationMasks;
    expect(polygonBack.kind).toBe('polygon');
    expect(polygonBack.mask.reduce((sum, v) => sum + v, 0)).toBe(6 * 6);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) expect(polygonBack.mask[y * W + x], `${x},${y}`).toBe(x >= 3 && x < 9 && y >= 2 ? 1 : 0);
    }

    const listed = await client.listTasks(project.id);
    expect(listed.find((t) => t.id === brushTask)?.annotations?.map((a) => a.id)).toEqual([brushAnnotation.id]);
    expect(listed.find((t) => t.id === polygonTask)?.annotations?.map((a) => a.id)).toEqual([polygonAnnotation.id]);
  });

  it('delivers a webhook with its secret header and the annotation to a local server, and says how fast', async () => {
    const { project } = await client.ensureProject({ title: TITLE, labelConfig: labelConfigXml() });
    const secret = randomBytes(12).toString('hex');
    const received: { at: number; headers: http.IncomingHttpHeaders; body: LsAnnotationWebhookBody<EchoTaskData> }[] = [];
    const receiver = http.createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
      req.on('end', () => {
        received.push({ at: performance.now(), headers: req.headers, body: JSON.parse(text) as LsAnnotationWebhookBody<EchoTaskData> });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const hookUrl = `http://127.0.0.1:${(receiver.address() as net.AddressInfo).port}/label-studio/webhook`;
      const spec: WebhookSpec = { projectId: project.id, url: hookUrl, headers: { 'X-Echo-Secret': secret }, actions: ['ANNOTATION_CREATED', 'ANNOTATION_UPDATED'] };
      expect((await client.ensureWebhook(spec)).change).toBe('created');
      expect((await client.ensureWebhook(spec)).change).toBe('unchanged');
      // A rotated secret updates the one webhook (and keeps its actions: Label Studio clears them on a PATCH without them).
      expect((await client.ensureWebhook({ ...spec, headers: { 'X-Echo-Secret': `${secret}-old` } })).change).toBe('updated');
      expect((await client.ensureWebhook(spec)).change).toBe('updated');
      const hooks = (await client.listWebhooks(project.id)).filter((h) => h.url === hookUrl);
      expect(hooks).toHaveLength(1);
      expect(hooks[0]).toMatchObject({ headers: { 'X-Echo-Secret': secret }, send_payload: true, send_for_all_actions: false });
      expect([...hooks[0].actions].sort()).toEqual(['ANNOTATION_CREATED', 'ANNOTATION_UPDATED']);

      const [taskId] = await client.importTasks(project.id, [taskFromRequestItem(
        { id: 'video009_frame001', score: 0.9, imageUrl: 'http://127.0.0.1:9/hook.png' }, { runId: 'lv-study', phase: 2 })]);
      expect(received).toHaveLength(0); // TASKS_CREATED is not one of the chosen actions
      const drawn = randomMask(W, H, 77);
      const postedAt = performance.now();
      const annotation = await client.createAnnotation(taskId, {
        result: [{ type: 'brushlabels', from_name: TAGS.brush, to_name: TAGS.image, original_width: W, original_height: H,
          value: { format: 'rle', rle: maskToBrushRle(drawn, W, H), brushlabels: [LV_LABEL] } }],
      });
      const answeredAt = performance.now();
      const deadline = Date.now() + 20_000;
      while (received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(received).toHaveLength(1);
      const [hook] = received;
      console.log(`webhook delivery: ${(hook.at - postedAt).toFixed(0)} ms after the annotation POST started; `
        + `the POST itself answered after ${(answeredAt - postedAt).toFixed(0)} ms`);
      expect(hook.headers['x-echo-secret']).toBe(secret);
      expect(hook.body.action).toBe('ANNOTATION_CREATED');
      expect(hook.body.annotation.id).toBe(annotation.id);
      expect(hook.body.task.id).toBe(taskId);
      expect(hook.body.task.data.echo_item_id).toBe('video009_frame001');
      expect(hook.body.task.data.echo_phase).toBe(2);
      expect((annotationToMasks(hook.body.annotation, W, H) as AnnotationMasks).mask).toEqual(drawn);
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('restarts on the same data folder with the project, tasks and token intact', async () => {
    const before = await client.ensureProject({ title: TITLE, labelConfig: labelConfigXml() });
    const taskCount = (await client.listTasks(before.project.id)).length;
    await ls!.stop();
    ls = undefined;
    await expect(client.health()).rejects.toThrow(LabelStudioError);
    const started = Date.now();
    ls = await startLabelStudio(options);
    console.log(`Label Studio restart on the existing data folder took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const after = await client.ensureProject({ title: TITLE, labelConfig: labelConfigXml() });
    expect(after).toMatchObject({ created: false, configUpdated: false });
    expect(after.project.id).toBe(before.project.id);
    expect(await client.listTasks(after.project.id)).toHaveLength(taskCount);
  }, 300_000);
});
