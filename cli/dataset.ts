/** dataset list | show | import: what the runs train on. */
import fs from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { CAMUS_FRAMES, CAMUS_VIEWS, type CamusFrame, type CamusView, IMPORT_FORMATS, type ImportFormat } from '../contracts';
import { importCamus, importDicom, importFolderOfPairs, type ImportSummary, importSyntheticEcho } from '../data/import';
import { locateDicomTokens } from '../data/import/dicom';
import { dicomWebCacheFolder, importDicomWeb } from '../data/import/dicomweb';
import { HETEROGENEITY_KINDS, type HeterogeneityKind, type HeterogeneityOptions } from '../data/synthetic';
import { DEFAULT_VAL_SHARE, listUnfinishedDatasets, removeUnfinishedDataset, splitByGroup } from '../data/import/importCore';
import { datasetKeys, listDatasets, readItems, readManifest, readSplit, splitNames, writeDataset } from '../data/manifest';
import { MissingKeyError } from '../store/blobStore';
import { type CliContext, CliError, UsageError } from './context';
import { dicomSalt } from './dicomSalt';
import { dicomWebAuthorization } from './dicomWebToken';
import { rejectUnlessAllowed } from './options';
import { duration, integer, listOf, nonNegativeInt, numberIn, oneOf, positiveInt, regex } from './parse';
import { createProgress } from './progress';

interface ImportOptions {
  format: ImportFormat;
  dir?: string;
  size: number;
  initial: number;
  testShare: number;
  valShare: number;
  testVideos?: number;
  valVideos?: number;
  seed: number;
  name?: string;
  json?: boolean;
  maskPattern?: string;
  label?: number;
  groupRegex?: RegExp;
  groupCsv?: string;
  views?: CamusView[];
  frames?: string;
  splitLists?: boolean;
  videos?: number;
  framesPerVideo?: number;
  heterogeneity?: HeterogeneityOptions;
  every?: number;
  frameList?: number[];
  masks?: string;
  url?: string;
  study?: string[];
  query?: string;
  tokenFile?: string;
}

const COMMON_IMPORT_OPTIONS = ['format', 'size', 'initial', 'testShare', 'valShare', 'testVideos', 'valVideos', 'seed', 'name', 'json'];
/** Options each format reads, beyond the common ones. */
const FORMAT_OPTIONS: Record<ImportFormat, string[]> = {
  pairs: ['dir', 'maskPattern', 'label', 'groupRegex', 'groupCsv'],
  camus: ['dir', 'views', 'frames', 'splitLists', 'label'],
  dicom: ['dir', 'every', 'frameList', 'masks', 'label'],
  dicomweb: ['url', 'study', 'query', 'tokenFile', 'every', 'frameList', 'masks', 'label'],
  synthetic: ['dir', 'videos', 'framesPerVideo', 'heterogeneity'],
};

/** `none`, `default`, or `depth=0.1,gain=0.2,…` (the kinds of data/synthetic.ts; unnamed kinds 0). */
function heterogeneity(value: string): HeterogeneityOptions | undefined {
  if (value === 'none') return undefined;
  if (value === 'default') return {};
  const spec: Partial<Record<HeterogeneityKind, number>> = Object.fromEntries(HETEROGENEITY_KINDS.map((k) => [k, 0]));
  for (const part of value.split(',')) {
    const [kind, share] = part.split('=');
    if (!(HETEROGENEITY_KINDS as readonly string[]).includes(kind)) throw new InvalidArgumentError(`'${kind}' is not one of ${HETEROGENEITY_KINDS.join(', ')}.`);
    const n = Number(share);
    if (share === undefined || !(n >= 0 && n <= 1)) throw new InvalidArgumentError(`${kind} needs a share in [0, 1], e.g. ${kind}=0.1.`);
    spec[kind as HeterogeneityKind] = n;
  }
  return spec;
}

function maskPattern(value: string): string {
  if (!value.includes('{stem}')) throw new InvalidArgumentError('Must contain {stem}, e.g. \'{stem}_mask.png\'.');
  return value;
}

function camusFrames(value: string | undefined): CamusFrame[] | 'half_sequence' {
  if (value === 'half_sequence') return 'half_sequence';
  return value === undefined ? ['ED', 'ES'] : listOf(oneOf(CAMUS_FRAMES))(value);
}

/**
 * The summary on the terminal. `localName` turns the tokens a DICOM import stores instead of file names back into the
 * paths the user gave — here only, on the machine that holds the files (never into the store or a log).
 */
function printSummary(
  summary: ImportSummary,
  json: boolean | undefined,
  localName: (file: string) => string = (file) => file,
  retrieval?: { downloaded: number; cached: number },
): void {
  const skipped = summary.skipped.map((skip) => ({ ...skip, file: localName(skip.file) }));
  if (json) {
    console.log(JSON.stringify({
      datasetId: summary.datasetId, reused: summary.reused, imported: summary.imported, labelled: summary.labelled,
      splits: summary.manifest.splits.counts, skipped, summaryKey: summary.summaryKey, ...retrieval,
    }, null, 2));
    return;
  }
  if (retrieval) console.log(`retrieved ${retrieval.downloaded} instances over DICOMweb; ${retrieval.cached} were already in the local cache`);
  const c = summary.manifest.splits.counts;
  const unlabelledHeldOut = (c.valUnlabelled ?? 0) + (c.testUnlabelled ?? 0);
  console.log(`${summary.reused ? 'already imported' : 'imported'} ${summary.datasetId}: ${summary.imported} images (${summary.labelled} labelled); ` +
    `initial ${c.initial}, pool ${c.pool}, validation ${c.val ?? 0}, test ${c.test}` +
    (unlabelledHeldOut > 0 ? `; unlabelled frames of the validation and test videos: ${c.valUnlabelled ?? 0} and ${c.testUnlabelled ?? 0}` : ''));
  if (summary.labelled < summary.imported && c.test === 0) {
    console.log('  not every frame has a mask: `client.ts al start` on this dataset first asks doctors to label test, validation and initial frames');
  }
  for (const skip of skipped) console.log(`  skipped ${skip.file}: ${skip.reason}`);
}

async function runImport(ctx: CliContext, options: ImportOptions, command: Command): Promise<void> {
  // Everything about the command line is checked before any service is contacted.
  rejectUnlessAllowed(command, [...COMMON_IMPORT_OPTIONS, ...FORMAT_OPTIONS[options.format]],
    (flag) => `${flag} does not apply to --format ${options.format}`);
  if (options.groupRegex && options.groupCsv) throw new UsageError('give --group-regex or --group-csv, not both');
  if (options.every && options.frameList) throw new UsageError('give --every or --frame-list, not both');
  if (options.masks && !(fs.existsSync(options.masks) && fs.statSync(options.masks).isDirectory())) throw new UsageError(`--masks ${options.masks} is not a folder`);
  const dicomWeb = options.format === 'dicomweb' ? dicomWebRequest(ctx, options) : undefined;
  const dicomLike = options.format === 'dicom' || options.format === 'dicomweb';
  const salt = dicomLike ? dicomSalt(ctx) : undefined;
  const frames = options.format === 'camus' ? camusFrames(options.frames) : undefined;
  let dir: string;
  if (dicomWeb) {
    dir = dicomWeb.cacheFolder;
  } else if (options.format === 'synthetic') {
    const variety = options.heterogeneity ? `-h${Object.entries(options.heterogeneity).map(([k, v]) => `${k[0]}${v}`).join('') || 'default'}` : '';
    dir = path.resolve(options.dir ?? path.join(ctx.config.dataDir, 'synthetic',
      `v${options.videos ?? 20}-f${options.framesPerVideo ?? 30}-s${options.size}-seed${options.seed}${variety}`));
  } else {
    if (!options.dir) throw new UsageError(`--format ${options.format} needs --dir`);
    dir = path.resolve(options.dir);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`--dir ${dir} is not a folder`);
  }

  const progress = createProgress({ withTotal: true });
  const split = {
    seed: options.seed, initialCount: options.initial, testShare: options.testShare, valShare: options.valShare,
    ...(options.testVideos !== undefined ? { testVideos: options.testVideos } : {}),
    ...(options.valVideos !== undefined ? { valVideos: options.valVideos } : {}),
    onProgress: (done: number, total: number) => progress.update('files processed', done, total),
  };
  const store = ctx.store();
  await store.ensureBucket();
  let summary: ImportSummary;
  let retrieval: { downloaded: number; cached: number } | undefined;
  const dicomFrames = options.every || options.frameList ? { frames: { every: options.every, list: options.frameList } } : {};
  try {
    if (options.format === 'synthetic') {
      fs.mkdirSync(dir, { recursive: true });
      progress.update(`generating synthetic echo videos into ${dir}`);
      summary = await importSyntheticEcho(store, {
        dir, size: options.size, ...split, videos: options.videos ?? 20, framesPerVideo: options.framesPerVideo ?? 30,
        ...(options.heterogeneity ? { heterogeneity: options.heterogeneity } : {}),
      });
    } else if (options.format === 'pairs') {
      const groupFrom = options.groupCsv ? { csv: options.groupCsv } : options.groupRegex;
      summary = await importFolderOfPairs(store, {
        dir, size: options.size, ...split, groupFrom, name: options.name, maskPattern: options.maskPattern, label: options.label,
      });
    } else if (options.format === 'dicom') {
      summary = await importDicom(store, {
        dir, size: options.size, ...split, salt: salt!, name: options.name, label: options.label,
        ...(options.masks ? { masksDir: path.resolve(options.masks) } : {}),
        ...dicomFrames,
      });
    } else if (dicomWeb) {
      const result = await importDicomWeb(store, {
        ...dicomWeb.request, size: options.size, ...split, salt: salt!, name: options.name, label: options.label,
        ...(options.masks ? { masksDir: path.resolve(options.masks) } : {}),
        ...dicomFrames,
        onRetrieve: (done, total) => progress.update('instances retrieved over DICOMweb', done, total),
      });
      summary = result;
      retrieval = { downloaded: result.downloaded, cached: result.cached };
    } else {
      summary = await importCamus(store, {
        dir, size: options.size, ...split, frames: frames!, name: options.name, views: options.views ?? ['2CH'],
        label: options.label ?? 1, splitLists: options.splitLists,
      });
    }
  } finally {
    progress.stop();
  }
  const tokens = dicomLike && summary.skipped.length > 0
    ? await locateDicomTokens({ dir, salt: salt!, ...(options.masks ? { masksDir: path.resolve(options.masks) } : {}) })
    : undefined;
  printSummary(summary, options.json, tokens ? (file) => (tokens.has(file) ? path.relative(process.cwd(), tokens.get(file)!) || tokens.get(file)! : file) : undefined, retrieval);
}

/**
 * `--format dicomweb`'s server, selection and credentials, checked before anything is contacted. Instances are cached
 * under `<data dir>/dicomweb` (one folder per server), where a later run finds what an interrupted one stored.
 */
function dicomWebRequest(ctx: CliContext, options: ImportOptions) {
  if (!options.url) throw new UsageError('--format dicomweb needs --url, the DICOMweb root (e.g. http://127.0.0.1:8042/dicom-web)');
  if (options.study?.length && options.query) throw new UsageError('give --study or --query, not both');
  // A hospital archive holds every patient's studies: the selection is always said, never "everything".
  if (!options.study?.length && !options.query) throw new UsageError('--format dicomweb needs --study UID… or --query, e.g. --query \'ModalitiesInStudy=US&StudyDate=20240101-20241231\'');
  const badStudy = options.study?.find((uid) => !/^[0-9]+(\.[0-9]+)*$/.test(uid) || uid.length > 64);
  if (badStudy !== undefined) throw new UsageError(`--study takes Study Instance UIDs (digits and dots, up to 64 characters); '${badStudy}' is not one`);
  const authorization = dicomWebAuthorization(options.tokenFile);
  const cacheDir = path.join(ctx.config.dataDir, 'dicomweb');
  return {
    cacheFolder: dicomWebCacheFolder(cacheDir, options.url),
    request: {
      url: options.url, cacheDir,
      ...(options.study?.length ? { studies: options.study } : {}),
      ...(options.query ? { query: options.query } : {}),
      ...(authorization ? { authorization } : {}),
    },
  };
}

export function registerDatasetCommands(program: Command, ctx: CliContext): void {
  const dataset = program.command('dataset').description('imported datasets: list, show, import, resplit, gc');

  dataset.command('list').description('list imported datasets')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }) => {
      const manifests = await listDatasets(ctx.store());
      if (options.json) return console.log(JSON.stringify(manifests, null, 2));
      if (manifests.length === 0) return console.log('no datasets yet; `client.ts dataset import …` adds one');
      for (const m of manifests) {
        const c = m.splits.counts;
        console.log(`${m.id}  ${m.size[0]}×${m.size[1]}  ${m.itemCount} images (initial ${c.initial}, pool ${c.pool}, val ${c.val ?? '—'}, test ${c.test})  ${m.name}`);
      }
    });

  dataset.command('show').description('show a dataset\'s manifest and splits')
    .argument('<id>', 'dataset id')
    .option('--json', 'print the manifest as JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      let manifest;
      try {
        manifest = await readManifest(ctx.store(), id);
      } catch (error) {
        if (error instanceof MissingKeyError) throw new CliError(`no dataset '${id}'; \`client.ts dataset list\` shows the imported ones`);
        throw error;
      }
      if (options.json) return console.log(JSON.stringify(manifest, null, 2));
      console.log(`${manifest.id}: ${manifest.name}\n  source ${manifest.source}, ${manifest.size[0]}×${manifest.size[1]}, ${manifest.itemCount} images, created ${manifest.createdAt}`);
      for (const split of splitNames) {
        if (split === 'val' && !manifest.splits.valKey) {
          console.log('  val          —  (no validation split: `client.ts dataset resplit` adds one)');
          continue;
        }
        const ids = await readSplit(ctx.store(), id, split);
        console.log(`  ${split.padEnd(7)} ${String(ids.length).padStart(6)}  ${ids.slice(0, 4).join(', ')}${ids.length > 4 ? ', …' : ''}`);
      }
    });

  dataset.command('resplit').description('a new dataset with a validation split carved from another\'s training videos (same images, same test set)')
    .argument('<id>', 'dataset id')
    .option('--val-share <share>', 'share of the training videos held out for validation', numberIn(0, 0.9, 'a share in (0, 0.9]'), DEFAULT_VAL_SHARE)
    .option('--seed <n>', 'seed of the new split', integer, 0)
    .option('--json', 'print the new dataset as JSON')
    .action(async (id: string, options: { valShare: number; seed: number; json?: boolean }) => {
      const store = ctx.store();
      let manifest;
      try {
        manifest = await readManifest(store, id);
      } catch (error) {
        if (error instanceof MissingKeyError) throw new CliError(`no dataset '${id}'; \`client.ts dataset list\` shows the imported ones`);
        throw error;
      }
      const items = await readItems(store, manifest);
      const test = new Set(await readSplit(store, id, 'test'));
      const splitKey = (item: { group: string; splitGroup?: string }) => item.splitGroup ?? item.group;
      const testGroups = [...new Set(items.filter((i) => test.has(i.id)).map(splitKey))];
      const splits = splitByGroup(items.map((i) => ({ id: i.id, group: i.group, splitGroup: i.splitGroup, labelled: i.maskKey !== undefined })), {
        seed: options.seed, initialCount: manifest.splits.counts.initial, testGroups, valShare: options.valShare,
      });
      const newId = `${id}-val${Math.round(options.valShare * 100)}${options.seed ? `-s${options.seed}` : ''}`;
      const reused = await store.exists(datasetKeys.manifest(newId));
      const written = reused ? await readManifest(store, newId) : await writeDataset(store, {
        id: newId, name: `${manifest.name} (validation ${options.valShare})`, size: manifest.size, source: manifest.source, seed: options.seed,
      }, items, splits);
      const c = written.splits.counts;
      if (options.json) return console.log(JSON.stringify({ datasetId: newId, from: id, reused, splits: c }, null, 2));
      console.log(`${reused ? 'already made' : 'made'} ${newId} from ${id}: initial ${c.initial}, pool ${c.pool}, validation ${c.val ?? 0}, test ${c.test} (the same test set)`);
    });

  dataset.command('gc').description('remove the objects of imports that did not finish (no manifest references them)')
    .option('--min-age <duration>', 'leave alone what was written more recently (an import may still be running)', duration, 3600_000)
    .option('--dry-run', 'list what would be removed, remove nothing')
    .option('--json', 'print as JSON')
    .action(async (options: { minAge: number; dryRun?: boolean; json?: boolean }) => {
      const store = ctx.store();
      const cutoff = Date.now() - options.minAge;
      const unfinished = await listUnfinishedDatasets(store);
      const old = unfinished.filter((d) => d.lastWriteMs <= cutoff);
      const removed: { datasetId: string; objects: number }[] = [];
      for (const d of old) removed.push({ datasetId: d.datasetId, objects: options.dryRun ? d.objects : await removeUnfinishedDataset(store, d.datasetId) });
      const recent = unfinished.filter((d) => d.lastWriteMs > cutoff).map((d) => d.datasetId);
      if (options.json) return console.log(JSON.stringify({ dryRun: Boolean(options.dryRun), removed, leftRecent: recent }, null, 2));
      if (old.length === 0) console.log('nothing to remove: every dataset prefix has a manifest' + (recent.length ? ` (or was written in the last ${options.minAge / 60_000} min)` : ''));
      for (const r of removed) console.log(`${options.dryRun ? 'would remove' : 'removed'} ${r.objects} objects of ${r.datasetId}`);
      for (const id of recent) console.log(`left ${id}: written in the last ${options.minAge / 60_000} min (an import may still be running; --min-age 0s removes it)`);
    });

  dataset.command('import').description('import a folder of image/mask pairs, a CAMUS release, DICOM ultrasound (a folder or a PACS over DICOMweb), or generate a synthetic echo set')
    .addOption(new Option('--format <format>', 'what to import').choices(IMPORT_FORMATS).default('pairs'))
    .option('--dir <dir>', 'the folder to import (synthetic: where the generated files go)')
    .option('--size <px>', 'images are resized to size × size', positiveInt, 256)
    .option('--initial <n>', 'labelled images in the initial training set, spread over videos', positiveInt, 40)
    .option('--test-share <share>', 'share of videos held out for testing', numberIn(0, 0.999999, 'a share in (0, 1)'), 0.2)
    .option('--val-share <share>', 'share of the training videos held out for validation (0: none)', numberIn(0, 0.9, 'a share in [0, 0.9]', true), DEFAULT_VAL_SHARE)
    .option('--test-videos <n>', 'videos (studies) held out for testing, instead of --test-share', nonNegativeInt)
    .option('--val-videos <n>', 'videos held out for validation, instead of --val-share', nonNegativeInt)
    .option('--seed <n>', 'seed of the split (and of the synthetic data)', integer, 0)
    .option('--name <text>', 'a name for the dataset')
    .option('--json', 'print the import summary as JSON')
    .option('--mask-pattern <pattern>', 'pairs: mask file name for an image, with {stem} (default {stem}_mask.png)', maskPattern)
    .option('--label <n>', 'pairs, camus, dicom, dicomweb: the label value of the structure in multi-label masks', positiveInt)
    .option('--group-regex <regex>', 'pairs: the video of a file, from the first capture group of this regex on its path', regex)
    .option('--group-csv <file>', 'pairs: a CSV of file,group')
    .option('--views <list>', 'camus: views to import (2CH, 4CH)', listOf(oneOf(CAMUS_VIEWS)))
    .option('--frames <which>', 'camus: ED,ES or half_sequence')
    .option('--split-lists', 'camus: use the release\'s official test patients')
    .option('--videos <n>', 'synthetic: videos to generate', positiveInt)
    .option('--frames-per-video <n>', 'synthetic: frames per video', positiveInt)
    .option('--heterogeneity <spec>', 'synthetic: atypical videos: none, default, or depth=0.1,gain=0.1,foreshortened=0.1,dropout=0.15,confusion=0.1', heterogeneity)
    .option('--every <n>', 'dicom, dicomweb: every Nth frame of each file (frame 1, 1+N, …)', positiveInt)
    .option('--frame-list <list>', 'dicom, dicomweb: these frame numbers (1-based) of each file', listOf(positiveInt))
    .option('--masks <dir>', 'dicom, dicomweb: folder of PNG masks (<file stem>_<frame>.png or <SOPInstanceUID>_<frame>.png)')
    .option('--url <url>', 'dicomweb: the DICOMweb root of the PACS, e.g. http://127.0.0.1:8042/dicom-web')
    .option('--study <uid...>', 'dicomweb: the Study Instance UIDs to import (default: every study --query finds)')
    .option('--query <params>', 'dicomweb: QIDO-RS search parameters for the studies, e.g. \'ModalitiesInStudy=US&StudyDate=20240101-20241231\'')
    .option('--token-file <file>', 'dicomweb: a file holding the access token (sent as a bearer token) or a whole Authorization value (\'Basic …\')')
    .action((options: ImportOptions, command: Command) => runImport(ctx, options, command));
}
