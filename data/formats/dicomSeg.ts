/**
 * Reads DICOM Segmentation objects (SEG), the form OHIF, 3D Slicer and vendors' viewers save doctors' masks in: the
 * segments, and for every SEG frame the segment it belongs to, the source image it was drawn on (SOP Instance UID and
 * frame number) and its mask at the source's geometry (Rows × Columns of the SEG = the whole original frame).
 *
 * - BINARY segmentations are read bit by bit (PS3.5 8.1.1: frames follow each other, least significant bit first).
 * - FRACTIONAL segmentations (probability or occupancy, 8 bits) are thresholded at half the Maximum Fractional Value:
 *   a pixel belongs to the segment when its value ≥ max / 2, the same half-way rule the mask normaliser applies to
 *   grey masks.
 * - Only uncompressed little-endian transfer syntaxes (implicit, explicit, deflated) are read: a SEG is small, and
 *   every viewer writes one of them; anything else is refused with how to convert it.
 * - A frame without Referenced Frame Number refers to frame 1 (the standard omits it for single-frame sources).
 *
 * Refusals are `DicomSegRefusal`s with a reason that never quotes a UID or any other attribute value (SEGs carry the
 * patient's identity). The UIDs returned are identifying: hash them before they go anywhere.
 */
import type { DataSet } from 'dicom-parser';
import { DicomFormatError, parseDicomDataSet, SEGMENTATION_SOP_CLASS, supportedTransferSyntaxes } from './dicom';

/** A SEG that cannot be used, with the reason. */
export class DicomSegRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DicomSegRefusal';
  }
}

export interface SegSegment {
  /** Segment Number (0062,0004), from 1. */
  number: number;
  /** Segment Label (0062,0005); '' when absent. */
  label: string;
  /** Segment Algorithm Type (0062,0008): MANUAL, SEMIAUTOMATIC or AUTOMATIC (a model's); '' when absent. */
  algorithmType: string;
}

export interface SegFrame {
  /** This frame's number in the SEG, from 1. */
  index: number;
  segment: number;
  /** Identifying: the source's SOP Instance UID. */
  sourceInstanceUid: string;
  /** The source frame, from 1. */
  sourceFrame: number;
  /** 0/1 per pixel, rows × columns. */
  mask: Uint8Array;
}

export interface DicomSeg {
  type: 'BINARY' | 'FRACTIONAL';
  rows: number;
  columns: number;
  segments: SegSegment[];
  frames: SegFrame[];
}

const tags = {
  sopClass: 'x00080016',
  mediaStorageSopClass: 'x00020002',
  segmentationType: 'x00620001',
  segmentSequence: 'x00620002',
  segmentNumber: 'x00620004',
  segmentLabel: 'x00620005',
  segmentAlgorithmType: 'x00620008',
  segmentIdentification: 'x0062000a',
  referencedSegmentNumber: 'x0062000b',
  maxFractionalValue: 'x0062000e',
  derivationImage: 'x00089124',
  sourceImage: 'x00082112',
  referencedInstance: 'x00081155',
  referencedFrame: 'x00081160',
  sharedGroups: 'x52009229',
  perFrameGroups: 'x52009230',
  pixelData: 'x7fe00010',
} as const;

function firstItem(dataSet: DataSet | undefined, tag: string): DataSet | undefined {
  return dataSet?.elements[tag]?.items?.[0]?.dataSet;
}

/** A functional group of one frame: its own, else the shared one. */
function group(perFrame: DataSet | undefined, shared: DataSet | undefined, tag: string): DataSet | undefined {
  return perFrame?.elements[tag] ? firstItem(perFrame, tag) : firstItem(shared, tag);
}

function readSegments(dataSet: DataSet): SegSegment[] {
  const segments = (dataSet.elements[tags.segmentSequence]?.items ?? []).flatMap((item) => {
    const number = item.dataSet?.uint16(tags.segmentNumber);
    if (number === undefined) return [];
    return [{ number, label: (item.dataSet!.string(tags.segmentLabel) ?? '').trim(), algorithmType: (item.dataSet!.string(tags.segmentAlgorithmType) ?? '').trim().toUpperCase() }];
  });
  if (segments.length === 0) throw new DicomSegRefusal('the SEG has no segment (Segment Sequence 0062,0002 is empty)');
  if (new Set(segments.map((s) => s.number)).size !== segments.length) throw new DicomSegRefusal('the SEG numbers two segments alike');
  return segments;
}

/** Where one SEG frame comes from: the segment and the single source frame it was drawn on. */
function frameSource(perFrame: DataSet | undefined, shared: DataSet | undefined, index: number, segments: SegSegment[], singleSegment: boolean) {
  const segment = group(perFrame, shared, tags.segmentIdentification)?.uint16(tags.referencedSegmentNumber) ?? (singleSegment ? segments[0].number : undefined);
  if (segment === undefined) throw new DicomSegRefusal(`SEG frame ${index} does not say which segment it belongs to (Segment Identification Sequence)`);
  if (!segments.some((s) => s.number === segment)) throw new DicomSegRefusal(`SEG frame ${index} belongs to segment ${segment}, which the Segment Sequence does not define`);
  const sources = group(perFrame, shared, tags.derivationImage)?.elements[tags.sourceImage]?.items ?? [];
  if (sources.length === 0) {
    throw new DicomSegRefusal(`SEG frame ${index} does not reference the image it was drawn on (Derivation Image / Source Image Sequence): only SEGs of 2D images, frame by frame, are read`);
  }
  const references = sources.flatMap((item) => {
    const source = item.dataSet!;
    const instance = source.string(tags.referencedInstance)?.trim();
    const count = source.numStringValues(tags.referencedFrame) ?? 0;
    const frames = count === 0 ? [1] : Array.from({ length: count }, (_, i) => source.intString(tags.referencedFrame, i));
    return frames.map((frame) => ({ instance, frame }));
  });
  if (references.length !== 1) throw new DicomSegRefusal(`SEG frame ${index} references ${references.length} source frames; one mask must belong to one frame`);
  const [{ instance, frame }] = references;
  if (!instance) throw new DicomSegRefusal(`SEG frame ${index} references a source image without its SOP Instance UID`);
  if (frame === undefined || !Number.isInteger(frame) || frame < 1) throw new DicomSegRefusal(`SEG frame ${index} references source frame ${frame}, which is not a frame number (from 1)`);
  return { segment, sourceInstanceUid: instance, sourceFrame: frame };
}

/** Reads a DICOM SEG (Part 10 bytes). Throws DicomSegRefusal for a file that is not one, or not one this reads. */
export function readDicomSeg(bytes: Uint8Array): DicomSeg {
  let dataSet: DataSet;
  try {
    dataSet = parseDicomDataSet(bytes);
  } catch (error) {
    if (error instanceof DicomFormatError) throw new DicomSegRefusal(error.message);
    throw error;
  }
  try {
    return readParsed(dataSet);
  } catch (error) {
    if (error instanceof DicomSegRefusal) throw error;
    // dicom-parser reads elements lazily: a damaged element throws here, after parsing.
    throw new DicomSegRefusal(`the SEG's data set cannot be read (${(error as Error).message.replace(/\d+(\.\d+){3,}/g, '<uid>').slice(0, 120)}); the file is damaged or truncated`);
  }
}

function readParsed(dataSet: DataSet): DicomSeg {
  // The file meta's SOP class too: a file cut short may keep only its meta header.
  if ((dataSet.string(tags.sopClass) ?? dataSet.string(tags.mediaStorageSopClass)) !== SEGMENTATION_SOP_CLASS) {
    throw new DicomSegRefusal(`not a DICOM Segmentation (its SOP Class is not Segmentation Storage ${SEGMENTATION_SOP_CLASS})`);
  }
  if (!dataSet.elements[tags.pixelData]) throw new DicomSegRefusal('the SEG ends before its Pixel Data (7FE0,0010): the file is damaged or truncated');
  const syntax = supportedTransferSyntaxes[dataSet.string('x00020010') ?? ''];
  if (!syntax || syntax.codec !== 'native' || syntax.bigEndian) {
    throw new DicomSegRefusal('the SEG is compressed or big endian: save it uncompressed (Explicit VR Little Endian), e.g. with dcmconv +te or gdcmconv --raw');
  }
  const type = (dataSet.string(tags.segmentationType) ?? '').trim().toUpperCase();
  if (type !== 'BINARY' && type !== 'FRACTIONAL') throw new DicomSegRefusal(`Segmentation Type '${type.slice(0, 16)}' is not BINARY or FRACTIONAL`);
  const rows = dataSet.uint16('x00280010') ?? 0;
  const columns = dataSet.uint16('x00280011') ?? 0;
  const frameCount = dataSet.intString('x00280008') ?? 1;
  const bitsAllocated = dataSet.uint16('x00280100');
  if (!(rows > 0 && columns > 0)) throw new DicomSegRefusal('the SEG has no frame size (Rows, Columns)');
  if (!(Number.isInteger(frameCount) && frameCount >= 1)) throw new DicomSegRefusal('the SEG has no frame (Number of Frames)');
  if (bitsAllocated !== (type === 'BINARY' ? 1 : 8)) throw new DicomSegRefusal(`a ${type} SEG needs ${type === 'BINARY' ? 1 : 8} bits allocated, this one has ${bitsAllocated}`);
  const maxFraction = type === 'FRACTIONAL' ? dataSet.uint16(tags.maxFractionalValue) : undefined;
  if (type === 'FRACTIONAL' && !maxFraction) throw new DicomSegRefusal('a FRACTIONAL SEG needs a Maximum Fractional Value (0062,000E)');

  const segments = readSegments(dataSet);
  const perFrame = dataSet.elements[tags.perFrameGroups]?.items ?? [];
  if (perFrame.length !== frameCount) throw new DicomSegRefusal(`the SEG has ${frameCount} frames but ${perFrame.length} per-frame functional groups`);
  const shared = firstItem(dataSet, tags.sharedGroups);

  const pixels = dataSet.elements[tags.pixelData];
  if (pixels.encapsulatedPixelData) throw new DicomSegRefusal('the SEG\'s Pixel Data is compressed (encapsulated): save it uncompressed');
  const pixelCount = rows * columns;
  const needed = type === 'BINARY' ? Math.ceil((frameCount * pixelCount) / 8) : frameCount * pixelCount;
  if (pixels.length < needed || pixels.dataOffset + needed > dataSet.byteArray.length) {
    throw new DicomSegRefusal(`the SEG's Pixel Data holds fewer bytes than its ${frameCount} frames of ${columns}×${rows} need; the file is damaged or truncated`);
  }
  const data = dataSet.byteArray.subarray(pixels.dataOffset, pixels.dataOffset + needed);

  const frames = perFrame.map((item, i): SegFrame => {
    const source = frameSource(item.dataSet, shared, i + 1, segments, segments.length === 1);
    const mask = new Uint8Array(pixelCount);
    if (type === 'BINARY') {
      for (let p = 0, bit = i * pixelCount; p < pixelCount; p++, bit++) mask[p] = (data[bit >> 3] >> (bit & 7)) & 1;
    } else {
      const threshold = maxFraction! / 2;
      for (let p = 0, at = i * pixelCount; p < pixelCount; p++, at++) mask[p] = data[at] >= threshold ? 1 : 0;
    }
    return { index: i + 1, ...source, mask };
  });
  return { type, rows, columns, segments, frames };
}

/**
 * The segment to take: the only one, or the one `choice` names — a segment number, or a label (compared without
 * regard to case). Several segments and no choice, or a choice the SEG does not have, are refused.
 */
export function chooseSegment(seg: DicomSeg, choice?: string | number): SegSegment {
  const list = () => seg.segments.map((s) => `${s.number}${s.label ? ` "${s.label}"` : ''}`).join(', ');
  if (choice === undefined) {
    if (seg.segments.length === 1) return seg.segments[0];
    throw new DicomSegRefusal(`the SEG has ${seg.segments.length} segments (${list()}): choose one with --label <number or label>`);
  }
  const found = typeof choice === 'number'
    ? seg.segments.find((s) => s.number === choice)
    : seg.segments.find((s) => s.label.toLowerCase() === choice.toLowerCase());
  if (!found) throw new DicomSegRefusal(`the SEG has no segment ${typeof choice === 'number' ? choice : `"${choice}"`} (it has ${list()})`);
  return found;
}
