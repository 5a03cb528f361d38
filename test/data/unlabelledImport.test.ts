/**
 * Datasets without every mask (issue: cold start): a folder of unlabelled frames imports, held-out videos are drawn
 * among all videos (labelled ones first) with their unlabelled frames listed apart, and an import that fails leaves
 * nothing behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetKeys, readItems, readSplit } from '../../data/manifest';
import { importFolderOfPairs } from '../../data/import/folderOfPairs';
import { splitByGroup } from '../../data/import/importCore';
import { planBootstrap } from '../../data/bootstrap';
import { deriveLabelledDataset, readSplits } from '../../data/derive';
import { generateSyntheticEcho, writeFolderOfPairs } from '../../data/synthetic';
import { MemoryBlobStore } from '../../store/blobStore';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'unlabelled-import-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const frames = (groups: number, perGroup: number, labelledGroups: number) => Array.from({ length: groups * perGroup }, (_, i) => ({
  id: `g${Math.floor(i / perGroup)}_f${i % perGroup}`, group: `g${Math.floor(i / perGroup)}`, labelled: Math.floor(i / perGroup) < labelledGroups,
}));

describe('splits of a dataset without every mask', () => {
  it('holds out whole videos among all of them, their unlabelled frames apart from the pool', () => {
    const splits = splitByGroup(frames(10, 3, 0), { seed: 4, initialCount: 40, testShare: 0.2, valShare: 0.1 });
    expect(splits.initial).toEqual([]);
    expect(splits.test).toEqual([]);
    expect(splits.val).toEqual([]);
    const group = (id: string) => id.split('_')[0];
    expect(new Set(splits.testUnlabelled!.map(group)).size).toBe(2);
    expect(splits.testUnlabelled).toHaveLength(6);
    expect(new Set(splits.valUnlabelled!.map(group)).size).toBe(1);
    expect(splits.pool).toHaveLength(21);
    const heldOut = new Set([...splits.testUnlabelled!, ...splits.valUnlabelled!].map(group));
    expect(splits.pool.some((id) => heldOut.has(group(id)))).toBe(false);
  });

  it('takes videos with masks first for test and validation, and counts of videos instead of shares', () => {
    const splits = splitByGroup(frames(10, 3, 3), { seed: 1, initialCount: 2, testVideos: 2, valVideos: 1 });
    // Three labelled videos: two for test, one for validation; their frames are all labelled.
    expect(splits.test).toHaveLength(6);
    expect(splits.val).toHaveLength(3);
    expect(splits.testUnlabelled).toBeUndefined();
    expect(splits.initial).toEqual([]);
    const more = splitByGroup(frames(10, 3, 1), { seed: 1, initialCount: 2, testVideos: 3, valVideos: 2 });
    expect(more.test).toHaveLength(3);
    expect(more.testUnlabelled).toHaveLength(6);
    expect(more.valUnlabelled).toHaveLength(6);
  });

  it('gives a fully labelled dataset the split it always had', () => {
    const labelled = frames(10, 3, 10);
    const splits = splitByGroup(labelled, { seed: 3, initialCount: 5 });
    expect(splits.testUnlabelled).toBeUndefined();
    expect(splits.valUnlabelled).toBeUndefined();
    expect(splits.test).toHaveLength(6);
    expect(splits.val).toHaveLength(3);
    expect(splits.initial).toHaveLength(5);
    expect(splits.pool).toHaveLength(30 - 6 - 3 - 5);
  });
});

describe('importing frames without masks', () => {
  it('imports a folder of images with no masks at all, labelled 0, the held-out frames listed for labelling', async () => {
    const dir = path.join(root, 'no-masks');
    const synthetic = generateSyntheticEcho({ videos: 6, framesPerVideo: 3, size: 32, seed: 2 });
    const written = await writeFolderOfPairs(dir, synthetic);
    await Promise.all(written.filter((f) => f.endsWith('_mask.png')).map((f) => rm(f)));
    const store = new MemoryBlobStore();
    const summary = await importFolderOfPairs(store, { dir, size: 32, initialCount: 4, testShare: 0.2, valShare: 0.2 });
    expect(summary).toMatchObject({ imported: 18, labelled: 0 });
    expect(summary.manifest.splits.counts).toEqual({ initial: 0, pool: 12, test: 0, val: 0, valUnlabelled: 3, testUnlabelled: 3 });
    const items = await readItems(store, summary.manifest);
    expect(items.every((i) => i.maskKey === undefined)).toBe(true);
    expect(await readSplit(store, summary.datasetId, 'testUnlabelled')).toHaveLength(3);
  });

  it('leaves no object behind when the import fails after writing images', async () => {
    const dir = path.join(root, 'fails');
    await writeFolderOfPairs(dir, generateSyntheticEcho({ videos: 4, framesPerVideo: 2, size: 32, seed: 3 }));
    const store = new MemoryBlobStore();
    // The store fails when the import writes the dataset's item list, after every image and mask is in.
    const failing = Object.assign(Object.create(store) as MemoryBlobStore, {
      putBytes: async (key: string, data: Uint8Array) => {
        if (key.endsWith('/items.json')) throw new Error('disk full');
        return store.putBytes(key, data);
      },
    });
    await expect(importFolderOfPairs(failing, { dir, size: 32, initialCount: 2 })).rejects.toThrow('disk full');
    expect(await store.list('datasets/')).toEqual([]);
    // The same import then succeeds, whole.
    const summary = await importFolderOfPairs(store, { dir, size: 32, initialCount: 2 });
    expect(await store.exists(datasetKeys.manifest(summary.datasetId))).toBe(true);
    expect((await store.list(datasetKeys.prefix(summary.datasetId))).filter((k) => k.includes('/images/'))).toHaveLength(8);
  });
});

describe('the first request of a run on such a dataset', () => {
  const items = frames(10, 6, 0).map((f) => ({ id: f.id, group: f.group, labelled: f.labelled }));
  const splits = splitByGroup(items, { seed: 4, initialCount: 40, testShare: 0.2, valShare: 0.1 });
  const group = (id: string) => id.split('_')[0];

  it('asks for frames of every held-out video without masks, spread over it, and initial frames spread over videos', () => {
    const plan = planBootstrap(items, splits, { evalFramesPerVideo: 2, initialCount: 7, seed: 1 })!;
    const of = (purpose: string) => plan.frames.filter((f) => f.purpose === purpose).map((f) => f.id);
    expect(plan.frames.map((f) => f.purpose)).toEqual([...Array(2).fill('validation'), ...Array(4).fill('test'), ...Array(7).fill('initial')]);
    // Two frames per video, one from each half of the video.
    for (const ids of [of('validation'), of('test')]) {
      for (const video of new Set(ids.map(group))) {
        const picked = ids.filter((id) => group(id) === video);
        expect(picked.map((id) => Number(id.split('_f')[1]) < 3).sort(), video).toEqual([false, true]);
      }
    }
    expect(new Set(of('test').map(group))).toEqual(new Set(splits.testUnlabelled!.map(group)));
    // Seven initial frames over the seven training videos: one each.
    expect(new Set(of('initial').map(group)).size).toBe(7);
    expect(of('initial').every((id) => splits.pool.includes(id))).toBe(true);
    expect(plan.reserve.filter((r) => r.purpose === 'initial')).toHaveLength(7);
    expect(plan.reserve.filter((r) => r.purpose === 'test').every((r) => splits.testUnlabelled!.includes(r.id) && !of('test').includes(r.id))).toBe(true);
    expect(planBootstrap(items, splits, { evalFramesPerVideo: 2, initialCount: 7, seed: 1 })).toEqual(plan);
    expect(planBootstrap(items, splits, { evalFramesPerVideo: 2, initialCount: 7, seed: 2 })).not.toEqual(plan);
  });

  it('asks for nothing when the dataset has what a run needs', () => {
    const labelled = frames(10, 3, 10);
    expect(planBootstrap(labelled, splitByGroup(labelled, { seed: 3, initialCount: 5 }), { evalFramesPerVideo: 2, initialCount: 5, seed: 0 })).toBeUndefined();
  });

  it('makes the labelled dataset from the masks: frames move into their splits, unusable ones out of every split', async () => {
    const dir = path.join(root, 'derive');
    const written = await writeFolderOfPairs(dir, generateSyntheticEcho({ videos: 6, framesPerVideo: 4, size: 32, seed: 7 }));
    await Promise.all(written.filter((f) => f.endsWith('_mask.png')).map((f) => rm(f)));
    const store = new MemoryBlobStore();
    const summary = await importFolderOfPairs(store, { dir, size: 32, initialCount: 4, testShare: 0.2, valShare: 0.2 });
    const before = await readSplits(store, summary.manifest);
    const allItems = (await readItems(store, summary.manifest)).map((i) => ({ id: i.id, group: i.group, labelled: false }));
    const plan = planBootstrap(allItems, before, { evalFramesPerVideo: 1, initialCount: 3, seed: 0 })!;
    const [unusable, ...kept] = plan.frames;
    const mask = new Uint8Array(32 * 32).fill(0).map((_, i) => (i % 32 > 8 && i % 32 < 20 ? 1 : 0));
    const labels = kept.map((f) => ({ id: f.id, mask, purpose: f.purpose as 'validation' | 'test' | 'initial' }));
    const derived = await deriveLabelledDataset(store, summary.datasetId, { labels, unusable: [unusable.id], note: 'test' });
    const after = await readSplits(store, derived);
    expect(after.val).toEqual(labels.filter((l) => l.purpose === 'validation').map((l) => l.id));
    expect(after.test).toEqual(labels.filter((l) => l.purpose === 'test').map((l) => l.id));
    expect(after.initial).toEqual(labels.filter((l) => l.purpose === 'initial').map((l) => l.id));
    for (const name of ['pool', 'valUnlabelled', 'testUnlabelled'] as const) {
      expect(after[name].some((id) => id === unusable.id || labels.some((l) => l.id === id)), name).toBe(false);
    }
    expect(after.pool.length).toBe(before.pool.length - after.initial.length - (before.pool.includes(unusable.id) ? 1 : 0));
    const derivedItems = await readItems(store, derived);
    expect(derivedItems.filter((i) => i.maskKey).map((i) => i.id).sort()).toEqual(labels.map((l) => l.id).sort());
    // The parent's images, not copies; the same masks again give the same dataset.
    expect(derivedItems.every((i) => i.imageKey.startsWith(`datasets/${summary.datasetId}/`))).toBe(true);
    expect((await deriveLabelledDataset(store, summary.datasetId, { labels, unusable: [unusable.id], note: 'again' })).id).toBe(derived.id);
  });
});
