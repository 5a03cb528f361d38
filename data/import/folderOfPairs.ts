/**
 * Imports a folder of images with masks matched by name: PNG, JPEG or TIFF, 8- or 16-bit, grey or RGB.
 * Masks are read by the rules of `data/masks.ts` (0/1, 0/255, 16-bit, colour on black, alpha strokes, label maps
 * with `label`); a mask those rules reject skips its image with the rules' reason in the summary. An empty mask
 * is skipped too, not imported unlabelled: a frame without the structure is rare in echo, and an empty file is
 * far more often a failed export, which an unlabelled import would hide.
 * Images without a mask are imported unlabelled (they can only land in the pool).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from '../../store/blobStore';
import { normaliseMaskBytes } from '../masks';
import { listFiles, parseCsv, relativePosix } from './files';
import { fingerprintInputs, itemIdFromPath, runImport, type ImportCandidate, type ImportSkip, type ImportSummary, type SplitOptions } from './importCore';
import { decodeImageFile, InputFileError, parseSize } from './preprocess';

export interface GroupCsv {
  /** CSV file (absolute, or relative to `dir`) with a header row. */
  csv: string;
  /** Column naming the image: a path relative to `dir`, a file name, or a name without extension (default 'file'). */
  fileColumn?: string;
  /** Column with the video or patient id (default 'group'). */
  groupColumn?: string;
}

export interface FolderOfPairsOptions extends SplitOptions {
  dir: string;
  /**
   * Where an image's mask is, relative to the image's folder; `{stem}` is the image's name without extension.
   * Default '{stem}_mask.png'; e.g. '../masks/{stem}.png' for parallel folders.
   */
  maskPattern?: string;
  /** Grey value of the structure in label-map masks; unset: binary, colour and alpha masks are read as they are. */
  label?: number;
  /**
   * The group (video or patient) of each image: a RegExp on its path relative to `dir` without extension (first
   * capture group, or the whole match), or a CSV. Default: the part before `frame<digits>` in the name
   * (`video003_frame012` → `video003`), else the image's folder, else the image itself.
   */
  groupFrom?: RegExp | GroupCsv;
  /** [height, width] or one number (default 256). */
  size?: number | [number, number];
  name?: string;
}

const imageExtensions = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff']);

function stemOf(file: string): string {
  return path.basename(file, path.extname(file));
}

function defaultGroup(relative: string): string {
  const withoutExt = relative.slice(0, relative.length - path.extname(relative).length);
  const match = /^(.+?)[_-]?frame[_-]?\d+$/i.exec(path.posix.basename(withoutExt));
  const folder = path.posix.dirname(withoutExt);
  if (match) return folder === '.' ? match[1] : `${folder}/${match[1]}`;
  return folder === '.' ? withoutExt : folder;
}

async function groupsFromCsv(dir: string, spec: GroupCsv): Promise<{ file: string; lookup: (relative: string) => string | undefined }> {
  const file = path.resolve(dir, spec.csv);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read the group CSV ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`);
  }
  const fileColumn = spec.fileColumn ?? 'file';
  const groupColumn = spec.groupColumn ?? 'group';
  const rows = parseCsv(text);
  if (rows.length > 0 && (!(fileColumn in rows[0]) || !(groupColumn in rows[0]))) {
    throw new Error(`Group CSV ${file} needs columns '${fileColumn}' and '${groupColumn}'; it has ${Object.keys(rows[0]).join(', ')}.`);
  }
  const groups = new Map<string, string>();
  for (const row of rows) if (row[groupColumn]) groups.set(row[fileColumn].replace(/\\/g, '/'), row[groupColumn]);
  const lookup = (relative: string) => {
    const withoutExt = relative.slice(0, relative.length - path.extname(relative).length);
    return groups.get(relative) ?? groups.get(withoutExt) ?? groups.get(path.posix.basename(relative)) ?? groups.get(path.posix.basename(withoutExt));
  };
  return { file, lookup };
}

export async function importFolderOfPairs(store: BlobStore, options: FolderOfPairsOptions): Promise<ImportSummary> {
  const dir = path.resolve(options.dir);
  const size = parseSize(options.size);
  const maskPattern = options.maskPattern ?? '{stem}_mask.png';
  if (!maskPattern.includes('{stem}')) throw new Error(`maskPattern '${maskPattern}' must contain {stem}, e.g. '{stem}_mask.png'.`);
  const files = (await listFiles(dir)).filter((f) => imageExtensions.has(path.extname(f).toLowerCase()));
  const present = new Set(files);
  const maskOf = (image: string) => path.resolve(path.dirname(image), maskPattern.replaceAll('{stem}', stemOf(image)));
  const masks = new Set(files.map(maskOf).filter((m) => present.has(m)));
  const images = files.filter((f) => !masks.has(f));
  const groupCsv = options.groupFrom && !(options.groupFrom instanceof RegExp) ? await groupsFromCsv(dir, options.groupFrom) : undefined;

  const skipped: ImportSkip[] = [];
  const candidates: ImportCandidate[] = [];
  for (const imagePath of images) {
    const relative = relativePosix(dir, imagePath);
    let group: string | undefined;
    if (options.groupFrom instanceof RegExp) {
      const match = options.groupFrom.exec(relative.slice(0, relative.length - path.extname(relative).length));
      group = match ? (match[1] ?? match[0]) : undefined;
      if (!group) {
        skipped.push({ file: relative, reason: `group pattern ${options.groupFrom} does not match this path` });
        continue;
      }
    } else if (groupCsv) {
      group = groupCsv.lookup(relative);
      if (!group) {
        skipped.push({ file: relative, reason: `not listed in the group CSV ${path.basename(groupCsv.file)}` });
        continue;
      }
    } else {
      group = defaultGroup(relative);
    }
    const maskPath = masks.has(maskOf(imagePath)) ? maskOf(imagePath) : undefined;
    const maskRelative = maskPath ? relativePosix(dir, maskPath) : undefined;
    candidates.push({
      file: relative,
      group,
      load: async () => {
        let image;
        try {
          image = await decodeImageFile(await readFile(imagePath));
        } catch (error) {
          throw new InputFileError(relative, `cannot read image: ${(error as Error).message.trim()}`);
        }
        if (!maskPath || !maskRelative) return [{ id: itemIdFromPath(relative.replace(/\.[^./]+$/, '')), image, source: relative }];
        let maskBytes;
        try {
          maskBytes = await readFile(maskPath);
        } catch (error) {
          throw new InputFileError(maskRelative, `cannot read mask: ${(error as Error).message.trim()}`);
        }
        const normalised = await normaliseMaskBytes(maskBytes, { size: [image.height, image.width], label: options.label });
        if (!normalised.ok) throw new InputFileError(maskRelative, normalised.reason);
        return [{ id: itemIdFromPath(relative.replace(/\.[^./]+$/, '')), image, mask: normalised.mask, maskFile: maskRelative, source: relative }];
      },
    });
  }

  const fingerprintOptions = {
    importer: 'folder-of-pairs@1',
    size,
    maskPattern,
    label: options.label ?? null,
    groupFrom: options.groupFrom instanceof RegExp ? String(options.groupFrom) : options.groupFrom ? { fileColumn: options.groupFrom.fileColumn, groupColumn: options.groupFrom.groupColumn } : null,
    seed: options.seed ?? 0,
    initialCount: options.initialCount ?? null,
    testShare: options.testShare ?? null,
    testGroups: options.testGroups ?? null,
  };
  const fingerprint = await fingerprintInputs(dir, [...files, ...(groupCsv ? [groupCsv.file] : [])], fingerprintOptions);
  return runImport(store, {
    ...options,
    name: options.name ?? path.basename(dir),
    source: 'folder-of-pairs',
    size,
    fingerprint,
    candidates,
    skipped,
  });
}
