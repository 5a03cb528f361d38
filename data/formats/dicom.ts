/**
 * DICOM Part-10 ultrasound images: the header through dicom-parser (cornerstone's maintained parser), each
 * frame through the codec of its transfer syntax (dicomCodecs.ts), then one grey value per pixel in [0, 1].
 *
 * Grey rules:
 * - MONOCHROME2: the stored value (Bits Stored / High Bit / Pixel Representation respected) scaled over the
 *   Bits Stored range (0 … 2^BitsStored − 1, or −2^(BitsStored−1) … 2^(BitsStored−1) − 1 when signed). When the
 *   file gives a VOI window (Window Center / Width, first pair), the window is applied instead (after Rescale
 *   Slope / Intercept, in the VOI LUT Function's form: LINEAR, LINEAR_EXACT or SIGMOID), as a viewer shows it.
 *   MONOCHROME1 is the same, inverted (1 − value).
 * - Colour → grey is luma with the Rec. 601 weights, Y = 0.299 R + 0.587 G + 0.114 B, each channel scaled over
 *   its Bits Stored range. YBR_FULL / YBR_FULL_422 carry exactly that luma in their Y channel, so Y is used as it
 *   is (no round trip through RGB). Colour Doppler or annotation overlays therefore stay in the image as their
 *   luma (red ≈ 0.3, yellow ≈ 0.89 of full scale); crop to the ultrasound region to leave most annotations out.
 * - PALETTE COLOR: each stored value looked up in the red, green and blue LUTs (scaled by their bits per entry),
 *   then the same luma.
 *
 * Identifying attributes are read only as far as the importer needs them to derive salted hashes (the study,
 * series and instance UIDs); nothing here logs or returns any other patient or study attribute.
 */
import { createRequire } from 'node:module';
import { constants, inflateRawSync } from 'node:zlib';
import type { DataSet, Element } from 'dicom-parser';
import type { GreyImage } from '../import/preprocess';
import { CodecError, decodeJpeg2000, decodeJpegBaseline, decodeJpegLossless, decodeJpegLs, decodeRle, type DecodedFrame } from './dicomCodecs';

const require = createRequire(import.meta.url);
const dicomParser = require('dicom-parser') as typeof import('dicom-parser');

type Codec = 'native' | 'jpeg-baseline' | 'jpeg-lossless' | 'rle' | 'jpeg-ls' | 'jpeg-2000';

interface TransferSyntax {
  name: string;
  codec: Codec;
  bigEndian?: boolean;
}

/** The transfer syntaxes this reader decodes. */
export const supportedTransferSyntaxes: Readonly<Record<string, TransferSyntax>> = {
  '1.2.840.10008.1.2': { name: 'Implicit VR Little Endian', codec: 'native' },
  '1.2.840.10008.1.2.1': { name: 'Explicit VR Little Endian', codec: 'native' },
  '1.2.840.10008.1.2.1.99': { name: 'Deflated Explicit VR Little Endian', codec: 'native' },
  '1.2.840.10008.1.2.2': { name: 'Explicit VR Big Endian (retired)', codec: 'native', bigEndian: true },
  '1.2.840.10008.1.2.4.50': { name: 'JPEG Baseline (Process 1)', codec: 'jpeg-baseline' },
  '1.2.840.10008.1.2.4.57': { name: 'JPEG Lossless, Non-Hierarchical (Process 14)', codec: 'jpeg-lossless' },
  '1.2.840.10008.1.2.4.70': { name: 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, Selection Value 1)', codec: 'jpeg-lossless' },
  '1.2.840.10008.1.2.5': { name: 'RLE Lossless', codec: 'rle' },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS Lossless', codec: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS Near-Lossless', codec: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 (Lossless Only)', codec: 'jpeg-2000' },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000', codec: 'jpeg-2000' },
};

/** Names of transfer syntaxes met in ultrasound archives that this reader does not decode, for skip reasons. */
const otherTransferSyntaxNames: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile / Main Level',
  '1.2.840.10008.1.2.4.101': 'MPEG2 Main Profile / High Level',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.104': 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video',
  '1.2.840.10008.1.2.4.105': 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video',
  '1.2.840.10008.1.2.4.106': 'MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2',
  '1.2.840.10008.1.2.4.107': 'HEVC/H.265 Main Profile / Level 5.1',
  '1.2.840.10008.1.2.4.108': 'HEVC/H.265 Main 10 Profile / Level 5.1',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 (Lossless Only)',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 with RPCL Options (Lossless Only)',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000',
};

/** The image storage SOP classes imported: ultrasound (current and retired) and secondary capture. */
export const supportedSopClasses: Readonly<Record<string, string>> = {
  '1.2.840.10008.5.1.4.1.1.6.1': 'Ultrasound Image Storage',
  '1.2.840.10008.5.1.4.1.1.6': 'Ultrasound Image Storage (retired)',
  '1.2.840.10008.5.1.4.1.1.3.1': 'Ultrasound Multi-frame Image Storage',
  '1.2.840.10008.5.1.4.1.1.3': 'Ultrasound Multi-frame Image Storage (retired)',
  '1.2.840.10008.5.1.4.1.1.7': 'Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.7.1': 'Multi-frame Single Bit Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.7.2': 'Multi-frame Grayscale Byte Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.7.3': 'Multi-frame Grayscale Word Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.7.4': 'Multi-frame True Color Secondary Capture Image Storage',
};

/** Segmentation Storage: DICOM SEG objects (read by ./dicomSeg.ts, not imported as images). */
export const SEGMENTATION_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.66.4';

const otherSopClassNames: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.3.10': 'Media Storage Directory Storage (DICOMDIR)',
  '1.2.840.10008.5.1.4.1.1.6.2': 'Enhanced US Volume Storage',
  '1.2.840.10008.5.1.4.1.1.6.3': 'Photoacoustic Image Storage',
  '1.2.840.10008.5.1.4.1.1.2': 'CT Image Storage',
  '1.2.840.10008.5.1.4.1.1.4': 'MR Image Storage',
  '1.2.840.10008.5.1.4.1.1.1': 'Computed Radiography Image Storage',
  '1.2.840.10008.5.1.4.1.1.88.11': 'Basic Text SR Storage',
  '1.2.840.10008.5.1.4.1.1.88.22': 'Enhanced SR Storage',
  '1.2.840.10008.5.1.4.1.1.88.33': 'Comprehensive SR Storage',
  '1.2.840.10008.5.1.4.1.1.104.1': 'Encapsulated PDF Storage',
  '1.2.840.10008.5.1.4.1.1.11.1': 'Grayscale Softcopy Presentation State Storage',
  [SEGMENTATION_SOP_CLASS]: 'Segmentation Storage',
  '1.2.840.10008.5.1.4.1.1.9.1.1': '12-lead ECG Waveform Storage',
};

const photometrics = ['MONOCHROME1', 'MONOCHROME2', 'RGB', 'YBR_FULL', 'YBR_FULL_422', 'PALETTE COLOR', 'YBR_RCT', 'YBR_ICT'] as const;
export type Photometric = (typeof photometrics)[number];

/** A file that is not a readable DICOM image; the message never contains attribute values. */
export class DicomFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DicomFormatError';
  }
}

/** One item of the Sequence of Ultrasound Regions (0018,6011); coordinates are inclusive pixel indices. */
export interface UltrasoundRegion {
  /** (0018,6012): 0 none, 1 tissue (2D), 2 M-mode, 3 spectral, 4 waveform, 5 graphics, … */
  spatialFormat: number;
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  /** Physical Units X/Y Direction (0018,6024/6026): 3 = cm. */
  unitsX?: number;
  unitsY?: number;
  /** Physical Delta X/Y (0018,602C/602E), in the units above per pixel. */
  deltaX?: number;
  deltaY?: number;
}

export interface DicomPixelModule {
  rows: number;
  columns: number;
  frames: number;
  samplesPerPixel: number;
  photometric: string;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  signed: boolean;
  /** Planar Configuration 1: colour by plane. */
  planar: boolean;
}

export interface DicomHeader {
  sopClassUid: string;
  transferSyntaxUid: string;
  /** Identifying: hash them before they go anywhere. */
  uids: { study?: string; series?: string; instance?: string };
  pixel: DicomPixelModule;
  regions: UltrasoundRegion[];
  /** Pixel Spacing (0028,0030) [row, column] in mm, if present. */
  pixelSpacing?: [number, number];
  window?: { center: number; width: number; fn: 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID' };
  rescale?: { slope: number; intercept: number };
  hasPixelData: boolean;
}

function libraryMessage(error: unknown): string {
  // dicom-parser throws strings, Errors, or { exception, dataSet } from parseDicom.
  const cause = typeof error === 'object' && error !== null && 'exception' in error ? (error as { exception: unknown }).exception : error;
  const text = cause instanceof Error ? cause.message : String(cause);
  // Parser messages describe structure; UIDs (which can identify) are masked all the same.
  return text.replace(/\d+(\.\d+){3,}/g, '<uid>').replace(/\s+/g, ' ').trim().slice(0, 200);
}

/**
 * Deflated Explicit VR Little Endian: dicom-parser asks for the meta header followed by the inflated data set. A
 * sync flush instead of a finish lets a header be read from a file's first bytes; a cut file then fails later, on
 * its pixel data.
 */
function inflater(bytes: Uint8Array, position: number): Uint8Array {
  const inflated = inflateRawSync(bytes.subarray(position), { finishFlush: constants.Z_SYNC_FLUSH });
  const whole = new Uint8Array(position + inflated.length);
  whole.set(bytes.subarray(0, position));
  whole.set(inflated, position);
  return whole;
}

const sequenceOfUltrasoundRegions = 'x00186011';
const pixelDataTag = 'x7fe00010';

function parse(bytes: Uint8Array, untilPixelData: boolean): DataSet {
  if (bytes.length < 132 || bytes[128] !== 0x44 || bytes[129] !== 0x49 || bytes[130] !== 0x43 || bytes[131] !== 0x4d) {
    throw new DicomFormatError("not a DICOM Part-10 file (no 'DICM' marker at byte 128)");
  }
  // A plain view: Node Buffers share memory on slice(), which codecs that copy with slice() would not expect.
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return dicomParser.parseDicom(view, { ...(untilPixelData ? { untilTag: pixelDataTag } : {}), inflater });
  } catch (error) {
    throw new DicomFormatError(`the DICOM data set does not parse: ${libraryMessage(error)}; the file is damaged or truncated`);
  }
}

function positive(value: number | undefined): number | undefined {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
}

function readRegions(dataSet: DataSet): UltrasoundRegion[] {
  const items = dataSet.elements[sequenceOfUltrasoundRegions]?.items ?? [];
  const regions: UltrasoundRegion[] = [];
  for (const item of items) {
    const region = item.dataSet;
    if (!region) continue;
    const minX = region.uint32('x00186018');
    const minY = region.uint32('x0018601a');
    const maxX = region.uint32('x0018601c');
    const maxY = region.uint32('x0018601e');
    if (minX === undefined || minY === undefined || maxX === undefined || maxY === undefined) continue;
    regions.push({
      spatialFormat: region.uint16('x00186012') ?? 0,
      minX, minY, maxX, maxY,
      unitsX: region.uint16('x00186024'),
      unitsY: region.uint16('x00186026'),
      deltaX: region.double('x0018602c'),
      deltaY: region.double('x0018602e'),
    });
  }
  return regions;
}

function readHeader(dataSet: DataSet): DicomHeader {
  const transferSyntaxUid = dataSet.string('x00020010') ?? '';
  const sopClassUid = dataSet.string('x00080016') ?? dataSet.string('x00020002') ?? '';
  const bitsAllocated = dataSet.uint16('x00280100') ?? 0;
  const bitsStored = dataSet.uint16('x00280101') ?? bitsAllocated;
  const spacingRow = dataSet.floatString('x00280030', 0);
  const spacingColumn = dataSet.floatString('x00280030', 1);
  const center = dataSet.floatString('x00281050', 0);
  const width = dataSet.floatString('x00281051', 0);
  const fn = (dataSet.string('x00281056') ?? 'LINEAR').toUpperCase();
  const slope = dataSet.floatString('x00281053');
  const intercept = dataSet.floatString('x00281052');
  return {
    sopClassUid,
    transferSyntaxUid,
    uids: { study: dataSet.string('x0020000d') || undefined, series: dataSet.string('x0020000e') || undefined, instance: dataSet.string('x00080018') || dataSet.string('x00020003') || undefined },
    pixel: {
      rows: dataSet.uint16('x00280010') ?? 0,
      columns: dataSet.uint16('x00280011') ?? 0,
      frames: Math.max(1, dataSet.intString('x00280008') ?? 1),
      samplesPerPixel: dataSet.uint16('x00280002') ?? 1,
      photometric: (dataSet.string('x00280004') ?? '').toUpperCase(),
      bitsAllocated,
      bitsStored,
      highBit: dataSet.uint16('x00280102') ?? bitsStored - 1,
      signed: dataSet.uint16('x00280103') === 1,
      planar: dataSet.uint16('x00280006') === 1,
    },
    regions: readRegions(dataSet),
    ...(positive(spacingRow) && positive(spacingColumn) ? { pixelSpacing: [spacingRow!, spacingColumn!] as [number, number] } : {}),
    ...(center !== undefined && width !== undefined && Number.isFinite(center) && width > 0
      ? { window: { center, width, fn: fn === 'LINEAR_EXACT' || fn === 'SIGMOID' ? fn : 'LINEAR' } as const }
      : {}),
    ...(slope !== undefined && intercept !== undefined && Number.isFinite(slope) && slope !== 0 && Number.isFinite(intercept) ? { rescale: { slope, intercept } } : {}),
    hasPixelData: dataSet.elements[pixelDataTag] !== undefined,
  };
}

/** The whole data set of a Part-10 file (any SOP class); throws DicomFormatError when it does not parse. */
export function parseDicomDataSet(bytes: Uint8Array): DataSet {
  return parse(bytes, false);
}

/**
 * The header of a DICOM file from its first bytes (up to the pixel data). Throws DicomFormatError when the bytes
 * are not a Part-10 file or do not parse.
 */
export function readDicomHeader(bytes: Uint8Array): DicomHeader {
  return checkedHeader(parse(bytes, true));
}

/** Reading attributes of a damaged data set can throw from inside the parser. */
function checkedHeader(dataSet: DataSet): DicomHeader {
  try {
    return readHeader(dataSet);
  } catch (error) {
    throw new DicomFormatError(`the DICOM header cannot be read: ${libraryMessage(error)}; the file is damaged or truncated`);
  }
}

/**
 * Attribute values quoted in messages: only well-formed class and syntax UIDs (they name standards or vendors, not
 * people) and short code strings; anything else in a damaged file could be any text, so it is not repeated.
 */
function quoted(value: string, kind: 'uid' | 'code'): string {
  if (value === '') return '(missing)';
  const wellFormed = kind === 'uid' ? /^[0-9]+(\.[0-9]+)*$/.test(value) && value.length <= 64 : /^[A-Z0-9 _]{1,16}$/.test(value);
  return wellFormed ? value : '(malformed)';
}

/** Why this reader cannot import the file, or undefined when it can. */
export function unsupportedReason(header: DicomHeader): string | undefined {
  const sop = header.sopClassUid;
  if (!supportedSopClasses[sop]) {
    const name = otherSopClassNames[sop];
    return `SOP class ${quoted(sop, 'uid')}${name ? ` (${name})` : ''} is not imported: only Ultrasound (multi-frame) Image and Secondary Capture images are`;
  }
  const syntax = header.transferSyntaxUid;
  if (!supportedTransferSyntaxes[syntax]) {
    const name = otherTransferSyntaxNames[syntax];
    return `transfer syntax ${quoted(syntax, 'uid')}${name ? ` (${name})` : ''} is not supported; convert the file to an uncompressed or lossless transfer syntax (e.g. with dcmtk or gdcmconv)`;
  }
  const p = header.pixel;
  if (!header.hasPixelData) return 'the file has no Pixel Data (7FE0,0010)';
  if (p.rows === 0 || p.columns === 0) return `image size ${p.columns}×${p.rows} is not valid`;
  if (!(photometrics as readonly string[]).includes(p.photometric)) return `photometric interpretation '${quoted(p.photometric, 'code')}' is not supported`;
  if (p.bitsAllocated !== 8 && p.bitsAllocated !== 16) return `${p.bitsAllocated} bits allocated per sample is not supported (8 or 16)`;
  if (p.bitsStored < 1 || p.bitsStored > p.bitsAllocated || p.highBit < p.bitsStored - 1 || p.highBit >= p.bitsAllocated) {
    return `bits stored ${p.bitsStored} / high bit ${p.highBit} do not fit ${p.bitsAllocated} bits allocated`;
  }
  const colour = p.photometric !== 'MONOCHROME1' && p.photometric !== 'MONOCHROME2' && p.photometric !== 'PALETTE COLOR';
  if (p.samplesPerPixel !== (colour ? 3 : 1)) return `${p.samplesPerPixel} samples per pixel do not fit photometric interpretation ${p.photometric}`;
  if (p.photometric === 'YBR_FULL_422' && supportedTransferSyntaxes[syntax].codec === 'native' && (p.bitsAllocated !== 8 || p.columns % 2 !== 0)) {
    return 'uncompressed YBR_FULL_422 needs 8 bits allocated and an even number of columns';
  }
  const codec = supportedTransferSyntaxes[syntax].codec;
  if (codec === 'jpeg-baseline' && p.bitsAllocated !== 8) return 'JPEG baseline needs 8 bits allocated';
  if ((p.photometric === 'YBR_RCT' || p.photometric === 'YBR_ICT') && codec !== 'jpeg-2000') return `photometric interpretation ${p.photometric} exists only in JPEG 2000 files`;
  return undefined;
}

/** The region a crop takes and the pixel spacing that goes with it. */
export interface FrameGeometry {
  /** In original pixel coordinates; absent when the whole frame is used. */
  crop?: { x: number; y: number; width: number; height: number };
  /** [row, column] mm per pixel. */
  spacing?: [number, number];
}

/**
 * Crop rule: among the ultrasound regions whose spatial format is 2D tissue (1), clipped to the frame, the one with
 * the largest area (the first of equals); none → the whole frame. Spacing: that region's Physical Delta Y/X when both
 * units are cm (×10 → mm), else Pixel Spacing (0028,0030), else none.
 */
export function frameGeometry(header: DicomHeader): FrameGeometry {
  const { rows, columns } = header.pixel;
  let best: { region: UltrasoundRegion; crop: NonNullable<FrameGeometry['crop']> } | undefined;
  for (const region of header.regions) {
    if (region.spatialFormat !== 1) continue;
    const x0 = Math.max(0, region.minX);
    const y0 = Math.max(0, region.minY);
    const x1 = Math.min(columns - 1, region.maxX);
    const y1 = Math.min(rows - 1, region.maxY);
    if (x1 < x0 || y1 < y0) continue;
    const crop = { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
    if (!best || crop.width * crop.height > best.crop.width * best.crop.height) best = { region, crop };
  }
  const region = best?.region;
  const cm = 3;
  const regionSpacing = region && region.unitsX === cm && region.unitsY === cm && positive(Math.abs(region.deltaX ?? 0)) && positive(Math.abs(region.deltaY ?? 0))
    ? [Math.abs(region.deltaY!) * 10, Math.abs(region.deltaX!) * 10] as [number, number]
    : undefined;
  const spacing = regionSpacing ?? header.pixelSpacing;
  return { ...(best ? { crop: best.crop } : {}), ...(spacing ? { spacing } : {}) };
}

/** Cuts a region out of a grey image. */
export function cropGrey(image: GreyImage, crop: FrameGeometry['crop']): GreyImage {
  if (!crop) return image;
  return { width: crop.width, height: crop.height, data: cropPlane(image.data, image.width, crop) as Float32Array };
}

/** Cuts a region out of a row-major plane (image or mask) of the given width. */
export function cropPlane<T extends Float32Array | Uint8Array>(data: T, width: number, crop: NonNullable<FrameGeometry['crop']>): T {
  const out = new (data.constructor as new (length: number) => T)(crop.width * crop.height);
  for (let y = 0; y < crop.height; y++) {
    const start = (crop.y + y) * width + crop.x;
    out.set(data.subarray(start, start + crop.width), y * crop.width);
  }
  return out;
}

interface Palette {
  red: Float32Array;
  green: Float32Array;
  blue: Float32Array;
  firstMapped: number;
}

/** A parsed DICOM image whose frames decode on demand. */
export class DicomImage {
  readonly header: DicomHeader;
  private readonly syntax: TransferSyntax;
  private swappedNative?: Uint8Array;
  private palette?: Palette;

  constructor(private readonly dataSet: DataSet) {
    this.header = checkedHeader(dataSet);
    const problem = unsupportedReason(this.header);
    if (problem) throw new DicomFormatError(problem);
    this.syntax = supportedTransferSyntaxes[this.header.transferSyntaxUid];
    if (this.header.pixel.photometric === 'PALETTE COLOR') this.palette = this.readPalette();
  }

  /** Frame `frameNumber` (1-based, as DICOM numbers frames) as grey in [0, 1] at the full frame size. */
  async frame(frameNumber: number): Promise<GreyImage> {
    const { rows, columns, frames } = this.header.pixel;
    if (!Number.isInteger(frameNumber) || frameNumber < 1 || frameNumber > frames) {
      throw new DicomFormatError(`frame ${frameNumber} does not exist (the file has ${frames})`);
    }
    const decoded = this.syntax.codec === 'native' ? this.nativeFrame(frameNumber - 1) : await this.encapsulatedFrame(frameNumber - 1);
    return { width: columns, height: rows, data: this.toGrey(decoded) };
  }

  private pixelElement(): Element {
    const element = this.dataSet.elements[pixelDataTag];
    if (!element) throw new DicomFormatError('the file has no Pixel Data (7FE0,0010)');
    return element;
  }

  private nativeFrame(index: number): DecodedFrame {
    const p = this.header.pixel;
    const element = this.pixelElement();
    if (element.encapsulatedPixelData) throw new DicomFormatError('pixel data is encapsulated but the transfer syntax is uncompressed');
    const ybr422 = p.photometric === 'YBR_FULL_422';
    const bytesPerSample = p.bitsAllocated / 8;
    const frameBytes = p.rows * p.columns * (ybr422 ? 2 : p.samplesPerPixel) * bytesPerSample;
    const bytes = this.dataSet.byteArray;
    const available = Math.min(element.length, bytes.length - element.dataOffset);
    const needed = frameBytes * p.frames;
    if (available < needed) throw new DicomFormatError(`pixel data is truncated: ${Math.max(0, available)} of ${needed} bytes present`);
    const start = element.dataOffset + index * frameBytes;
    let values: Uint8Array | Uint16Array;
    if (bytesPerSample === 1) {
      // Big endian OW swaps bytes in 16-bit words, so 8-bit samples come in swapped pairs.
      const source = this.syntax.bigEndian && element.vr === 'OW' ? this.swappedPixelBytes(element) : bytes;
      const offset = source === bytes ? start : index * frameBytes;
      values = source.subarray(offset, offset + frameBytes);
    } else {
      const view = new DataView(bytes.buffer, bytes.byteOffset + start, frameBytes);
      const wide = new Uint16Array(frameBytes / 2);
      const little = !this.syntax.bigEndian;
      for (let i = 0; i < wide.length; i++) wide[i] = view.getUint16(i * 2, little);
      values = wide;
    }
    return { width: p.columns, height: p.rows, components: p.samplesPerPixel, values, planar: p.planar, rgb: false };
  }

  private swappedPixelBytes(element: Element): Uint8Array {
    if (!this.swappedNative) {
      const source = this.dataSet.byteArray.subarray(element.dataOffset, element.dataOffset + element.length);
      const swapped = new Uint8Array(source.length);
      for (let i = 0; i + 1 < source.length; i += 2) {
        swapped[i] = source[i + 1];
        swapped[i + 1] = source[i];
      }
      this.swappedNative = swapped;
    }
    return this.swappedNative;
  }

  private frameFragments(index: number): Uint8Array {
    const element = this.pixelElement();
    const fragments = element.fragments ?? [];
    if (!element.encapsulatedPixelData || fragments.length === 0) throw new DicomFormatError('compressed pixel data has no fragments');
    const { frames } = this.header.pixel;
    try {
      if (frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(this.dataSet, element, 0, fragments.length);
      if (element.basicOffsetTable && element.basicOffsetTable.length > 0) {
        if (element.basicOffsetTable.length !== frames) throw new DicomFormatError(`the basic offset table lists ${element.basicOffsetTable.length} frames, the header ${frames}`);
        return dicomParser.readEncapsulatedImageFrame(this.dataSet, element, index);
      }
      if (fragments.length === frames) return dicomParser.readEncapsulatedPixelDataFromFragments(this.dataSet, element, index, 1);
      if (this.syntax.codec !== 'rle') {
        // JPEG-family frames start with an SOI marker: dicom-parser rebuilds the offset table from them.
        const table = dicomParser.createJPEGBasicOffsetTable(this.dataSet, element);
        if (table.length !== frames) throw new DicomFormatError(`${fragments.length} fragments hold ${table.length} JPEG images, the header says ${frames} frames`);
        return dicomParser.readEncapsulatedImageFrame(this.dataSet, element, index, table);
      }
    } catch (error) {
      if (error instanceof DicomFormatError) throw error;
      throw new DicomFormatError(`frame ${index + 1}'s compressed data cannot be read: ${libraryMessage(error)}`);
    }
    throw new DicomFormatError(`${fragments.length} fragments and no offset table: which belong to which of the ${frames} frames is unknown`);
  }

  private async encapsulatedFrame(index: number): Promise<DecodedFrame> {
    const p = this.header.pixel;
    const fragment = this.frameFragments(index);
    let decoded: DecodedFrame;
    try {
      switch (this.syntax.codec) {
        case 'rle':
          decoded = decodeRle(fragment, p.rows, p.columns, p.samplesPerPixel, p.bitsAllocated);
          break;
        case 'jpeg-baseline':
          decoded = await decodeJpegBaseline(fragment, p.photometric);
          break;
        case 'jpeg-lossless':
          decoded = decodeJpegLossless(fragment);
          break;
        case 'jpeg-ls':
          decoded = await decodeJpegLs(fragment);
          break;
        default:
          decoded = await decodeJpeg2000(fragment, p.photometric);
      }
    } catch (error) {
      if (error instanceof CodecError) throw new DicomFormatError(`frame ${index + 1}: ${error.message}`);
      throw error;
    }
    if (decoded.width !== p.columns || decoded.height !== p.rows) {
      throw new DicomFormatError(`frame ${index + 1} decodes to ${decoded.width}×${decoded.height}; the header says ${p.columns}×${p.rows}`);
    }
    const wanted = p.photometric === 'MONOCHROME1' || p.photometric === 'MONOCHROME2' || p.photometric === 'PALETTE COLOR' ? 1 : 3;
    if (decoded.components !== wanted) {
      throw new DicomFormatError(`frame ${index + 1} decodes to ${decoded.components} component(s); ${p.photometric} needs ${wanted}`);
    }
    return decoded;
  }

  private readPalette(): Palette {
    const lut = (colour: 'red' | 'green' | 'blue', descriptorTag: string, dataTag: string, segmentedTag: string) => {
      const entries = this.dataSet.uint16(descriptorTag, 0);
      const bits = this.dataSet.uint16(descriptorTag, 2);
      const data = this.dataSet.elements[dataTag];
      const segmented = this.dataSet.elements[segmentedTag];
      if (entries === undefined || bits === undefined || (!data && !segmented)) {
        throw new DicomFormatError(`PALETTE COLOR without a complete ${colour} lookup table`);
      }
      const count = entries === 0 ? 65536 : entries;
      const scale = 2 ** bits - 1;
      const table = new Float32Array(count);
      const bytes = this.dataSet.byteArray;
      const parser = this.dataSet.byteArrayParser;
      if (!data) {
        const words = Array.from({ length: Math.floor(segmented!.length / 2) }, (_, i) => parser.readUint16(bytes, segmented!.dataOffset + 2 * i));
        const values = expandSegmentedLut(words, count);
        for (let i = 0; i < count; i++) table[i] = Math.min(1, values[i] / scale);
      } else if (data.length === count) {
        for (let i = 0; i < count; i++) table[i] = bytes[data.dataOffset + i] / scale;
      } else if (data.length >= count * 2 && data.dataOffset + count * 2 <= bytes.length) {
        for (let i = 0; i < count; i++) table[i] = Math.min(1, parser.readUint16(bytes, data.dataOffset + 2 * i) / scale);
      } else {
        throw new DicomFormatError(`the ${colour} palette lookup table has ${data.length} bytes for ${count} entries`);
      }
      return table;
    };
    const firstMappedRaw = this.dataSet.uint16('x00281101', 1) ?? 0;
    const firstMapped = this.header.pixel.signed && firstMappedRaw >= 32768 ? firstMappedRaw - 65536 : firstMappedRaw;
    return {
      red: lut('red', 'x00281101', 'x00281201', 'x00281221'),
      green: lut('green', 'x00281102', 'x00281202', 'x00281222'),
      blue: lut('blue', 'x00281103', 'x00281203', 'x00281223'),
      firstMapped,
    };
  }

  /** Stored values (container bits → Bits Stored, sign-extended when Pixel Representation is 1). */
  private storedValues(frame: DecodedFrame, component: number): Int32Array {
    const p = this.header.pixel;
    const pixels = frame.width * frame.height;
    const ybr422 = p.photometric === 'YBR_FULL_422' && this.syntax.codec === 'native';
    // Native data keeps the stored bits at High Bit; decoders return them from bit 0.
    const shift = this.syntax.codec === 'native' ? p.highBit + 1 - p.bitsStored : 0;
    const mask = p.bitsStored >= 32 ? -1 : (1 << p.bitsStored) - 1;
    const signBit = 1 << (p.bitsStored - 1);
    const signed = p.signed && p.photometric.startsWith('MONOCHROME');
    const out = new Int32Array(pixels);
    const { values } = frame;
    for (let i = 0; i < pixels; i++) {
      let at: number;
      if (ybr422) {
        // Y0 Y1 Cb Cr for each pair of pixels in a row (only Y is read).
        const row = Math.floor(i / frame.width);
        const column = i - row * frame.width;
        at = row * frame.width * 2 + (column >> 1) * 4 + (column & 1);
      } else {
        at = frame.planar ? component * pixels + i : i * frame.components + component;
      }
      let v = (values[at] >> shift) & mask;
      if (signed && (v & signBit) !== 0) v -= mask + 1;
      out[i] = v;
    }
    return out;
  }

  private toGrey(frame: DecodedFrame): Float32Array {
    const p = this.header.pixel;
    const pixels = frame.width * frame.height;
    const out = new Float32Array(pixels);
    const full = 2 ** p.bitsStored - 1;
    const photometric = frame.rgb ? 'RGB' : p.photometric;
    if (photometric === 'MONOCHROME1' || photometric === 'MONOCHROME2') {
      const stored = this.storedValues(frame, 0);
      const toUnit = this.monochromeMapping();
      const invert = photometric === 'MONOCHROME1';
      for (let i = 0; i < pixels; i++) {
        const g = toUnit(stored[i]);
        out[i] = invert ? 1 - g : g;
      }
    } else if (photometric === 'PALETTE COLOR') {
      const palette = this.palette!;
      const stored = this.storedValues(frame, 0);
      const last = palette.red.length - 1;
      for (let i = 0; i < pixels; i++) {
        const index = Math.min(last, Math.max(0, stored[i] - palette.firstMapped));
        out[i] = luma(palette.red[index], palette.green[index], palette.blue[index]);
      }
    } else if (photometric === 'YBR_FULL' || photometric === 'YBR_FULL_422') {
      const y = this.storedValues(frame, 0);
      for (let i = 0; i < pixels; i++) out[i] = y[i] / full;
    } else {
      const [r, g, b] = [0, 1, 2].map((c) => this.storedValues(frame, c));
      for (let i = 0; i < pixels; i++) out[i] = luma(r[i] / full, g[i] / full, b[i] / full);
    }
    return out;
  }

  /** Stored monochrome value → [0, 1]: the VOI window if the file has one, else the Bits Stored range. */
  private monochromeMapping(): (stored: number) => number {
    const p = this.header.pixel;
    const { window, rescale } = this.header;
    if (window) {
      const { center: c, width: w, fn } = window;
      const slope = rescale?.slope ?? 1;
      const intercept = rescale?.intercept ?? 0;
      const clamp = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);
      if (fn === 'SIGMOID') return (s) => 1 / (1 + Math.exp((-4 * (s * slope + intercept - c)) / w));
      if (fn === 'LINEAR_EXACT') return (s) => clamp((s * slope + intercept - c) / w + 0.5);
      if (w <= 1) return (s) => (s * slope + intercept > c - 0.5 ? 1 : 0);
      return (s) => clamp((s * slope + intercept - (c - 0.5)) / (w - 1) + 0.5);
    }
    const min = p.signed ? -(2 ** (p.bitsStored - 1)) : 0;
    const range = 2 ** p.bitsStored - 1;
    return (s) => (s - min) / range;
  }
}

/**
 * Segmented palette LUT data (PS3.3 C.7.9.2): discrete segments (0, n, n values) and linear segments (1, n, end value:
 * n entries ramping from the previous value to it); indirect segments (2) replay earlier ones and are rare, so refused.
 */
function expandSegmentedLut(words: readonly number[], entries: number): Float64Array {
  const out = new Float64Array(entries);
  let written = 0;
  let i = 0;
  while (i + 1 < words.length && written < entries) {
    const [type, length] = [words[i], words[i + 1]];
    if (type === 0) {
      for (let k = 0; k < length && written < entries; k++) out[written++] = words[i + 2 + k];
      i += 2 + length;
    } else if (type === 1) {
      if (written === 0) throw new DicomFormatError('a segmented palette lookup table starts with a linear segment');
      const start = out[written - 1];
      const end = words[i + 2];
      for (let k = 1; k <= length && written < entries; k++) out[written++] = start + ((end - start) * k) / length;
      i += 3;
    } else {
      throw new DicomFormatError(`segmented palette lookup tables with segment type ${type} (indirect) are not supported`);
    }
  }
  if (written < entries) throw new DicomFormatError(`a segmented palette lookup table gives ${written} of its ${entries} entries`);
  return out;
}

/** Rec. 601 luma of RGB in [0, 1]; the Y of YBR_FULL is this same sum. */
function luma(r: number, g: number, b: number): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

/** Parses a whole DICOM file (pixel data included). Throws DicomFormatError for files this reader cannot import. */
export function readDicom(bytes: Uint8Array): DicomImage {
  return new DicomImage(parse(bytes, false));
}
