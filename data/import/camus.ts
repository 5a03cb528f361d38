/**
 * Imports CAMUS: the original MetaImage release (`patientXXXX/patientXXXX_{2CH,4CH}_{ED,ES}[_gt].mhd` + `.raw`,
 * `_sequence.mhd`) and the NIfTI release (`database_nifti/patientXXXX/*.nii.gz`, with `_half_sequence[_gt]`
 * files and `database_split/subgroup_{training,validation,testing}.txt`). Ground truth labels: 1 LV cavity,
 * 2 LV myocardium, 3 left atrium; `label` picks one, through the label rule of `data/masks.ts`. Each patient is one
 * group. A single ED/ES frame whose ground truth lacks the label is skipped with the values it has; in a sequence,
 * such a frame is skipped alone (as empty) and the sequence's other frames are imported.
 * The MetaImage release has no ground truth for its `_sequence` files: with `half_sequence`, the frames its
 * `Info_<view>.cfg` names ED and ES take the masks of the `_ED_gt` / `_ES_gt` files, and the others are imported
 * unlabelled (the pool a run asks doctors about).
 */
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from '../../store/blobStore';
import { readMetaImage, type MetaElementType } from '../formats/metaImage';
import { readNifti } from '../formats/nifti';
import { normaliseMask } from '../masks';
import { listFiles, relativePosix } from './files';
import { fingerprintInputs, runImport, type ImportCandidate, type ImportSkip, type ImportSummary, type LoadedItem, type SplitOptions } from './importCore';
import { InputFileError, normaliseIntensities, parseSize } from './preprocess';

export type CamusView = '2CH' | '4CH';
export type CamusFrame = 'ED' | 'ES';

export interface CamusOptions extends SplitOptions {
  /** The release's root (or any folder above the patient folders). */
  dir: string;
  /** Default ['2CH'] (the paper's view). */
  views?: CamusView[];
  /** ED and/or ES frames (default both), or every frame of the half sequences (NIfTI release; `_sequence.mhd` unlabelled). */
  frames?: CamusFrame[] | 'half_sequence';
  /** Ground-truth label to segment (default 1, the LV cavity). */
  label?: number;
  size?: number | [number, number];
  /**
   * Use the official split: a folder holding `subgroup_testing.txt` (its patients form the test set), or true
   * to find `database_split` under `dir`.
   */
  splitLists?: string | boolean;
  name?: string;
}

interface Volume {
  /** [width, height, frames] */
  dims: [number, number, number];
  spacing: number[];
  data: Float32Array;
  /** Integer type's maximum, for intensity scaling; undefined for floats. */
  typeMax?: number;
}

const metaTypeMax: Partial<Record<MetaElementType, number>> = {
  MET_UCHAR: 255, MET_CHAR: 127, MET_USHORT: 65535, MET_SHORT: 32767, MET_UINT: 2 ** 32 - 1, MET_INT: 2 ** 31 - 1,
};
const niftiTypeMax: Record<string, number | undefined> = {
  uint8: 255, int8: 127, uint16: 65535, int16: 32767, uint32: 2 ** 32 - 1, int32: 2 ** 31 - 1,
};

async function readVolume(file: string, relative: string): Promise<Volume> {
  try {
    if (file.endsWith('.mhd')) {
      const image = await readMetaImage(file);
      return { dims: [image.dims[0], image.dims[1] ?? 1, image.dims.slice(2).reduce((a, b) => a * b, 1)], spacing: image.spacing, data: image.data, typeMax: metaTypeMax[image.elementType] };
    }
    const image = await readNifti(file);
    return { dims: [image.dims[0], image.dims[1], image.dims[2] ?? 1], spacing: image.spacing, data: image.data, typeMax: niftiTypeMax[image.datatype] };
  } catch (error) {
    // The format readers prefix their messages with the file name, which the summary already has.
    const message = (error as Error).message.replace(`${path.basename(file)}: `, '');
    throw new InputFileError(relative, message);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

async function findVolume(base: string): Promise<string | undefined> {
  for (const extension of ['.nii.gz', '.nii', '.mhd']) {
    if (await exists(base + extension)) return base + extension;
  }
  return undefined;
}

/** Data files a volume depends on (a .mhd header's .raw/.zraw), for the content hash. */
function companions(file: string): string[] {
  if (!file.endsWith('.mhd')) return [file];
  const stem = file.slice(0, -'.mhd'.length);
  return [file, `${stem}.raw`, `${stem}.zraw`];
}

async function readPatientList(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  return text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '');
}

async function findSplitFolder(dir: string, spec: string | boolean | undefined): Promise<string | undefined> {
  if (!spec) return undefined;
  if (typeof spec === 'string') return path.resolve(dir, spec);
  for (const candidate of [path.join(dir, 'database_split'), path.join(path.dirname(dir), 'database_split')]) {
    if (await exists(path.join(candidate, 'subgroup_testing.txt'))) return candidate;
  }
  throw new Error(`splitLists: no database_split/subgroup_testing.txt in ${dir} or beside it; pass the folder that holds the split lists.`);
}

/**
 * The ED and ES ground truths of a MetaImage sequence: `Info_<view>.cfg` gives their frame numbers (from 1) in the
 * sequence; frames whose `_ED_gt` / `_ES_gt` file is missing are left out.
 */
async function edEsGroundTruths(patientDir: string, patient: string, view: CamusView, dir: string): Promise<{ frame: number; file: string; relative: string }[]> {
  const info = path.join(patientDir, `Info_${view}.cfg`);
  if (!(await exists(info))) return [];
  const text = await readFile(info, 'utf8');
  const out: { frame: number; file: string; relative: string }[] = [];
  for (const phase of ['ED', 'ES'] as const) {
    const number = Number(new RegExp(`^${phase}:\\s*(\\d+)`, 'm').exec(text)?.[1]);
    const file = await findVolume(path.join(patientDir, `${patient}_${view}_${phase}_gt`));
    if (Number.isInteger(number) && number >= 1 && file) out.push({ frame: number - 1, file, relative: relativePosix(dir, file) });
  }
  return out;
}

export async function importCamus(store: BlobStore, options: CamusOptions): Promise<ImportSummary> {
  const dir = path.resolve(options.dir);
  const size = parseSize(options.size);
  const views = options.views ?? ['2CH'];
  const frames = options.frames ?? ['ED', 'ES'];
  const label = options.label ?? 1;
  const all = await listFiles(dir);
  const patientDirs = [...new Set(all.map((f) => path.dirname(f)).filter((d) => /^patient\d+$/i.test(path.basename(d))))].sort();
  if (patientDirs.length === 0) throw new Error(`No CAMUS patient folders (patientXXXX) under ${dir}.`);

  const splitFolder = await findSplitFolder(dir, options.splitLists);
  let testGroups = options.testGroups;
  const listFilesUsed: string[] = [];
  if (splitFolder) {
    const testingList = path.join(splitFolder, 'subgroup_testing.txt');
    try {
      testGroups = await readPatientList(testingList);
    } catch (error) {
      throw new Error(`Cannot read the CAMUS split list ${testingList} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`);
    }
    listFilesUsed.push(testingList);
  }

  const skipped: ImportSkip[] = [];
  const candidates: ImportCandidate[] = [];
  const inputFiles: string[] = [...listFilesUsed];
  for (const patientDir of patientDirs) {
    const patient = path.basename(patientDir);
    for (const view of views) {
      const kinds: string[] = frames === 'half_sequence' ? ['half_sequence'] : frames;
      for (const kind of kinds) {
        const base = path.join(patientDir, `${patient}_${view}_${kind}`);
        let imageFile = await findVolume(base);
        let gtFile = await findVolume(`${base}_gt`);
        /** MetaImage sequences: the ED and ES ground truths, at their 0-based frames of the sequence. */
        let edEs: { frame: number; file: string; relative: string }[] = [];
        if (!imageFile && kind === 'half_sequence') {
          imageFile = await findVolume(path.join(patientDir, `${patient}_${view}_sequence`));
          gtFile = imageFile ? await findVolume(path.join(patientDir, `${patient}_${view}_sequence_gt`)) : undefined;
          if (imageFile && !gtFile) edEs = await edEsGroundTruths(patientDir, patient, view, dir);
        }
        if (!imageFile) {
          skipped.push({ file: relativePosix(dir, base), reason: 'missing: no .nii.gz, .nii or .mhd file for this view and frame' });
          continue;
        }
        inputFiles.push(...companions(imageFile), ...(gtFile ? companions(gtFile) : []), ...edEs.flatMap((g) => companions(g.file)));
        const info = path.join(patientDir, `Info_${view}.cfg`);
        if (await exists(info)) inputFiles.push(info);
        const imageRelative = relativePosix(dir, imageFile);
        const gtRelative = gtFile ? relativePosix(dir, gtFile) : undefined;
        const isSequence = kind.includes('sequence');
        candidates.push({
          file: imageRelative,
          group: patient,
          load: async () => {
            const image = await readVolume(imageFile, imageRelative);
            const gt = gtFile && gtRelative ? await readVolume(gtFile, gtRelative) : undefined;
            const [width, height, count] = image.dims;
            if (!isSequence && count !== 1) throw new InputFileError(imageRelative, `expected one frame, found ${count}`);
            if (gt && (gt.dims[0] !== width || gt.dims[1] !== height || gt.dims[2] !== count)) {
              throw new InputFileError(gtRelative!, `ground truth is ${gt.dims.join('×')} but its image ${imageRelative} is ${image.dims.join('×')}`);
            }
            const pixels = width * height;
            const intensities = normaliseIntensities(image.data, image.typeMax);
            const spacing: [number, number] | undefined = image.spacing.length >= 2 ? [image.spacing[1], image.spacing[0]] : undefined;
            const edEsMasks = new Map<number, { volume: Volume; relative: string }>();
            for (const g of edEs) {
              if (g.frame >= count) throw new InputFileError(imageRelative, `Info_${view}.cfg puts a labelled frame at ${g.frame + 1}, but the sequence has ${count} frames`);
              const volume = await readVolume(g.file, g.relative);
              if (volume.dims[0] !== width || volume.dims[1] !== height) {
                throw new InputFileError(g.relative, `ground truth is ${volume.dims.join('×')} but the sequence ${imageRelative} is ${width}×${height}`);
              }
              edEsMasks.set(g.frame, { volume, relative: g.relative });
            }
            const items: LoadedItem[] = [];
            for (let t = 0; t < count; t++) {
              const id = isSequence ? `${patient}_${view}_${kind === 'half_sequence' ? 'hs' : 'seq'}${String(t).padStart(3, '0')}` : `${patient}_${view}_${kind}`;
              const frameTag = isSequence ? `[${t}]` : '';
              let mask: Uint8Array | undefined;
              const labelled = gt ? { data: gt.data.subarray(t * pixels, (t + 1) * pixels), where: `${gtRelative}${frameTag}` }
                : edEsMasks.has(t) ? { data: edEsMasks.get(t)!.volume.data.subarray(0, pixels), where: edEsMasks.get(t)!.relative } : undefined;
              if (labelled) {
                // One bad frame must not cost a sequence its other frames: empty ones go on, and the import core skips them.
                const normalised = normaliseMask({ width, height, channels: 1, data: labelled.data }, { label, allowEmpty: isSequence });
                if (!normalised.ok) throw new InputFileError(labelled.where, normalised.reason);
                mask = normalised.mask;
              }
              items.push({
                id,
                image: { width, height, data: intensities.subarray(t * pixels, (t + 1) * pixels) },
                ...(mask ? { mask, maskFile: labelled!.where } : {}),
                ...(spacing ? { spacing } : {}),
                source: `${imageRelative}${frameTag}`,
              });
            }
            return items;
          },
        });
      }
    }
  }

  const format = candidates.some((c) => c.file.endsWith('.mhd')) ? 'mhd' : 'nifti';
  const fingerprintOptions = {
    importer: 'camus@1',
    size,
    views,
    frames,
    label,
    seed: options.seed ?? 0,
    initialCount: options.initialCount ?? null,
    testShare: options.testShare ?? null,
    testGroups: testGroups ?? null,
  };
  const present = new Set(all);
  const fingerprint = await fingerprintInputs(dir, inputFiles.filter((f) => present.has(f) || listFilesUsed.includes(f)), fingerprintOptions);
  return runImport(store, {
    ...options,
    testGroups,
    name: options.name ?? `CAMUS ${views.join('+')} ${frames === 'half_sequence' ? 'half sequences' : frames.join('+')}`,
    source: `camus:${format}`,
    size,
    fingerprint,
    candidates,
    skipped,
  });
}
