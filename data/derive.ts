/**
 * Datasets made from others, referencing the parent's image objects: a new split (`dataset resplit`), or the masks a
 * run's first request gathered for its evaluation and initial sets (a dataset imported without them).
 */
import { createHash } from 'node:crypto';
import type { LabelPurpose } from '../contracts/names';
import type { BlobStore } from '../store/blobStore';
import {
  datasetKeys, type DatasetItem, type DatasetManifest, type DatasetSplits, decodeImage, encodeMask, itemContentHash, readItems, readManifest,
  readSplit, writeDataset,
} from './manifest';

/** A dataset's splits as lists of ids (the optional ones empty when the dataset has none). */
export async function readSplits(store: BlobStore, manifest: DatasetManifest): Promise<Required<DatasetSplits>> {
  const { splits } = manifest;
  const optional = async (key: string | undefined, name: 'val' | 'valUnlabelled' | 'testUnlabelled') => (key ? readSplit(store, manifest.id, name) : []);
  return {
    initial: await readSplit(store, manifest.id, 'initial'),
    pool: await readSplit(store, manifest.id, 'pool'),
    test: await readSplit(store, manifest.id, 'test'),
    val: await optional(splits.valKey, 'val'),
    valUnlabelled: await optional(splits.valUnlabelledKey, 'valUnlabelled'),
    testUnlabelled: await optional(splits.testUnlabelledKey, 'testUnlabelled'),
  };
}

export interface NewLabel {
  id: string;
  /** 0/1 at the dataset's size. */
  mask: Uint8Array;
  purpose: Exclude<LabelPurpose, 'query'>;
}

/**
 * The parent with `labels` added (each frame moved into the split its purpose names) and `unusable` frames out of
 * every split. Its id is a hash of the parent and the change, so making it twice gives the same dataset once.
 */
export async function deriveLabelledDataset(
  store: BlobStore, parentId: string, change: { labels: readonly NewLabel[]; unusable: readonly string[]; note: string },
): Promise<DatasetManifest> {
  const parent = await readManifest(store, parentId);
  const fingerprint = createHash('sha256').update(parent.id);
  for (const label of [...change.labels].sort((a, b) => a.id.localeCompare(b.id))) fingerprint.update(`\0${label.id}\0${label.purpose}\0`).update(label.mask);
  fingerprint.update(`\0unusable\0${[...change.unusable].sort().join(',')}`);
  const id = `ds-${fingerprint.digest('hex').slice(0, 20)}`;
  if (await store.exists(datasetKeys.manifest(id))) return readManifest(store, id);

  const parentItems = await readItems(store, parent);
  const byId = new Map(parentItems.map((item) => [item.id, item]));
  const labelled = new Map(change.labels.map((label) => [label.id, label]));
  const unusable = new Set(change.unusable);
  for (const id of [...labelled.keys(), ...unusable]) if (!byId.has(id)) throw new Error(`Dataset '${parent.id}' has no item '${id}'.`);
  const items: DatasetItem[] = [];
  for (const item of parentItems) {
    const label = labelled.get(item.id);
    if (!label) {
      items.push(item);
      continue;
    }
    const maskKey = datasetKeys.mask(id, item.id);
    await store.putBytes(maskKey, await encodeMask(label.mask, parent.size), 'image/png');
    const pixels = decodeImage(await store.getBytes(item.imageKey), parent.size, item.imageKey);
    items.push({ ...item, maskKey, contentHash: itemContentHash(pixels, label.mask) });
  }

  const before = await readSplits(store, parent);
  const gone = (ids: readonly string[]) => ids.filter((i) => !labelled.has(i) && !unusable.has(i));
  const added = (purpose: NewLabel['purpose']) => change.labels.filter((l) => l.purpose === purpose).map((l) => l.id);
  const splits: DatasetSplits = {
    initial: [...before.initial, ...added('initial')],
    pool: gone(before.pool),
    test: [...before.test, ...added('test')],
    ...(parent.splits.valKey || added('validation').length > 0 ? { val: [...before.val, ...added('validation')] } : {}),
    valUnlabelled: gone(before.valUnlabelled),
    testUnlabelled: gone(before.testUnlabelled),
  };
  return writeDataset(store, { id, name: `${parent.name} + ${change.labels.length} masks (${change.note})`, size: parent.size, source: parent.source, seed: parent.seed }, items, splits);
}
