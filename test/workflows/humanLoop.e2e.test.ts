import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LabellingRequest, runKeys, type SubmittedLabel } from '../../contracts';
import { datasetKeys, readItems, readManifest } from '../../data/manifest';
import { encodeCanonicalMask, maskContentHash, normaliseMaskBytes } from '../../data/masks';
import { SubmissionError, submitMasks } from '../../labelling/submit';
import type { ObjectStore } from '../../store/objectStore';
import { activeLearning } from '../../workflows';
import { statusQuery, stopSignal, submitLabelsUpdate } from '../../contracts/messages';
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

  const truth = async (id: string) => store.getBytes(datasetKeys.mask(datasetId, id));
  const historyLength = async (workflowId: string) => (await client.workflow.getHandle(workflowId).fetchHistory()).events!.length;
  const submit = (workflowId: string, id: string, bytes: Uint8Array) => submitMasks(client, store, workflowId, [{ id, bytes }], { source: 'test' });

  it('takes checked masks through one path: duplicates and refusals leave the history alone, replacements are recorded, merged masks are what was sent', async () => {
    const workflowId = `test-al-human-${Date.now()}`;
    const handle = await client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId, args: [tinyActiveLearning(config, datasetId, { oracle: false, maxPhases: 2 })],
    });
    const pending = await waitFor(async () => (await handle.query(statusQuery)).pending, 'the labelling request');
    expect(pending).toMatchObject({ phase: 0, requested: 3, received: 0 });
    const request = await store.getJson<LabellingRequest>(pending.requestKey);
    const ids = request.items.map((i) => i.id);
    expect(new Set(ids).size).toBe(3);
    // Presigned URLs work for a labelling tool: the image, the uncertainty map and the model's draft mask.
    expect((await fetch(request.items[0].imageUrl)).ok).toBe(true);
    expect((await fetch(request.items[0].uncertaintyMapUrl!)).ok).toBe(true);
    const draft = await fetch(request.items[0].predictionUrl!);
    expect(draft.ok).toBe(true);
    expect(await sharp(Buffer.from(await draft.arrayBuffer())).metadata()).toMatchObject({ width: 32, height: 32 });

    // The first mask: accepted. The same mask again: a duplicate that never reaches the history.
    expect(await submit(workflowId, ids[0], await truth(ids[0]))).toMatchObject({ accepted: [ids[0]], replaced: [], duplicates: [] });
    const afterFirst = await historyLength(workflowId);
    for (let i = 0; i < 5; i++) expect((await submit(workflowId, ids[0], await truth(ids[0]))).duplicates).toEqual([ids[0]]);
    expect(await historyLength(workflowId)).toBe(afterFirst);

    // Refused before anything is stored: an id not requested, a mask of the wrong size.
    const manifest = await readManifest(store, datasetId);
    const notRequested = (await readItems(store, manifest)).find((i) => !ids.includes(i.id))!.id;
    await expect(submit(workflowId, notRequested, await truth(notRequested))).rejects.toMatchObject({ status: 400, rejected: [{ id: notRequested, reason: `'${notRequested}' was not requested in phase 0` }] });
    const small = new Uint8Array(await sharp(Buffer.alloc(35, 255), { raw: { width: 7, height: 5, channels: 1 } }).png().toBuffer());
    await expect(submit(workflowId, ids[1], small)).rejects.toThrow('mask is 7×5; the image is 32×32');
    // Updates that bypass the path are refused by the workflow's validator, outside the history too.
    const stranger: SubmittedLabel = { id: ids[1], maskKey: datasetKeys.mask(datasetId, ids[1]), contentHash: 'x', foreground: 1, source: 'test' };
    await expect(handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [stranger] }] }))
      .rejects.toMatchObject({ cause: { message: expect.stringMatching(/not a checked label of this phase/) } });
    await expect(handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 5, items: [stranger] }] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    expect(await historyLength(workflowId)).toBe(afterFirst);
    expect(await store.list(runKeys.phaseLabelsPrefix(workflowId, 0))).toHaveLength(1);

    // A different mask for an image already received replaces it, and the status says so.
    const truthMask = await normaliseMaskBytes(await truth(ids[0]), { size: [32, 32] });
    if (!truthMask.ok) throw new Error(truthMask.reason);
    const grown = truthMask.mask.map((v, i) => (v || truthMask.mask[i + 1] || truthMask.mask[i - 1] ? 1 : 0));
    expect(await submit(workflowId, ids[0], await encodeCanonicalMask(grown, [32, 32]))).toMatchObject({ accepted: [], replaced: [ids[0]] });
    expect((await handle.query(statusQuery)).pending).toMatchObject({ received: 1, replaced: 1, replacements: [{ id: ids[0], source: 'test' }] });

    // A mask that changes in storage after it was accepted is caught by the merge and asked for again.
    await submit(workflowId, ids[1], await truth(ids[1]));
    const accepted = (await store.list(runKeys.phaseLabelsPrefix(workflowId, 0))).find((k) => k.includes(`/${ids[1]}-`))!;
    await store.putImage(accepted, await encodeCanonicalMask(new Uint8Array(32 * 32).fill(1), [32, 32]));
    await submit(workflowId, ids[2], await truth(ids[2]));
    const reopened = await waitFor(async () => {
      const s = await handle.query(statusQuery);
      return s.invalid.some((i) => i.id === ids[1]) && s.pending?.remaining.includes(ids[1]) ? s : undefined;
    }, 'the merge to hand back the changed mask');
    expect(reopened.invalid.at(-1)!.reason).toContain('changed after it was accepted');
    expect((await submit(workflowId, ids[1], await truth(ids[1]))).accepted).toEqual([ids[1]]);

    // The phase merges: every merged mask is exactly what was sent (the replacement for ids[0]).
    await waitFor(async () => ((await handle.query(statusQuery)).phase === 1 ? true : undefined), 'phase 1');
    // Masks for the closed phase are too late: 409, naming it.
    await expect(submit(workflowId, ids[2], await truth(ids[2]))).rejects.toMatchObject({ status: 409 });
    const result = await handle.result();
    expect(result.stopReason).toBe('max-phases');
    expect(result.history.map((h) => h.labelled)).toEqual([4, 7]);
    expect(result.history[0]).toMatchObject({ received: 3, replaced: 1 });
    const labelled = await store.getJson<{ id: string; maskKey: string }[]>(result.labelledKey);
    const maskOf = async (bytes: Uint8Array) => {
      const read = await normaliseMaskBytes(bytes, { size: [32, 32] });
      if (!read.ok) throw new Error(read.reason);
      return read.mask;
    };
    for (const id of ids) {
      const item = labelled.find((l) => l.id === id)!;
      expect(item.maskKey.startsWith(runKeys.phaseLabelsPrefix(workflowId, 0))).toBe(true);
      const expected = id === ids[0] ? grown : await maskOf(await truth(id));
      expect(maskContentHash(await maskOf(await store.getBytes(item.maskKey)), [32, 32])).toBe(maskContentHash(expected, [32, 32]));
    }
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
    await expect(submit(workflowId, 'x', new Uint8Array(1))).rejects.toBeInstanceOf(SubmissionError);
  });
});
