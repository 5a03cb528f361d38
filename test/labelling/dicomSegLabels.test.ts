/**
 * Matching DICOM SEG frames to a run's requested frames: through the salted hash of the source SOP Instance UID, into
 * dataset space by the importer's crop (ultrasound region) and resize; SEGs of other images, of frames not requested,
 * of another size, or with the structure outside the region are refused, file by file.
 */
import { describe, expect, it } from 'vitest';
import type { LabellingRequest } from '../../contracts';
import { dicomItemId, dicomUidHash } from '../../data/import/dicom';
import type { DatasetItem } from '../../data/manifest';
import { normaliseMaskBytes } from '../../data/masks';
import { writeDicomSeg } from '../../export/dicomSeg';
import { matchSegFiles } from '../../labelling/dicomSegLabels';
import { fakeIdentity, type Identity, sopClass, transferSyntax, writeDicom } from '../data/dicomFixtures';
import { rewriteSeg } from '../data/segFixtures';

const salt = 'a-private-test-salt';
const rows = 30;
const columns = 40;
/** The ultrasound region the frames were cut to; the dataset is half its size. */
const crop = { x: 4, y: 2, width: 32, height: 24 };
const size: [number, number] = [12, 16];
const algorithm = { name: 'a doctor in Slicer', version: '1' };

const identity = fakeIdentity(7, 1, 1);
const itemId = (who: Identity, frame: number) => dicomItemId(dicomUidHash(salt, who.seriesUid), dicomUidHash(salt, who.instanceUid), frame);

function item(id: string): DatasetItem {
  return { id, group: 'g', imageKey: `images/${id}.bin`, source: 'file-x', originalSize: [rows, columns], crop, contentHash: 'h' };
}

const dataset = [1, 2, 3].map((frame) => item(itemId(identity, frame)));
const request: LabellingRequest = {
  runId: 'run', phase: 2, datasetId: 'dicom-test', createdAt: '2026-01-01T00:00:00Z', size,
  items: [1, 3].map((frame) => ({ id: itemId(identity, frame), group: 'g', score: 1, imageKey: 'k', imageUrl: 'u', maskUploadKey: 'm', maskUploadUrl: 'm' })),
};

/** A block with even edges inside the region (so halving is exact), plus a pixel outside the region. */
function drawnMask(): Uint8Array {
  const mask = new Uint8Array(rows * columns);
  for (let y = 6; y < 20; y++) for (let x = 10; x < 26; x++) mask[y * columns + x] = 1;
  mask[0] = 1;
  return mask;
}

/** The block in dataset space: region coordinates (x − 4, y − 2), halved. */
function expectedMask(): Uint8Array {
  const mask = new Uint8Array(size[0] * size[1]);
  for (let y = 2; y < 9; y++) for (let x = 3; x < 11; x++) mask[y * size[1] + x] = 1;
  return mask;
}

async function seg(who: Identity, frames: Array<{ frameNumber: number; mask: Uint8Array }>, shape = { rows, columns }): Promise<Uint8Array> {
  const { bytes } = await writeDicom({ transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame, ...shape, frames: 3, identity: who });
  return writeDicomSeg({ source: bytes, frames, algorithm });
}

describe('matchSegFiles', () => {
  it('turns each SEG frame into the requested frame\'s mask in dataset space (crop to the region, resize)', async () => {
    const file = { name: 'slicer.dcm', bytes: await seg(identity, [{ frameNumber: 1, mask: drawnMask() }, { frameNumber: 3, mask: drawnMask() }]) };
    const { uploads, refused } = await matchSegFiles(request, dataset, [file], { salt, source: 'cli' });
    expect(refused).toEqual([]);
    expect(uploads.map((u) => u.id)).toEqual([itemId(identity, 1), itemId(identity, 3)]);
    for (const upload of uploads) {
      expect(upload.label).toBeNull();
      const read = await normaliseMaskBytes(upload.bytes!, { size });
      if (!read.ok) throw new Error(read.reason);
      expect(read.mask).toEqual(expectedMask());
    }
  });

  it('refuses, file by file, SEGs of other images, of frames not requested, of another size, or outside the region', async () => {
    const other = fakeIdentity(8, 1, 1);
    const outside = new Uint8Array(rows * columns);
    outside[0] = 1;
    const files = [
      { name: 'good.dcm', bytes: await seg(identity, [{ frameNumber: 1, mask: drawnMask() }]) },
      { name: 'other-study.dcm', bytes: await seg(other, [{ frameNumber: 1, mask: drawnMask() }]) },
      { name: 'not-requested.dcm', bytes: await seg(identity, [{ frameNumber: 1, mask: drawnMask() }, { frameNumber: 2, mask: drawnMask() }]) },
      { name: 'wrong-size.dcm', bytes: await seg(identity, [{ frameNumber: 3, mask: new Uint8Array(20 * columns).fill(1) }], { rows: 20, columns }) },
      { name: 'outside.dcm', bytes: await seg(identity, [{ frameNumber: 3, mask: outside }]) },
      { name: 'truncated.dcm', bytes: (await seg(identity, [{ frameNumber: 3, mask: drawnMask() }])).subarray(0, 400) },
    ];
    const { uploads, refused } = await matchSegFiles(request, dataset, files, { salt, source: 'cli' });
    expect(uploads.map((u) => u.id)).toEqual([itemId(identity, 1)]);
    expect(refused.map((r) => r.file)).toEqual(files.slice(1).map((f) => f.name));
    const [otherStudy, notRequested, wrongSize, outsideRegion, truncated] = refused.map((r) => r.reason);
    expect(otherStudy).toMatch(/SEG frame 1 \(source i[0-9a-f]{16} frame 1\) references an image that is not in dataset dicom-test \(another study, or DICOM_ID_SALT differs/);
    expect(notRequested).toMatch(/SEG frame 2 \(source i[0-9a-f]{16} frame 2\) is not among the frames phase 2 requested/);
    expect(wrongSize).toBe('the SEG is 40×20 but its source frame is 40×30: a SEG is drawn on the whole original frame');
    expect(outsideRegion).toMatch(/no pixel of the segment inside the ultrasound region/);
    expect(truncated).toMatch(/truncated/);
    // Another salt matches nothing: every frame is "not in the dataset".
    const wrongSalt = await matchSegFiles(request, dataset, files.slice(0, 1), { salt: 'another-salt-entirely', source: 'cli' });
    expect(wrongSalt.refused[0].reason).toMatch(/not in dataset/);
    for (const { reason } of [...refused, ...wrongSalt.refused]) expect(reason).not.toContain(identity.instanceUid);
  });

  it('polling an archive: leaves a model\'s SEG and SEGs of no requested frame alone, still refuses a SEG of requested and other frames', async () => {
    const manual = (bytes: Uint8Array) => rewriteSeg(bytes, (ds) => {
      (ds.SegmentSequence as Array<Record<string, unknown>>)[0].SegmentAlgorithmType = 'MANUAL';
    });
    const files = [
      { name: 'model.dcm', bytes: await seg(identity, [{ frameNumber: 1, mask: drawnMask() }]) },
      { name: 'earlier-phase.dcm', bytes: manual(await seg(identity, [{ frameNumber: 2, mask: drawnMask() }])) },
      { name: 'doctor.dcm', bytes: manual(await seg(identity, [{ frameNumber: 3, mask: drawnMask() }])) },
      { name: 'mixed.dcm', bytes: manual(await seg(identity, [{ frameNumber: 1, mask: drawnMask() }, { frameNumber: 2, mask: drawnMask() }])) },
    ];
    const { uploads, refused, skipped } = await matchSegFiles(request, dataset, files, { salt, source: 'dicomweb', onlyDoctorsForRequest: true });
    expect(skipped).toEqual([
      { file: 'model.dcm', reason: 'an automatic segmentation (a model\'s), not a doctor\'s' },
      { file: 'earlier-phase.dcm', reason: 'none of its frames was requested in phase 2' },
    ]);
    expect(uploads.map((u) => u.id)).toEqual([itemId(identity, 3)]);
    expect(refused.map((r) => r.file)).toEqual(['mixed.dcm']);
    expect(refused[0].reason).toMatch(/SEG frame 2 .* is not among the frames phase 2 requested/);
  });
});
