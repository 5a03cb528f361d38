/**
 * What every importer shares: the content-hashed dataset id, per-file error reporting, preprocessing and
 * storing of items, the group-wise seeded split, and the write order that keeps a dataset all-or-nothing
 * (images and masks, then items and splits, then the import summary, the manifest last).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from '../../store/blobStore';
import type { ObjectStore } from '../../store/objectStore';
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
  /** Videos (split groups) held out for testing / validation, instead of the shares. */
  testVideos?: number;
  valVideos?: number;
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
 * Splits by group, never by frame. Held-out groups are drawn among all split groups, those with masks first (their
 * frames can be scored at once), then the others: test takes `testShare` of the groups (or `testGroups`, or
 * `testVideos` groups), validation `valShare` (or `valVideos`) of the rest (at least one when there are three or
 * more). Their labelled frames form `test` and `val`; their unlabelled frames `testUnlabelled` and `valUnlabelled`,
 * which a run may ask doctors to label (never trained on: a near-duplicate frame of a held-out video must not be).
 * Initial: `initialCount` labelled frames of the other groups, taken round-robin over shuffled groups (fewer, or
 * none, when fewer are labelled). Pool: every other frame of the training groups.
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
  for (const [name, value] of [['testVideos', options.testVideos], ['valVideos', options.valVideos]] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 0)) throw new Error(`${name} must be a whole number ≥ 0, got ${value}.`);
  }
  const splitKey = (item: { group: string; splitGroup?: string }) => item.splitGroup ?? item.group;
  const labelledGroups = [...new Set(items.filter((i) => i.labelled).map(splitKey))].sort();
  const labelledSet = new Set(labelledGroups);
  const unlabelledGroups = [...new Set(items.map(splitKey))].filter((g) => !labelledSet.has(g)).sort();
  const allGroups = labelledGroups.length + unlabelledGroups.length;
  // Labelled groups first (the same order as for a fully labelled dataset), then the unlabelled ones.
  const candidates = (stream: string, groups: { labelled: string[]; unlabelled: string[] }) =>
    [...new Random(seed, stream).shuffled(groups.labelled), ...new Random(seed, `${stream}-unlabelled`).shuffled(groups.unlabelled)];
  let testGroups: Set<string>;
  if (options.testGroups) {
    testGroups = new Set(options.testGroups);
  } else {
    const wanted = options.testVideos ?? Math.round(testShare * allGroups);
    const count = allGroups < 2 || wanted === 0 ? 0 : Math.min(allGroups - 1, Math.max(1, wanted));
    testGroups = new Set(candidates('split-test-groups', { labelled: labelledGroups, unlabelled: unlabelledGroups }).slice(0, count));
  }
  const valShare = options.valShare ?? DEFAULT_VAL_SHARE;
  if (!(valShare >= 0 && valShare < 1)) throw new Error(`valShare must be in [0, 1), got ${valShare}.`);
  const rest = { labelled: labelledGroups.filter((g) => !testGroups.has(g)), unlabelled: unlabelledGroups.filter((g) => !testGroups.has(g)) };
  const remaining = rest.labelled.length + rest.unlabelled.length;
  const wantedVal = options.valVideos ?? (valShare === 0 ? 0 : Math.max(1, Math.round(valShare * remaining)));
  const valCount = wantedVal === 0 || remaining < 3 ? 0 : Math.min(remaining - 2, wantedVal);
  const valGroups = new Set(candidates('split-val-groups', rest).slice(0, valCount));
  const held = (groups: Set<string>, labelled: boolean) => items.filter((i) => groups.has(splitKey(i)) && i.labelled === labelled).map((i) => i.id);
  const training = items.filter((i) => !testGroups.has(splitKey(i)) && !valGroups.has(splitKey(i)));
  const initial = drawInitialSet(training.filter((i) => i.labelled), initialCount, seed);
  const initialSet = new Set(initial);
  const pool = training.filter((i) => !initialSet.has(i.id)).map((i) => i.id);
  const testUnlabelled = held(testGroups, false);
  const valUnlabelled = held(valGroups, false);
  return {
    initial, pool, test: held(testGroups, true),
    ...(valShare === 0 && options.valVideos === undefined ? {} : { val: held(valGroups, true) }),
    ...(valUnlabelled.length > 0 ? { valUnlabelled } : {}),
    ...(testUnlabelled.length > 0 ? { testUnlabelled } : {}),
  };
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
  // The held-out videos are part of what the dataset is (datasets made without validation keep their ids with
  // valShare 0; counts of videos, where given, replace the shares).
  const valShare = options.valShare ?? DEFAULT_VAL_SHARE;
  const heldOut = options.testVideos !== undefined || options.valVideos !== undefined
    ? { valShare, testVideos: options.testVideos ?? null, valVideos: options.valVideos ?? null }
    : valShare === 0 ? undefined : { valShare };
  const fingerprint = heldOut ? createHash('sha256').update(options.fingerprint).update(JSON.stringify(heldOut)).digest('hex') : options.fingerprint;
  const datasetId = `ds-${fingerprint.slice(0, 20)}`;
  if (await store.exists(datasetKeys.manifest(datasetId))) {
    const manifest = await readManifest(store, datasetId);
    const previous = await readSummary(store, datasetId);
    return { datasetId, manifest, imported: manifest.itemCount, labelled: previous.labelled, skipped: previous.skipped, summaryKey: datasetKeys.importSummary(datasetId), reused: true };
  }
  try {
    return await writeImport(store, datasetId, options);
  } catch (error) {
    // All or nothing: what this import wrote goes (a later import of the same files would rewrite it anyway).
    await removeUnfinishedDataset(store, datasetId);
    throw error;
  }
}

/** Removes every object under a dataset's prefix, unless its manifest says the dataset is complete. */
export async function removeUnfinishedDataset(store: BlobStore, datasetId: string): Promise<number> {
  if (await store.exists(datasetKeys.manifest(datasetId))) return 0;
  const keys = await store.list(datasetKeys.prefix(datasetId));
  for (const key of keys) await store.remove(key);
  return keys.length;
}

async function writeImport(store: BlobStore, datasetId: string, options: RunImportOptions): Promise<ImportSummary> {
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
  // Frames without masks are imported as they are: a run asks doctors for the labels it needs (README, "Starting
  // from unlabelled studies").
  const labelled = items.filter((i) => i.maskKey).length;
  const splits = splitByGroup(items.map((i) => ({ id: i.id, group: i.group, splitGroup: i.splitGroup, labelled: i.maskKey !== undefined })), options);
  await store.putBytes(
    datasetKeys.importSummary(datasetId),
    new TextEncoder().encode(JSON.stringify({ imported: items.length, labelled, skipped })),
    'application/json',
  );
  const manifest = await writeDataset(store, { id: datasetId, name: options.name, size, source: options.source, seed: options.seed ?? 0 }, items, splits);
  return { datasetId, manifest, imported: items.length, labelled, skipped, summaryKey: datasetKeys.importSummary(datasetId), reused: false };
}

export interface UnfinishedDataset {
  datasetId: string;
  objects: number;
  /** When its newest object was written (ms since the epoch). */
  lastWriteMs: number;
}

/**
 * Dataset prefixes without a manifest — imports that failed before this version cleaned up, or were interrupted
 * (the process killed): nothing references their objects. `dataset gc` removes them.
 */
export async function listUnfinishedDatasets(store: Pick<ObjectStore, 'listWithTimes'>): Promise<UnfinishedDataset[]> {
  const byDataset = new Map<string, { objects: number; lastWriteMs: number; complete: boolean }>();
  for (const { key, modifiedMs } of await store.listWithTimes('datasets/')) {
    const [, datasetId, rest] = /^datasets\/([^/]+)\/(.*)$/.exec(key) ?? [];
    if (!datasetId) continue;
    const entry = byDataset.get(datasetId) ?? { objects: 0, lastWriteMs: 0, complete: false };
    entry.objects += 1;
    entry.lastWriteMs = Math.max(entry.lastWriteMs, modifiedMs);
    if (rest === 'manifest.json') entry.complete = true;
    byDataset.set(datasetId, entry);
  }
  return [...byDataset].filter(([, e]) => !e.complete).map(([datasetId, e]) => ({ datasetId, objects: e.objects, lastWriteMs: e.lastWriteMs }));
}
