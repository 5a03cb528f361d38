/** The local PACS component: Orthanc installed on demand, started on its own port, DICOMweb answering, stopped. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orthancVersion } from '../../scripts/orthanc';
import { fakeIdentity, sopClass, transferSyntax, writeDicom } from '../data/dicomFixtures';
import { startTestOrthanc, uploadInstance } from './helpers';

let pacs: Awaited<ReturnType<typeof startTestOrthanc>>;
beforeAll(async () => {
  pacs = await startTestOrthanc();
});
afterAll(async () => {
  await pacs?.stop();
});

describe('Orthanc with DICOMweb', () => {
  it('accepts an uploaded ultrasound file and finds its study over QIDO-RS, then stops', async () => {
    const { orthanc } = pacs;
    expect(await orthancVersion(orthanc.url)).toBe(orthanc.version);
    const identity = fakeIdentity(7, 1, 1);
    const written = await writeDicom({
      transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame, rows: 16, columns: 16, frames: 2, identity,
    });
    const query = `${orthanc.dicomWebUrl}/studies?StudyInstanceUID=${identity.studyUid}`;
    const before = await fetch(query, { headers: { Accept: 'application/dicom+json' } });
    expect(await before.json()).toEqual([]);
    await uploadInstance(orthanc, written.bytes);
    const response = await fetch(query, { headers: { Accept: 'application/dicom+json' } });
    expect(response.ok).toBe(true);
    const studies = (await response.json()) as Array<Record<string, { Value?: unknown[] }>>;
    expect(studies).toHaveLength(1);
    // (0020,000D) Study Instance UID, (0020,1208) Number of Study Related Instances.
    expect(studies[0]['0020000D'].Value).toEqual([identity.studyUid]);
    expect(studies[0]['00201208'].Value).toEqual([1]);

    await orthanc.stop();
    expect(await orthancVersion(orthanc.url)).toBeUndefined();
  });
});
