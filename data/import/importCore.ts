/**
 * What every importer shares: the content-hashed dataset id, per-file error reporting, preprocessing and
 * storing of items, the group-wise seeded split, and the write order that keeps a dataset all-or-nothing
 * (images and masks, then items and splits, then the import summary, the manifest last).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from '../../store/blobStore';
import {
  datasetKeys, itemContentHash, itemIdPattern, readManifest, writeDataset, writeItemData,
  type DatasetItem, type DatasetManifest, type DatasetSplits,
} from '../manifest';
import { Random } from '../random';
import { InputFileError, resizeImage, resizeMask, type GreyImage } from './preprocess';

export interface ImportSkip {
  /** The offending file, relative to the import folder. */
  file: string;
  reason: string;
}

export interface ImportSummary {
  datasetId: string;
  manifest: DatasetManifest;
  /** Items stored (labelled or not). */
  imported: number;
  labelled: number;
  /** Every skipped file; can be long, so activities should return `summaryKey` and a few examples instead. */
  skipped: ImportSkip[];
  /** Object holding { imported, labelled, skipped } for this dataset. */
  summaryKey: string;
  /** True when this exact dataset already existed and nothing was written. */
  reused: boolean;
}

export interface SplitOptions {
  /** Seed of the split (default 0). */
  seed?: number;
  /** Labelled images in the initial training set (paper: 40, the default), spread over as many groups as possible. */
  initialCount?: number;
  /** Share of labelled groups held out for testing (default 0.2). */
  testShare?: number;
  /** Explicit test groups (e.g. CAMUS' official testing list; split groups where items have them); overrides testShare. */
  testGroups?: readonly string[];
  /**
   * Share of the labelled training split groups held out for validation (default 0.1; 0: no validation split, the
   * datasets of earlier versions). Validation chooses (search ranking, early stopping, best checkpoint, the stop rule);
   * test only reports.
   */
  valShare?: number;
  /** Progress of a long import: input files (or sequences) processed so far, out of the total. */
  onProgress?: (done: number, total: number) => void;
}

/** One decoded input item, at its source size. */
export interface LoadedItem {
  id: string;
  image: GreyImage;
  /** 0/1 at the image's size, if labelled. */
  mask?: Uint8Array;
  /** File to blame for mask problems. */
  maskFile?: string;
  spacing?: [number, number];
  source: string;
  /** [height, width] of the whole source frame when `image` is already cut out (and resized); default: the image's size. */
  originalSize?: [number, number];
  /** Where `image` was cut from, in original pixels. */
  crop?: { x: number; y: number; width: number; height: number };
}

/** A unit of input (one image with its mask, or one sequence file giving many frames). */
export interface ImportCandidate {
  /** File to blame when loading fails, relative to the import folder. */
  file: string;
  group: string;
  /** Items sharing it stay on one side of the train/test split (e.g. a DICOM study); default: the group. */
  splitGroup?: string;
  load(): Promise<LoadedItem[]>;
}

export class ImportFailedError extends Error {
  constructor(message: string, readonly skipped: ImportSkip[]) {
    super(message);
    this.name = 'ImportFailedError';
  }
}

/** Item ids become object keys: path separators turn into '__', anything else unusual into '_'. */
export function itemIdFromPath(relativePath: string): string {
  const id = relativePath.split(/[\\/]+/).join('__').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '');
  return id || 'item';
}

/**
 * sha256 over the options and every input file's relative path and bytes: the same inputs give the same
 * dataset id wherever the folder lives.
 */
export async function fingerprintInputs(root: string, files: readonly string[], options: unknown): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(options));
  for (const file of [...new Set(files)].sort()) {
    hash.update(`\0${path.relative(root, file).split(path.sep).join('/')}\0`);
    try {
      hash.update(createHash('sha256').update(await readFile(file)).digest('hex'));
    } catch (error) {
      hash.update(`unreadable:${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  return hash.digest('hex');
}

/** The validation share when none is given. */
export const DEFAULT_VAL_SHARE = 0.1;

/**
 * Splits by group, never by frame. Test: `testShare` of the labelled split groups (or `testGroups`), their labelled
 * frames. Validation: `valShare` of the remaining labelled split groups (at least one when there are three or more),
 * their labelled frames. Initial: `initialCount` labelled frames of the other groups, taken round-robin over shuffled
 * groups. Pool: every other frame of the training groups. Unlabelled frames of test and validation groups are in no
 * split (a near-duplicate frame of a held-out video must not be trained on).
 * An item's split group (default: its group) is what train and test never share: several groups (videos) can
 * form one split group (a study), which then goes to one side whole.
 */
export function splitByGroup(
  items: ReadonlyArray<{ id: string; group: string; splitGroup?: string; labelled: boolean }>,
  options: SplitOptions = {},
): DatasetSplits {
  const seed = options.seed ?? 0;
  const initialCount = options.initialCount ?? 40;
  const testShare = options.testShare ?? 0.2;
  if (!Number.isInteger(initialCount) || initialCount < 0) throw new Error(`initialCount must be a whole number ≥ 0, got ${initialCount}.`);
  if (!(testShare >= 0 && testShare < 1)) throw new Error(`testShare must be in [0, 1), got ${testShare}.`);
  const splitKey = (item: { group: string; splitGroup?: string }) => item.splitGroup ?? item.group;
  const labelledGroups = [...new Set(items.filter((i) => i.labelled).map(splitKey))].sort();
  let testGroups: Set<string>;
  if (options.testGroups) {
    testGroups = new Set(options.testGroups);
  } else {
    const shuffled = new Random(seed, 'split-test-groups').shuffled(labelledGroups);
    const wanted = Math.round(testShare * labelledGroups.length);
    const count = labelledGroups.length < 2 || testShare === 0 ? 0 : Math.min(labelledGroups.length - 1, Math.max(1, wanted));
    testGroups = new Set(shuffled.slice(0, count));
  }
  const test = items.filter((i) => testGroups.has(splitKey(i)) && i.labelled).map((i) => i.id);
  const valShare = options.valShare ?? DEFAULT_VAL_SHARE;
  if (!(valShare >= 0 && valShare < 1)) throw new Error(`valShare must be in [0, 1), got ${valShare}.`);
  const remaining = labelledGroups.filter((g) => !testGroups.has(g));
  const valCount = valShare === 0 || remaining.length < 3 ? 0 : Math.min(remaining.length - 2, Math.max(1, Math.round(valShare * remaining.length)));
  const valGroups = new Set(new Random(seed, 'split-val-groups').shuffled(remaining).slice(0, valCount));
  const val = items.filter((i) => valGroups.has(splitKey(i)) && i.labelled).map((i) => i.id);
  const training = items.filter((i) => !testGroups.has(splitKey(i)) && !valGroups.has(splitKey(i)));
  const initial = drawInitialSet(training.filter((i) => i.labelled), initialCount, seed);
  const initialSet = new Set(initial);
  const pool = training.filter((i) => !initialSet.has(i.id)).map((i) => i.id);
  return valShare === 0 ? { initial, pool, test } : { initial, pool, test, val };
}

/**
 * `count` labelled frames spread over as many groups (videos) as possible: groups shuffled by the seed, frames
 * shuffled within each, then taken round-robin. The importer's initial set, and each benchmark seed's own one.
 */
export function drawInitialSet(labelled: ReadonlyArray<{ id: string; group: string }>, count: number, seed: number): string[] {
  const rng = new Random(seed, 'split-initial');
  const byGroup = new Map<string, string[]>();
  for (const item of labelled) {
    const list = byGroup.get(item.group) ?? [];
    list.push(item.id);
    byGroup.set(item.group, list);
  }
  const queues = rng.shuffled([...byGroup.keys()].sort()).map((group) => rng.shuffled(byGroup.get(group)!));
  const initial: string[] = [];
  while (initial.length < count && queues.some((q) => q.length > 0)) {
    for (const queue of queues) {
      if (initial.length >= count) break;
      const next = queue.shift();
      if (next !== undefined) initial.push(next);
    }
  }
  return initial;
}

export interface RunImportOptions extends SplitOptions {
  name: string;
  /** Recorded in the manifest, e.g. 'folder-of-pairs' or 'camus:nifti'. */
  source: string;
  size: [number, number];
  /** From fingerprintInputs; the dataset id is derived from it. */
  fingerprint: string;
  candidates: readonly ImportCandidate[];
  /** Problems found before loading (unmatched files, bad names). */
  skipped?: ImportSkip[];
  /** Candidates decoded at once (default 4). */
  concurrency?: number;
}

function countOnes(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  return n;
}

async function readSummary(store: BlobStore, datasetId: string): Promise<Pick<ImportSummary, 'skipped' | 'labelled'>> {
  const key = datasetKeys.importSummary(datasetId);
  if (!(await store.exists(key))) return { skipped: [], labelled: 0 };
  return JSON.parse(new TextDecoder().decode(await store.getBytes(key))) as Pick<ImportSummary, 'skipped' | 'labelled'>;
}

interface PreparedItem {
  id: string;
  group: string;
  splitGroup?: string;
  source: string;
  originalSize: [number, number];
  crop?: LoadedItem['crop'];
  spacing?: [number, number];
  pixels: Float32Array;
  mask?: Uint8Array;
}

/** Loads one candidate and preprocesses its items; problems come back as skips, in input order. */
async function prepareCandidate(candidate: ImportCandidate, size: [number, number]): Promise<Array<PreparedItem | ImportSkip>> {
  let loaded: LoadedItem[];
  try {
    loaded = await candidate.load();
  } catch (error) {
    return [{ file: error instanceof InputFileError ? error.file : candidate.file, reason: (error as Error).message }];
  }
  const out: Array<PreparedItem | ImportSkip> = [];
  for (const item of loaded) {
    if (!itemIdPattern.test(item.id)) {
      out.push({ file: item.source, reason: `item id '${item.id}' has characters other than letters, digits, '.', '_' and '-'` });
      continue;
    }
    const { image } = item;
    let mask: Uint8Array | undefined;
    if (item.mask) {
      const maskFile = item.maskFile ?? item.source;
      if (item.mask.length !== image.width * image.height) {
        out.push({ file: maskFile, reason: `mask size does not match the image (${image.width}×${image.height})` });
        continue;
      }
      if (countOnes(item.mask) === 0) {
        out.push({ file: maskFile, reason: 'mask is empty: no pixel has the chosen label' });
        continue;
      }
      mask = await resizeMask(item.mask, image.width, image.height, size);
      if (countOnes(mask) === 0) {
        out.push({ file: maskFile, reason: `mask vanishes when resized to ${size[0]}×${size[1]}; import at a larger size` });
        continue;
      }
    }
    out.push({
      id: item.id,
      group: candidate.group,
      ...(candidate.splitGroup !== undefined ? { splitGroup: candidate.splitGroup } : {}),
      source: item.source,
      originalSize: item.originalSize ?? [image.height, image.width],
      ...(item.crop ? { crop: item.crop } : {}),
      ...(item.spacing ? { spacing: item.spacing } : {}),
      pixels: await resizeImage(image, size),
      ...(mask ? { mask } : {}),
    });
  }
  return out;
}

export async function runImport(store: BlobStore, options: RunImportOptions): Promise<ImportSummary> {
  // A validation split is part of what the dataset is (datasets made without one keep their ids with valShare 0).
  const valShare = options.valShare ?? DEFAULT_VAL_SHARE;
  const fingerprint = valShare === 0 ? options.fingerprint
    : createHash('sha256').update(options.fingerprint).update(JSON.stringify({ valShare })).digest('hex');
  const datasetId = `ds-${fingerprint.slice(0, 20)}`;
  if (await store.exists(datasetKeys.manifest(datasetId))) {
    const manifest = await readManifest(store, datasetId);
    const previous = await readSummary(store, datasetId);
    return { datasetId, manifest, imported: manifest.itemCount, labelled: previous.labelled, skipped: previous.skipped, summaryKey: datasetKeys.importSummary(datasetId), reused: true };
  }
  const { size } = options;
  const skipped: ImportSkip[] = [...(options.skipped ?? [])];
  const items: DatasetItem[] = [];
  const sourceOfId = new Map<string, string>();
  const window = options.concurrency ?? 4;
  // Decoding and resizing run a few candidates at a time; id checks and the order of items stay sequential.
  for (let start = 0; start < options.candidates.length; start += window) {
    const batch = options.candidates.slice(start, start + window);
    const outcomes = await Promise.all(batch.map((candidate) => prepareCandidate(candidate, size)));
    const accepted: PreparedItem[] = [];
    for (const outcome of outcomes) {
      for (const entry of outcome) {
        if ('reason' in entry) {
          skipped.push(entry);
          continue;
        }
        const previous = sourceOfId.get(entry.id);
        if (previous !== undefined) {
          skipped.push({ file: entry.source, reason: `duplicate item id '${entry.id}' (already imported from ${previous})` });
          continue;
        }
        sourceOfId.set(entry.id, entry.source);
        accepted.push(entry);
      }
    }
    const written = await Promise.all(accepted.map((entry) => writeItemData(store, datasetId, entry.id, size, entry.pixels, entry.mask)));
    options.onProgress?.(Math.min(start + window, options.candidates.length), options.candidates.length);
    accepted.forEach((entry, n) => {
      items.push({
        id: entry.id,
        group: entry.group,
        ...(entry.splitGroup !== undefined ? { splitGroup: entry.splitGroup } : {}),
        ...written[n],
        source: entry.source,
        originalSize: entry.originalSize,
        ...(entry.crop ? { crop: entry.crop } : {}),
        ...(entry.spacing ? { spacing: entry.spacing } : {}),
        contentHash: itemContentHash(entry.pixels, entry.mask),
      });
    });
  }
  if (items.length === 0) {
    const reasons = skipped.slice(0, 5).map((s) => `${s.file}: ${s.reason}`).join('; ');
    throw new ImportFailedError(`Nothing could be imported for '${options.name}' (${skipped.length} file(s) skipped${reasons ? `: ${reasons}` : ''}).`, skipped);
  }
  const labelled = items.filter((i) => i.maskKey).length;
  if (labelled === 0) {
    throw new ImportFailedError(`No labelled image was found for '${options.name}': the test and initial sets need masks. Check the mask pattern or file names.`, skipped);
  }
  const splits = splitByGroup(items.map((i) => ({ id: i.id, group: i.group, splitGroup: i.splitGroup, labelled: i.maskKey !== undefined })), options);
  await store.putBytes(
    datasetKeys.importSummary(datasetId),
    new TextEncoder().encode(JSON.stringify({ imported: items.length, labelled, skipped })),
    'application/json',
  );
  const manifest = await writeDataset(store, { id: datasetId, name: options.name, size, source: options.source, seed: options.seed ?? 0 }, items, splits);
  return { datasetId, manifest, imported: items.length, labelled, skipped, summaryKey: datasetKeys.importSummary(datasetId), reused: false };
}
