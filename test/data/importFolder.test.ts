import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../store/blobStore';
import { loadTensors, readItems, readSplit, type DatasetManifest } from '../../data/manifest';
import { importFolderOfPairs } from '../../data/import/folderOfPairs';
import { importSyntheticEcho } from '../../data/import';
import {
  encodeSyntheticImage, encodeSyntheticMask, generateSyntheticEcho, writeFolderOfPairs,
  type PairImageFormat, type SyntheticFrame,
} from '../../data/synthetic';

let root: string;
let frames: SyntheticFrame[];
const byId = () => new Map(frames.map((f) => [f.id, f]));

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'import-folder-'));
  frames = generateSyntheticEcho({ videos: 5, framesPerVideo: 4, size: 32, seed: 3 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function everything(store: MemoryBlobStore, manifest: DatasetManifest) {
  const items = await readItems(store, manifest);
  const tensors = await loadTensors(store, manifest, items.map((i) => i.id));
  const images = (await tensors.images.array()) as number[][][][];
  const masks = tensors.masks ? ((await tensors.masks.array()) as number[][][][]) : undefined;
  tf.dispose([tensors.images, ...(tensors.masks ? [tensors.masks] : [])]);
  return { items, images, masks };
}

function flat(image: number[][][]): number[] {
  return image.flat(2);
}

describe('importFolderOfPairs', () => {
  const formats: Array<[PairImageFormat, number]> = [['png', 0.6 / 255], ['png16', 1e-4], ['tiff', 0.6 / 255], ['tiff16', 1e-4], ['rgb-png', 0.6 / 255], ['jpeg', 0.03]];

  it.each(formats)('imports %s images with exact masks', async (format, tolerance) => {
    const dir = path.join(root, format);
    await writeFolderOfPairs(dir, frames, { imageFormat: format });
    const store = new MemoryBlobStore();
    const summary = await importFolderOfPairs(store, { dir, size: 32, initialCount: 6 });
    expect(summary.skipped).toEqual([]);
    expect(summary.imported).toBe(20);
    expect(summary.labelled).toBe(20);
    expect(summary.manifest.size).toEqual([32, 32]);
    const { items, images, masks } = await everything(store, summary.manifest);
    const source = byId();
    items.forEach((item, n) => {
      const frame = source.get(item.id)!;
      expect(item.group).toBe(frame.group);
      expect(item.originalSize).toEqual([32, 32]);
      const pixels = flat(images[n]);
      const errors = pixels.map((v, i) => Math.abs(v - frame.image[i]));
      if (format === 'jpeg') expect(errors.reduce((a, b) => a + b, 0) / errors.length).toBeLessThan(tolerance);
      else expect(Math.max(...errors)).toBeLessThan(tolerance);
      expect(flat(masks![n])).toEqual(Array.from(frame.mask));
    });
  });

  it('reads 0/1 masks and 8- and 16-bit multi-label masks with a chosen label; refuses multi-label masks without one', async () => {
    const source = byId();
    for (const [maskFormat, label] of [['0-1', undefined], ['labels', 1], ['labels', 3]] as const) {
      const dir = path.join(root, `mask-${maskFormat}-${label}`);
      await writeFolderOfPairs(dir, frames, { maskFormat });
      const store = new MemoryBlobStore();
      const summary = await importFolderOfPairs(store, { dir, size: 32, label, initialCount: 4 });
      const { items, masks } = await everything(store, summary.manifest);
      // A label absent from a frame (the atrium can leave a small image) is reported, not imported.
      expect(summary.imported + summary.skipped.length).toBe(20);
      items.forEach((item, n) => {
        const frame = source.get(item.id)!;
        const expected = Array.from(frame.labels, (l) => (l === (label ?? 1) ? 1 : 0));
        expect(flat(masks![n])).toEqual(expected);
      });
    }
    const dir16 = path.join(root, 'mask-labels16');
    await writeFolderOfPairs(dir16, frames, { maskFormat: 'labels' });
    for (const f of frames) {
      const labels16 = Uint16Array.from(f.labels);
      const png16 = await sharp(labels16, { raw: { width: 32, height: 32, channels: 1 } }).toColourspace('grey16').png().toBuffer();
      await writeFile(path.join(dir16, `${f.id}_mask.png`), png16);
    }
    const store16 = new MemoryBlobStore();
    const summary16 = await importFolderOfPairs(store16, { dir: dir16, size: 32, label: 2, initialCount: 4 });
    expect(summary16.skipped).toEqual([]);
    const loaded16 = await everything(store16, summary16.manifest);
    loaded16.items.forEach((item, n) => {
      expect(flat(loaded16.masks![n])).toEqual(Array.from(source.get(item.id)!.labels, (l) => (l === 2 ? 1 : 0)));
    });

    const dir = path.join(root, 'mask-labels-none');
    await writeFolderOfPairs(dir, frames, { maskFormat: 'labels' });
    await expect(importFolderOfPairs(new MemoryBlobStore(), { dir, size: 32 })).rejects.toThrow(/several labels \(0, 1, 2, 3\).*label option/);
  });

  it('reads colour, alpha-stroke and 16-bit 0/1 masks exactly; skips ambiguous ones with the mask rules\' reason', async () => {
    const dir = path.join(root, 'mask-kinds');
    const used = frames.slice(0, 8);
    await writeFolderOfPairs(dir, used);
    const [colour, alpha, sixteen, twoColours, labelMap, iendCut] = used;
    const { width, height } = colour;
    const pixels = width * height;
    const rgba = (frame: SyntheticFrame, paint: (inside: boolean, i: number) => number[]) => {
      const data = new Uint8Array(pixels * 4);
      for (let i = 0; i < pixels; i++) data.set(paint(frame.mask[i] === 1, i), i * 4);
      return sharp(data, { raw: { width, height, channels: 4 } }).png().toBuffer();
    };
    const write = async (frame: SyntheticFrame, bytes: Uint8Array) => writeFile(path.join(dir, `${frame.id}_mask.png`), bytes);
    // (51,221,255) on black; the alpha stroke is white on transparent black.
    await write(colour, await rgba(colour, (inside) => (inside ? [51, 221, 255, 255] : [0, 0, 0, 255])));
    await write(alpha, await rgba(alpha, (inside) => (inside ? [255, 255, 255, 255] : [0, 0, 0, 0])));
    await write(sixteen, await sharp(Uint16Array.from(sixteen.mask), { raw: { width, height, channels: 1 } }).toColourspace('grey16').png().toBuffer());
    await write(twoColours, await rgba(twoColours, (inside, i) => (inside ? (i % 2 ? [255, 0, 0, 255] : [0, 255, 0, 255]) : [0, 0, 0, 255])));
    await write(labelMap, await encodeSyntheticMask(labelMap, 'labels'));
    const whole = await encodeSyntheticMask(iendCut, '0-255');
    await write(iendCut, whole.subarray(0, whole.length - 12));

    const store = new MemoryBlobStore();
    const summary = await importFolderOfPairs(store, { dir, size: 32, initialCount: 2 });
    const reasons = Object.fromEntries(summary.skipped.map((s) => [s.file, s.reason]));
    expect(Object.keys(reasons).sort()).toEqual([twoColours, labelMap, iendCut].map((f) => `${f.id}_mask.png`).sort());
    expect(reasons[`${twoColours.id}_mask.png`]).toMatch(/^mask has several colours \(.*\), not one colour on black/);
    expect(reasons[`${twoColours.id}_mask.png`]).toContain('(255,0,0)');
    expect(reasons[`${twoColours.id}_mask.png`]).toContain('(0,255,0)');
    expect(reasons[`${labelMap.id}_mask.png`]).toMatch(/^mask has several labels \(0, 1, 2(, 3)?\): .*label option/);
    expect(reasons[`${iendCut.id}_mask.png`]).toMatch(/^cannot read mask: the PNG file is truncated/);
    expect(summary.labelled).toBe(5);
    const { items, masks } = await everything(store, summary.manifest);
    const source = byId();
    for (const frame of [colour, alpha, sixteen, used[6], used[7]]) {
      const n = items.findIndex((item) => item.id === frame.id);
      expect(flat(masks![n])).toEqual(Array.from(source.get(frame.id)!.mask));
    }
  });

  it('reports progress over every input file, ending at the total', async () => {
    const dir = path.join(root, 'progress');
    await writeFolderOfPairs(dir, frames);
    const calls: Array<[number, number]> = [];
    await importFolderOfPairs(new MemoryBlobStore(), { dir, size: 32, initialCount: 4, onProgress: (done, total) => calls.push([done, total]) });
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.every(([, total]) => total === 20)).toBe(true);
    expect(calls.map(([done]) => done)).toEqual([...calls.map(([done]) => done)].sort((a, b) => a - b));
    expect(calls.at(-1)).toEqual([20, 20]);
  });

  it('resizes images (Lanczos) and masks (nearest) to the requested size', async () => {
    const dir = path.join(root, 'png');
    const store = new MemoryBlobStore();
    const summary = await importFolderOfPairs(store, { dir, size: [16, 24], initialCount: 4 });
    const { items, images, masks } = await everything(store, summary.manifest);
    expect(summary.manifest.size).toEqual([16, 24]);
    expect(images[0].length).toBe(16);
    expect(images[0][0].length).toBe(24);
    const frame = byId().get(items[0].id)!;
    const sourceArea = frame.mask.reduce((a, b) => a + b, 0) / (32 * 32);
    const maskValues = flat(masks![0]);
    expect(new Set(maskValues)).toEqual(new Set([0, 1]));
    expect(Math.abs(maskValues.reduce((a, b) => a + b, 0) / (16 * 24) - sourceArea)).toBeLessThan(0.02);
    expect(items[0].originalSize).toEqual([32, 32]);
  });

  it('reports broken files per file and imports the rest', async () => {
    const dir = path.join(root, 'broken');
    const good = frames.slice(0, 16);
    await writeFolderOfPairs(dir, good);
    const [a, b, c, d] = frames.slice(16);
    const png = await encodeSyntheticImage(a, 'png');
    await writeFile(path.join(dir, `${a.id}.png`), png.subarray(0, 60));
    await writeFile(path.join(dir, `${a.id}_mask.png`), await encodeSyntheticMask(a, '0-255'));
    await writeFile(path.join(dir, `${b.id}.png`), await encodeSyntheticImage(b, 'png'));
    await writeFile(path.join(dir, `${b.id}_mask.png`), await sharp(Buffer.alloc(16 * 16, 255), { raw: { width: 16, height: 16, channels: 1 } }).png().toBuffer());
    await writeFile(path.join(dir, `${c.id}.png`), await encodeSyntheticImage(c, 'png'));
    await writeFile(path.join(dir, `${c.id}_mask.png`), await sharp(Buffer.alloc(32 * 32), { raw: { width: 32, height: 32, channels: 1 } }).png().toBuffer());
    await writeFile(path.join(dir, `${d.id}.png`), await encodeSyntheticImage(d, 'png'));
    const maskBytes = await encodeSyntheticMask(d, '0-255');
    await writeFile(path.join(dir, `${d.id}_mask.png`), maskBytes.subarray(0, maskBytes.length - 30));
    // Same id twice: video000_frame000 as .jpg beside the .png.
    await writeFile(path.join(dir, 'video000_frame000.jpg'), await encodeSyntheticImage(frames[0], 'jpeg'));
    // An image without a mask is imported unlabelled.
    await writeFile(path.join(dir, 'video001_frame009.png'), await encodeSyntheticImage(frames[5], 'png'));

    const store = new MemoryBlobStore();
    const summary = await importFolderOfPairs(store, { dir, size: 32, initialCount: 4 });
    const reasons = Object.fromEntries(summary.skipped.map((s) => [s.file, s.reason]));
    expect(Object.keys(reasons).sort()).toEqual([
      `${a.id}.png`, `${b.id}_mask.png`, `${c.id}_mask.png`, `${d.id}_mask.png`, 'video000_frame000.png',
    ].sort());
    expect(reasons[`${a.id}.png`]).toMatch(/cannot read image/);
    expect(reasons[`${b.id}_mask.png`]).toBe('mask is 16×16; the image is 32×32');
    expect(reasons[`${c.id}_mask.png`]).toBe('mask is empty: every pixel is 0 (nothing drawn)');
    expect(reasons[`${d.id}_mask.png`]).toMatch(/^cannot read mask: the PNG file is truncated/);
    expect(reasons['video000_frame000.png']).toMatch(/duplicate item id 'video000_frame000' \(already imported from video000_frame000\.jpg\)/);
    expect(summary.imported).toBe(17);
    expect(summary.labelled).toBe(16);
    const items = await readItems(store, summary.manifest);
    const unlabelled = items.find((i) => i.id === 'video001_frame009')!;
    expect(unlabelled.maskKey).toBeUndefined();
    const test = await readSplit(store, summary.datasetId, 'test');
    expect(test).not.toContain('video001_frame009');
    expect(await readSplit(store, summary.datasetId, 'initial')).not.toContain('video001_frame009');
  });

  it('splits by group: test and validation share no video with training, the initial set spreads over videos', async () => {
    const dir = path.join(root, 'png');
    const store = new MemoryBlobStore();
    const summary = await importFolderOfPairs(store, { dir, size: 32, initialCount: 6, testShare: 0.2, seed: 11 });
    const items = new Map((await readItems(store, summary.manifest)).map((i) => [i.id, i]));
    const [initial, pool, val, test] = await Promise.all((['initial', 'pool', 'val', 'test'] as const).map((s) => readSplit(store, summary.datasetId, s)));
    const groups = (ids: string[]) => new Set(ids.map((id) => items.get(id)!.group));
    expect(groups(test).size).toBe(1);
    expect(test).toHaveLength(4);
    expect(groups(val).size).toBe(1);
    expect(val).toHaveLength(4);
    for (const g of [...groups(test), ...groups(val)]) {
      expect(groups(initial).has(g)).toBe(false);
      expect(groups(pool).has(g)).toBe(false);
    }
    expect([...groups(val)].some((g) => groups(test).has(g))).toBe(false);
    expect(initial).toHaveLength(6);
    expect(groups(initial).size).toBe(3);
    expect(new Set([...initial, ...pool, ...val, ...test]).size).toBe(20);
    expect(summary.manifest.splits.counts).toEqual({ initial: 6, pool: 6, test: 4, val: 4 });
    expect(summary.manifest.splits.valKey).toBe(`datasets/${summary.datasetId}/splits/val.json`);
    // Without a validation split, the dataset of earlier versions (and its id).
    const noVal = await importFolderOfPairs(new MemoryBlobStore(), { dir, size: 32, initialCount: 6, testShare: 0.2, seed: 11, valShare: 0 });
    expect(noVal.manifest.splits.counts).toEqual({ initial: 6, pool: 10, test: 4 });
    expect(noVal.manifest.splits.valKey).toBeUndefined();
    expect(noVal.datasetId).not.toBe(summary.datasetId);
    const otherSeed = await importFolderOfPairs(store, { dir, size: 32, initialCount: 6, seed: 12 });
    expect(otherSeed.datasetId).not.toBe(summary.datasetId);
  });

  it('re-importing the same files and options gives the same dataset id and writes nothing', async () => {
    const dir = path.join(root, 'reimport');
    await writeFolderOfPairs(dir, frames.slice(0, 8));
    const store = new MemoryBlobStore();
    const first = await importFolderOfPairs(store, { dir, size: 32, initialCount: 2 });
    const keys = await store.list('');
    const second = await importFolderOfPairs(store, { dir, size: 32, initialCount: 2 });
    expect(second.datasetId).toBe(first.datasetId);
    expect(second.reused).toBe(true);
    expect(second.manifest).toEqual(first.manifest);
    expect(await store.list('')).toEqual(keys);
    // A different store (another machine) derives the same id from the same bytes.
    const elsewhere = await importFolderOfPairs(new MemoryBlobStore(), { dir, size: 32, initialCount: 2 });
    expect(elsewhere.datasetId).toBe(first.datasetId);
    await writeFile(path.join(dir, `${frames[0].id}.png`), await encodeSyntheticImage(frames[9], 'png'));
    const changed = await importFolderOfPairs(store, { dir, size: 32, initialCount: 2 });
    expect(changed.datasetId).not.toBe(first.datasetId);
  });

  it('takes groups from a regex or a CSV, and masks from a pattern in another folder', async () => {
    const dir = path.join(root, 'layout');
    await writeFolderOfPairs(path.join(dir, 'flat'), frames.slice(0, 8));
    const regex = await importFolderOfPairs(new MemoryBlobStore(), { dir: path.join(dir, 'flat'), size: 32, groupFrom: /_(frame00[0-1])$/, initialCount: 2 });
    expect(regex.skipped.map((s) => s.file).sort()).toEqual(['video000_frame002.png', 'video000_frame003.png', 'video001_frame002.png', 'video001_frame003.png']);

    const csv = 'file,patient\nvideo000_frame000.png,P1\nvideo000_frame001,P1\nvideo001_frame000.png,P2\nvideo001_frame001.png,P2\nvideo000_frame002.png,P3\n';
    await writeFile(path.join(dir, 'groups.csv'), csv);
    const store = new MemoryBlobStore();
    const fromCsv = await importFolderOfPairs(store, { dir: path.join(dir, 'flat'), size: 32, groupFrom: { csv: '../groups.csv', groupColumn: 'patient' }, initialCount: 2 });
    const groups = Object.fromEntries((await readItems(store, fromCsv.manifest)).map((i) => [i.id, i.group]));
    expect(groups).toEqual({ video000_frame000: 'P1', video000_frame001: 'P1', video001_frame000: 'P2', video001_frame001: 'P2', video000_frame002: 'P3' });
    expect(fromCsv.skipped).toHaveLength(3);

    await mkdir(path.join(dir, 'split', 'images'), { recursive: true });
    await mkdir(path.join(dir, 'split', 'masks'), { recursive: true });
    for (const f of frames.slice(0, 8)) {
      await writeFile(path.join(dir, 'split', 'images', `${f.id}.png`), await readFile(path.join(dir, 'flat', `${f.id}.png`)));
      await writeFile(path.join(dir, 'split', 'masks', `${f.id}.png`), await readFile(path.join(dir, 'flat', `${f.id}_mask.png`)));
    }
    const parallel = await importFolderOfPairs(new MemoryBlobStore(), { dir: path.join(dir, 'split'), maskPattern: '../masks/{stem}.png', size: 32, initialCount: 2 });
    expect(parallel.imported).toBe(8);
    expect(parallel.labelled).toBe(8);
  });

  it('importSyntheticEcho writes a generated set through the importer, idempotently', async () => {
    const store = new MemoryBlobStore();
    const options = { dir: path.join(root, 'synthetic'), videos: 3, framesPerVideo: 2, size: 32, seed: 3, initialCount: 2 };
    const summary = await importSyntheticEcho(store, options);
    expect(summary.imported).toBe(6);
    // Two training videos are too few to hold one out for validation.
    expect(summary.manifest.splits.counts).toEqual({ initial: 2, pool: 2, test: 2, val: 0 });
    const { items, masks } = await everything(store, summary.manifest);
    // Same seed as the fixture frames: video 0 matches.
    expect(flat(masks![items.findIndex((i) => i.id === 'video000_frame001')])).toEqual(Array.from(frames[1].mask));
    const again = await importSyntheticEcho(store, options);
    expect(again.datasetId).toBe(summary.datasetId);
    expect(again.reused).toBe(true);
    const camus = await importSyntheticEcho(new MemoryBlobStore(), { ...options, dir: path.join(root, 'synthetic-camus'), format: 'camus-nifti' });
    expect(camus.manifest.source).toBe('camus:nifti');
  });
});
