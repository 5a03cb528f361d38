import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { DicomFormatError, frameGeometry, readDicom, readDicomHeader, unsupportedReason } from '../../data/formats/dicom';
import { decodeRle } from '../../data/formats/dicomCodecs';
import { expectedGrey, packBits, sopClass, transferSyntax as ts, writeDicom, type FixtureSpec } from './dicomFixtures';

async function decodeAll(spec: FixtureSpec) {
  const written = await writeDicom(spec);
  const image = readDicom(written.bytes);
  const errors: number[] = [];
  for (let f = 0; f < written.samples.length; f++) {
    const grey = await image.frame(f + 1);
    expect([grey.height, grey.width]).toEqual([written.rows, written.columns]);
    const expected = expectedGrey(written, spec, f);
    for (let i = 0; i < expected.length; i++) errors.push(Math.abs(grey.data[i] - expected[i]));
  }
  return { written, image, maxError: Math.max(...errors), meanError: errors.reduce((a, b) => a + b, 0) / errors.length };
}

// Float32 storage of the grey value is the only difference allowed for lossless data.
const exact = 1e-6;

const lossless: Array<[string, FixtureSpec]> = [
  ['explicit VR LE, MONOCHROME2 8-bit', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2' }],
  ['deflated explicit VR LE, RGB with regions', { transferSyntax: ts.deflated, photometric: 'RGB', regions: [{ spatialFormat: 1, minX: 1, minY: 1, maxX: 20, maxY: 20 }] }],
  ['implicit VR LE, MONOCHROME1 8-bit (inverted)', { transferSyntax: ts.implicit, photometric: 'MONOCHROME1' }],
  ['explicit VR BE, 8-bit in OW (byte pairs swapped), odd frame size', { transferSyntax: ts.bigEndian, photometric: 'MONOCHROME2', pixelVr: 'OW', rows: 23, columns: 31 }],
  ['explicit VR BE, 8-bit in OB', { transferSyntax: ts.bigEndian, photometric: 'MONOCHROME2', pixelVr: 'OB' }],
  ['explicit VR BE, 16-bit, 12 stored, overlay bits above', { transferSyntax: ts.bigEndian, photometric: 'MONOCHROME2', bitsAllocated: 16, bitsStored: 12, highBitsNoise: true }],
  ['16-bit, 12 stored at high bit 13, noise above', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', bitsAllocated: 16, bitsStored: 12, highBit: 13, highBitsNoise: true }],
  ['16-bit signed (pixel representation 1)', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', bitsAllocated: 16, bitsStored: 16, signed: true, sopClass: sopClass.scMultiFrameWord }],
  ['16-bit with a VOI window', { transferSyntax: ts.explicit, photometric: 'MONOCHROME2', bitsAllocated: 16, bitsStored: 16, window: { center: 30000, width: 40000 } }],
  ['RGB planar configuration 0', { transferSyntax: ts.explicit, photometric: 'RGB', planar: 0 }],
  ['RGB planar configuration 1', { transferSyntax: ts.implicit, photometric: 'RGB', planar: 1 }],
  ['RGB 16-bit big endian planar 1', { transferSyntax: ts.bigEndian, photometric: 'RGB', bitsAllocated: 16, planar: 1, sopClass: sopClass.scMultiFrameColour }],
  ['YBR_FULL planar 0', { transferSyntax: ts.explicit, photometric: 'YBR_FULL', planar: 0 }],
  ['YBR_FULL planar 1', { transferSyntax: ts.implicit, photometric: 'YBR_FULL', planar: 1 }],
  ['YBR_FULL_422 (Y0 Y1 Cb Cr)', { transferSyntax: ts.explicit, photometric: 'YBR_FULL_422' }],
  ['PALETTE COLOR, 16-bit LUTs', { transferSyntax: ts.explicit, photometric: 'PALETTE COLOR' }],
  ['PALETTE COLOR, segmented LUTs, big endian', { transferSyntax: ts.bigEndian, photometric: 'PALETTE COLOR', segmentedPalette: true, pixelVr: 'OW' }],
  ['RLE 8-bit grey', { transferSyntax: ts.rle, photometric: 'MONOCHROME2' }],
  ['RLE 16-bit grey, no offset table', { transferSyntax: ts.rle, photometric: 'MONOCHROME2', bitsAllocated: 16, offsetTable: false }],
  ['RLE RGB', { transferSyntax: ts.rle, photometric: 'RGB' }],
  ['RLE YBR_FULL', { transferSyntax: ts.rle, photometric: 'YBR_FULL' }],
  ['JPEG lossless process 14 (…4.57), 8-bit grey', { transferSyntax: ts.jpegLossless, photometric: 'MONOCHROME2' }],
  ['JPEG lossless SV1 (…4.70), 16-bit grey', { transferSyntax: ts.jpegLosslessSV1, photometric: 'MONOCHROME2', bitsAllocated: 16, bitsStored: 16 }],
  ['JPEG lossless SV1, 12-bit grey in 2 fragments per frame, no offset table', { transferSyntax: ts.jpegLosslessSV1, photometric: 'MONOCHROME2', bitsAllocated: 16, bitsStored: 12, offsetTable: false, fragmentsPerFrame: 2 }],
  ['JPEG lossless SV1, RGB', { transferSyntax: ts.jpegLosslessSV1, photometric: 'RGB' }],
  ['JPEG-LS lossless, 8-bit grey', { transferSyntax: ts.jpegLs, photometric: 'MONOCHROME2' }],
  ['JPEG-LS lossless, 12-bit grey', { transferSyntax: ts.jpegLs, photometric: 'MONOCHROME2', bitsAllocated: 16, bitsStored: 12 }],
  ['JPEG-LS lossless, RGB, interleave none (planes)', { transferSyntax: ts.jpegLs, photometric: 'RGB', interleave: 0 }],
  ['JPEG-LS lossless, RGB, line interleave', { transferSyntax: ts.jpegLs, photometric: 'RGB', interleave: 1 }],
  ['JPEG-LS lossless, RGB, sample interleave', { transferSyntax: ts.jpegLs, photometric: 'RGB', interleave: 2 }],
  ['JPEG 2000 lossless, 8-bit grey', { transferSyntax: ts.jpeg2000Lossless, photometric: 'MONOCHROME2' }],
  ['JPEG 2000 lossless, 16-bit grey', { transferSyntax: ts.jpeg2000Lossless, photometric: 'MONOCHROME2', bitsAllocated: 16, bitsStored: 16 }],
  ['JPEG 2000 lossless, YBR_RCT (colour transform undone)', { transferSyntax: ts.jpeg2000Lossless, photometric: 'YBR_RCT' }],
  ['JPEG 2000 (…4.91), RGB', { transferSyntax: ts.jpeg2000, photometric: 'RGB' }],
];

describe('DICOM reader (dicom-parser + codecs)', () => {
  it.each(lossless)('%s: frames decode to exactly the stored values', async (_name, spec) => {
    const { maxError, written, image } = await decodeAll(spec);
    expect(maxError).toBeLessThan(exact);
    expect(image.header.pixel.frames).toBe(written.samples.length);
  });

  it.each([
    ['JPEG baseline, 8-bit grey', { transferSyntax: ts.jpegBaseline, photometric: 'MONOCHROME2' }],
    ['JPEG baseline, YBR_FULL_422 colour', { transferSyntax: ts.jpegBaseline, photometric: 'YBR_FULL_422' }],
    ['JPEG baseline, two fragments per frame, no offset table', { transferSyntax: ts.jpegBaseline, photometric: 'MONOCHROME2', offsetTable: false, fragmentsPerFrame: 2 }],
  ] as Array<[string, FixtureSpec]>)('%s: frames decode within JPEG tolerance', async (_name, spec) => {
    const { maxError, meanError } = await decodeAll(spec);
    expect(meanError).toBeLessThan(1.5 / 255);
    expect(maxError).toBeLessThan(12 / 255);
  });

  it('JPEG-LS near-lossless stays within its error bound', async () => {
    const near = 2;
    const { maxError } = await decodeAll({ transferSyntax: ts.jpegLsNear, photometric: 'MONOCHROME2', nearLossless: near });
    expect(maxError).toBeGreaterThan(0);
    expect(maxError).toBeLessThanOrEqual(near / 255 + exact);
  });

  it('different frames decode differently, in order', async () => {
    const written = await writeDicom({ transferSyntax: ts.rle, photometric: 'MONOCHROME2', frames: 3 });
    const image = readDicom(written.bytes);
    const means = [];
    for (let f = 1; f <= 3; f++) means.push((await image.frame(f)).data.reduce((a, b) => a + b, 0));
    expect(means[0]).toBeLessThan(means[1]);
    expect(means[1]).toBeLessThan(means[2]);
    await expect(image.frame(4)).rejects.toThrow(/frame 4 does not exist \(the file has 3\)/);
    await expect(image.frame(0)).rejects.toThrow(/frame 0 does not exist/);
  });

  it('crops to the largest 2D ultrasound region and takes its spacing in mm', async () => {
    const written = await writeDicom({
      transferSyntax: ts.implicit,
      photometric: 'MONOCHROME2',
      regions: [
        { spatialFormat: 1, minX: 1, minY: 1, maxX: 8, maxY: 8, units: 3, deltaX: 0.9, deltaY: 0.9 },
        { spatialFormat: 3, minX: 0, minY: 0, maxX: 31, maxY: 23, units: 3, deltaX: 0.01, deltaY: 0.02 },
        { spatialFormat: 1, minX: 4, minY: 2, maxX: 40, maxY: 19, units: 3, deltaX: 0.05, deltaY: 0.04 },
      ],
      pixelSpacing: [0.7, 0.7],
    });
    const header = readDicomHeader(written.bytes);
    expect(header.regions).toHaveLength(3);
    // The third region is the largest tissue region; its right edge is clipped to the 32-pixel frame.
    const geometry = frameGeometry(header);
    expect(geometry.crop).toEqual({ x: 4, y: 2, width: 28, height: 18 });
    expect(geometry.spacing![0]).toBeCloseTo(0.4, 12);
    expect(geometry.spacing![1]).toBeCloseTo(0.5, 12);
  });

  it('without a usable region: whole frame, Pixel Spacing', async () => {
    const noRegions = readDicomHeader((await writeDicom({ transferSyntax: ts.explicit, photometric: 'MONOCHROME2', pixelSpacing: [0.3, 0.25] })).bytes);
    expect(frameGeometry(noRegions)).toEqual({ spacing: [0.3, 0.25] });
    const inches = readDicomHeader((await writeDicom({
      transferSyntax: ts.explicit,
      photometric: 'MONOCHROME2',
      regions: [{ spatialFormat: 1, minX: 2, minY: 2, maxX: 9, maxY: 9, units: 4, deltaX: 1, deltaY: 1 }, { spatialFormat: 2, minX: 0, minY: 0, maxX: 31, maxY: 23 }],
    })).bytes);
    // A tissue region in other units still crops; its spacing is not in cm, and no Pixel Spacing is given.
    expect(frameGeometry(inches)).toEqual({ crop: { x: 2, y: 2, width: 8, height: 8 } });
    const mModeOnly = readDicomHeader((await writeDicom({ transferSyntax: ts.explicit, photometric: 'MONOCHROME2', regions: [{ spatialFormat: 2, minX: 0, minY: 0, maxX: 10, maxY: 10 }] })).bytes);
    expect(frameGeometry(mModeOnly)).toEqual({});
  });

  it('names what it cannot import: SOP class, transfer syntax, bits', async () => {
    const ct = readDicomHeader((await writeDicom({ transferSyntax: ts.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.ct })).bytes);
    expect(unsupportedReason(ct)).toMatch(/SOP class 1\.2\.840\.10008\.5\.1\.4\.1\.1\.2 \(CT Image Storage\) is not imported/);
    const mpeg = readDicomHeader((await writeDicom({ transferSyntax: ts.mpeg4, photometric: 'MONOCHROME2' })).bytes);
    expect(unsupportedReason(mpeg)).toMatch(/transfer syntax 1\.2\.840\.10008\.1\.2\.4\.102 \(MPEG-4 AVC\/H\.264 High Profile \/ Level 4\.1\) is not supported/);
    const mpegBytes = (await writeDicom({ transferSyntax: ts.mpeg4, photometric: 'MONOCHROME2' })).bytes;
    expect(() => readDicom(mpegBytes)).toThrow(DicomFormatError);
    const fine = readDicomHeader((await writeDicom({ transferSyntax: ts.explicit, photometric: 'RGB' })).bytes);
    expect(unsupportedReason(fine)).toBeUndefined();
    expect(unsupportedReason({ ...fine, pixel: { ...fine.pixel, bitsAllocated: 32, bitsStored: 32, highBit: 31 } })).toMatch(/32 bits allocated/);
    expect(unsupportedReason({ ...fine, pixel: { ...fine.pixel, samplesPerPixel: 1 } })).toMatch(/1 samples per pixel do not fit photometric interpretation RGB/);
  });

  it('rejects files that are not DICOM, truncated or damaged, with a reason', async () => {
    expect(() => readDicom(new TextEncoder().encode('just some notes, not an image'))).toThrow(/not a DICOM Part-10 file/);
    for (const syntax of [ts.explicit, ts.implicit, ts.rle, ts.jpegLs]) {
      const { bytes } = await writeDicom({ transferSyntax: syntax, photometric: 'MONOCHROME2' });
      const inHeader = bytes.subarray(0, 300);
      expect(() => readDicom(inHeader)).toThrow(DicomFormatError);
      const inPixels = bytes.subarray(0, bytes.length - 200);
      const outcome = await (async () => {
        try {
          const image = readDicom(inPixels);
          for (let f = 1; f <= 3; f++) await image.frame(f);
          return 'decoded';
        } catch (error) {
          return (error as Error).message;
        }
      })();
      expect(outcome).toMatch(/truncated|does not parse/);
    }
    // The last frame's scan cut short by an end-of-image marker: libjpeg only warns, which is an error here, so no
    // half-decoded frame gets through.
    const jpeg = await writeDicom({ transferSyntax: ts.jpegBaseline, photometric: 'MONOCHROME2' });
    const damaged = Uint8Array.from(jpeg.bytes);
    let lastScan = damaged.length - 2;
    while (!(damaged[lastScan] === 0xff && damaged[lastScan + 1] === 0xda)) lastScan--;
    damaged.set([0xff, 0xd9], lastScan + 40);
    const image = readDicom(damaged);
    await expect((async () => {
      for (let f = 1; f <= 3; f++) await image.frame(f);
    })()).rejects.toThrow(/frame 3: JPEG baseline frame does not decode/);
  });

  it('reads a header from the first bytes of a large file', async () => {
    const { bytes } = await writeDicom({ transferSyntax: ts.explicit, photometric: 'MONOCHROME2', rows: 256, columns: 512, frames: 4 });
    const header = readDicomHeader(bytes.subarray(0, 4096));
    expect(header.hasPixelData).toBe(true);
    expect(header.pixel).toMatchObject({ rows: 256, columns: 512, frames: 4 });
    // Deflated too: the first bytes inflate as far as they go.
    const deflated = await writeDicom({ transferSyntax: ts.deflated, photometric: 'MONOCHROME2', rows: 256, columns: 512, frames: 4, regions: [{ spatialFormat: 1, minX: 3, minY: 4, maxX: 100, maxY: 90 }] });
    const deflatedHeader = readDicomHeader(deflated.bytes.subarray(0, 1024));
    expect(deflatedHeader.pixel).toMatchObject({ rows: 256, columns: 512, frames: 4 });
    expect(frameGeometry(deflatedHeader).crop).toEqual({ x: 3, y: 4, width: 98, height: 87 });
    const cut = deflated.bytes.subarray(0, deflated.bytes.length - 2000);
    await expect((async () => readDicom(cut).frame(4))()).rejects.toThrow(/truncated|does not parse/);
  });

  it('RLE: decodes PackBits segments and refuses a segment that runs short', () => {
    const plane = Uint8Array.from({ length: 12 }, (_, i) => (i < 5 ? 7 : i * 3));
    const segment = packBits(plane, 4);
    const frame = new Uint8Array(64 + segment.length);
    new DataView(frame.buffer).setUint32(0, 1, true);
    new DataView(frame.buffer).setUint32(4, 64, true);
    frame.set(segment, 64);
    expect(Array.from(decodeRle(frame, 3, 4, 1, 8).values)).toEqual(Array.from(plane));
    expect(() => decodeRle(frame.subarray(0, frame.length - 3), 3, 4, 1, 8)).toThrow(/decodes to \d+ of 12 bytes/);
    expect(() => decodeRle(frame, 3, 4, 3, 8)).toThrow(/1 segment\(s\); 3 sample\(s\) of 8 bits need 3/);
  });

  // Real files written by other software: the test data the npm package jpeg-lossless-decoder-js ships.
  it('public files: a JPEG-lossless RGB Secondary Capture decodes; MR images are refused by SOP class', async () => {
    const dir = path.join(projectRoot, 'node_modules', 'jpeg-lossless-decoder-js', 'tests', 'data');
    const rgb = readDicom(new Uint8Array(fs.readFileSync(path.join(dir, 'jpeg_lossless_sel1-rgb.dcm'))));
    const grey = await rgb.frame(1);
    expect([grey.width, grey.height]).toEqual([3072, 2048]);
    let min = Infinity;
    let max = -Infinity;
    for (const v of grey.data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeGreaterThan(min + 0.3);
    for (const selection of [1, 2, 3, 4, 5, 6, 7]) {
      expect(() => readDicom(new Uint8Array(fs.readFileSync(path.join(dir, `jpeg_lossless_sel${selection}.dcm`)))))
        .toThrow(/MR Image Storage\) is not imported/);
    }
  });
});
