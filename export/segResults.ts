/**
 * `predict --dicom-seg DIR | --stow URL`: the masks predict wrote for DICOM frames (PNGs at the original frame size:
 * crop and resize already undone) as DICOM Segmentation objects, one per source series, written through
 * `writeSeriesSeg` and optionally sent to a DICOMweb server with STOW-RS.
 *
 * Only a folder of DICOM files can be the source: a SEG must reference the SOP Instance UIDs of its source frames, and
 * an imported dataset stores none (privacy: items are salted hashes of UIDs), so `--dataset` is refused. A DICOMweb
 * import's instances stay in its local cache folder, which `--input` reads.
 *
 * A SEG file is named after its series' first source file (its path, as predict's item ids are); it is written whole
 * under a temporary name and renamed, so the folder never holds a cut object.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { predictKeys, type PredictItem } from '../contracts';
import { readDicomFileHeader } from '../data/import/dicom';
import { DicomWebClient, type DicomWebClientOptions } from '../data/import/dicomwebClient';
import { type SegSource, writeSeriesSeg } from './dicomSeg';

/** The model as a SEG names it: Algorithm Name and Version (each cut to 64 characters in the object). */
export interface SegAlgorithm {
  name: string;
  version: string;
}

export interface WrittenSeg {
  /** The SEG file. */
  file: string;
  /** The SEG's own SOP Instance UID (a new UID, not a patient's), to match the STOW answer. */
  sopInstance: string;
  /** Source instances (files) it references, and SEG frames (one per predicted source frame). */
  instances: number;
  frames: number;
}

export interface StowReport {
  url: string;
  stored: string[];
  failed: Array<{ file: string; reason?: string }>;
}

/** Why these inputs cannot give SEG objects, or undefined when they can (every item a frame of a local DICOM file). */
export function segInputProblem(items: readonly PredictItem[]): string | undefined {
  const other = items.find((item) => item.source.kind !== 'file' || item.source.format !== 'dicom');
  if (!other) return undefined;
  if (other.source.kind === 'dataset') {
    return 'a dataset stores no DICOM UIDs (items are salted hashes), so its masks cannot reference their source instances; give the DICOM files with --input DIR (for a DICOMweb import, its cache folder <data dir>/dicomweb/<server>/)';
  }
  return `the inputs are ${other.source.kind === 'file' ? other.source.format : other.source.kind} images, not DICOM; a SEG references DICOM source instances, so give a folder of DICOM files`;
}

async function readMaskPng(file: string): Promise<Uint8Array> {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  const mask = new Uint8Array(info.width * info.height);
  for (let i = 0; i < mask.length; i++) mask[i] = data[i * info.channels] >= 128 ? 1 : 0;
  return mask;
}

/** Items by source series (Series Instance UID read from each file), files in path order, frames in order. */
async function bySeries(items: readonly PredictItem[]): Promise<Array<{ name: string; files: Map<string, PredictItem[]> }>> {
  const files = new Map<string, PredictItem[]>();
  for (const item of items) {
    if (item.source.kind !== 'file') continue;
    files.set(item.source.path, [...(files.get(item.source.path) ?? []), item]);
  }
  const series = new Map<string, { name: string; files: Map<string, PredictItem[]> }>();
  for (const file of [...files.keys()].sort()) {
    const uid = (await readDicomFileHeader(file)).uids.series ?? file;
    const entry = series.get(uid) ?? { name: files.get(file)![0].group, files: new Map() };
    entry.files.set(file, files.get(file)!.sort((a, b) => a.order - b.order));
    series.set(uid, entry);
  }
  return [...series.values()];
}

/** The SOP Instance UID of a SEG this module wrote ((0008,0018), read back with the header reader). */
async function segInstanceUid(file: string): Promise<string> {
  const uid = (await readDicomFileHeader(file)).uids.instance;
  if (!uid) throw new Error(`${file} has no SOP Instance UID`);
  return uid;
}

/** One SEG per source series of `items`, from the mask PNGs under `predictionsDir` (predict's --out), into `segDir`. */
export async function writeSegResults(options: { items: readonly PredictItem[]; predictionsDir: string; segDir: string; algorithm: SegAlgorithm }): Promise<WrittenSeg[]> {
  const problem = segInputProblem(options.items);
  if (problem) throw new Error(problem);
  await mkdir(options.segDir, { recursive: true });
  const written: WrittenSeg[] = [];
  for (const series of await bySeries(options.items)) {
    const sources: SegSource[] = [];
    for (const [file, frames] of series.files) {
      sources.push({
        source: await readFile(file),
        frames: await Promise.all(frames.map(async (item) => ({
          frameNumber: item.source.kind === 'file' ? item.source.frame : 0,
          mask: await readMaskPng(path.join(options.predictionsDir, predictKeys.mask('', item.id))),
        }))),
      });
    }
    const bytes = writeSeriesSeg({ sources, algorithm: options.algorithm });
    const file = path.join(options.segDir, `${series.name}.seg.dcm`);
    const partial = `${file}.${process.pid}.part`;
    try {
      await writeFile(partial, bytes);
      await rename(partial, file);
    } finally {
      await rm(partial, { force: true });
    }
    written.push({ file, sopInstance: await segInstanceUid(file), instances: sources.length, frames: sources.reduce((n, s) => n + s.frames.length, 0) });
  }
  return written;
}

/** STOW-RS of the written SEGs in one request; what the server stored and what it refused (with its reason code). */
export async function stowSegResults(written: readonly WrittenSeg[], server: DicomWebClientOptions): Promise<StowReport> {
  const client = new DicomWebClient(server);
  const outcome = await client.storeInstances(await Promise.all(written.map((seg) => readFile(seg.file))), `storing ${written.length} SEG objects`);
  const stored = new Set(outcome.stored);
  const reasons = new Map(outcome.failed.map((f) => [f.instance, f.reason]));
  const hex = (code: number | undefined) => (code === undefined ? undefined : `0x${code.toString(16).toUpperCase().padStart(4, '0')}`);
  return {
    url: server.url,
    stored: written.filter((seg) => stored.has(seg.sopInstance)).map((seg) => seg.file),
    failed: written.filter((seg) => !stored.has(seg.sopInstance)).map((seg) => {
      const reason = hex(reasons.get(seg.sopInstance));
      return { file: seg.file, ...(reason ? { reason: `failure reason ${reason}` } : reasons.has(seg.sopInstance) ? {} : { reason: 'not listed as stored by the server' }) };
    }),
  };
}
