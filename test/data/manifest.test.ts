import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../store/blobStore';
import {
  datasetKeys, listDatasets, loadTensors, readItems, readManifest, readSplit, writeDataset, writeItemData,
  type DatasetItem,
} from '../../data/manifest';

const size: [number, number] = [4, 5];

async function tinyDataset(store: MemoryBlobStore, id = 'ds-test') {
  const items: DatasetItem[] = [];
  for (let n = 0; n < 4; n++) {
    const image = Float32Array.from({ length: 20 }, (_, i) => (i + n) / 32);
    const mask = n === 3 ? undefined : Uint8Array.from({ length: 20 }, (_, i) => (i % (n + 2) === 0 ? 1 : 0));
    const keys = await writeItemData(store, id, `item${n}`, size, image, mask);
    items.push({ id: `item${n}`, group: n < 2 ? 'videoA' : 'videoB', ...keys, source: `f${n}.png`, originalSize: [8, 10], contentHash: `h${n}` });
  }
  const manifest = await writeDataset(store, { id, name: 'tiny', size, source: 'test', seed: 3 }, items, {
    initial: ['item0'],
    pool: ['item1'],
    test: ['item2'],
  });
  return { items, manifest };
}

describe('dataset manifest', () => {
  it('writes items, splits and the manifest under datasets/<id>/ and reads them back', async () => {
    const store = new MemoryBlobStore();
    const { items, manifest } = await tinyDataset(store);
    expect(manifest).toMatchObject({ id: 'ds-test', name: 'tiny', size, channels: 1, itemCount: 4, seed: 3, source: 'test' });
    expect(manifest.splits.counts).toEqual({ initial: 1, pool: 1, test: 1 });
    expect(await readManifest(store, 'ds-test')).toEqual(manifest);
    expect(await readItems(store, manifest)).toEqual(items);
    expect(await readItems(store, 'ds-test')).toEqual(items);
    expect(await readSplit(store, 'ds-test', 'pool')).toEqual(['item1']);
    expect(await store.exists('datasets/ds-test/images/item0.bin')).toBe(true);
    expect(await store.exists('datasets/ds-test/masks/item0.png')).toBe(true);
    expect(items[3].maskKey).toBeUndefined();
    expect((await listDatasets(store)).map((m) => m.id)).toEqual(['ds-test']);
  });

  it('lists only complete datasets and explains a missing one', async () => {
    const store = new MemoryBlobStore();
    await writeItemData(store, 'ds-half', 'a', size, new Float32Array(20));
    expect(await listDatasets(store)).toEqual([]);
    await expect(readManifest(store, 'ds-half')).rejects.toThrow(/does not exist.*import it first/);
  });

  it('refuses inconsistent splits and writes no manifest then', async () => {
    const store = new MemoryBlobStore();
    const { items } = await tinyDataset(store, 'ds-a');
    const spec = { id: 'ds-b', name: 'bad', size, source: 'test', seed: 0 };
    await expect(writeDataset(store, spec, items, { initial: ['item0'], pool: ['item1'], test: ['nope'] })).rejects.toThrow(/'nope'/);
    await expect(writeDataset(store, spec, items, { initial: ['item0'], pool: ['item2'], test: ['item1'] })).rejects.toThrow(/Group 'videoA'/);
    await expect(writeDataset(store, spec, items, { initial: ['item3'], pool: [], test: ['item2'] })).rejects.toThrow(/no mask/);
    await expect(writeDataset(store, spec, items, { initial: ['item0'], pool: ['item0'], test: [] })).rejects.toThrow(/both/);
    expect(await store.exists(datasetKeys.manifest('ds-b'))).toBe(false);
  });

  it('loadTensors returns [N,H,W,1] images and 0/1 masks with the stored values', async () => {
    const store = new MemoryBlobStore();
    const { manifest } = await tinyDataset(store);
    const { images, masks } = await loadTensors(store, manifest, ['item2', 'item0']);
    expect(images.shape).toEqual([2, 4, 5, 1]);
    expect(masks?.shape).toEqual([2, 4, 5, 1]);
    const imageValues = await images.data();
    expect(imageValues[0]).toBeCloseTo(2 / 32, 6);
    expect(imageValues[20 + 19]).toBeCloseTo(19 / 32, 6);
    const maskValues = Array.from(await masks!.data());
    expect(maskValues.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 4 === 0 ? 1 : 0)));
    expect(maskValues.slice(20)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 1 : 0)));
    tf.dispose([images, masks!]);
  });

  it('loadTensors leaves masks out when an item is unlabelled, and fails when they are required', async () => {
    const store = new MemoryBlobStore();
    const { manifest } = await tinyDataset(store);
    const mixed = await loadTensors(store, manifest, ['item0', 'item3']);
    expect(mixed.images.shape).toEqual([2, 4, 5, 1]);
    expect(mixed.masks).toBeUndefined();
    mixed.images.dispose();
    const none = await loadTensors(store, manifest, ['item0'], { masks: 'none' });
    expect(none.masks).toBeUndefined();
    none.images.dispose();
    await expect(loadTensors(store, manifest, ['item3'], { masks: 'require' })).rejects.toThrow(/item3 have no mask/);
    await expect(loadTensors(store, manifest, ['item9'])).rejects.toThrow(/no item\(s\) item9/);
  });
});
