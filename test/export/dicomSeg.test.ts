/**
 * The DICOM SEG writer, read back with dicom-parser (another library than the dcmjs that encodes it): what a viewer
 * relies on — the SOP class, one coded segment, each frame's source instance and frame number, the source's patient
 * and study, the original frame size and the bits of every mask — and the refusals.
 */
import dicomParser from 'dicom-parser';
import { describe, expect, it } from 'vitest';
import { LEFT_VENTRICLE_SEGMENT, SEGMENTATION_SOP_CLASS, writeDicomSeg, writeSeriesSeg } from '../../export/dicomSeg';
import { fakeIdentity, sopClass, transferSyntax, writeDicom } from '../data/dicomFixtures';

const rows = 24;
const columns = 33;

function randomMask(seed: number): Uint8Array {
  const mask = new Uint8Array(rows * columns);
  let state = seed;
  for (let i = 0; i < mask.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    mask[i] = state >>> 31;
  }
  return mask;
}

async function source() {
  const identity = fakeIdentity(3, 1, 1);
  const { bytes } = await writeDicom({ transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame, rows, columns, frames: 5, identity });
  return { identity, bytes };
}

const algorithm = { name: 'Unet-resnet34 (run lv-study)', version: 'sha256:0123abcd' };

describe('writeDicomSeg', () => {
  it('writes one binary Left ventricle segment whose frames reference the source frames, at the original size, with exact bits', async () => {
    const { identity, bytes } = await source();
    const masks = new Map([[4, randomMask(4)], [2, randomMask(2)]]);
    const seg = writeDicomSeg({ source: bytes, frames: [...masks].map(([frameNumber, mask]) => ({ frameNumber, mask })), algorithm });
    const ds = dicomParser.parseDicom(seg);
    expect(ds.string('x00080016')).toBe(SEGMENTATION_SOP_CLASS);
    expect(ds.string('x00080060')).toBe('SEG');
    expect(ds.string('x00620001')).toBe('BINARY');
    expect([ds.uint16('x00280010'), ds.uint16('x00280011'), ds.uint16('x00280100')]).toEqual([rows, columns, 1]);
    // The SEG belongs to the source's patient and study, in a series of its own.
    expect(ds.string('x00100020')).toBe(identity.patientId);
    expect(ds.string('x0020000d')).toBe(identity.studyUid);
    expect(ds.string('x0020000e')).not.toBe(identity.seriesUid);

    const segment = ds.elements.x00620002.items![0].dataSet!;
    expect(segment.string('x00620005')).toBe(LEFT_VENTRICLE_SEGMENT.label);
    expect(segment.elements.x0062000f.items![0].dataSet!.string('x00080100')).toBe(LEFT_VENTRICLE_SEGMENT.type.CodeValue);
    expect(segment.string('x00620008')).toBe('AUTOMATIC');
    expect(segment.string('x00660036')).toBe(algorithm.name);
    expect(segment.string('x00660031')).toBe(algorithm.version);

    expect(ds.intString('x00280008')).toBe(2);
    const perFrame = ds.elements.x52009230.items!.map((item) => {
      const sourceImage = item.dataSet!.elements.x00089124.items![0].dataSet!.elements.x00082112.items![0].dataSet!;
      return { instance: sourceImage.string('x00081155'), frame: sourceImage.intString('x00081160'), segment: item.dataSet!.elements.x0062000a.items![0].dataSet!.uint16('x0062000b') };
    });
    expect(perFrame).toEqual([{ instance: identity.instanceUid, frame: 2, segment: 1 }, { instance: identity.instanceUid, frame: 4, segment: 1 }]);
    expect(ds.elements.x00081115.items![0].dataSet!.string('x0020000e')).toBe(identity.seriesUid);

    const pixels = ds.elements.x7fe00010;
    const packed = seg.subarray(pixels.dataOffset, pixels.dataOffset + pixels.length);
    const unpack = (frame: number) => Uint8Array.from({ length: rows * columns }, (_, i) => {
      const bit = frame * rows * columns + i;
      return (packed[bit >> 3] >> (bit & 7)) & 1;
    });
    expect(pixels.length).toBe(Math.ceil(Math.ceil((2 * rows * columns) / 8) / 2) * 2);
    expect(unpack(0)).toEqual(masks.get(2));
    expect(unpack(1)).toEqual(masks.get(4));
  });

  it('refuses masks of another size, frames the source does not have, non-binary masks and an unreadable source', async () => {
    const { bytes } = await source();
    const write = (frames: Array<{ frameNumber: number; mask: Uint8Array }>, from = bytes) => () => writeDicomSeg({ source: from, frames, algorithm });
    expect(write([{ frameNumber: 1, mask: new Uint8Array(rows * rows) }])).toThrow(`the mask of frame 1 has ${rows * rows} pixels but the source frame is ${columns}×${rows}`);
    expect(write([{ frameNumber: 6, mask: randomMask(1) }])).toThrow('frame 6 is not a frame of the source (it has 5, numbered from 1)');
    expect(write([{ frameNumber: 1, mask: randomMask(1) }, { frameNumber: 1, mask: randomMask(2) }])).toThrow('frame 1 is given twice');
    expect(write([{ frameNumber: 1, mask: randomMask(1).map((v) => v * 255) }])).toThrow('is not binary');
    expect(write([])).toThrow('no frame to write');
    expect(write([{ frameNumber: 1, mask: randomMask(1) }], bytes.subarray(0, 100))).toThrow('the source is not a readable DICOM file');
  });

  it('covers a series of several instances in one SEG: frames reference each instance, one dimension (the segment), locations preserved', async () => {
    const first = fakeIdentity(3, 1, 1);
    const second = fakeIdentity(3, 1, 2);
    const write = async (identity: typeof first, size = columns) => (await writeDicom({ transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame, rows, columns: size, frames: 3, identity })).bytes;
    const [a, b] = [await write(first), await write(second)];
    const seg = writeSeriesSeg({ sources: [{ source: a, frames: [{ frameNumber: 3, mask: randomMask(7) }] }, { source: b, frames: [{ frameNumber: 1, mask: randomMask(8) }] }], algorithm });
    const ds = dicomParser.parseDicom(seg);
    const perFrame = ds.elements.x52009230.items!.map((item) => {
      const sourceImage = item.dataSet!.elements.x00089124.items![0].dataSet!.elements.x00082112.items![0].dataSet!;
      return { instance: sourceImage.string('x00081155'), frame: sourceImage.intString('x00081160'), preserved: sourceImage.string('x0028135a'), index: item.dataSet!.elements.x00209111.items![0].dataSet!.uint32('x00209157') };
    });
    expect(perFrame).toEqual([{ instance: first.instanceUid, frame: 3, preserved: 'YES', index: 1 }, { instance: second.instanceUid, frame: 1, preserved: 'YES', index: 1 }]);
    expect(ds.elements.x00209222.items!.map((item) => item.dataSet!.attributeTag('x00209165'))).toEqual(['x0062000b']);
    const referenced = ds.elements.x00081115.items![0].dataSet!.elements.x0008114a.items!.map((item) => item.dataSet!.string('x00081155'));
    expect(referenced).toEqual([first.instanceUid, second.instanceUid]);

    const one = (source: Uint8Array, size = columns) => ({ source, frames: [{ frameNumber: 1, mask: new Uint8Array(rows * size) }] });
    const otherSeries = await write(fakeIdentity(3, 2, 1));
    const wider = await write(second, columns + 2);
    expect(() => writeSeriesSeg({ sources: [one(a), one(otherSeries)], algorithm })).toThrow('not all of one series');
    expect(() => writeSeriesSeg({ sources: [one(a), one(wider, columns + 2)], algorithm })).toThrow('differ in size');
    expect(() => writeSeriesSeg({ sources: [one(a), one(a)], algorithm })).toThrow('a source instance is given twice');
  });
});
