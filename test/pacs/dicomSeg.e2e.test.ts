/** A reader no one here wrote: Orthanc (DCMTK) accepts the SEG the writer makes and files it with its source study. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDicomSeg } from '../../export/dicomSeg';
import { fakeIdentity, sopClass, transferSyntax, writeDicom } from '../data/dicomFixtures';
import { startTestOrthanc, uploadInstance } from './helpers';

let pacs: Awaited<ReturnType<typeof startTestOrthanc>>;
beforeAll(async () => {
  pacs = await startTestOrthanc();
});
afterAll(async () => {
  await pacs?.stop();
});

describe('DICOM SEG in Orthanc', () => {
  it('is accepted beside its source and found as a SEG series of the same study over QIDO-RS', async () => {
    const identity = fakeIdentity(9, 1, 1);
    const { bytes } = await writeDicom({ transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame, rows: 20, columns: 30, frames: 3, identity });
    await uploadInstance(pacs.orthanc, bytes);
    const mask = new Uint8Array(20 * 30);
    for (let y = 5; y < 15; y++) for (let x = 8; x < 22; x++) mask[y * 30 + x] = 1;
    const seg = writeDicomSeg({ source: bytes, frames: [{ frameNumber: 1, mask }, { frameNumber: 3, mask }], algorithm: { name: 'Unet-resnet34', version: 'test' } });
    await uploadInstance(pacs.orthanc, seg);

    const response = await fetch(`${pacs.orthanc.dicomWebUrl}/studies/${identity.studyUid}/series`, { headers: { Accept: 'application/dicom+json' } });
    const series = (await response.json()) as Array<Record<string, { Value?: unknown[] }>>;
    // (0008,0060) Modality, (0020,1209) Number of Series Related Instances.
    const modalities = series.map((s) => s['00080060'].Value?.[0]).sort();
    expect(modalities).toEqual(['SEG', 'US']);
    const segSeries = series.find((s) => s['00080060'].Value?.[0] === 'SEG')!;
    expect(segSeries['00201209'].Value).toEqual([1]);
  });
});
