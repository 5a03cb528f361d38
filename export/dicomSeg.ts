/**
 * Writes predicted masks as a DICOM Segmentation object (SEG), the form viewers (OHIF, 3D Slicer, vendors') read and
 * PACSs store beside the images: one binary segment, "Left ventricle", per source series (its instances are echo
 * videos of one size), one SEG frame per segmented source frame. Each frame references its source SOP Instance and
 * frame number, the geometry is
 * the source's (masks at the original frame size: crop and resize undone before this), and the model's name and
 * version are the segment's algorithm identification.
 *
 * The patient and study attributes are copied from the source so the archive files the SEG with its study: this
 * object goes back to the hospital, never into this project's store. Encoding is dcmjs's (Part 10, explicit VR little
 * endian); this module only decides what the dataset holds. `predict --dicom-seg` writes through it (segResults.ts).
 */
import dcmjs from 'dcmjs';
import { SEGMENTATION_SOP_CLASS } from '../data/formats/dicom';

const { DicomDict, DicomMessage, DicomMetaDictionary } = dcmjs.data;

export { SEGMENTATION_SOP_CLASS };
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** This project's UID root would be registered by a deployment; dcmjs's generator gives valid 2.25 UIDs meanwhile. */
const IMPLEMENTATION_CLASS_UID = '2.25.270689745240846262372911436370591338091';

/** The segmented structure, coded (SNOMED CT) so a viewer can name and colour it without our help. */
export const LEFT_VENTRICLE_SEGMENT = {
  label: 'Left ventricle',
  category: { CodeValue: '91723000', CodingSchemeDesignator: 'SCT', CodeMeaning: 'Anatomical structure' },
  type: { CodeValue: '87878005', CodingSchemeDesignator: 'SCT', CodeMeaning: 'Left ventricle of heart' },
} as const;

export class DicomSegError extends Error {}

export interface SegFrame {
  /** The source frame this mask belongs to, 1-based as in DICOM. */
  frameNumber: number;
  /** 0/1 per pixel, rows × columns of the source (the whole original frame). */
  mask: Uint8Array;
}

/** One source instance and the masks of some of its frames. */
export interface SegSource {
  /** The source instance's Part 10 file (its identifiers and geometry are read from it). */
  source: Uint8Array;
  frames: readonly SegFrame[];
}

export interface SeriesSegOptions {
  /** Instances of one series, all of one frame size. */
  sources: readonly SegSource[];
  /** The model: its name (e.g. the run and architecture) and version (e.g. the checkpoint's hash). */
  algorithm: { name: string; version: string };
  /** New UIDs (default dcmjs's 2.25 generator); tests fix them. */
  uid?: () => string;
  /** Creation time (default now). */
  now?: Date;
  seriesNumber?: number;
}

export type DicomSegOptions = SegSource & Omit<SeriesSegOptions, 'sources'>;

type Dataset = Record<string, unknown>;

function code(value: { CodeValue: string; CodingSchemeDesignator: string; CodeMeaning: string }): Dataset[] {
  return [{ ...value }];
}

/** A Long String (LO) value: at most 64 characters. */
const longString = (text: string) => text.slice(0, 64);

function dicomDateTime(now: Date): { date: string; time: string } {
  const iso = now.toISOString();
  return { date: iso.slice(0, 10).replaceAll('-', ''), time: iso.slice(11, 19).replaceAll(':', '') };
}

/** Bits of the frames one after another, least significant bit first, padded to an even length (PS3.5 8.1.1). */
function packFrames(frames: readonly SegFrame[], pixels: number): Uint8Array {
  const bits = frames.length * pixels;
  const out = new Uint8Array(Math.ceil(Math.ceil(bits / 8) / 2) * 2);
  let bit = 0;
  for (const { mask } of frames) {
    for (let i = 0; i < pixels; i++, bit++) if (mask[i] === 1) out[bit >> 3] |= 1 << (bit & 7);
  }
  return out;
}

function readSource(bytes: Uint8Array): Dataset {
  try {
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    return DicomMetaDictionary.naturalizeDataset(DicomMessage.readFile(copy, { untilTag: '7FE00010', includeUntilTagValue: false }).dict);
  } catch (error) {
    throw new DicomSegError(`the source is not a readable DICOM file (${(error as Error).message})`);
  }
}

function checkFrames(frames: readonly SegFrame[], rows: number, columns: number, sourceFrames: number): void {
  if (frames.length === 0) throw new DicomSegError('no frame to write: a SEG holds at least one segmented frame');
  const seen = new Set<number>();
  for (const { frameNumber, mask } of frames) {
    if (!Number.isInteger(frameNumber) || frameNumber < 1 || frameNumber > sourceFrames) {
      throw new DicomSegError(`frame ${frameNumber} is not a frame of the source (it has ${sourceFrames}, numbered from 1)`);
    }
    if (seen.has(frameNumber)) throw new DicomSegError(`frame ${frameNumber} is given twice`);
    seen.add(frameNumber);
    if (mask.length !== rows * columns) {
      throw new DicomSegError(`the mask of frame ${frameNumber} has ${mask.length} pixels but the source frame is ${columns}×${rows}: masks must be at the original size`);
    }
    if (mask.some((v) => v > 1)) throw new DicomSegError(`the mask of frame ${frameNumber} is not binary (0/1)`);
  }
}

interface ReadSource {
  dataset: Dataset;
  sopClass: string;
  sopInstance: string;
  rows: number;
  columns: number;
  frames: SegFrame[];
}

function checkedSource({ source, frames }: SegSource): ReadSource {
  const dataset = readSource(source);
  const rows = Number(dataset.Rows);
  const columns = Number(dataset.Columns);
  const sourceFrames = Number(dataset.NumberOfFrames ?? 1) || 1;
  const sopClass = dataset.SOPClassUID as string | undefined;
  const sopInstance = dataset.SOPInstanceUID as string | undefined;
  if (!sopClass || !sopInstance || !dataset.StudyInstanceUID || !dataset.SeriesInstanceUID) {
    throw new DicomSegError('the source has no SOP Class, SOP Instance, Study or Series Instance UID: a SEG must reference them');
  }
  if (!(rows > 0 && columns > 0)) throw new DicomSegError('the source has no image size (Rows, Columns)');
  const sorted = [...frames].sort((a, b) => a.frameNumber - b.frameNumber);
  checkFrames(sorted, rows, columns, sourceFrames);
  return { dataset, sopClass, sopInstance, rows, columns, frames: sorted };
}

/** The SEG object (Part 10 bytes) for masks of some frames of one source instance. */
export function writeDicomSeg(options: DicomSegOptions): Uint8Array {
  const { source, frames, ...rest } = options;
  return writeSeriesSeg({ ...rest, sources: [{ source, frames }] });
}

/**
 * The SEG object (Part 10 bytes) for masks of some frames of instances of one series. Frames are ordered by source
 * instance (as given), then frame number.
 */
export function writeSeriesSeg(options: SeriesSegOptions): Uint8Array {
  const uid = options.uid ?? (() => DicomMetaDictionary.uid());
  if (options.sources.length === 0) throw new DicomSegError('no source instance to segment');
  const sources = options.sources.map(checkedSource);
  const [first] = sources;
  const source = first.dataset;
  const { rows, columns } = first;
  for (const other of sources.slice(1)) {
    if (other.dataset.SeriesInstanceUID !== source.SeriesInstanceUID || other.dataset.StudyInstanceUID !== source.StudyInstanceUID) {
      throw new DicomSegError('the source instances are not all of one series: a SEG here covers one series');
    }
    if (other.rows !== rows || other.columns !== columns) {
      throw new DicomSegError(`the source instances of one series differ in size (${columns}×${rows} and ${other.columns}×${other.rows}): a SEG has one frame size`);
    }
  }
  const instances = new Set(sources.map((s) => s.sopInstance));
  if (instances.size !== sources.length) throw new DicomSegError('a source instance is given twice');
  const segFrames = sources.flatMap((s) => s.frames.map((frame) => ({ ...frame, sopClass: s.sopClass, sopInstance: s.sopInstance })));

  const { date, time } = dicomDateTime(options.now ?? new Date());
  const segInstance = uid();
  const dimensionOrganization = uid();
  const copied: Dataset = {};
  for (const keyword of ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'StudyInstanceUID', 'StudyDate', 'StudyTime',
    'ReferringPhysicianName', 'StudyID', 'AccessionNumber', 'FrameOfReferenceUID']) {
    if (source[keyword] !== undefined) copied[keyword] = source[keyword];
  }
  const pixelMeasures = Array.isArray(source.PixelSpacing) ? [{ PixelSpacing: source.PixelSpacing, SliceThickness: 1 }] : undefined;
  const dataset: Dataset = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: SEGMENTATION_SOP_CLASS,
    SOPInstanceUID: segInstance,
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    ...copied,
    // Required by the SEG IOD; a source without one (most 2D ultrasound) gets a new one.
    FrameOfReferenceUID: copied.FrameOfReferenceUID ?? uid(),
    Modality: 'SEG',
    SeriesInstanceUID: uid(),
    SeriesNumber: options.seriesNumber ?? 900,
    SeriesDescription: longString(`${LEFT_VENTRICLE_SEGMENT.label} (${options.algorithm.name})`),
    Manufacturer: 'echo-al',
    ManufacturerModelName: longString(options.algorithm.name),
    DeviceSerialNumber: longString(options.algorithm.version),
    SoftwareVersions: longString(options.algorithm.version),
    InstanceNumber: 1,
    ContentDate: date,
    ContentTime: time,
    ImageType: ['DERIVED', 'PRIMARY'],
    ContentLabel: 'LEFT_VENTRICLE',
    ContentDescription: longString(`${LEFT_VENTRICLE_SEGMENT.label} predicted by ${options.algorithm.name}`),
    ContentCreatorName: 'echo-al',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: rows,
    Columns: columns,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    SegmentationType: 'BINARY',
    SegmentSequence: [{
      SegmentNumber: 1,
      SegmentLabel: LEFT_VENTRICLE_SEGMENT.label,
      SegmentedPropertyCategoryCodeSequence: code(LEFT_VENTRICLE_SEGMENT.category),
      SegmentedPropertyTypeCodeSequence: code(LEFT_VENTRICLE_SEGMENT.type),
      SegmentAlgorithmType: 'AUTOMATIC',
      SegmentAlgorithmName: longString(options.algorithm.name),
      AlgorithmFamilyCodeSequence: code({ CodeValue: '123109', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Artificial Intelligence' }),
      AlgorithmName: longString(options.algorithm.name),
      AlgorithmVersion: longString(options.algorithm.version),
    }],
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganization }],
    // 2D ultrasound has no patient coordinates to index frames by, so the one dimension is the segment (as highdicom
    // writes such SEGs); each frame's source instance and frame number are in its Source Image Sequence. A pointer into
    // that nested sequence is not a valid dimension: readers look for the attribute in the functional group's item.
    DimensionIndexSequence: [
      { DimensionOrganizationUID: dimensionOrganization, DimensionIndexPointer: 0x0062000b, FunctionalGroupPointer: 0x0062000a, DimensionDescriptionLabel: 'Segment number' },
    ],
    SharedFunctionalGroupsSequence: [pixelMeasures ? { PixelMeasuresSequence: pixelMeasures } : {}],
    PerFrameFunctionalGroupsSequence: segFrames.map(({ frameNumber, sopClass, sopInstance }) => ({
      DerivationImageSequence: [{
        SourceImageSequence: [{
          ReferencedSOPClassUID: sopClass,
          ReferencedSOPInstanceUID: sopInstance,
          ReferencedFrameNumber: frameNumber,
          // The mask is at the source frame's own size and place (crop and resize undone).
          SpatialLocationsPreserved: 'YES',
          PurposeOfReferenceCodeSequence: code({ CodeValue: '121322', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Source image for image processing operation' }),
        }],
        DerivationCodeSequence: code({ CodeValue: '113076', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Segmentation' }),
      }],
      FrameContentSequence: [{ DimensionIndexValues: [1] }],
      SegmentIdentificationSequence: [{ ReferencedSegmentNumber: 1 }],
    })),
    NumberOfFrames: segFrames.length,
    ReferencedSeriesSequence: [{
      SeriesInstanceUID: source.SeriesInstanceUID,
      ReferencedInstanceSequence: sources.map((s) => ({ ReferencedSOPClassUID: s.sopClass, ReferencedSOPInstanceUID: s.sopInstance })),
    }],
    PixelData: [packFrames(segFrames, rows * columns).buffer],
    _vrMap: { PixelData: 'OB' },
  };
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: SEGMENTATION_SOP_CLASS,
    MediaStorageSOPInstanceUID: segInstance,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: 'ECHO_AL',
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(dict.write());
}
