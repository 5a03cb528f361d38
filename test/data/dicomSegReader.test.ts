/**
 * The DICOM SEG reader: SEGs made by the project's writer (encoded by dcmjs; read here by dicom-parser) give back
 * every frame's source instance, source frame and exact mask; FRACTIONAL SEGs are thresholded at half; several
 * segments need a choice; damaged or foreign files are refused with a reason that quotes no UID.
 */
import { describe, expect, it } from 'vitest';
import { chooseSegment, DicomSegRefusal, readDicomSeg } from '../../data/formats/dicomSeg';
import { writeDicomSeg } from '../../export/dicomSeg';
import { fakeIdentity, sopClass, transferSyntax, writeDicom } from './dicomFixtures';
import { rewriteSeg as rewrite } from './segFixtures';

const rows = 12;
const columns = 17;
const algorithm = { name: 'test-model', version: 'v1' };

function randomMask(seed: number): Uint8Array {
  let state = seed;
  return Uint8Array.from({ length: rows * columns }, () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state >>> 31;
  });
}

async function sourceFile(frames = 4) {
  const identity = fakeIdentity(5, 1, 2);
  const { bytes } = await writeDicom({ transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame, rows, columns, frames, identity });
  return { identity, bytes };
}

function refusal(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(DicomSegRefusal);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('readDicomSeg', () => {
  it('reads the writer\'s binary SEG: one segment, each frame\'s source instance and frame, the exact bits', async () => {
    const { identity, bytes } = await sourceFile();
    const masks = new Map([[1, randomMask(1)], [3, randomMask(3)], [4, randomMask(4)]]);
    const seg = readDicomSeg(writeDicomSeg({ source: bytes, frames: [...masks].map(([frameNumber, mask]) => ({ frameNumber, mask })), algorithm }));
    expect(seg).toMatchObject({ type: 'BINARY', rows, columns, segments: [{ number: 1, label: 'Left ventricle' }] });
    expect(seg.frames.map((f) => [f.index, f.segment, f.sourceInstanceUid, f.sourceFrame])).toEqual([
      [1, 1, identity.instanceUid, 1], [2, 1, identity.instanceUid, 3], [3, 1, identity.instanceUid, 4],
    ]);
    for (const frame of seg.frames) expect(frame.mask).toEqual(masks.get(frame.sourceFrame));
  });

  it('thresholds a FRACTIONAL SEG at half its Maximum Fractional Value', async () => {
    const { bytes } = await sourceFile();
    const binary = writeDicomSeg({ source: bytes, frames: [{ frameNumber: 2, mask: randomMask(2) }], algorithm });
    const fractions = Uint8Array.from({ length: rows * columns }, (_, i) => (i * 37) % 201);
    const fractional = rewrite(binary, (ds) => {
      Object.assign(ds, { SegmentationType: 'FRACTIONAL', SegmentationFractionalType: 'PROBABILITY', MaximumFractionalValue: 200, BitsAllocated: 8, BitsStored: 8, HighBit: 7 });
      ds.PixelData = [fractions.buffer];
    });
    const [frame] = readDicomSeg(fractional).frames;
    expect(frame.sourceFrame).toBe(2);
    expect(frame.mask).toEqual(fractions.map((v) => (v >= 100 ? 1 : 0)));
  });

  it('refuses truncated files, files that are not SEGs, and SEGs without source references — naming no UID', async () => {
    const { identity, bytes } = await sourceFile();
    const seg = writeDicomSeg({ source: bytes, frames: [{ frameNumber: 1, mask: randomMask(1) }, { frameNumber: 2, mask: randomMask(2) }], algorithm });
    const reasons = [
      refusal(() => readDicomSeg(seg.subarray(0, seg.length - 40))),
      refusal(() => readDicomSeg(seg.subarray(0, Math.floor(seg.length / 2)))),
      refusal(() => readDicomSeg(seg.subarray(0, 100))),
      refusal(() => readDicomSeg(bytes)),
      refusal(() => readDicomSeg(rewrite(seg, (ds) => {
        for (const group of ds.PerFrameFunctionalGroupsSequence as Record<string, unknown>[]) delete group.DerivationImageSequence;
      }))),
      refusal(() => readDicomSeg(rewrite(seg, (ds) => {
        ds.NumberOfFrames = 3;
      }))),
    ];
    expect(reasons[0]).toMatch(/truncated/);
    expect(reasons[1]).toMatch(/truncated/);
    expect(reasons[2]).toMatch(/not a DICOM Part-10 file/);
    expect(reasons[3]).toMatch(/not a DICOM Segmentation/);
    expect(reasons[4]).toMatch(/SEG frame 1 does not reference the image it was drawn on/);
    expect(reasons[5]).toMatch(/3 frames but 2 per-frame functional groups/);
    for (const reason of reasons) for (const uid of [identity.instanceUid, identity.seriesUid, identity.studyUid]) expect(reason).not.toContain(uid);
  });
});

describe('chooseSegment', () => {
  it('takes the only segment, needs --label among several, and refuses a number or label the SEG lacks', async () => {
    const { bytes } = await sourceFile();
    const one = writeDicomSeg({ source: bytes, frames: [{ frameNumber: 1, mask: randomMask(1) }, { frameNumber: 2, mask: randomMask(2) }], algorithm });
    expect(chooseSegment(readDicomSeg(one)).number).toBe(1);
    expect(refusal(() => chooseSegment(readDicomSeg(one), 2))).toMatch(/the SEG has no segment 2 \(it has 1 "Left ventricle"\)/);
    // A second segment, "Myocardium", holding the SEG's second frame.
    const two = readDicomSeg(rewrite(one, (ds) => {
      const [first] = ds.SegmentSequence as Record<string, unknown>[];
      ds.SegmentSequence = [first, { ...first, SegmentNumber: 2, SegmentLabel: 'Myocardium' }];
      const groups = ds.PerFrameFunctionalGroupsSequence as Array<Record<string, unknown>>;
      groups[1].SegmentIdentificationSequence = [{ ReferencedSegmentNumber: 2 }];
    }));
    expect(two.frames.map((f) => f.segment)).toEqual([1, 2]);
    expect(refusal(() => chooseSegment(two))).toMatch(/the SEG has 2 segments \(1 "Left ventricle", 2 "Myocardium"\): choose one with --label/);
    expect(chooseSegment(two, 2).label).toBe('Myocardium');
    expect(chooseSegment(two, 'left VENTRICLE').number).toBe(1);
    expect(refusal(() => chooseSegment(two, 'Right atrium'))).toMatch(/no segment "Right atrium"/);
    expect(refusal(() => chooseSegment(two, 3))).toMatch(/no segment 3/);
  });
});
