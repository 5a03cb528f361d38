/**
 * `predict --stow` against a real Orthanc: generated multi-frame ultrasound studies are uploaded, imported with
 * `dataset import --format dicomweb`, segmented by a tiny model from the object store with the import's cached
 * instances as `--input`, and sent back as DICOM SEG with STOW-RS. Read back over QIDO-RS / WADO-RS, the SEG objects
 * (one per source series) reference the right source instances and frames and decode to exactly the masks predict
 * wrote, at the original frame size. Also: the refusals (exit 2) and a STOW the server refuses (exit 1).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { SEGMENTATION_SOP_CLASS } from '../../export/dicomSeg';
import { dicomWebCacheFolder } from '../../data/import/dicomweb';
import { DicomWebClient } from '../../data/import/dicomwebClient';
import { datasetKeys } from '../../data/manifest';
import { ObjectStore } from '../../store/objectStore';
import { fakeIdentity, sopClass, transferSyntax, writeDicom, type FixtureSpec, type Identity } from '../data/dicomFixtures';
import { cli, readMask, storeTinyModel } from '../predict/helpers';
import { startTestOrthanc, uploadInstance } from './helpers';

const store = new ObjectStore(loadConfig().minio);
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-segout-'));
const dataDir = path.join(scratch, 'data');
const modelKey = `test-segout/${randomUUID()}/model`;
const env = { ECHO_DATA_DIR: dataDir, DICOM_ID_SALT: `salt-${randomUUID()}` };
let pacs: Awaited<ReturnType<typeof startTestOrthanc>>;
let datasetId: string | undefined;

const rows = 24;
const columns = 32;
// The tissue region predict crops to (x 4…27, y 2…21); outside it every mask pixel is background.
const region = { spatialFormat: 1, minX: 4, minY: 2, maxX: 27, maxY: 21, units: 3, deltaX: 0.05, deltaY: 0.04 };
/** Study 1: one series of two instances (3 and 2 frames); study 2: one RLE-compressed instance of 4 frames. */
const sources: Array<{ identity: Identity; spec: FixtureSpec }> = [
  { identity: fakeIdentity(61, 1, 1), spec: { transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', frames: 3 } },
  { identity: fakeIdentity(61, 1, 2), spec: { transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', frames: 2 } },
  { identity: fakeIdentity(62, 1, 1), spec: { transferSyntax: transferSyntax.rle, photometric: 'MONOCHROME2', frames: 4 } },
];

beforeAll(async () => {
  await store.ensureBucket();
  pacs = await startTestOrthanc();
  for (const { identity, spec } of sources) {
    const { bytes } = await writeDicom({ ...spec, sopClass: sopClass.usMultiFrame, rows, columns, identity, regions: [region] });
    await uploadInstance(pacs.orthanc, bytes);
  }
  await storeTinyModel(store, modelKey, { foreground: 0.5 });
});

afterAll(async () => {
  await pacs?.stop();
  const prefixes = [`${modelKey}/`, ...(datasetId ? [datasetKeys.prefix(datasetId)] : [])];
  for (const prefix of prefixes) for (const key of await store.list(prefix)) await store.remove(key);
  fs.rmSync(scratch, { recursive: true, force: true });
});

type Json = Record<string, { Value?: unknown[] } | undefined>;

async function qido(pathAndQuery: string): Promise<Json[]> {
  const response = await fetch(`${pacs.orthanc.dicomWebUrl}${pathAndQuery}`, { headers: { Accept: 'application/dicom+json' } });
  expect(response.ok).toBe(true);
  const text = await response.text();
  return text.trim() === '' ? [] : (JSON.parse(text) as Json[]);
}

/** A SEG as a reader sees it: per frame the referenced source instance and frame number, and the decoded bits. */
function readSeg(bytes: Uint8Array) {
  const ds = dicomParser.parseDicom(bytes);
  const segRows = ds.uint16('x00280010')!;
  const segColumns = ds.uint16('x00280011')!;
  const pixels = ds.elements.x7fe00010;
  const packed = bytes.subarray(pixels.dataOffset, pixels.dataOffset + pixels.length);
  const frames = ds.elements.x52009230.items!.map((item, index) => {
    const sourceImage = item.dataSet!.elements.x00089124.items![0].dataSet!.elements.x00082112.items![0].dataSet!;
    const mask = Uint8Array.from({ length: segRows * segColumns }, (_, i) => {
      const bit = index * segRows * segColumns + i;
      return (packed[bit >> 3] >> (bit & 7)) & 1;
    });
    return { instance: sourceImage.string('x00081155')!, frame: sourceImage.intString('x00081160')!, mask };
  });
  const segment = ds.elements.x00620002.items![0].dataSet!;
  return {
    sopClass: ds.string('x00080016'), study: ds.string('x0020000d'), rows: segRows, columns: segColumns, frames,
    algorithm: { name: segment.string('x00660036'), version: segment.string('x00660031') },
  };
}

describe('predict --stow into Orthanc', () => {
  it('imports over DICOMweb, predicts, stores one SEG per series that reads back as the predicted masks at the original size', async () => {
    const imported = await cli(['dataset', 'import', '--format', 'dicomweb', '--url', pacs.orthanc.dicomWebUrl,
      '--study', sources[0].identity.studyUid, sources[2].identity.studyUid, '--size', '24', '--initial', '1', '--json'], env);
    expect(imported.status, imported.err).toBe(0);
    const summary = JSON.parse(imported.out) as { datasetId: string; imported: number; downloaded: number };
    datasetId = summary.datasetId;
    expect(summary).toMatchObject({ imported: 9, downloaded: 3 });

    const input = dicomWebCacheFolder(path.join(dataDir, 'dicomweb'), pacs.orthanc.dicomWebUrl);
    const out = path.join(scratch, 'out');
    const tokenFile = path.join(scratch, 'token');
    fs.writeFileSync(tokenFile, 'an-access-token\n');
    const run = await cli(['predict', '--model', modelKey, '--input', input, '--out', out, '--stow', pacs.orthanc.dicomWebUrl, '--token-file', tokenFile, '--json'], env);
    expect(run.status, run.err).toBe(0);
    const outcome = JSON.parse(run.out) as { images: number; dicomSeg: { dir: string; objects: Array<{ file: string; instances: number; frames: number }>; stow: { stored: string[]; failed: unknown[] } } };
    expect(outcome.images).toBe(9);
    expect(outcome.dicomSeg.dir).toBe(path.join(out, 'dicom-seg'));
    expect(outcome.dicomSeg.objects.map(({ instances, frames }) => ({ instances, frames })).sort((a, b) => a.frames - b.frames)).toEqual([{ instances: 1, frames: 4 }, { instances: 2, frames: 5 }]);
    expect(outcome.dicomSeg.stow).toMatchObject({ failed: [] });
    expect(outcome.dicomSeg.stow.stored.sort()).toEqual(outcome.dicomSeg.objects.map((o) => o.file).sort());
    // Local outputs are named after the input files (here the cache's UIDs), but no patient attribute is printed.
    expect(run.out + run.err).not.toContain(sources[0].identity.patientName);

    // The predicted masks, by source instance and frame: the import cache names files <SOP Instance UID>.dcm.
    const predicted = new Map<string, Uint8Array>();
    const masksDir = path.join(out, 'masks');
    for (const name of fs.readdirSync(masksDir)) {
      const match = /(\d[\d.]+)_f(\d{4})\.png$/.exec(name);
      expect(match, name).not.toBeNull();
      const { width, height, mask } = await readMask(path.join(masksDir, name));
      expect([width, height]).toEqual([columns, rows]);
      predicted.set(`${match![1]}#${Number(match![2])}`, mask);
    }
    expect(predicted.size).toBe(9);
    const foreground = [...predicted.values()].reduce((n, m) => n + m.reduce((a, b) => a + b, 0), 0);
    expect(foreground).toBeGreaterThan(0);

    const client = new DicomWebClient({ url: pacs.orthanc.dicomWebUrl });
    const seen = new Set<string>();
    for (const study of [sources[0].identity.studyUid, sources[2].identity.studyUid]) {
      const segInstances = await qido(`/studies/${study}/instances?Modality=SEG`);
      expect(segInstances).toHaveLength(1);
      const series = segInstances[0]['0020000E']!.Value![0] as string;
      const instance = segInstances[0]['00080018']!.Value![0] as string;
      const seg = readSeg(await client.retrieveInstance({ study, series, instance }, 'retrieving the SEG'));
      expect(seg).toMatchObject({ sopClass: SEGMENTATION_SOP_CLASS, study, rows, columns });
      expect(seg.algorithm.name).toBe('echo-al Unet-resnet18');
      expect(seg.algorithm.version).toBe(modelKey);
      for (const frame of seg.frames) {
        const key = `${frame.instance}#${frame.frame}`;
        expect(predicted.has(key), key).toBe(true);
        expect(frame.mask).toEqual(predicted.get(key));
        seen.add(key);
      }
    }
    expect(seen.size).toBe(9);
    const expectedInstances = sources.map((s) => s.identity.instanceUid).sort();
    expect([...new Set([...seen].map((key) => key.split('#')[0]))].sort()).toEqual(expectedInstances);
  });

  it('refuses --dataset and non-DICOM inputs with a reason (exit 2), and reports a STOW the server refuses (exit 1)', async () => {
    const pngDir = path.join(scratch, 'png');
    fs.mkdirSync(pngDir, { recursive: true });
    fs.copyFileSync(path.join(scratch, 'out', 'masks', fs.readdirSync(path.join(scratch, 'out', 'masks'))[0]), path.join(pngDir, 'image.png'));
    const refusals: Array<[string[], string]> = [
      [['--dataset', datasetId ?? 'any', '--dicom-seg', path.join(scratch, 'seg')], 'a dataset stores no DICOM UIDs'],
      [['--input', pngDir, '--dicom-seg', path.join(scratch, 'seg')], 'the inputs are png images, not DICOM'],
      [['--input', pngDir, '--token-file', path.join(scratch, 'token')], '--token-file applies with --stow only'],
      [['--input', pngDir, '--stow', 'pacs.example'], '--stow pacs.example is not a URL'],
    ];
    for (const [args, message] of refusals) {
      const result = await cli(['predict', '--model', modelKey, '--out', path.join(scratch, 'refused'), ...args], env);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.err, args.join(' ')).toContain(message);
    }
    expect(fs.existsSync(path.join(scratch, 'seg'))).toBe(false);

    const input = dicomWebCacheFolder(path.join(dataDir, 'dicomweb'), pacs.orthanc.dicomWebUrl);
    const before = await qido('/instances?Modality=SEG');
    const wrongRoot = `${pacs.orthanc.url}/no-dicom-web`;
    const refused = await cli(['predict', '--model', modelKey, '--input', input, '--out', path.join(scratch, 'out2'), '--stow', wrongRoot], env);
    expect(refused.status).toBe(1);
    expect(refused.err).toContain(`STOW-RS to ${wrongRoot} failed, nothing is known to be stored`);
    expect(refused.err).toContain('HTTP 404');
    expect(await qido('/instances?Modality=SEG')).toHaveLength(before.length);
  });
});
