/** `dataset import --format dicom` through the real CLI: multi-frame files, masks, the private salt, no identifiers out. */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, projectRoot } from '../../config';
import { datasetKeys } from '../../data/manifest';
import { ObjectStore } from '../../store/objectStore';
import { fakeIdentity, maskPng, sopClass, transferSyntax, writeDicom } from '../data/dicomFixtures';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-cli-dicom-'));

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], { cwd: projectRoot, timeout: 120_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}

describe('dataset import --format dicom', () => {
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('imports multi-frame ultrasound with masks; the salt comes from DICOM_ID_SALT or a private file; no identifier is stored', async () => {
    const dir = path.join(scratch, 'studies');
    const masks = path.join(scratch, 'masks');
    fs.mkdirSync(dir);
    fs.mkdirSync(masks);
    const identities = [];
    for (let study = 1; study <= 5; study++) {
      const identity = fakeIdentity(study, 1, 1);
      identities.push(identity);
      const written = await writeDicom({
        transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame,
        rows: 32, columns: 32, frames: 3, identity,
      });
      fs.writeFileSync(path.join(dir, `study${study}.dcm`), written.bytes);
      const plane = new Uint8Array(32 * 32);
      for (let y = 8; y < 24; y++) for (let x = 10; x < 22; x++) plane[y * 32 + x] = 1;
      fs.writeFileSync(path.join(masks, `study${study}_1.png`), await maskPng(plane, 32, 32));
    }
    const dataDir = path.join(scratch, 'data');
    const common = ['dataset', 'import', '--format', 'dicom', '--dir', dir, '--masks', masks, '--size', '32', '--initial', '2', '--json'];
    // Without DICOM_ID_SALT: a salt is generated once, private to this user, and reused.
    const first = await cli(common, { ECHO_DATA_DIR: dataDir, DICOM_ID_SALT: '' });
    expect(first.status, first.err).toBe(0);
    const saltFile = path.join(dataDir, 'dicom-salt');
    expect(fs.statSync(saltFile).mode & 0o777).toBe(0o600);
    expect(first.err).toContain('generated the DICOM id salt');
    const summary = JSON.parse(first.out) as { datasetId: string; imported: number; labelled: number };
    expect(summary).toMatchObject({ imported: 15, labelled: 5 });
    const again = await cli(common, { ECHO_DATA_DIR: dataDir, DICOM_ID_SALT: '' });
    expect(JSON.parse(again.out)).toMatchObject({ datasetId: summary.datasetId, reused: true });
    // Another salt, other ids.
    const salted = await cli(common, { DICOM_ID_SALT: 'another-private-salt' });
    expect(JSON.parse(salted.out).datasetId).not.toBe(summary.datasetId);
    expect((await cli([...common, '--every', '2', '--frame-list', '1'], {})).err).toContain('give --every or --frame-list, not both');

    // Nothing that names the patient, the study or the files is stored.
    const store = new ObjectStore(loadConfig().minio);
    const keys = await store.list(datasetKeys.prefix(summary.datasetId));
    const secrets = identities.flatMap((i) => [i.patientName, i.patientId, i.accession, i.institution, i.studyUid, i.seriesUid, i.instanceUid]).concat(['study1']);
    for (const key of keys) {
      const text = key.endsWith('.json') ? new TextDecoder().decode(await store.getBytes(key)) : key;
      for (const secret of secrets) expect(text, key).not.toContain(secret);
    }
  });
});
