/**
 * `importDicomWeb` against a real Orthanc: generated multi-frame ultrasound studies are uploaded, imported over
 * DICOMweb, and must give exactly what the folder importer gives for the same files; an interrupted import resumes
 * without downloading again what it stored.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, projectRoot } from '../../config';
import { importDicom } from '../../data/import';
import { importDicomWeb } from '../../data/import/dicomweb';
import type { ImportSummary } from '../../data/import/importCore';
import { datasetKeys, readItems, readSplit, splitNames } from '../../data/manifest';
import { ObjectStore } from '../../store/objectStore';
import { fakeIdentity, maskPng, sopClass, transferSyntax, writeDicom, type FixtureSpec, type Identity } from '../data/dicomFixtures';
import { startTestOrthanc, uploadInstance } from './helpers';

const store = new ObjectStore(loadConfig().minio);
const salt = `salt-${randomUUID()}`;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-dicomweb-'));
const folder = path.join(scratch, 'studies');
const masks = path.join(scratch, 'masks');
const datasets = new Set<string>();
let pacs: Awaited<ReturnType<typeof startTestOrthanc>>;

const rows = 24;
const columns = 32;
const region = { spatialFormat: 1, minX: 4, minY: 2, maxX: 27, maxY: 21, units: 3, deltaX: 0.05, deltaY: 0.04 };
const identities: Identity[] = [];
/** Five studies: multi-frame files in several transfer syntaxes (lossless and lossy), one study with two series, and a CT file the importer refuses. */
const files: Array<{ name: string; spec: FixtureSpec }> = [];
for (let study = 1; study <= 5; study++) {
  const syntax = [transferSyntax.explicit, transferSyntax.rle, transferSyntax.jpegLs, transferSyntax.jpegBaseline, transferSyntax.implicit][study - 1];
  const identity = fakeIdentity(study, 1, 1);
  identities.push(identity);
  files.push({ name: `study${study}.dcm`, spec: { transferSyntax: syntax, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame, rows, columns, frames: 4, identity, regions: [region] } });
}
const secondSeries = fakeIdentity(1, 2, 1);
files.push({ name: 'study1-series2.dcm', spec: { transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame, rows, columns, frames: 3, identity: secondSeries } });
files.push({ name: 'study2-ct.dcm', spec: { transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.ct, rows, columns, frames: 1, identity: fakeIdentity(2, 3, 1) } });

const common = { salt, size: [20, 24] as [number, number], seed: 3, initialCount: 2, testShare: 0.2, valShare: 0, masksDir: masks };

beforeAll(async () => {
  await store.ensureBucket();
  pacs = await startTestOrthanc();
  fs.mkdirSync(folder);
  fs.mkdirSync(masks);
  for (const { name, spec } of files) {
    const { bytes } = await writeDicom(spec);
    fs.writeFileSync(path.join(folder, name), bytes);
    await uploadInstance(pacs.orthanc, bytes);
  }
  // Masks by SOP Instance UID (the name that works for both: the DICOMweb cache names files by it).
  const plane = new Uint8Array(rows * columns);
  for (let y = 6; y < 16; y++) for (let x = 8; x < 20; x++) plane[y * columns + x] = 1;
  for (const identity of identities) fs.writeFileSync(path.join(masks, `${identity.instanceUid}_2.png`), await maskPng(plane, columns, rows));
});

afterAll(async () => {
  await pacs?.stop();
  for (const id of datasets) for (const key of await store.list(datasetKeys.prefix(id))) await store.remove(key);
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** What a user relies on in a dataset: its items (not where their files were) and its splits. */
async function contentOf(summary: ImportSummary) {
  datasets.add(summary.datasetId);
  const items = (await readItems(store, summary.manifest)).map(({ id, group, splitGroup, maskKey, originalSize, crop, spacing, contentHash }) => (
    { id, group, splitGroup, labelled: maskKey !== undefined, originalSize, crop, spacing, contentHash }));
  const splits = Object.fromEntries(await Promise.all(splitNames.filter((s) => summary.manifest.splits.counts[s] !== undefined).map(async (s) => [s, (await readSplit(store, summary.datasetId, s)).sort()])));
  return { items: items.sort((a, b) => a.id.localeCompare(b.id)), splits, reasons: summary.skipped.map((s) => s.reason).sort() };
}

/** A fetch that counts WADO-RS retrievals and can fail the n-th one, as a dropped connection would. */
function countingFetch(failAt?: number) {
  const counter = { retrievals: 0 };
  const wrapped: typeof fetch = async (input, init) => {
    if (/\/instances\/[0-9.]+$/.test(String(input))) {
      counter.retrievals++;
      if (counter.retrievals === failAt) throw new Error('connection reset');
    }
    return fetch(input, init);
  };
  return { counter, fetch: wrapped };
}

describe('dataset import over DICOMweb', () => {
  it('gives the folder importer\'s frames, groups, masks, splits and refusals; an interrupted import resumes without downloading again', async () => {
    const fromFolder = await contentOf(await importDicom(store, { ...common, dir: folder }));
    expect(fromFolder.items).toHaveLength(5 * 4 + 3);
    expect(fromFolder.items.filter((i) => i.labelled)).toHaveLength(5);
    expect(fromFolder.reasons).toHaveLength(1);

    const cacheDir = path.join(scratch, 'cache');
    const options = { ...common, url: pacs.orthanc.dicomWebUrl, cacheDir, query: 'ModalitiesInStudy=US' };
    const broken = countingFetch(4);
    await expect(importDicomWeb(store, { ...options, fetch: broken.fetch })).rejects.toThrow(/retrieving instance 4 of 7: the DICOMweb server .* did not answer \(connection reset\)/);

    const resumed = countingFetch();
    const summary = await importDicomWeb(store, { ...options, fetch: resumed.fetch });
    expect({ downloaded: summary.downloaded, cached: summary.cached }).toEqual({ downloaded: 4, cached: 3 });
    expect(resumed.counter.retrievals).toBe(4);
    expect(summary.manifest.source).toBe('dicomweb');
    expect(await contentOf(summary)).toEqual(fromFolder);

    // Run again: nothing downloaded, the same dataset.
    const again = countingFetch();
    const third = await importDicomWeb(store, { ...options, fetch: again.fetch });
    expect(again.counter.retrievals).toBe(0);
    expect(third).toMatchObject({ datasetId: summary.datasetId, reused: true, downloaded: 0, cached: 7 });
  });

  it('imports only the studies asked for, by UID or by a QIDO-RS query, and names no UID in its errors', async () => {
    const cacheDir = path.join(scratch, 'cache-selection');
    const base = { ...common, masksDir: undefined, url: pacs.orthanc.dicomWebUrl, cacheDir };
    const byUid = await importDicomWeb(store, { ...base, studies: [identities[2].studyUid, identities[4].studyUid] });
    datasets.add(byUid.datasetId);
    expect(byUid.imported).toBe(8);
    const byQuery = await importDicomWeb(store, { ...base, query: `AccessionNumber=${identities[1].accession}` });
    datasets.add(byQuery.datasetId);
    // Study 2: its ultrasound file's 4 frames; the CT file in it is refused as by the folder importer.
    expect({ imported: byQuery.imported, skipped: byQuery.skipped.length }).toEqual({ imported: 4, skipped: 1 });

    const unknown = `${identities[0].studyUid}.999`;
    const error = await importDicomWeb(store, { ...base, studies: [unknown] }).catch((e: Error) => e);
    expect(String(error)).toContain('study 1 of 1 has no instance on the server');
    expect(String(error)).not.toContain(unknown);
    await expect(importDicomWeb(store, { ...base, query: 'AccessionNumber=NOSUCH' })).rejects.toThrow('no study matches the query');
  });

  it('runs as `dataset import --format dicomweb` with a token file; refuses bad command lines before contacting anything', async () => {
    const dataDir = path.join(scratch, 'cli-data');
    const tokenFile = path.join(scratch, 'token');
    fs.writeFileSync(tokenFile, 'an-access-token\n');
    const env = { ECHO_DATA_DIR: dataDir, DICOM_ID_SALT: salt };
    const args = ['dataset', 'import', '--format', 'dicomweb', '--url', pacs.orthanc.dicomWebUrl, '--size', '24', '--initial', '1', '--json'];
    const run = await cli([...args, '--study', identities[0].studyUid, identities[3].studyUid, '--token-file', tokenFile, '--every', '2'], env);
    expect(run.status, run.err).toBe(0);
    const summary = JSON.parse(run.out) as ImportSummary & { downloaded: number; cached: number };
    datasets.add(summary.datasetId);
    // Study 1: two series (4 and 3 frames, every 2nd: 2 + 2); study 4: 4 frames → 2.
    expect(summary).toMatchObject({ imported: 6, downloaded: 3, cached: 0 });
    const again = await cli([...args, '--study', identities[0].studyUid, identities[3].studyUid, '--token-file', tokenFile, '--every', '2'], env);
    expect(JSON.parse(again.out)).toMatchObject({ datasetId: summary.datasetId, reused: true, downloaded: 0, cached: 3 });
    for (const secret of [identities[0].studyUid, identities[0].patientName]) expect(run.out + run.err).not.toContain(secret);

    const unreachable = { ...env, MINIO_PORT: '1', TEMPORAL_ADDRESS: '127.0.0.1:1' };
    const refusals: Array<[string[], string]> = [
      [['dataset', 'import', '--format', 'dicomweb', '--study', '1.2.3'], '--format dicomweb needs --url'],
      [['dataset', 'import', '--format', 'dicomweb', '--url', 'http://127.0.0.1:1/dicom-web'], 'needs --study UID… or --query'],
      [['dataset', 'import', '--format', 'dicomweb', '--url', 'http://127.0.0.1:1/dicom-web', '--study', '1.2.3', '--query', 'ModalitiesInStudy=US'], 'give --study or --query, not both'],
      [['dataset', 'import', '--format', 'dicomweb', '--url', 'http://127.0.0.1:1/dicom-web', '--study', 'DROP TABLE'], "'DROP TABLE' is not one"],
      [['dataset', 'import', '--format', 'dicomweb', '--url', 'http://127.0.0.1:1/dicom-web', '--study', '1.2.3', '--dir', '.'], '--dir does not apply to --format dicomweb'],
      [['dataset', 'import', '--format', 'dicom', '--dir', '.', '--url', 'http://x'], '--url does not apply to --format dicom'],
      [['dataset', 'import', '--format', 'dicomweb', '--url', 'http://127.0.0.1:1/dicom-web', '--study', '1.2.3', '--token-file', '/nonexistent/token'], '--token-file /nonexistent/token cannot be read (ENOENT)'],
    ];
    for (const [command, message] of refusals) {
      const result = await cli(command, unreachable);
      expect(result.status, command.join(' ')).toBe(2);
      expect(result.err, command.join(' ')).toContain(message);
    }
  });
});

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], { cwd: projectRoot, timeout: 120_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}
