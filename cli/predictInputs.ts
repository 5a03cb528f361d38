/**
 * What `predict --input DIR` reads: the folder's kind (PNG/JPEG/TIFF images, a CAMUS release, DICOM files — detected,
 * or `--format`), one plan item per frame, and the frames themselves, decoded as the importers decode them (grey in
 * [0, 1]; DICOM frames cut to their ultrasound region by `frameGeometry`) and quantised to 16 bits, which is also how
 * they are uploaded for workers, so both paths see the same pixels.
 *
 * - png: every image except `*_mask.*` files; id = the path without extension (`/` → `__`); video = the part before
 *   `frame<digits>` in the name (`video003_frame012` → `video003`), else the folder, else the image (the pairs
 *   importer's rule).
 * - dicom: every frame of every file; id = `<path>_f0001`…; video = the file.
 * - camus: per patient and view, the frames of its `half_sequence` (or `sequence`) volume, or else its ED and ES
 *   images; ids as the CAMUS importer makes them (`patient0001_2CH_hs003`, `patient0001_2CH_ED`); video = patient + view.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { PixelRegion, PredictInputFormat, PredictItem } from '../contracts';
import { DicomFormatError, type DicomHeader, type DicomImage, frameGeometry, readDicom, readDicomHeader, unsupportedReason } from '../data/formats/dicom';
import { readMetaImage, type MetaElementType } from '../data/formats/metaImage';
import { readNifti } from '../data/formats/nifti';
import { readDicomFileHeader } from '../data/import/dicom';
import { listFiles, relativePosix } from '../data/import/files';
import { itemIdFromPath } from '../data/import/importCore';
import { decodeImageFile, normaliseIntensities } from '../data/import/preprocess';
import { type FrameSource, fromUint16, type GreyFrame, toUint16 } from '../ml/predict';

export interface InputSkip {
  file: string;
  reason: string;
}

export interface InputScan {
  format: PredictInputFormat;
  items: PredictItem[];
  skipped: InputSkip[];
}

const imageExtensions = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff']);
const dicomExtensions = /\.(dcm|dicom|dic|ima)$/i;
const camusVolume = /(^|\/)(patient\d+)\/\2_(2CH|4CH)_(ED|ES|half_sequence|sequence)\.(mhd|nii|nii\.gz)$/i;

const withoutExtension = (relative: string) => relative.replace(/(\.nii)?\.[^./]+$/, '');

async function hasDicomMarker(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const head = new Uint8Array(132);
    const { bytesRead } = await handle.read(head, 0, 132, 0);
    return bytesRead === 132 && String.fromCharCode(...head.subarray(128)) === 'DICM';
  } finally {
    await handle.close();
  }
}

/** The folder's kind from its files; mixed folders must say which with `--format`. */
async function detectFormat(dir: string, files: readonly string[]): Promise<PredictInputFormat | { mixed: PredictInputFormat[] } | undefined> {
  const kinds = new Set<PredictInputFormat>();
  for (const file of files) {
    const relative = relativePosix(dir, file);
    if (camusVolume.test(relative)) kinds.add('camus');
    else if (dicomExtensions.test(file)) kinds.add('dicom');
    else if (imageExtensions.has(path.extname(file).toLowerCase())) kinds.add('png');
    else if (!/\.(raw|zraw|cfg|txt|csv|json|md|nii|gz|mhd)$/i.test(file) && (await hasDicomMarker(file))) kinds.add('dicom');
  }
  if (kinds.size > 1) return { mixed: [...kinds] };
  return [...kinds][0];
}

function pairsGroup(relative: string): { group: string; frame?: number } {
  const stem = withoutExtension(relative);
  const match = /^(.+?)[_-]?frame[_-]?(\d+)$/i.exec(path.posix.basename(stem));
  const folder = path.posix.dirname(stem);
  if (match) return { group: folder === '.' ? match[1] : `${folder}/${match[1]}`, frame: Number(match[2]) };
  return { group: folder === '.' ? stem : folder };
}

async function stampOf(file: string): Promise<string> {
  const stat = await fs.stat(file);
  return `${stat.size}:${Math.round(stat.mtimeMs)}`;
}

async function scanImages(dir: string, files: readonly string[]): Promise<InputScan> {
  const items: PredictItem[] = [];
  const skipped: InputSkip[] = [];
  const images = files.filter((f) => imageExtensions.has(path.extname(f).toLowerCase()) && !/_mask$/i.test(path.basename(f, path.extname(f))));
  for (const [index, file] of images.entries()) {
    const relative = relativePosix(dir, file);
    let width: number | undefined;
    let height: number | undefined;
    try {
      ({ width, height } = await sharp(file).metadata());
    } catch (error) {
      skipped.push({ file: relative, reason: `cannot read image: ${(error as Error).message.trim()}` });
      continue;
    }
    if (!width || !height) {
      skipped.push({ file: relative, reason: 'the image has no size' });
      continue;
    }
    const { group, frame } = pairsGroup(relative);
    items.push({
      id: itemIdFromPath(withoutExtension(relative)), group, order: frame ?? index, originalSize: [height, width],
      source: { kind: 'file', path: file, format: 'png', frame: 1, stamp: await stampOf(file) },
    });
  }
  return { format: 'png', items, skipped };
}

async function scanDicom(dir: string, files: readonly string[]): Promise<InputScan> {
  const items: PredictItem[] = [];
  const skipped: InputSkip[] = [];
  for (const file of files) {
    const relative = relativePosix(dir, file);
    if (!dicomExtensions.test(file) && !(await hasDicomMarker(file))) continue;
    let header: DicomHeader;
    try {
      header = await readDicomFileHeader(file);
    } catch (error) {
      skipped.push({ file: relative, reason: error instanceof DicomFormatError ? error.message : `cannot read the file (${(error as Error).message})` });
      continue;
    }
    const problem = unsupportedReason(header);
    if (problem) {
      skipped.push({ file: relative, reason: problem });
      continue;
    }
    const geometry = frameGeometry(header);
    const base = itemIdFromPath(withoutExtension(relative));
    const stamp = await stampOf(file);
    for (let frame = 1; frame <= header.pixel.frames; frame++) {
      items.push({
        id: `${base}_f${String(frame).padStart(4, '0')}`, group: base, order: frame, originalSize: [header.pixel.rows, header.pixel.columns],
        ...(geometry.crop ? { crop: geometry.crop as PixelRegion } : {}),
        ...(geometry.spacing ? { spacing: geometry.spacing } : {}),
        source: { kind: 'file', path: file, format: 'dicom', frame, stamp },
      });
    }
  }
  return { format: 'dicom', items, skipped };
}

/** Integer voxel types' maxima (intensity scaling as the CAMUS importer does it). */
const metaTypeMax: Partial<Record<MetaElementType, number>> = {
  MET_UCHAR: 255, MET_CHAR: 127, MET_USHORT: 65535, MET_SHORT: 32767, MET_UINT: 2 ** 32 - 1, MET_INT: 2 ** 31 - 1,
};
const niftiTypeMax: Record<string, number | undefined> = { uint8: 255, int8: 127, uint16: 65535, int16: 32767, uint32: 2 ** 32 - 1, int32: 2 ** 31 - 1 };

interface Volume {
  width: number;
  height: number;
  frames: number;
  /** [row, column] mm. */
  spacing?: [number, number];
  /** [0, 1], frame after frame. */
  data: Float32Array;
}

async function readVolume(file: string): Promise<Volume> {
  const image = file.endsWith('.mhd') ? await readMetaImage(file) : await readNifti(file);
  const typeMax = 'elementType' in image ? metaTypeMax[image.elementType] : niftiTypeMax[image.datatype];
  const [width, height] = image.dims;
  const frames = image.dims.slice(2).reduce((a, b) => a * b, 1);
  return {
    width, height: height ?? 1, frames,
    ...(image.spacing.length >= 2 ? { spacing: [image.spacing[1], image.spacing[0]] as [number, number] } : {}),
    data: normaliseIntensities(image.data, typeMax),
  };
}

async function scanCamus(dir: string, files: readonly string[]): Promise<InputScan> {
  const items: PredictItem[] = [];
  const skipped: InputSkip[] = [];
  const volumes = new Map<string, Map<string, string>>();
  for (const file of files) {
    const match = camusVolume.exec(relativePosix(dir, file));
    if (!match) continue;
    const key = `${match[2]}_${match[3].toUpperCase()}`;
    volumes.set(key, (volumes.get(key) ?? new Map()).set(match[4].toLowerCase(), file));
  }
  for (const [video, kinds] of [...volumes].sort(([a], [b]) => a.localeCompare(b))) {
    const sequence = kinds.get('half_sequence') ?? kinds.get('sequence');
    const chosen: Array<[string, string]> = sequence ? [[kinds.has('half_sequence') ? 'hs' : 'seq', sequence]] : [['ED', kinds.get('ed')!], ['ES', kinds.get('es')!]];
    for (const [kind, file] of chosen) {
      if (!file) continue;
      const relative = relativePosix(dir, file);
      let volume: Volume;
      try {
        volume = await readVolume(file);
      } catch (error) {
        skipped.push({ file: relative, reason: (error as Error).message.replace(`${path.basename(file)}: `, '') });
        continue;
      }
      const stamp = await stampOf(file);
      const isSequence = kind === 'hs' || kind === 'seq';
      for (let t = 0; t < (isSequence ? volume.frames : 1); t++) {
        items.push({
          id: isSequence ? `${video}_${kind}${String(t).padStart(3, '0')}` : `${video}_${kind}`,
          group: video, order: isSequence ? t : kind === 'ED' ? 0 : 1, originalSize: [volume.height, volume.width],
          ...(volume.spacing ? { spacing: volume.spacing } : {}),
          source: { kind: 'file', path: file, format: 'camus', frame: t + 1, stamp },
        });
      }
    }
  }
  return { format: 'camus', items, skipped };
}

/** A folder that holds images of several kinds: `--format` must say which to read. */
export class MixedInputError extends Error {}

/** Lists the folder's frames as plan items (sources are local files). Throws a message when the kind is unclear. */
export async function scanInputFolder(dir: string, format?: PredictInputFormat): Promise<InputScan> {
  const files = await listFiles(dir);
  const kind = format ?? (await detectFormat(dir, files));
  if (kind === undefined) throw new Error(`${dir} holds no images: PNG/JPEG/TIFF files, a CAMUS release or DICOM files`);
  if (typeof kind === 'object') throw new MixedInputError(`${dir} holds ${kind.mixed.join(' and ')} files; say which to read with --format`);
  const scan = kind === 'png' ? await scanImages(dir, files) : kind === 'dicom' ? await scanDicom(dir, files) : await scanCamus(dir, files);
  const seen = new Set<string>();
  for (const item of scan.items) {
    if (seen.has(item.id)) throw new Error(`two inputs map to the output name '${item.id}'; rename one of them`);
    seen.add(item.id);
  }
  return scan;
}

/** Quantised as an uploaded 16-bit PNG is. */
function quantised(frame: GreyFrame): GreyFrame {
  return fromUint16(toUint16(frame.data), frame.width, frame.height);
}

/** Frames of local files, decoded in this process; the last few DICOM files and volumes stay decoded. */
export function localFrameSource(): FrameSource {
  const dicoms = new Map<string, Promise<DicomImage>>();
  const volumes = new Map<string, Promise<Volume>>();
  const remember = <T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>) => {
    let value = cache.get(key);
    if (!value) {
      if (cache.size >= 2) cache.delete(cache.keys().next().value!);
      cache.set(key, (value = load()));
    }
    return value;
  };
  return {
    async load(item: PredictItem) {
      const { source } = item;
      if (source.kind !== 'file') throw new Error(`Image '${item.id}' is not a local file.`);
      if (source.format === 'png') return { frame: quantised(await decodeImageFile(await fs.readFile(source.path))) };
      if (source.format === 'dicom') {
        const dicom = await remember(dicoms, source.path, async () => readDicom(await fs.readFile(source.path)));
        return { frame: quantised(await dicom.frame(source.frame)) };
      }
      const volume = await remember(volumes, source.path, () => readVolume(source.path));
      const pixels = volume.width * volume.height;
      const data = volume.data.subarray((source.frame - 1) * pixels, source.frame * pixels);
      return { frame: quantised({ width: volume.width, height: volume.height, data }) };
    },
  };
}
