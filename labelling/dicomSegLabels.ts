/**
 * Doctors' masks that come as DICOM SEG objects (from OHIF, 3D Slicer, a vendor's viewer) → the mask uploads of the
 * one submission path (./submit.ts), so they meet exactly the checks PNG masks meet.
 *
 * Each SEG frame (of the chosen segment) is matched to a requested frame by hashing its source SOP Instance UID with
 * the salt the dataset was imported with (data/import/dicom.ts: ids are `s<series>_i<instance>_f<frame>`), checked
 * against that frame's original size, and brought into dataset space by the importer's own crop and resize
 * (`maskToDatasetSpace`). A SEG is used whole or not at all: one unusable frame refuses the file, and a refused file
 * refuses the submission (nothing is stored). Refusals are recorded beside the run like other rejected masks, without
 * file names (they may name the patient) or UIDs.
 */
import { type LabellingRequest } from '../contracts';
import { chooseSegment, DicomSegRefusal, readDicomSeg } from '../data/formats/dicomSeg';
import { dicomItemFrame, dicomUidHash, maskToDatasetSpace } from '../data/import/dicom';
import { type DatasetItem, readItems } from '../data/manifest';
import { encodeCanonicalMask } from '../data/masks';
import type { ObjectStore } from '../store/objectStore';
import { recordRejection } from './rejections';
import type { MaskUpload } from './submit';

export interface SegFile {
  /** How the user knows the file (its name): used in messages to them, never stored. */
  name: string;
  bytes: Uint8Array;
}

export interface SegLabelOptions {
  /** The DICOM id salt the dataset was imported with. */
  salt: string;
  /** The segment to take from SEGs with several: its number or label. */
  segment?: string | number;
  /** Who sends them (recorded with a refusal), e.g. 'cli'. */
  source: string;
  /**
   * Polling an archive, which holds every SEG ever made: leave alone (not refuse) SEGs none of whose frames the phase
   * requested, and SEGs whose segment a model made (Segment Algorithm Type AUTOMATIC, e.g. `predict`'s).
   */
  onlyDoctorsForRequest?: boolean;
}

/** SEG files that cannot be used, each with its reason; nothing was stored. */
export class SegLabelsRefused extends Error {
  constructor(readonly refused: { file: string; reason: string }[]) {
    super(refused.length === 1 ? `DICOM SEG ${refused[0].file} was refused: ${refused[0].reason}`
      : `${refused.length} DICOM SEG files were refused; nothing was stored: ${refused.map((r) => `${r.file}: ${r.reason}`).join('; ')}`);
    this.name = 'SegLabelsRefused';
  }
}

const frameKey = (instanceHash: string, frame: number) => `${instanceHash}\0${frame}`;

/** The uploads (canonical PNG masks at the request's size) of one SEG, or the reason it is refused. */
async function segUploads(
  file: SegFile, request: LabellingRequest, requested: Map<string, DatasetItem>, datasetInstances: Set<string>, options: SegLabelOptions,
): Promise<MaskUpload[] | { skipped: string }> {
  const seg = readDicomSeg(file.bytes);
  const segment = chooseSegment(seg, options.segment);
  if (options.onlyDoctorsForRequest) {
    if (segment.algorithmType === 'AUTOMATIC') return { skipped: 'an automatic segmentation (a model\'s), not a doctor\'s' };
    const requestedFrames = seg.frames.filter((f) => f.segment === segment.number
      && requested.has(frameKey(dicomUidHash(options.salt, f.sourceInstanceUid), f.sourceFrame)));
    if (requestedFrames.length === 0) return { skipped: `none of its frames was requested in phase ${request.phase}` };
  }
  const uploads: MaskUpload[] = [];
  const seen = new Set<string>();
  for (const frame of seg.frames.filter((f) => f.segment === segment.number)) {
    const instanceHash = dicomUidHash(options.salt, frame.sourceInstanceUid);
    const item = requested.get(frameKey(instanceHash, frame.sourceFrame));
    const where = `SEG frame ${frame.index} (source i${instanceHash} frame ${frame.sourceFrame})`;
    if (!item) {
      throw new DicomSegRefusal(datasetInstances.has(instanceHash)
        ? `${where} is not among the frames phase ${request.phase} requested`
        : `${where} references an image that is not in dataset ${request.datasetId} (another study, or DICOM_ID_SALT differs from the import's)`);
    }
    if (seen.has(item.id)) throw new DicomSegRefusal(`${where}: the SEG holds two masks of segment ${segment.number} for this frame`);
    seen.add(item.id);
    const [rows, columns] = item.originalSize;
    if (seg.rows !== rows || seg.columns !== columns) {
      throw new DicomSegRefusal(`the SEG is ${seg.columns}×${seg.rows} but its source frame is ${columns}×${rows}: a SEG is drawn on the whole original frame`);
    }
    const { mask, regionForeground } = await maskToDatasetSpace(frame.mask, columns, item.crop, request.size);
    if (regionForeground === 0 && frame.mask.includes(1)) {
      throw new DicomSegRefusal(`${where} has no pixel of the segment inside the ultrasound region the frame was cropped to`);
    }
    uploads.push({ id: item.id, bytes: await encodeCanonicalMask(mask, request.size), label: null });
  }
  if (uploads.length === 0) throw new DicomSegRefusal(`the SEG has no frame of segment ${segment.number}`);
  return uploads;
}

/** Matches every SEG to the request's frames among the dataset's `items`: the uploads, and each unusable file's reason. */
export async function matchSegFiles(
  request: LabellingRequest, items: readonly DatasetItem[], files: readonly SegFile[], options: SegLabelOptions,
): Promise<{ uploads: MaskUpload[]; refused: { file: string; reason: string }[]; skipped: { file: string; reason: string }[] }> {
  const requestedIds = new Set(request.items.map((i) => i.id));
  const requested = new Map<string, DatasetItem>();
  const datasetInstances = new Set<string>();
  for (const item of items) {
    const frame = dicomItemFrame(item.id);
    if (!frame) continue;
    datasetInstances.add(frame.instanceHash);
    if (requestedIds.has(item.id)) requested.set(frameKey(frame.instanceHash, frame.frame), item);
  }
  const uploads: MaskUpload[] = [];
  const refused: { file: string; reason: string }[] = [];
  const skipped: { file: string; reason: string }[] = [];
  for (const file of files) {
    try {
      const result = await segUploads(file, request, requested, datasetInstances, options);
      if ('skipped' in result) skipped.push({ file: file.name, reason: result.skipped });
      else uploads.push(...result);
    } catch (error) {
      if (!(error instanceof DicomSegRefusal)) throw error;
      refused.push({ file: file.name, reason: error.message });
    }
  }
  return { uploads, refused, skipped };
}

/**
 * Every SEG's masks as uploads for `submitMasks`, or SegLabelsRefused (recorded beside the run) when any SEG cannot
 * be used.
 */
export async function segMaskUploads(
  store: ObjectStore, workflowId: string, request: LabellingRequest, files: readonly SegFile[], options: SegLabelOptions,
): Promise<MaskUpload[]> {
  const { uploads, refused } = await matchSegFiles(request, await readItems(store, request.datasetId), files, options);
  if (refused.length > 0) {
    await recordSegRefusals(store, workflowId, request.phase, options.source, refused);
    throw new SegLabelsRefused(refused);
  }
  return uploads;
}

/** Records refused SEGs beside the run (where `status` shows them), by their reasons only: file names may name the patient. */
export async function recordSegRefusals(store: ObjectStore, workflowId: string, phase: number, source: string, refused: readonly { reason: string }[]): Promise<void> {
  await recordRejection(store, workflowId, {
    at: new Date().toISOString(), phase, source, rejected: refused.map((r) => ({ reason: `DICOM SEG: ${r.reason}` })),
  });
}
