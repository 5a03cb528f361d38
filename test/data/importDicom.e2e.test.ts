import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { importDicom, locateDicomTokens } from '../../data/import';
import { ImportFailedError, splitByGroup, type ImportSummary } from '../../data/import/importCore';
import { datasetKeys, decodeImage, decodeMask, readItems, readSplit, type DatasetItem } from '../../data/manifest';
import { ObjectStore } from '../../store/objectStore';
import {
  expectedGrey, fakeIdentity, maskPng, sopClass, transferSyntax as ts, writeDicom,
  type FixtureRegion, type FixtureSpec, type Identity, type WrittenDicom,
} from './dicomFixtures';

const store = new ObjectStore(loadConfig().minio);
// A fresh salt per run gives fresh dataset ids, so no run reuses another's objects.
const salt = `salt-${randomUUID()}`;
const datasets = new Set<string>();
let root: string;

const rows = 24;
const columns = 32;
// A tissue region of 24×20 pixels: importing at [20, 24] keeps every pixel, so lossless data compares exactly.
const region: FixtureRegion = { spatialFormat: 1, minX: 4, minY: 2, maxX: 27, maxY: 21, units: 3, deltaX: 0.05, deltaY: 0.04 };
const spectral: FixtureRegion = { spatialFormat: 3, minX: 0, minY: 22, maxX: 31, maxY: 23 };
const crop = { x: 4, y: 2, width: 24, height: 20 };
const size: [number, number] = [20, 24];

const hashOf = (value: string, withSalt = salt) => createHash('sha256').update(withSalt).update('\0').update(value).digest('hex').slice(0, 16);
const fileToken = (relative: string) => `file-${hashOf(`path:${relative}`)}`;
const itemId = (identity: Identity, frame: number) => `s${hashOf(identity.seriesUid)}_i${hashOf(identity.instanceUid)}_f${String(frame).padStart(4, '0')}`;

interface Fixture {
  relative: string;
  spec: FixtureSpec;
  identity: Identity;
  written: WrittenDicom;
}

async function put(dir: string, relative: string, spec: FixtureSpec): Promise<Fixture> {
  const written = await writeDicom(spec);
  const file = path.join(dir, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, written.bytes);
  return { relative, spec, identity: spec.identity!, written };
}

/** A label plane at the original frame size: a rectangle inside the tissue region that moves with the frame. */
function labelPlane(frame: number, value = 1, box = { x0: 6 + frame, x1: 20, y0: 5, y1: 15 }): Uint8Array {
  const plane = new Uint8Array(rows * columns);
  for (let y = box.y0; y <= box.y1; y++) for (let x = box.x0; x <= box.x1; x++) plane[y * columns + x] = value;
  return plane;
}

async function putMask(dir: string, name: string, plane: Uint8Array, width = columns, height = rows): Promise<void> {
  const file = path.join(dir, name);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, await maskPng(plane, width, height));
}

function cropOf<T extends Float64Array | Uint8Array>(plane: T, width: number, box = crop): number[] {
  const out: number[] = [];
  for (let y = box.y; y < box.y + box.height; y++) for (let x = box.x; x < box.x + box.width; x++) out.push(plane[y * width + x]);
  return out;
}

async function imported(summary: ImportSummary): Promise<Map<string, DatasetItem>> {
  datasets.add(summary.datasetId);
  return new Map((await readItems(store, summary.manifest)).map((item) => [item.id, item]));
}

async function splitOf(datasetId: string) {
  const [initial, pool, test] = await Promise.all((['initial', 'pool', 'test'] as const).map((s) => readSplit(store, datasetId, s)));
  return { initial, pool, test };
}

beforeAll(async () => {
  await store.ensureBucket();
  root = await mkdtemp(path.join(tmpdir(), 'import-dicom-'));
});

afterAll(async () => {
  for (const id of datasets) for (const key of await store.list(datasetKeys.prefix(id))) await store.remove(key);
  await rm(root, { recursive: true, force: true });
});

describe('importDicom', () => {
  let main: { dir: string; masks: string; fixtures: Fixture[]; summary: ImportSummary; items: Map<string, DatasetItem> };

  beforeAll(async () => {
    const dir = path.join(root, 'main', 'dicom');
    const masks = path.join(root, 'main', 'masks');
    const common = { regions: [region, spectral] };
    // Folder and file names carry a patient's name, as exports often do: they must not reach the store.
    const fixtures = [
      await put(dir, 'ZZQUIXOTE_HIPPOLYTA1/loop_a.dcm', { ...common, transferSyntax: ts.explicit, photometric: 'MONOCHROME2', identity: fakeIdentity(1, 1, 1) }),
      await put(dir, 'ZZQUIXOTE_HIPPOLYTA1/loop_b.dcm', { ...common, transferSyntax: ts.rle, photometric: 'RGB', identity: fakeIdentity(1, 2, 1) }),
      await put(dir, 'P2/IM0003.DCM', { ...common, transferSyntax: ts.jpegLs, photometric: 'MONOCHROME2', bitsAllocated: 16, bitsStored: 12, identity: fakeIdentity(2, 1, 1) }),
      await put(dir, 'P2/IM0004', { ...common, transferSyntax: ts.implicit, photometric: 'MONOCHROME1', frames: 1, sopClass: sopClass.us, identity: fakeIdentity(2, 2, 1) }),
      await put(dir, 'P3/still.dcm', { ...common, transferSyntax: ts.bigEndian, photometric: 'YBR_FULL', planar: 1, frames: 1, sopClass: sopClass.secondaryCapture, identity: fakeIdentity(3, 1, 1) }),
      await put(dir, 'P4/loop.dcm', { ...common, transferSyntax: ts.jpeg2000Lossless, photometric: 'PALETTE COLOR', identity: fakeIdentity(4, 1, 1) }),
      await put(dir, 'P5/loop.dcm', { ...common, transferSyntax: ts.jpegLosslessSV1, photometric: 'RGB', sopClass: sopClass.scMultiFrameColour, identity: fakeIdentity(5, 1, 1) }),
    ];
    const [, b, , , e, , g] = fixtures;
    await putMask(masks, 'loop_a_1.png', labelPlane(1));
    await putMask(masks, 'loop_a_003.png', labelPlane(3));
    await putMask(masks, `${b.identity.instanceUid}_2.png`, labelPlane(2));
    await putMask(masks, 'IM0003_1.png', labelPlane(1, 255));
    await putMask(masks, 'IM0004.png', labelPlane(1));
    await putMask(masks, `sub/${e.identity.instanceUid}.png`, labelPlane(1));
    await putMask(masks, `${g.identity.instanceUid}_0002.png`, labelPlane(2));
    const summary = await importDicom(store, { dir, masksDir: masks, salt, size, initialCount: 2, testShare: 0.25, seed: 3 });
    main = { dir, masks, fixtures, summary, items: await imported(summary) };
  });

  it('imports every frame of every file, cut to the tissue region, with exact pixels, masks, ids and groups', async () => {
    const { summary, items, fixtures } = main;
    expect(summary.skipped).toEqual([]);
    expect(summary.imported).toBe(3 + 3 + 3 + 1 + 1 + 3 + 3);
    expect(summary.labelled).toBe(7);
    expect(summary.manifest.size).toEqual(size);
    expect(summary.manifest.source).toBe('dicom');
    const labelled = new Map<string, number>([
      [itemId(fixtures[0].identity, 1), 1], [itemId(fixtures[0].identity, 3), 3], [itemId(fixtures[1].identity, 2), 2],
      [itemId(fixtures[2].identity, 1), 1], [itemId(fixtures[3].identity, 1), 1], [itemId(fixtures[4].identity, 1), 1],
      [itemId(fixtures[6].identity, 2), 2],
    ]);
    for (const fixture of fixtures) {
      for (let frame = 1; frame <= fixture.written.samples.length; frame++) {
        const item = items.get(itemId(fixture.identity, frame));
        expect(item, `${fixture.relative} frame ${frame}`).toBeDefined();
        expect(item!.group).toBe(`series-${hashOf(fixture.identity.seriesUid)}`);
        expect(item!.splitGroup).toBe(`study-${hashOf(fixture.identity.studyUid)}`);
        expect(item!.source).toBe(`${fileToken(fixture.relative)}[${frame}]`);
        expect(item!.originalSize).toEqual([rows, columns]);
        expect(item!.crop).toEqual(crop);
        expect(item!.spacing![0]).toBeCloseTo(0.4, 12);
        expect(item!.spacing![1]).toBeCloseTo(0.5, 12);
        const pixels = decodeImage(await store.getBytes(item!.imageKey), size);
        const expected = cropOf(expectedGrey(fixture.written, fixture.spec, frame - 1), columns);
        expect(Math.max(...expected.map((v, i) => Math.abs(v - pixels[i])))).toBeLessThan(1e-6);
        if (labelled.has(item!.id)) {
          const mask = await decodeMask(await store.getBytes(item!.maskKey!), size);
          expect(Array.from(mask)).toEqual(cropOf(labelPlane(labelled.get(item!.id)!), columns));
        } else {
          expect(item!.maskKey).toBeUndefined();
        }
      }
    }
    // Series of one study share the split group but not the group.
    const [a, b] = [items.get(itemId(fixtures[0].identity, 1))!, items.get(itemId(fixtures[1].identity, 1))!];
    expect(a.splitGroup).toBe(b.splitGroup);
    expect(a.group).not.toBe(b.group);
  });

  it('keeps every study on one side of the train/test split', async () => {
    const { items, summary } = main;
    const { initial, pool, test } = await splitOf(summary.datasetId);
    expect(test.length).toBeGreaterThan(0);
    const studiesOf = (ids: string[]) => new Set(ids.map((id) => items.get(id)!.splitGroup));
    for (const study of studiesOf(test)) expect(studiesOf([...initial, ...pool]).has(study)).toBe(false);
  });

  it('never stores or reports an identifying value, a UID or a file name', async () => {
    const { summary, fixtures } = main;
    const secrets = new Set<string>(['3680043.9.7781', 'ZZQUIXOTE', 'HIPPOLYTA', 'loop_a', 'loop_b', 'IM0003', 'IM0004', 'still', 'P2/', 'P3/']);
    for (const { identity } of fixtures) {
      for (const value of Object.values(identity)) {
        secrets.add(value);
        for (const part of value.split('^')) secrets.add(part);
      }
    }
    const keys = await store.list(datasetKeys.prefix(summary.datasetId));
    expect(keys.length).toBeGreaterThan(summary.imported);
    const haystacks = [JSON.stringify(summary), ...keys];
    for (const key of keys) haystacks.push(Buffer.from(await store.getBytes(key)).toString('latin1'));
    const leaks = [...secrets].filter((secret) => haystacks.some((text) => text.includes(secret)));
    expect(leaks).toEqual([]);
    // The same check finds a value when it is there (the check can fail).
    const raw = Buffer.from(fixtures[0].written.bytes).toString('latin1');
    expect([...secrets].filter((secret) => raw.includes(secret)).length).toBeGreaterThan(5);
  });

  it('re-imports idempotently; another salt gives other ids', async () => {
    const { dir, masks, summary } = main;
    const again = await importDicom(store, { dir, masksDir: masks, salt, size, initialCount: 2, testShare: 0.25, seed: 3 });
    expect(again.reused).toBe(true);
    expect(again.datasetId).toBe(summary.datasetId);
    const otherSalt = `${salt}-other`;
    const other = await importDicom(store, { dir, masksDir: masks, salt: otherSalt, size, initialCount: 2, testShare: 0.25, seed: 3 });
    const otherItems = await imported(other);
    expect(other.datasetId).not.toBe(summary.datasetId);
    const identity = main.fixtures[0].identity;
    expect(otherItems.has(`s${hashOf(identity.seriesUid, otherSalt)}_i${hashOf(identity.instanceUid, otherSalt)}_f0001`)).toBe(true);
    expect(otherItems.has(itemId(identity, 1))).toBe(false);
  });

  it('splits by study over many seeds, where a split by series alone would separate a study', async () => {
    const dir = path.join(root, 'studies', 'dicom');
    const masks = path.join(root, 'studies', 'masks');
    for (let study = 1; study <= 6; study++) {
      for (let series = 1; series <= 2; series++) {
        const name = `s${study}_${series}.dcm`;
        await put(dir, name, { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', frames: 1, identity: fakeIdentity(study, series, 1) });
        await putMask(masks, name.replace('.dcm', '.png'), labelPlane(study));
      }
    }
    const summary = await importDicom(store, { dir, masksDir: masks, salt, size: 16, initialCount: 2, testShare: 0.5, seed: 0 });
    const items = await imported(summary);
    expect(summary.labelled).toBe(12);
    const list = [...items.values()].map((i) => ({ id: i.id, group: i.group, splitGroup: i.splitGroup, labelled: true }));
    const studyOf = new Map(list.map((i) => [i.id, i.splitGroup!]));
    const separated = (split: { initial: string[]; pool: string[]; test: string[] }) => {
      const testStudies = new Set(split.test.map((id) => studyOf.get(id)));
      return [...split.initial, ...split.pool].some((id) => testStudies.has(studyOf.get(id)));
    };
    expect(separated(await splitOf(summary.datasetId))).toBe(false);
    let seriesSplitsSeparate = 0;
    for (let seed = 0; seed < 20; seed++) {
      const byStudy = splitByGroup(list, { seed, initialCount: 2, testShare: 0.5 });
      expect(separated(byStudy)).toBe(false);
      expect(byStudy.test.length).toBeGreaterThan(0);
      if (separated(splitByGroup(list.map(({ splitGroup: _, ...rest }) => rest), { seed, initialCount: 2, testShare: 0.5 }))) seriesSplitsSeparate++;
    }
    expect(seriesSplitsSeparate).toBeGreaterThan(0);
  });

  it('takes every Nth frame or a list; a frame with a mask always comes in', async () => {
    const dir = path.join(root, 'frames', 'dicom');
    const masks = path.join(root, 'frames', 'masks');
    const multi = await put(dir, 'multi.dcm', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', frames: 5, identity: fakeIdentity(1, 1, 1) });
    const single = await put(dir, 'single.dcm', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', frames: 1, sopClass: sopClass.us, identity: fakeIdentity(2, 1, 1) });
    await putMask(masks, 'multi_4.png', labelPlane(4));
    const frameIds = (items: Map<string, DatasetItem>, fixture: Fixture) => [...items.keys()].filter((id) => id.startsWith(itemId(fixture.identity, 1).slice(0, -6))).map((id) => Number(id.slice(-4))).sort((a, b) => a - b);

    const every = await importDicom(store, { dir, masksDir: masks, salt, size: 16, frames: { every: 2 }, initialCount: 1 });
    const everyItems = await imported(every);
    expect(frameIds(everyItems, multi)).toEqual([1, 3, 4, 5]);
    expect(frameIds(everyItems, single)).toEqual([1]);

    const listed = await importDicom(store, { dir, masksDir: masks, salt, size: 16, frames: { list: [2, 9] }, initialCount: 1 });
    const listedItems = await imported(listed);
    expect(frameIds(listedItems, multi)).toEqual([2, 4]);
    expect(frameIds(listedItems, single)).toEqual([]);
    expect(listed.skipped).toEqual([{ file: fileToken('single.dcm'), reason: 'none of the selected frames exists (the file has 1)' }]);

    const all = await importDicom(store, { dir, masksDir: masks, salt, size: 16, initialCount: 1 });
    expect(frameIds(await imported(all), multi)).toEqual([1, 2, 3, 4, 5]);

    for (const frames of [{ every: 0 }, { list: [0, 2] }, { list: [] }, { every: 2, list: [1] }]) {
      await expect(importDicom(store, { dir, masksDir: masks, salt, size: 16, frames })).rejects.toThrow(/frames/);
    }
    await expect(importDicom(store, { dir, masksDir: masks, salt: 'short', size: 16 })).rejects.toThrow(/salt must be a secret string of at least 8 characters/);
  });

  it('matches masks by stem or SOP Instance UID and frame, and reports unmatched and ambiguous ones', async () => {
    const dir = path.join(root, 'masks', 'dicom');
    const masks = path.join(root, 'masks', 'masks');
    const multi = await put(dir, 'multi.dcm', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', identity: fakeIdentity(1, 1, 1) });
    const single = await put(dir, 'single.dcm', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', frames: 1, sopClass: sopClass.us, identity: fakeIdentity(2, 1, 1) });
    const other = await put(dir, 'other.dcm', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', identity: fakeIdentity(3, 1, 1) });
    await putMask(masks, 'multi_01.png', labelPlane(1));
    await putMask(masks, `${multi.identity.instanceUid}_3.png`, labelPlane(3));
    await putMask(masks, 'multi_0.png', labelPlane(1));
    await putMask(masks, 'nobody_2.png', labelPlane(2));
    await putMask(masks, 'single.png', labelPlane(1));
    await putMask(masks, `${single.identity.instanceUid}.png`, labelPlane(1));
    await putMask(masks, 'other_2.png', labelPlane(2));
    await putMask(masks, `${other.identity.instanceUid}_2.png`, labelPlane(2));
    await writeFile(path.join(masks, 'notes.txt'), 'not a mask');
    const summary = await importDicom(store, { dir, masksDir: masks, salt, size: 16, initialCount: 1 });
    const items = await imported(summary);
    const labelledIds = [...items.values()].filter((i) => i.maskKey).map((i) => i.id).sort();
    expect(labelledIds).toEqual([itemId(multi.identity, 1), itemId(multi.identity, 3)].sort());
    expect(summary.imported).toBe(7);
    const tokens = await locateDicomTokens({ dir, masksDir: masks, salt });
    const reasons = Object.fromEntries(summary.skipped.map((s) => [path.basename(tokens.get(s.file)!), s.reason]));
    expect(Object.keys(reasons).sort()).toEqual(['multi_0.png', 'nobody_2.png', 'single.png', `${single.identity.instanceUid}.png`, 'other_2.png', `${other.identity.instanceUid}_2.png`].sort());
    expect(reasons['multi_0.png']).toMatch(/matches no frame .* frames numbered from 1/);
    expect(reasons['single.png']).toBe(`${fileToken('single.dcm')} frame 1 has 2 masks; keep one`);
    expect(reasons['other_2.png']).toBe(`${fileToken('other.dcm')} frame 2 has 2 masks; keep one`);
    for (const skip of summary.skipped) expect(skip.file).toMatch(/^mask-[0-9a-f]{16}$/);
  });

  it('applies the label option to multi-label masks; a misfitting mask skips its whole file', async () => {
    const dir = path.join(root, 'labels', 'dicom');
    const masks = path.join(root, 'labels', 'masks');
    const labels = await put(dir, 'labels.dcm', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', regions: [region], identity: fakeIdentity(1, 1, 1) });
    await put(dir, 'small.dcm', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', regions: [region], identity: fakeIdentity(2, 1, 1) });
    await put(dir, 'outside.dcm', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', regions: [region], identity: fakeIdentity(3, 1, 1) });
    const multiLabel = labelPlane(1, 1);
    const structure = labelPlane(1, 2, { x0: 10, x1: 14, y0: 8, y1: 12 });
    structure.forEach((v, i) => {
      if (v) multiLabel[i] = v;
    });
    await putMask(masks, 'labels_1.png', multiLabel);
    await putMask(masks, 'small_1.png', new Uint8Array(16 * 16).fill(1), 16, 16);
    // Drawn in the bottom rows, which the tissue region leaves out.
    await putMask(masks, 'outside_2.png', labelPlane(0, 1, { x0: 0, x1: 31, y0: 22, y1: 23 }));
    const summary = await importDicom(store, { dir, masksDir: masks, salt, size, label: 2, initialCount: 1 });
    const items = await imported(summary);
    const mask = await decodeMask(await store.getBytes(items.get(itemId(labels.identity, 1))!.maskKey!), size);
    expect(Array.from(mask)).toEqual(cropOf(structure, columns).map((v) => (v === 2 ? 1 : 0)));
    expect(summary.imported).toBe(3);
    const tokens = await locateDicomTokens({ dir, masksDir: masks, salt });
    const reasons = Object.fromEntries(summary.skipped.map((s) => [path.basename(tokens.get(s.file)!), s.reason]));
    expect(reasons['small_1.png']).toMatch(/mask is 16×16 but its frame \(file-[0-9a-f]{16} frame 1\) is 32×24/);
    expect(reasons['outside_2.png']).toMatch(/no pixel of the structure inside the ultrasound region/);
    expect([...items.keys()].every((id) => id.includes(hashOf(labels.identity.instanceUid)))).toBe(true);

    await expect(importDicom(store, { dir, masksDir: masks, salt, size })).rejects.toThrow(ImportFailedError);
  });

  it('reports broken, foreign and unsupported files per file and imports a damaged file not at all', async () => {
    const dir = path.join(root, 'broken', 'dicom');
    const masks = path.join(root, 'broken', 'masks');
    const good = await put(dir, 'good.dcm', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', identity: fakeIdentity(1, 1, 1) });
    await putMask(masks, 'good_1.png', labelPlane(1));
    // The same image again (one SOP Instance UID), as a second export would give.
    await writeFile(path.join(dir, 'zcopy.dcm'), good.written.bytes);
    const truncated = await writeDicom({ transferSyntax: ts.explicit, photometric: 'MONOCHROME2', identity: fakeIdentity(2, 1, 1) });
    await mkdir(path.join(dir, 'ZZQUIXOTE_HIPPOLYTA2'), { recursive: true });
    await writeFile(path.join(dir, 'ZZQUIXOTE_HIPPOLYTA2', 'cut.dcm'), truncated.bytes.subarray(0, truncated.bytes.length - 500));
    // Two good frames, then a frame whose scan ends early: nothing of this file may be imported.
    const damaged = await writeDicom({ transferSyntax: ts.jpegBaseline, photometric: 'MONOCHROME2', identity: fakeIdentity(3, 1, 1) });
    const bytes = Uint8Array.from(damaged.bytes);
    let lastScan = bytes.length - 2;
    while (!(bytes[lastScan] === 0xff && bytes[lastScan + 1] === 0xda)) lastScan--;
    bytes.set([0xff, 0xd9], lastScan + 40);
    await writeFile(path.join(dir, 'damaged.dcm'), bytes);
    await putMask(masks, 'damaged_1.png', labelPlane(1));
    const garbage = new Uint8Array(400).map((_, i) => (i * 37) % 256);
    garbage.set(new TextEncoder().encode('DICM'), 128);
    await writeFile(path.join(dir, 'garbage.dcm'), garbage);
    await writeFile(path.join(dir, 'notes.txt'), 'exported by the cart');
    await put(dir, 'ct.dcm', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.ct, identity: fakeIdentity(4, 1, 1) });
    await put(dir, 'video.dcm', { transferSyntax: ts.mpeg4, photometric: 'MONOCHROME2', identity: fakeIdentity(5, 1, 1) });

    const summary = await importDicom(store, { dir, masksDir: masks, salt, size: 16, initialCount: 1 });
    const items = await imported(summary);
    expect([...items.keys()].sort()).toEqual([1, 2, 3].map((f) => itemId(good.identity, f)));
    const tokens = await locateDicomTokens({ dir, masksDir: masks, salt });
    const reasons = Object.fromEntries(summary.skipped.map((s) => [path.relative(dir, tokens.get(s.file)!), s.reason]));
    expect(Object.keys(reasons).sort()).toEqual(['ZZQUIXOTE_HIPPOLYTA2/cut.dcm', 'ct.dcm', 'damaged.dcm', 'garbage.dcm', 'notes.txt', 'video.dcm', 'zcopy.dcm'].sort());
    expect(reasons['zcopy.dcm']).toBe(`same SOP Instance UID as ${fileToken('good.dcm')}: a copy of the same image, imported once`);
    expect(reasons['ZZQUIXOTE_HIPPOLYTA2/cut.dcm']).toMatch(/truncated|does not parse/);
    expect(reasons['damaged.dcm']).toMatch(/^frame 3: JPEG baseline frame does not decode/);
    expect(reasons['garbage.dcm']).toMatch(/does not parse|cannot be read/);
    expect(reasons['notes.txt']).toMatch(/not a DICOM Part-10 file/);
    expect(reasons['ct.dcm']).toMatch(/CT Image Storage\) is not imported/);
    expect(reasons['video.dcm']).toMatch(/transfer syntax 1\.2\.840\.10008\.1\.2\.4\.102 \(MPEG-4 AVC\/H\.264/);
    const stored = Buffer.from(await store.getBytes(datasetKeys.importSummary(summary.datasetId))).toString('utf8');
    expect(JSON.parse(stored).skipped).toEqual(summary.skipped);
    expect(stored).not.toMatch(/ZZQUIXOTE|cut\.dcm|damaged\.dcm|3680043/);
  });
});
