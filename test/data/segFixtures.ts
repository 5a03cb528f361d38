/**
 * Test-only DICOM SEG helpers: SEGs re-encoded after a change (dcmjs), for SEGs the project's writer does not make
 * (several segments, FRACTIONAL, a doctor's MANUAL segment); and echo studies with a tissue region plus the doctor's
 * drawings on them, whose dataset-space masks are known exactly (the region is twice the dataset size).
 */
import fs from 'node:fs';
import path from 'node:path';
import dcmjs from 'dcmjs';
import { writeDicomSeg } from '../../export/dicomSeg';
import { fakeIdentity, type Identity, maskPng, sopClass, transferSyntax, writeDicom } from './dicomFixtures';

const { DicomDict, DicomMessage, DicomMetaDictionary } = dcmjs.data;

/** A SEG re-encoded after `edit` changed its naturalized data set. */
export function rewriteSeg(seg: Uint8Array, edit: (dataset: Record<string, unknown>) => void): Uint8Array {
  const read = DicomMessage.readFile(seg.buffer.slice(seg.byteOffset, seg.byteOffset + seg.byteLength) as ArrayBuffer);
  const dataset = DicomMetaDictionary.naturalizeDataset(read.dict);
  edit(dataset);
  const dict = new DicomDict(read.meta);
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(dict.write());
}

/** Frames of the echo studies below: 72 × 80 with a 64 × 64 tissue region from (8, 4), imported at 32 × 32. */
export const echo = {
  rows: 72,
  columns: 80,
  frames: 4,
  size: 32,
  region: { spatialFormat: 1, minX: 8, minY: 4, maxX: 71, maxY: 67 },
} as const;

/** Study s, frame f's structure in dataset space: a block with its own extent (ends exclusive). */
const block = (study: number, frame: number) => ({ x0: 2 + study, x1: 10 + study + frame, y0: 3, y1: 12 + frame });

/** The doctor's drawing on the whole original frame: the block doubled, moved into the region, and a stray pixel outside it. */
export function drawing(study: number, frame: number): Uint8Array {
  const { x0, x1, y0, y1 } = block(study, frame);
  const { rows, columns, region } = echo;
  const mask = new Uint8Array(rows * columns);
  for (let y = region.minY + 2 * y0; y < region.minY + 2 * y1; y++) for (let x = region.minX + 2 * x0; x < region.minX + 2 * x1; x++) mask[y * columns + x] = 1;
  mask[0] = 1;
  return mask;
}

/** The drawing as the dataset holds it: cut to the region, halved. */
export function expectedMask(study: number, frame: number): Uint8Array {
  const { x0, x1, y0, y1 } = block(study, frame);
  const mask = new Uint8Array(echo.size * echo.size);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) mask[y * echo.size + x] = 1;
  return mask;
}

export interface EchoStudy {
  number: number;
  identity: Identity;
  bytes: Uint8Array;
}

/** `count` multi-frame studies in `dir` (study<n>.dcm) and PNG masks of every frame in `masksDir`, for a DICOM import. */
export async function writeEchoStudies(dir: string, masksDir: string, count: number): Promise<EchoStudy[]> {
  fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(masksDir, { recursive: true });
  const studies: EchoStudy[] = [];
  for (let number = 1; number <= count; number++) {
    const identity = fakeIdentity(number, 1, 1);
    const { bytes } = await writeDicom({
      transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame,
      rows: echo.rows, columns: echo.columns, frames: echo.frames, identity, regions: [echo.region],
    });
    fs.writeFileSync(path.join(dir, `study${number}.dcm`), bytes);
    for (let frame = 1; frame <= echo.frames; frame++) {
      fs.writeFileSync(path.join(masksDir, `study${number}_${frame}.png`), await maskPng(drawing(number, frame), echo.columns, echo.rows));
    }
    studies.push({ number, identity, bytes });
  }
  return studies;
}

/** A SEG of the given frames of one study with the doctor's drawings; `manual` marks it a doctor's (MANUAL) as a viewer would. */
export function doctorsSeg(study: EchoStudy, frames: readonly number[], manual = true): Uint8Array {
  const seg = writeDicomSeg({ source: study.bytes, frames: frames.map((frame) => ({ frameNumber: frame, mask: drawing(study.number, frame) })), algorithm: { name: 'OHIF', version: '3' } });
  return manual ? rewriteSeg(seg, (ds) => {
    const [segment] = ds.SegmentSequence as Array<Record<string, unknown>>;
    segment.SegmentAlgorithmType = 'MANUAL';
    for (const key of ['SegmentAlgorithmName', 'AlgorithmFamilyCodeSequence', 'AlgorithmName', 'AlgorithmVersion']) delete segment[key];
  }) : seg;
}
