import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabellingRequest } from '../../activities/labelling';
import { datasetKeys, readItems, readManifest } from '../../data/manifest';
import type { ObjectStore } from '../../store/objectStore';
import { activeLearning } from '../../workflows';
import { labelsSubmittedSignal, statusQuery, stopSignal, submitLabelsUpdate } from '../../workflows/messages';
import { recordHistory } from '../historyFixtures';
import { type RunningWorkers, startWorkers, waitFor, testConfig, tinyActiveLearning, tinyDataset } from '../helpers';

const config = testConfig('human');

describe('activeLearning with doctors in the loop', () => {
  let running: RunningWorkers;
  let client: Client;
  let store: ObjectStore;
  let datasetId: string;

  beforeAll(async () => {
    running = await startWorkers(config);
    ({ client, store } = running);
    datasetId = await tinyDataset(store);
  });

  afterAll(async () => {
    await running?.stop();
  });

  /** Uploads the dataset's true mask of `id` where the request says a labelling tool should put it. */
  async function doctorUploads(request: LabellingRequest, id: string): Promise<string> {
    const item = request.items.find((i) => i.id === id)!;
    const truth = await store.getBytes(datasetKeys.mask(datasetId, id));
    const put = await fetch(item.maskUploadUrl, { method: 'PUT', body: truth });
    expect(put.ok).toBe(true);
    return item.maskUploadKey;
  }

  it('waits for masks, accepts a partial then a complete submission, rejects bad items, then goes on', async () => {
    const workflowId = `test-al-human-${Date.now()}`;
    const handle = await client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId, args: [tinyActiveLearning(config, datasetId, { oracle: false, maxPhases: 2 })],
    });
    const pending = await waitFor(async () => (await handle.query(statusQuery)).pending, 'the labelling request');
    expect(pending.phase).toBe(0);
    expect(pending.requested).toBe(3);
    const request = await store.getJson<LabellingRequest>(pending.requestKey);
    const ids = request.items.map((i) => i.id);
    expect(new Set(ids).size).toBe(3);
    // Presigned URLs work for a labelling tool: the image PNG and the uncertainty map download.
    expect((await fetch(request.items[0].imageUrl)).ok).toBe(true);
    expect((await fetch(request.items[0].uncertaintyMapUrl!)).ok).toBe(true);

    // Partial submission through the update: synchronous accept.
    const firstKey = await doctorUploads(request, ids[0]);
    const partial = await handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [{ id: ids[0], maskKey: firstKey }] }] });
    expect(partial.accepted).toEqual([ids[0]]);
    expect(partial.rejected).toEqual([]);
    expect(partial.remaining.sort()).toEqual(ids.slice(1).sort());
    // The same item again is idempotent.
    const again = await handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [{ id: ids[0], maskKey: firstKey }] }] });
    expect(again.remaining.sort()).toEqual(ids.slice(1).sort());

    // A bad submission: an id that was not requested, a mask of the wrong size, a missing mask, the wrong phase.
    const manifest = await readManifest(store, datasetId);
    const notRequested = (await readItems(store, manifest)).find((i) => !ids.includes(i.id))!.id;
    const wrongSizeKey = `runs/${workflowId}/uploads/wrong-size.png`;
    await store.putImage(wrongSizeKey, await sharp(Buffer.alloc(35), { raw: { width: 7, height: 5, channels: 1 } }).png().toBuffer());
    const bad = await handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [
      { id: notRequested, maskKey: firstKey },
      { id: ids[1], maskKey: wrongSizeKey },
      { id: ids[2], maskKey: `runs/${workflowId}/uploads/nothing-here.png` },
    ] }] });
    expect(bad.accepted).toEqual([]);
    expect(bad.rejected.map((r) => r.reason).join('\n')).toMatch(/was not requested[\s\S]*is 7×5, the image is 32×32[\s\S]*does not exist/);
    const wrongPhase = await handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 5, items: [{ id: ids[1], maskKey: firstKey }] }] });
    expect(wrongPhase.rejected[0].reason).toMatch(/phase 5, but phase 0 is waiting/);
    await expect(handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0 } as never] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    const afterBad = await handle.query(statusQuery);
    expect(afterBad.invalid.length).toBeGreaterThanOrEqual(4);
    expect(afterBad.pending?.received).toBe(1);

    // The rest through the signal, as the CLI does.
    const rest = await Promise.all(ids.slice(1).map(async (id) => ({ id, maskKey: await doctorUploads(request, id) })));
    await handle.signal(labelsSubmittedSignal, { phase: 0, items: rest });
    const result = await handle.result();
    expect(result.stopReason).toBe('max-phases');
    expect(result.history.map((h) => h.labelled)).toEqual([4, 7]);
    const labelled = await store.getJson<{ id: string; maskKey: string }[]>(result.labelledKey);
    expect(labelled.map((l) => l.id)).toEqual(expect.arrayContaining(ids));
    expect(labelled.find((l) => l.id === ids[0])!.maskKey).toBe(`runs/${workflowId}/labels/${ids[0]}.png`);
    const first = client.workflow.getHandle(workflowId, handle.firstExecutionRunId);
    recordHistory('activeLearning-human', workflowId, await first.fetchHistory());
  });

  it('stops cleanly on the stop signal while waiting, with a final report', async () => {
    const workflowId = `test-al-stop-${Date.now()}`;
    const handle = await client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId, args: [tinyActiveLearning(config, datasetId, { oracle: false })],
    });
    await waitFor(async () => (await handle.query(statusQuery)).pending, 'the labelling request');
    await handle.signal(stopSignal, { reason: 'test' });
    const result = await handle.result();
    expect(result.stopReason).toBe('stopped');
    expect(result.history).toHaveLength(1);
    expect(await store.exists(result.reportKey)).toBe(true);
  });
});
