/**
 * Imports a folder of DICOM ultrasound files (US Image, US Multi-frame Image, Secondary Capture): every frame (or a
 * selection) of every file, cropped to the ultrasound region when the file says where it is, resized, with
 * optional PNG masks from a second folder.
 *
 * - Group = the series (one video), so per-video logic keeps working; split group = the study, so the frames of
 *   one study are never on both sides of the train/test split. A file without a Series Instance UID is its own
 *   group (`instance-<hash>`); without a Study Instance UID its split group is its group.
 * - Privacy: no attribute value of the files (names, ids, dates, institution, UIDs…) and no file or folder name is
 *   stored, returned or put in a message. Item ids, groups and split groups are salted sha256 hashes of the UIDs
 *   (`s<series>_i<instance>_f0003`, `series-<hash>`, `study-<hash>`); a file is named by `file-<hash>` (a salted
 *   hash of its path relative to `dir`; paths often carry patient names), a mask by `mask-<hash>`. These tokens are
 *   the items' `source` and the `file` of every skip; `locateDicomTokens` turns them back into paths locally.
 * - A file is imported whole or not at all: a damaged frame, an unreadable or misfitting mask skips the file. Files
 *   sharing a SOP Instance UID are copies of one image: the first (in path order) is imported, the others reported.
 *
 * Mask names (PNG, anywhere under `masksDir`, matched by file name; the frame number is 1-based as in DICOM and may
 * be zero-padded): `<file stem>_<frame>.png` or `<SOPInstanceUID>_<frame>.png`; for a single-frame file also
 * `<file stem>.png` or `<SOPInstanceUID>.png`. The file stem is the DICOM file's name without a `.dcm`, `.dicom`,
 * `.dic` or `.ima` extension (other names are kept whole: `1.2.3.4` is a UID-like name, not an extension).
 * Masks are at the original frame size, binarised like the pairs importer's (`label` picks one label value), then
 * cut and resized like their frames. A mask matching several frames, or a frame matched by several masks, is not
 * used and is reported. Frames with a mask are always imported, also when the frame selection leaves them out.
 */
import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from '../../store/blobStore';
import { cropGrey, cropPlane, DicomFormatError, frameGeometry, readDicom, readDicomHeader, unsupportedReason, type DicomHeader, type FrameGeometry } from '../formats/dicom';
import { listFiles, relativePosix } from './files';
import { fingerprintInputs, runImport, type ImportCandidate, type ImportSkip, type ImportSummary, type LoadedItem, type SplitOptions } from './importCore';
import { binariseMask, decodeMaskFile, InputFileError, parseSize, resizeImage, resizeMask } from './preprocess';

export interface DicomFrameSelection {
  /** Every Nth frame, starting at frame 1 (1, 1 + N, 1 + 2N, …). */
  every?: number;
  /** These frame numbers (1-based); numbers beyond a file's frame count are ignored for that file. */
  list?: number[];
}

export interface DicomImportOptions extends SplitOptions {
  dir: string;
  /**
   * Secret mixed into every hash (ids, groups, file tokens): at least 8 characters, kept at the site and never put
   * in the store. The same salt gives the same ids; without it a hash cannot be checked against a guessed UID.
   */
  salt: string;
  /** [height, width] or one number (default 256). */
  size?: number | [number, number];
  /** Default: every frame. */
  frames?: DicomFrameSelection;
  /** Folder of PNG masks (see the module comment for names); without it every frame is unlabelled. */
  masksDir?: string;
  /** Mask value of the structure in multi-label masks. */
  label?: number;
  name?: string;
  /**
   * Only these files under `dir` (absolute paths) instead of every file there: the DICOMweb import's cache holds the
   * instances of earlier selections too.
   */
  files?: readonly string[];
  /** Recorded in the manifest (default 'dicom'); the DICOMweb import says 'dicomweb'. */
  source?: string;
}

const dicomExtensions = /\.(dcm|dicom|dic|ima)$/i;
const headerProbeBytes = 256 * 1024;
const hashLength = 16;

function saltedHash(salt: string, value: string): string {
  return createHash('sha256').update(salt).update('\0').update(value).digest('hex').slice(0, hashLength);
}

/** The hash that stands for a DICOM UID in item ids, groups and split groups. */
export function dicomUidHash(salt: string, uid: string): string {
  return saltedHash(salt, uid);
}

/** The split group of a study's frames: `study-<study UID hash>`. */
export function dicomStudyGroup(salt: string, studyUid: string): string {
  return `study-${saltedHash(salt, studyUid)}`;
}

/** The item id of one frame: `s<series hash>_i<instance hash>_f0003` (the instance hash stands in for a missing series). */
export function dicomItemId(seriesHash: string, instanceHash: string, frame: number): string {
  return `s${seriesHash}_i${instanceHash}_f${String(frame).padStart(4, '0')}`;
}

const itemIdPattern = /^s[0-9a-f]+_i([0-9a-f]+)_f(\d+)$/;

/** The instance hash and frame number a DICOM item id names; undefined for another importer's ids. */
export function dicomItemFrame(id: string): { instanceHash: string; frame: number } | undefined {
  const match = itemIdPattern.exec(id);
  return match ? { instanceHash: match[1], frame: Number(match[2]) } : undefined;
}

/** The token naming a DICOM file (path relative to the import folder) in sources and skip lists. */
export function dicomFileToken(salt: string, relativePath: string): string {
  return `file-${saltedHash(salt, `path:${relativePath}`)}`;
}

/** The token naming a mask file (path relative to the masks folder) in skip lists. */
export function dicomMaskToken(salt: string, relativePath: string): string {
  return `mask-${saltedHash(salt, `mask:${relativePath}`)}`;
}

/**
 * Local lookup for the tokens of an import's skip list and items: token → absolute path. It reads only folder
 * listings; run it where the files are, never store its answer beside the dataset.
 */
export async function locateDicomTokens(options: { dir: string; salt: string; masksDir?: string }): Promise<Map<string, string>> {
  const dir = path.resolve(options.dir);
  const out = new Map<string, string>();
  for (const file of await listFiles(dir)) out.set(dicomFileToken(options.salt, relativePosix(dir, file)), file);
  if (options.masksDir) {
    const masksDir = path.resolve(options.masksDir);
    for (const file of await listFiles(masksDir)) out.set(dicomMaskToken(options.salt, relativePosix(masksDir, file)), file);
  }
  return out;
}

function checkSelection(frames: DicomFrameSelection | undefined): void {
  if (!frames) return;
  if (frames.every !== undefined && frames.list !== undefined) throw new Error('frames: give either every or list, not both.');
  if (frames.every !== undefined && (!Number.isInteger(frames.every) || frames.every < 1)) {
    throw new Error(`frames.every must be a whole number ≥ 1, got ${frames.every}.`);
  }
  if (frames.list !== undefined && (frames.list.length === 0 || frames.list.some((n) => !Number.isInteger(n) || n < 1))) {
    throw new Error(`frames.list must hold frame numbers ≥ 1 (DICOM numbers frames from 1), got [${frames.list.join(', ')}].`);
  }
}

function selectedFrames(frames: DicomFrameSelection | undefined, count: number): number[] {
  if (frames?.list) return [...new Set(frames.list)].filter((n) => n <= count).sort((a, b) => a - b);
  const every = frames?.every ?? 1;
  const out: number[] = [];
  for (let n = 1; n <= count; n += every) out.push(n);
  return out;
}

/** Reads the header from the first bytes of a file, or the whole file when the header is longer (import and predict). */
export async function readDicomFileHeader(file: string): Promise<DicomHeader> {
  const handle = await open(file, 'r');
  let head: Uint8Array;
  let size: number;
  try {
    size = (await handle.stat()).size;
    head = new Uint8Array(Math.min(size, headerProbeBytes));
    await handle.read(head, 0, head.length, 0);
  } finally {
    await handle.close();
  }
  if (size > head.length) {
    try {
      const header = readDicomHeader(head);
      if (header.hasPixelData) return header;
    } catch (error) {
      if (error instanceof DicomFormatError && /DICM/.test(error.message)) throw error;
    }
    head = await readFile(file);
  }
  return readDicomHeader(head);
}

interface MaskIndex {
  /** Mask name without `.png` → files. */
  byName: Map<string, string[]>;
  /** `<prefix>\0<frame>` → files, for names ending in `_<digits>`. */
  byFrame: Map<string, string[]>;
}

function indexMasks(files: readonly string[]): MaskIndex {
  const byName = new Map<string, string[]>();
  const byFrame = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, key: string, file: string) => map.set(key, [...(map.get(key) ?? []), file]);
  for (const file of files) {
    const name = path.basename(file).replace(/\.png$/i, '');
    add(byName, name, file);
    const match = /^(.+)_(\d+)$/.exec(name);
    if (match) add(byFrame, `${match[1]}\0${Number(match[2])}`, file);
  }
  return { byName, byFrame };
}

interface FileEntry {
  file: string;
  token: string;
  header: DicomHeader;
  /** Frame number → mask file. */
  masks: Map<number, string>;
}

export async function importDicom(store: BlobStore, options: DicomImportOptions): Promise<ImportSummary> {
  const dir = path.resolve(options.dir);
  const size = parseSize(options.size);
  const { salt } = options;
  if (typeof salt !== 'string' || salt.length < 8) throw new Error('salt must be a secret string of at least 8 characters: it keeps the hashed UIDs from being matched to guessed ones.');
  checkSelection(options.frames);
  const masksDir = options.masksDir ? path.resolve(options.masksDir) : undefined;
  const insideMasks = (file: string) => masksDir !== undefined && (file === masksDir || file.startsWith(masksDir + path.sep));
  const chosen = options.files
    ? [...new Set(options.files.map((f) => path.resolve(f)))].sort((a, b) => relativePosix(dir, a).localeCompare(relativePosix(dir, b)))
    : await listFiles(dir);
  const outside = chosen.find((f) => relativePosix(dir, f).startsWith('../'));
  if (outside) throw new Error(`files must lie under dir (${dir}); ${outside} does not.`);
  const files = chosen.filter((f) => !insideMasks(f));
  const maskFiles = masksDir ? (await listFiles(masksDir)).filter((f) => /\.png$/i.test(f)) : [];
  const fileToken = (file: string) => dicomFileToken(salt, relativePosix(dir, file));
  const maskToken = (file: string) => dicomMaskToken(salt, relativePosix(masksDir!, file));

  const skipped: ImportSkip[] = [];
  const entries: FileEntry[] = [];
  const firstWithInstance = new Map<string, string>();
  for (const file of files) {
    const token = fileToken(file);
    let header: DicomHeader;
    try {
      header = await readDicomFileHeader(file);
    } catch (error) {
      skipped.push({ file: token, reason: error instanceof DicomFormatError ? error.message : `cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})` });
      continue;
    }
    const problem = unsupportedReason(header) ?? (header.uids.instance ? undefined : 'the file has no SOP Instance UID (0008,0018)');
    if (problem) {
      skipped.push({ file: token, reason: problem });
      continue;
    }
    // Two files with one SOP Instance UID are copies of one image (e.g. exported twice, or transcoded): the first is kept.
    const original = firstWithInstance.get(header.uids.instance!);
    if (original) {
      skipped.push({ file: token, reason: `same SOP Instance UID as ${original}: a copy of the same image, imported once` });
      continue;
    }
    firstWithInstance.set(header.uids.instance!, token);
    entries.push({ file, token, header, masks: new Map() });
  }

  // Every (file, frame) a mask name can mean; a mask claimed more than once, or a frame with several masks, is dropped.
  const index = indexMasks(maskFiles);
  const claims = new Map<string, Array<{ entry: FileEntry; frame: number }>>();
  const framesWithMasks = new Map<FileEntry, Map<number, Set<string>>>();
  for (const entry of entries) {
    const stem = path.basename(entry.file).replace(dicomExtensions, '');
    const names = [...new Set([stem, entry.header.uids.instance!])];
    const perFrame = new Map<number, Set<string>>();
    for (let frame = 1; frame <= entry.header.pixel.frames; frame++) {
      const found = new Set<string>();
      for (const name of names) {
        for (const mask of index.byFrame.get(`${name}\0${frame}`) ?? []) found.add(mask);
        if (entry.header.pixel.frames === 1) for (const mask of index.byName.get(name) ?? []) found.add(mask);
      }
      if (found.size > 0) perFrame.set(frame, found);
      for (const mask of found) claims.set(mask, [...(claims.get(mask) ?? []), { entry, frame }]);
    }
    framesWithMasks.set(entry, perFrame);
  }
  const unusable = new Set<string>();
  for (const [mask, claimants] of claims) {
    if (claimants.length > 1) {
      unusable.add(mask);
      skipped.push({ file: maskToken(mask), reason: `matches ${claimants.length} frames (${claimants.map((c) => `${c.entry.token} frame ${c.frame}`).join(', ')}); rename it so it names one` });
    }
  }
  for (const [entry, perFrame] of framesWithMasks) {
    for (const [frame, masks] of perFrame) {
      if (masks.size > 1) {
        for (const mask of masks) {
          if (unusable.has(mask)) continue;
          unusable.add(mask);
          skipped.push({ file: maskToken(mask), reason: `${entry.token} frame ${frame} has ${masks.size} masks; keep one` });
        }
      } else {
        const [mask] = masks;
        if (!unusable.has(mask)) entry.masks.set(frame, mask);
      }
    }
  }
  for (const mask of maskFiles) {
    if (!claims.has(mask)) {
      skipped.push({ file: maskToken(mask), reason: 'matches no frame of an importable DICOM file (names: <file stem>_<frame>.png or <SOPInstanceUID>_<frame>.png, frames numbered from 1; <file stem>.png or <SOPInstanceUID>.png for single-frame files)' });
    }
  }

  const candidates: ImportCandidate[] = [];
  for (const entry of entries) {
    const { header, token } = entry;
    const frames = [...new Set([...selectedFrames(options.frames, header.pixel.frames), ...entry.masks.keys()])].sort((a, b) => a - b);
    if (frames.length === 0) {
      skipped.push({ file: token, reason: `none of the selected frames exists (the file has ${header.pixel.frames})` });
      continue;
    }
    const instance = dicomUidHash(salt, header.uids.instance!);
    const series = header.uids.series ? dicomUidHash(salt, header.uids.series) : undefined;
    const group = series ? `series-${series}` : `instance-${instance}`;
    candidates.push({
      file: token,
      group,
      splitGroup: header.uids.study ? dicomStudyGroup(salt, header.uids.study) : group,
      load: () => loadFile(entry, frames, (frame) => dicomItemId(series ?? instance, instance, frame), size, options.label, maskToken),
    });
  }

  const fingerprintOptions = {
    importer: 'dicom@1',
    // Only when set, so folder imports keep their dataset ids.
    ...(options.source ? { source: options.source } : {}),
    size,
    salt,
    frames: options.frames ?? null,
    label: options.label ?? null,
    masks: masksDir ? await fingerprintInputs(masksDir, maskFiles, {}) : null,
    seed: options.seed ?? 0,
    initialCount: options.initialCount ?? null,
    testShare: options.testShare ?? null,
    testGroups: options.testGroups ?? null,
  };
  const fingerprint = await fingerprintInputs(dir, files, fingerprintOptions);
  return runImport(store, {
    ...options,
    name: options.name ?? 'DICOM ultrasound',
    source: options.source ?? 'dicom',
    size,
    fingerprint,
    candidates,
    skipped,
  });
}

/** Decodes the chosen frames of one file (and their masks), cut to the ultrasound region and resized; all or nothing. */
async function loadFile(
  entry: FileEntry,
  frames: readonly number[],
  itemId: (frame: number) => string,
  size: [number, number],
  label: number | undefined,
  maskToken: (file: string) => string,
): Promise<LoadedItem[]> {
  const { token } = entry;
  let dicom;
  try {
    dicom = readDicom(await readFile(entry.file));
  } catch (error) {
    if (error instanceof DicomFormatError) throw new InputFileError(token, error.message);
    throw new InputFileError(token, `cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const { rows, columns } = dicom.header.pixel;
  const geometry = frameGeometry(dicom.header);
  const items: LoadedItem[] = [];
  for (const frame of frames) {
    let image;
    try {
      image = cropGrey(await dicom.frame(frame), geometry.crop);
    } catch (error) {
      if (error instanceof DicomFormatError) throw new InputFileError(token, error.message);
      throw error;
    }
    const [height, width] = size;
    const pixels = await resizeImage(image, size);
    const maskFile = entry.masks.get(frame);
    let mask: Uint8Array | undefined;
    let maskName: string | undefined;
    if (maskFile) {
      maskName = maskToken(maskFile);
      mask = await loadMask(maskFile, maskName, rows, columns, label, geometry.crop, size, `${token} frame ${frame}`);
    }
    items.push({
      id: itemId(frame),
      image: { width, height, data: pixels },
      ...(mask ? { mask, maskFile: maskName } : {}),
      ...(geometry.spacing ? { spacing: geometry.spacing } : {}),
      source: `${token}[${frame}]`,
      originalSize: [rows, columns],
      ...(geometry.crop ? { crop: geometry.crop } : {}),
    });
  }
  return items;
}

async function loadMask(
  file: string,
  name: string,
  rows: number,
  columns: number,
  label: number | undefined,
  crop: FrameGeometry['crop'],
  size: [number, number],
  frame: string,
): Promise<Uint8Array> {
  let labels;
  try {
    labels = await decodeMaskFile(await readFile(file));
  } catch (error) {
    throw new InputFileError(name, `cannot read mask: ${(error as Error).message.trim()}`);
  }
  if (labels.width !== columns || labels.height !== rows) {
    throw new InputFileError(name, `mask is ${labels.width}×${labels.height} but its frame (${frame}) is ${columns}×${rows}: masks are drawn on the whole original frame`);
  }
  let mask;
  try {
    mask = binariseMask(labels.data, label);
  } catch (error) {
    throw new InputFileError(name, (error as Error).message);
  }
  const { mask: resized, regionForeground } = await maskToDatasetSpace(mask, columns, crop, size);
  if (regionForeground === 0) {
    throw new InputFileError(name, crop ? 'mask has no pixel of the structure inside the ultrasound region the frame is cropped to' : 'mask is empty: no pixel has the chosen label');
  }
  if (!resized.some((v) => v === 1)) throw new InputFileError(name, `mask vanishes when resized to ${size[0]}×${size[1]}; import at a larger size`);
  return resized;
}

/**
 * A 0/1 mask drawn on the whole original frame (`columns` wide) → the dataset's space, as its frame was imported: cut
 * to the ultrasound region (`crop`, absent: the whole frame), then resized to `size` ([height, width]). Also says how
 * many structure pixels lay inside the region, so callers can tell "outside the region" from "lost in resizing".
 */
export async function maskToDatasetSpace(
  mask: Uint8Array,
  columns: number,
  crop: FrameGeometry['crop'],
  size: [number, number],
): Promise<{ mask: Uint8Array; regionForeground: number }> {
  const inRegion = crop ? cropPlane(mask, columns, crop) : mask;
  const [regionWidth, regionHeight] = crop ? [crop.width, crop.height] : [columns, mask.length / columns];
  let regionForeground = 0;
  for (const v of inRegion) if (v === 1) regionForeground++;
  return { mask: await resizeMask(inRegion, regionWidth, regionHeight, size), regionForeground };
}
