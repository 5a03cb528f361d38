import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../store/blobStore';
import { loadTensors, readItems, readSplit, type DatasetManifest } from '../../data/manifest';
import { importCamus } from '../../data/import/camus';
import { readMetaImage, writeMetaImage } from '../../data/formats/metaImage';
import { readNifti, writeNifti } from '../../data/formats/nifti';
import { generateSyntheticEcho, writeCamusLike, type SyntheticFrame } from '../../data/synthetic';

// Non-square frames (H 32, W 40) catch a swapped x/y axis.
const size: [number, number] = [32, 40];
let root: string;
let frames: SyntheticFrame[];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'import-camus-'));
  frames = generateSyntheticEcho({ videos: 5, framesPerVideo: 6, size, seed: 5 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function area(frame: SyntheticFrame): number {
  return frame.mask.reduce((a, b) => a + b, 0);
}

/** ED = largest cavity of a video, ES = smallest one after it (how the writer picks them). */
function edEs(video: number): { ed: SyntheticFrame; es: SyntheticFrame; sequence: SyntheticFrame[] } {
  const list = frames.filter((f) => f.video === video);
  const areas = list.map(area);
  const ed = areas.indexOf(Math.max(...areas));
  const after = areas.slice(ed);
  const es = ed + after.indexOf(Math.min(...after));
  return { ed: list[ed], es: list[es], sequence: list.slice(ed, es + 1) };
}

async function load(store: MemoryBlobStore, manifest: DatasetManifest) {
  const items = await readItems(store, manifest);
  const tensors = await loadTensors(store, manifest, items.map((i) => i.id));
  const images = Array.from(await tensors.images.data());
  const masks = tensors.masks ? Array.from(await tensors.masks.data()) : undefined;
  tf.dispose([tensors.images, ...(tensors.masks ? [tensors.masks] : [])]);
  const pixels = size[0] * size[1];
  return items.map((item, n) => ({
    item,
    image: images.slice(n * pixels, (n + 1) * pixels),
    mask: masks?.slice(n * pixels, (n + 1) * pixels),
  }));
}

function maxError(a: number[], b: ArrayLike<number>): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

function mirrored(values: ArrayLike<number>): number[] {
  const [h, w] = size;
  return Array.from({ length: h * w }, (_, i) => values[Math.floor(i / w) * w + (w - 1 - (i % w))]);
}

describe('MetaImage and NIfTI codecs', () => {
  it('round-trip every supported element type, raw and compressed', async () => {
    const values = [0, 1, 2, 250, 3, 7];
    for (const elementType of ['MET_UCHAR', 'MET_USHORT', 'MET_SHORT', 'MET_FLOAT'] as const) {
      for (const compressed of [false, true]) {
        const file = path.join(root, `codec-${elementType}-${compressed}.mhd`);
        await writeMetaImage(file, { dims: [3, 2], spacing: [0.3, 0.4], elementType, data: values, compressed });
        const image = await readMetaImage(file);
        expect(image.dims).toEqual([3, 2]);
        expect(image.spacing).toEqual([0.3, 0.4]);
        expect(Array.from(image.data)).toEqual(values);
      }
    }
    const nii = path.join(root, 'codec.nii.gz');
    await writeNifti(nii, { dims: [3, 2, 2], spacing: [0.3, 0.4, 1], data: Uint8Array.from([...values, ...values]) });
    const volume = await readNifti(nii);
    expect(volume.dims).toEqual([3, 2, 2]);
    expect(volume.spacing[0]).toBeCloseTo(0.3, 6);
    expect(Array.from(volume.data)).toEqual([...values, ...values]);
  });

  it('reads a header with big-endian LOCAL data as other tools write it', async () => {
    const file = path.join(root, 'local.mhd');
    const header = 'ObjectType = Image\nNDims = 2\nBinaryDataByteOrderMSB = True\nDimSize = 2 1\nElementType = MET_USHORT\nElementDataFile = LOCAL\n';
    await writeFile(file, Buffer.concat([Buffer.from(header), Buffer.from([0x01, 0x02, 0x00, 0x05])]));
    expect(Array.from((await readMetaImage(file)).data)).toEqual([258, 5]);
  });
});

describe('importCamus', () => {
  it('imports the MetaImage release: ED/ES images, label-1 masks, spacing, patients as groups', async () => {
    const dir = path.join(root, 'mhd');
    const written = await writeCamusLike(dir, frames, { format: 'mhd' });
    expect(written.files.some((f) => f.endsWith(path.join('patient0001', 'patient0001_2CH_ED_gt.mhd')))).toBe(true);
    expect(written.files.some((f) => f.endsWith('Info_2CH.cfg'))).toBe(true);
    const store = new MemoryBlobStore();
    const summary = await importCamus(store, { dir, size, initialCount: 4 });
    expect(summary.skipped).toEqual([]);
    expect(summary.imported).toBe(10);
    expect(summary.manifest.source).toBe('camus:mhd');
    for (const { item, image, mask } of await load(store, summary.manifest)) {
      const video = Number(/patient(\d+)/.exec(item.id)![1]) - 1;
      const { ed, es } = edEs(video);
      const frame = item.id.endsWith('_ED') ? ed : es;
      expect(item.group).toBe(`patient${String(video + 1).padStart(4, '0')}`);
      expect(item.originalSize).toEqual(size);
      expect(item.spacing![0]).toBeCloseTo(frame.geometry.mmPerPixel, 4);
      expect(maxError(image, frame.image)).toBeLessThan(0.6 / 255);
      expect(mask).toEqual(Array.from(frame.mask));
    }
  });

  it('imports MetaImage half sequences with the ED and ES masks on their frames and the other frames unlabelled', async () => {
    const dir = path.join(root, 'mhd-half');
    await writeCamusLike(dir, frames, { format: 'mhd' });
    const store = new MemoryBlobStore();
    const summary = await importCamus(store, { dir, size, frames: 'half_sequence', initialCount: 2, testShare: 0.2, valShare: 0 });
    expect(summary.skipped).toEqual([]);
    const expectedFrames = [0, 1, 2, 3, 4].reduce((n, video) => n + edEs(video).sequence.length, 0);
    expect(summary.imported).toBe(expectedFrames);
    // ED is the sequence's first frame and ES its last (one frame when they coincide): those are labelled.
    expect(summary.labelled).toBe([0, 1, 2, 3, 4].reduce((n, video) => n + Math.min(2, edEs(video).sequence.length), 0));
    const loaded = await readItems(store, summary.manifest);
    for (const video of [0, 1, 2, 3, 4]) {
      const { sequence } = edEs(video);
      const ids = loaded.filter((i) => i.group === `patient${String(video + 1).padStart(4, '0')}`).map((i) => [i.id, i.maskKey !== undefined]);
      expect(ids).toEqual(sequence.map((_, t) => [`patient${String(video + 1).padStart(4, '0')}_2CH_hs${String(t).padStart(3, '0')}`, t === 0 || t === sequence.length - 1]));
    }
    // The test patient's unlabelled frames are held out beside its labelled ones, never in the pool.
    const test = await readSplit(store, summary.datasetId, 'test');
    const testUnlabelled = await readSplit(store, summary.datasetId, 'testUnlabelled');
    const pool = new Set(await readSplit(store, summary.datasetId, 'pool'));
    const testGroup = loaded.find((i) => i.id === test[0])!.group;
    expect(test.length + testUnlabelled.length).toBe(loaded.filter((i) => i.group === testGroup).length);
    expect(test.every((id) => loaded.find((i) => i.id === id)!.maskKey !== undefined)).toBe(true);
    expect(testUnlabelled.every((id) => !pool.has(id) && loaded.find((i) => i.id === id)!.group === testGroup)).toBe(true);
    expect([...pool].some((id) => loaded.find((i) => i.id === id)!.maskKey === undefined)).toBe(true);
  });

  it('reads compressed .zraw data and 16-bit, signed and float element types', async () => {
    for (const elementType of ['MET_USHORT', 'MET_SHORT', 'MET_FLOAT'] as const) {
      const dir = path.join(root, `mhd-${elementType}`);
      await writeCamusLike(dir, frames.filter((f) => f.video < 2), { format: 'mhd', compressed: true, elementType });
      const store = new MemoryBlobStore();
      const summary = await importCamus(store, { dir, size, initialCount: 1 });
      expect(summary.skipped).toEqual([]);
      expect(summary.imported).toBe(4);
      const [first] = await load(store, summary.manifest);
      expect(first.item.id).toBe('patient0001_2CH_ED');
      expect(maxError(first.image, edEs(0).ed.image)).toBeLessThan(1e-4);
    }
  });

  it('imports NIfTI half sequences frame by frame, and another label on request', async () => {
    const dir = path.join(root, 'nifti');
    await writeCamusLike(dir, frames, { format: 'nifti', views: ['2CH', '4CH'], splitLists: true });
    const store = new MemoryBlobStore();
    const summary = await importCamus(store, { dir, size, frames: 'half_sequence', views: ['2CH'], initialCount: 4 });
    expect(summary.skipped).toEqual([]);
    expect(summary.manifest.source).toBe('camus:nifti');
    const expectedCount = [0, 1, 2, 3, 4].reduce((n, v) => n + edEs(v).sequence.length, 0);
    expect(summary.imported).toBe(expectedCount);
    for (const { item, image, mask } of await load(store, summary.manifest)) {
      const match = /^patient(\d+)_2CH_hs(\d+)$/.exec(item.id)!;
      const frame = edEs(Number(match[1]) - 1).sequence[Number(match[2])];
      expect(maxError(image, frame.image)).toBeLessThan(0.6 / 255);
      expect(mask).toEqual(Array.from(frame.mask));
    }

    const atriumStore = new MemoryBlobStore();
    const atrium = await importCamus(atriumStore, { dir, size, frames: ['ED'], views: ['4CH'], label: 3, initialCount: 2 });
    const first = (await load(atriumStore, atrium.manifest)).find((r) => r.item.id === 'patient0001_4CH_ED')!;
    // The 4CH files are the synthetic video mirrored left-right.
    expect(first.mask).toEqual(mirrored(Array.from(edEs(0).ed.labels, (l) => (l === 3 ? 1 : 0))));
  });

  it('skips only the frame of a sequence whose ground truth lacks the label', async () => {
    const dir = path.join(root, 'nifti-gap');
    await writeCamusLike(dir, frames.filter((f) => f.video < 2), { format: 'nifti' });
    const gtFile = path.join(dir, 'database_nifti', 'patient0001', 'patient0001_2CH_half_sequence_gt.nii.gz');
    const gt = await readNifti(gtFile);
    const pixels = size[0] * size[1];
    const labels = Uint8Array.from(gt.data);
    labels.fill(2, pixels, 2 * pixels);
    await writeNifti(gtFile, { dims: gt.dims, spacing: gt.spacing, data: labels });
    const store = new MemoryBlobStore();
    const summary = await importCamus(store, { dir, size, frames: 'half_sequence', initialCount: 1 });
    expect(summary.skipped).toEqual([{ file: 'database_nifti/patient0001/patient0001_2CH_half_sequence_gt.nii.gz[1]', reason: 'mask is empty: no pixel has the chosen label' }]);
    const expected = edEs(0).sequence.length + edEs(1).sequence.length - 1;
    expect(summary.imported).toBe(expected);
    const ids = (await readItems(store, summary.manifest)).map((i) => i.id);
    expect(ids).toContain('patient0001_2CH_hs000');
    expect(ids).toContain('patient0001_2CH_hs002');
    expect(ids).not.toContain('patient0001_2CH_hs001');
  });

  it('uses the official split lists: their testing patients form the test set', async () => {
    const dir = path.join(root, 'nifti');
    const store = new MemoryBlobStore();
    const summary = await importCamus(store, { dir, size, splitLists: true, initialCount: 3 });
    const items = new Map((await readItems(store, summary.manifest)).map((i) => [i.id, i]));
    const test = await readSplit(store, summary.datasetId, 'test');
    const training = [...(await readSplit(store, summary.datasetId, 'initial')), ...(await readSplit(store, summary.datasetId, 'pool'))];
    const testingList = (await readFile(path.join(dir, 'database_split', 'subgroup_testing.txt'), 'utf8')).trim().split('\n');
    expect(new Set(test.map((id) => items.get(id)!.group))).toEqual(new Set(testingList));
    for (const id of training) expect(testingList).not.toContain(items.get(id)!.group);
    const val = await readSplit(store, summary.datasetId, 'val');
    for (const id of val) expect(testingList).not.toContain(items.get(id)!.group);
    expect(test.length + training.length + val.length).toBe(10);
  });

  it('reports truncated, mismatched, empty and missing files, imports the rest, and is idempotent', async () => {
    const dir = path.join(root, 'broken');
    await writeCamusLike(dir, frames, { format: 'mhd' });
    const patientDir = (n: number) => path.join(dir, 'training', `patient000${n}`);
    // Truncated .raw.
    const raw = path.join(patientDir(1), 'patient0001_2CH_ED.raw');
    await truncate(raw, Math.floor((await stat(raw)).size / 2));
    // Ground truth of the wrong size.
    await writeMetaImage(path.join(patientDir(2), 'patient0002_2CH_ES_gt.mhd'), { dims: [20, 16, 1], spacing: [1, 1, 1], elementType: 'MET_UCHAR', data: new Uint8Array(320).fill(1) });
    // Empty ground truth (no label 1).
    await writeMetaImage(path.join(patientDir(3), 'patient0003_2CH_ED_gt.mhd'), { dims: [40, 32, 1], spacing: [1, 1, 1], elementType: 'MET_UCHAR', data: new Uint8Array(1280).fill(2) });
    // Missing view files.
    await rm(path.join(patientDir(4), 'patient0004_2CH_ES.mhd'));
    // A truncated .nii.gz next to them (a NIfTI release file in the same tree).
    const nifti = path.join(root, 'nifti', 'database_nifti', 'patient0005', 'patient0005_2CH_ED.nii.gz');
    await writeFile(path.join(patientDir(5), 'patient0005_2CH_ES.nii.gz'), (await readFile(nifti)).subarray(0, 200));

    const store = new MemoryBlobStore();
    const summary = await importCamus(store, { dir, size, initialCount: 2 });
    const reasons = Object.fromEntries(summary.skipped.map((s) => [s.file, s.reason]));
    expect(reasons['training/patient0001/patient0001_2CH_ED.mhd']).toMatch(/truncated/);
    expect(reasons['training/patient0002/patient0002_2CH_ES_gt.mhd']).toMatch(/20×16×1 but its image .* is 40×32×1/);
    expect(reasons['training/patient0003/patient0003_2CH_ED_gt.mhd']).toBe('mask is empty: no pixel has label 1 (values present: 2); check the label value');
    expect(reasons['training/patient0004/patient0004_2CH_ES']).toMatch(/missing/);
    expect(reasons['training/patient0005/patient0005_2CH_ES.nii.gz']).toMatch(/damaged or truncated/);
    expect(summary.skipped).toHaveLength(5);
    expect(summary.imported).toBe(5);

    const again = await importCamus(store, { dir, size, initialCount: 2 });
    expect(again.datasetId).toBe(summary.datasetId);
    expect(again.reused).toBe(true);
    expect(again.skipped).toEqual(summary.skipped);
  });
});
