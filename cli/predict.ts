/**
 * `predict`: a trained model applied to new images, outputs at their original size (ml/predict.ts).
 *
 *   predict (--run ID | --model KEY | --package DIR) (--input DIR | --dataset ID) --out DIR [--engine tf|onnx]
 *           [--uncertainty [--samples 30] [--seed 0]] [--overlay] [--batch 8] [--local | --workflow [--id ID]] [--json]
 *           [--dicom-seg DIR] [--stow URL [--token-file F]]
 *
 * Where it runs: up to `LOCAL_MAX_IMAGES` images in this process, more as the `predict` workflow on the workers
 * (`--local` / `--workflow` decide). For the workflow, a local folder's frames are uploaded first (decoded, as 16-bit
 * PNGs: pixels only, no DICOM attributes) under `predict/<id>/frames/`, a package under `predict/<id>/model-<hash>`; the
 * outputs are written under `predict/<id>/out/` and downloaded to `--out`. Running again with the same `--id`
 * (after a failure) reuses every batch already written; a run still in progress under that id is followed instead.
 *
 * `--engine onnx` (the default: measured faster, `DEFAULT_PREDICT_ENGINE`) computes the masks with ONNX Runtime on the
 * model converted in-process (with `--uncertainty`, the MC prefix too; the stochastic tail stays in tfjs); `--engine tf`
 * with tfjs. The engine is written into every request, since a recorded request without one means `tf`.
 * `--package` takes a tfjs package or an ONNX one (`export --format onnx`, or a `.onnx` file): an ONNX file is checked
 * before anything is written (a truncated, foreign or mismatched file is refused with the reason) and runs in this
 * process on ONNX Runtime, without uncertainty (the file holds no dropout model).
 *
 * `--dicom-seg` / `--stow` (DICOM folder inputs only): the masks also as DICOM SEG objects, one per source series,
 * and sent to a DICOMweb server with STOW-RS (cli/predictSeg.ts, export/segResults.ts).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { type Command, Option } from 'commander';
import {
  DEFAULT_PREDICT_ENGINE, DEFAULT_TIMEOUTS, PREDICT_ENGINES, PREDICT_INPUT_FORMATS, type PredictEngine, predictKeys, type PredictInput, type PredictInputFormat, type PredictItem, type PredictModel,
  type PredictOptions, type PredictPlan, type PredictResult, recordedEngine,
} from '../contracts';
import { type ModelPackage, readModelPackage } from '../export/package';
import type { PredictionModels } from '../ml/predict';
import type { BlobStore } from '../store/blobStore';
import { predict } from '../workflows';
import { predictProgressQuery } from '../workflows/predict';
import { type CliContext, CliError, UsageError } from './context';
import { resolveModelKey, resolveRunModel } from './export';
import { flagOf, givenOptions } from './options';
import { integer, positiveInt } from './parse';
import { createProgress, type Progress } from './progress';
import type { InputSkip } from './predictInputs';
import { checkSegInputs, runSegResults, segAlgorithm, type SegCliOptions, segRequest, segSummaryLines } from './predictSeg';

/** Inputs up to this many images run in the CLI process unless `--workflow` is given; larger ones on the workers. */
export const LOCAL_MAX_IMAGES = 64;

interface PredictCliOptions extends SegCliOptions {
  run?: string;
  model?: string;
  package?: string;
  input?: string;
  dataset?: string;
  format?: PredictInputFormat;
  out: string;
  uncertainty?: boolean;
  overlay?: boolean;
  samples: number;
  seed: number;
  batch: number;
  local?: boolean;
  workflow?: boolean;
  id?: string;
  json?: boolean;
  engine: PredictEngine;
}

type ModelSource = { kind: 'store'; modelKey: string; uncertaintyKey?: string } | { kind: 'package'; dir: string } | { kind: 'onnx-package'; file: string; inputShape: [number, number, number] };

/** An ONNX package's limits: it runs here, on ONNX Runtime, without an uncertainty model. */
function checkOnnxPackage(options: PredictCliOptions, given: string[], file: string): void {
  const refuse = (what: string) => new UsageError(`--package ${file} is an ONNX model: ${what}`);
  if (options.uncertainty) throw refuse('it holds no MC-dropout model, so --uncertainty needs the tfjs package (`export` without --format onnx)');
  if (options.workflow) throw refuse('it runs in this process only (--local); the workers take tfjs packages');
  if (given.includes('engine') && options.engine !== 'onnx') throw refuse(`it runs on ONNX Runtime only (--engine onnx), not --engine ${options.engine}`);
}

/** The command line, checked completely before any file is read or service contacted; the package, when one is given. */
function checkOptions(options: PredictCliOptions, command: Command): ModelPackage | undefined {
  const given = givenOptions(command);
  const flags = (names: string[]) => names.filter((n) => given.includes(n)).map((n) => flagOf(command, n));
  const models = flags(['run', 'model', 'package']);
  if (models.length === 0) throw new UsageError('give the model: --run ID, --model KEY or --package DIR');
  if (models.length > 1) throw new UsageError(`give one model: ${models.join(' and ')} conflict`);
  const inputs = flags(['input', 'dataset']);
  if (inputs.length === 0) throw new UsageError('give the images: --input DIR or --dataset ID');
  if (inputs.length > 1) throw new UsageError('give one input: --input and --dataset conflict');
  if (options.local && options.workflow) throw new UsageError('--local and --workflow conflict: give one (or neither, to decide by size)');
  if (options.format && !options.input) throw new UsageError('--format applies to --input folders only');
  const mcOnly = flags(['samples', 'seed']);
  if (mcOnly.length > 0 && !options.uncertainty) throw new UsageError(`${mcOnly[0]} applies with --uncertainty only`);
  if (options.id && options.local) throw new UsageError('--id names a workflow run; it does not apply with --local');
  let modelPackage: ModelPackage | undefined;
  if (options.package) {
    try {
      modelPackage = readModelPackage(path.resolve(options.package));
    } catch (error) {
      throw new UsageError(`--package ${(error as Error).message}`);
    }
    if (modelPackage.kind === 'onnx') checkOnnxPackage(options, given, modelPackage.file);
  }
  if (options.input) {
    const dir = path.resolve(options.input);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`--input ${dir} is not a folder`);
  }
  const out = path.resolve(options.out);
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new UsageError(`--out ${out} is a file, not a folder`);
  return modelPackage;
}

async function inputItems(ctx: CliContext, options: PredictCliOptions): Promise<{ items: PredictItem[]; skipped: InputSkip[]; description: string }> {
  if (options.input) {
    const dir = path.resolve(options.input);
    const { MixedInputError, scanInputFolder } = await import('./predictInputs');
    try {
      const scan = await scanInputFolder(dir, options.format);
      if (scan.items.length === 0) {
        throw new CliError(`no readable ${scan.format} images in ${dir}${scan.skipped.length ? `: ${scan.skipped.slice(0, 3).map((s) => `${s.file}: ${s.reason}`).join('; ')}` : ''}`);
      }
      return { items: scan.items, skipped: scan.skipped, description: `${scan.format} folder ${path.basename(dir)}` };
    } catch (error) {
      if (error instanceof MixedInputError) throw new UsageError(error.message);
      if (error instanceof CliError) throw error;
      throw new CliError((error as Error).message);
    }
  }
  const datasetId = options.dataset!;
  const { readItems, readManifest } = await import('../data/manifest');
  const { MissingKeyError } = await import('../store/blobStore');
  let manifest;
  try {
    manifest = await readManifest(ctx.store(), datasetId);
  } catch (error) {
    if (error instanceof MissingKeyError) throw new CliError(`no dataset '${datasetId}'; \`client.ts dataset list\` shows the imported ones`);
    throw error;
  }
  const items = (await readItems(ctx.store(), manifest)).map((item, index): PredictItem => ({
    id: item.id, group: item.group, order: index, originalSize: item.originalSize ?? manifest.size,
    ...(item.crop ? { crop: item.crop } : {}),
    ...(item.spacing ? { spacing: item.spacing } : {}),
    source: { kind: 'dataset', datasetId, itemId: item.id },
  }));
  return { items, skipped: [], description: `dataset ${datasetId}` };
}

async function modelSource(ctx: CliContext, options: PredictCliOptions, modelPackage: ModelPackage | undefined): Promise<ModelSource> {
  if (modelPackage) return modelPackage.kind === 'onnx' ? { kind: 'onnx-package', file: modelPackage.file, inputShape: modelPackage.metadata.inputShape } : { kind: 'package', dir: modelPackage.dir };
  const resolved = options.run ? await resolveRunModel(ctx, options.run) : await resolveModelKey(ctx, options.model!);
  return { kind: 'store', modelKey: resolved.modelKey, ...(resolved.uncertaintyKey ? { uncertaintyKey: resolved.uncertaintyKey } : {}) };
}

function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A package as a stored model in `store`, named by its weights' hash: in memory for local runs (`package/<hash>`),
 * under the run's prefix for the workers.
 */
async function packageModel(dir: string, store: BlobStore, predictId?: string): Promise<PredictModel> {
  const { packageAsStoredModel } = await import('../export/package');
  const hash = sha256(fs.readFileSync(path.join(dir, 'weights.bin')));
  const keys = predictId
    ? { model: predictKeys.model(predictId, hash), uncertainty: predictKeys.uncertaintyModel(predictId, hash) }
    : { model: `package/${hash.slice(0, 16)}`, uncertainty: `package/${hash.slice(0, 16)}-unc` };
  const stored = await packageAsStoredModel(dir, store, keys.model, keys.uncertainty);
  return { modelKey: stored.modelKey, ...(stored.uncertaintyKey ? { uncertaintyKey: stored.uncertaintyKey } : {}) };
}

/** An exported ONNX file as the segmentation engine (checked by `readModelPackage` already). */
async function onnxPackageModels(file: string, inputShape: [number, number, number]): Promise<PredictionModels> {
  const { createOnnxSession, sessionEngine } = await import('../export/onnx/session');
  let session;
  try {
    session = await createOnnxSession(file);
  } catch (error) {
    throw new CliError(`ONNX Runtime cannot load ${file}: ${(error as Error).message.split('\n')[0]}`);
  }
  const segmentation = sessionEngine(session, inputShape);
  return { segmentation, dispose: () => segmentation.dispose() };
}

interface Outcome {
  images: number;
  videos: number;
  batches: number;
  computedBatches: number;
  skippedBatches: number;
  workflowId?: string;
  stopped?: boolean;
}

async function runLocal(ctx: CliContext, items: PredictItem[], source: ModelSource, options: PredictCliOptions, predictOptions: PredictOptions,
  out: string, progress: Progress): Promise<Outcome> {
  const { initBackend } = await import('../ml/backend');
  await initBackend(undefined, (line) => console.error(line));
  const engine = await import('../ml/predict');
  const { FolderBlobStore } = await import('../ml/train/checkpoint');
  const { MemoryBlobStore } = await import('../store/blobStore');
  const { localFrameSource } = await import('./predictInputs');
  const { storeFrameSource } = await import('../activities/predict');
  let model: PredictModel;
  let models: PredictionModels;
  progress.update('loading the model');
  if (source.kind === 'onnx-package') {
    model = { modelKey: `onnx/${sha256(fs.readFileSync(source.file)).slice(0, 16)}` };
    models = await onnxPackageModels(source.file, source.inputShape);
  } else {
    let modelStore: BlobStore;
    if (source.kind === 'package') {
      modelStore = new MemoryBlobStore();
      model = await packageModel(source.dir, modelStore);
    } else {
      modelStore = ctx.store();
      model = { modelKey: source.modelKey, ...(source.uncertaintyKey ? { uncertaintyKey: source.uncertaintyKey } : {}) };
    }
    const { engineFactory } = await import('../activities/predict');
    models = await engine.loadPredictionModels(modelStore, model, predictOptions.uncertainty, engineFactory(recordedEngine(predictOptions.engine)));
  }
  const files = localFrameSource();
  const stored = items.some((i) => i.source.kind !== 'file') ? storeFrameSource(ctx.store()) : undefined;
  const frames = { load: (item: PredictItem) => (item.source.kind === 'file' ? files.load(item) : stored!.load(item)) };
  const outStore = new FolderBlobStore(out);
  const batches = engine.batchCount(items.length, options.batch);
  let computed = 0;
  let done = 0;
  try {
    for (let batch = 0; batch < batches; batch++) {
      const batchItems = engine.batchItems(items, options.batch, batch);
      const result = await engine.predictBatch({
        batch, items: batchItems, models, frames, out: outStore, root: '', options: predictOptions,
        fingerprint: engine.batchFingerprint(model, predictOptions, batch, batchItems),
      });
      if (result.computed) computed += 1;
      done += batchItems.length;
      progress.update('images predicted', done, items.length);
    }
  } finally {
    models.dispose();
  }
  const tables = await engine.writePredictionTables(outStore, '', batches);
  return { images: tables.images, videos: tables.videos, batches, computedBatches: computed, skippedBatches: batches - computed };
}

/** Local frames → 16-bit PNGs under predict/<id>/frames/ (a few at a time); dataset items stay as they are. */
async function uploadFrames(ctx: CliContext, predictId: string, items: PredictItem[], progress: Progress): Promise<PredictItem[]> {
  const local = items.filter((i) => i.source.kind === 'file');
  if (local.length === 0) return items;
  const { localFrameSource } = await import('./predictInputs');
  const { encodeFramePng } = await import('../ml/predict');
  const frames = localFrameSource();
  const uploaded = new Map<string, PredictItem>();
  let next = 0;
  const worker = async () => {
    while (next < local.length) {
      const item = local[next++];
      const { frame } = await frames.load(item);
      const png = await encodeFramePng(frame!);
      const key = predictKeys.frame(predictId, item.id);
      await ctx.store().putBytes(key, png, 'image/png');
      uploaded.set(item.id, { ...item, source: { kind: 'stored-frame', key, sha256: sha256(png) } });
      progress.update('frames uploaded', uploaded.size, local.length);
    }
  };
  // Frames of one file are consecutive: one worker per file at a time keeps the decoded-file cache useful.
  await Promise.all([worker(), worker()]);
  return items.map((item) => uploaded.get(item.id) ?? item);
}

async function runWorkflow(ctx: CliContext, items: PredictItem[], description: string, source: ModelSource, options: PredictCliOptions,
  predictOptions: PredictOptions, out: string, progress: Progress): Promise<Outcome> {
  const store = ctx.store();
  await store.ensureBucket();
  const client = await ctx.temporal();
  const predictId = options.id ?? `predict-${Date.now()}`;
  if (source.kind === 'onnx-package') throw new CliError('an ONNX package runs in this process only (--local)');
  const model: PredictModel = source.kind === 'package'
    ? await packageModel(source.dir, store, predictId)
    : { modelKey: source.modelKey, ...(source.uncertaintyKey ? { uncertaintyKey: source.uncertaintyKey } : {}) };
  const planItems = await uploadFrames(ctx, predictId, items, progress);
  const hash = sha256(JSON.stringify({ batchSize: options.batch, items: planItems }));
  const plan: PredictPlan = { predictId, createdAt: new Date().toISOString(), batchSize: options.batch, description, items: planItems };
  const planKey = predictKeys.plan(predictId, hash);
  await store.putJson(planKey, plan);
  const input: PredictInput = {
    planKey, batchCount: Math.ceil(planItems.length / options.batch), imageCount: planItems.length, outputPrefix: predictKeys.output(predictId),
    model, options: predictOptions, taskQueues: ctx.config.taskQueues, timeouts: DEFAULT_TIMEOUTS,
  };
  let handle;
  try {
    handle = await client.workflow.start(predict, { taskQueue: ctx.config.taskQueues.light, workflowId: predictId, args: [input] });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    console.error(`${predictId} is already running: following it (its own plan and model, not this command's)`);
    handle = client.workflow.getHandle<typeof predict>(predictId);
  }
  if (!options.json) console.error(`workflow ${predictId}: ${ctx.uiUrl(predictId)}`);
  let finished = false;
  const result = handle.result().finally(() => {
    finished = true;
  });
  result.catch(() => undefined);
  while (!finished) {
    try {
      const p = await handle.query(predictProgressQuery);
      progress.update(p.stage === 'predicting' ? `images predicted (${p.skippedBatches} batches already written)` : p.stage, p.imagesDone, p.imageCount);
    } catch {
      // between continue-as-new runs a query can miss; the next poll catches up
    }
    await Promise.race([result.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000))]);
  }
  let outcome: PredictResult;
  try {
    outcome = await result;
  } catch (error) {
    throw new CliError(`prediction run '${predictId}' failed: ${(error as { cause?: Error }).cause?.message ?? (error as Error).message}`);
  }
  const keys = await store.list(`${outcome.outputPrefix}/`);
  let downloaded = 0;
  for (const key of keys) {
    const file = path.join(out, key.slice(outcome.outputPrefix.length + 1));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, await store.getBytes(key));
    progress.update('files downloaded', ++downloaded, keys.length);
  }
  return {
    images: outcome.images, videos: outcome.videos, batches: outcome.batchCount, computedBatches: outcome.computedBatches,
    skippedBatches: outcome.skippedBatches, workflowId: predictId, ...(outcome.stopped ? { stopped: true } : {}),
  };
}

export function registerPredictCommand(program: Command, ctx: CliContext): void {
  program.command('predict')
    .description('segment new images with a trained model: masks, LV areas, optional overlays and uncertainty, at the original size')
    .option('--run <id>', 'the latest segmentation model of this run (active learning, pipeline or search)')
    .option('--model <key>', 'a model in the object store (a prefix with config.json and final/)')
    .option('--package <dir>', 'an exported package (`client.ts export`; an ONNX one or a .onnx file runs here on ONNX Runtime)')
    .option('--input <dir>', 'a folder of PNG/JPEG/TIFF images, a CAMUS release or DICOM files')
    .addOption(new Option('--format <format>', 'what --input holds (default: detected)').choices(PREDICT_INPUT_FORMATS))
    .option('--dataset <id>', 'every item of an imported dataset, at its original size')
    .requiredOption('--out <dir>', 'where masks, overlays, uncertainty maps and the CSVs go')
    .option('--uncertainty', 'MC-dropout uncertainty: a map per image and a score (mean predictive entropy)')
    .option('--samples <T>', 'Monte Carlo dropout samples', positiveInt, 30)
    .option('--seed <n>', 'seed of the dropout masks', integer, 0)
    .option('--overlay', 'also write each frame with the LV contour drawn on it')
    .option('--batch <n>', 'images per batch (the unit of work and of resumption)', positiveInt, 8)
    .option('--local', `run in this process (default up to ${LOCAL_MAX_IMAGES} images)`)
    .option('--workflow', `run as a workflow on the workers (default above ${LOCAL_MAX_IMAGES} images)`)
    .option('--id <id>', 'workflow id (default predict-<timestamp>); the same id again resumes a failed run')
    .addOption(new Option('--engine <engine>', 'what computes the masks: ONNX Runtime on the model converted in-process (measured 1.4× faster than tfjs here), or tfjs').choices(PREDICT_ENGINES).default(DEFAULT_PREDICT_ENGINE))
    .option('--dicom-seg <dir>', 'also write the masks as DICOM SEG objects, one per source series (--input of DICOM files only)')
    .option('--stow <url>', 'send the SEG objects to this DICOMweb server with STOW-RS (e.g. http://127.0.0.1:8042/dicom-web)')
    .option('--token-file <file>', 'with --stow: a file holding the access token (a bare token is sent as Bearer)')
    .option('--json', 'print the outcome as JSON')
    .action(async (options: PredictCliOptions, command: Command) => {
      const modelPackage = checkOptions(options, command);
      const started = Date.now();
      const out = path.resolve(options.out);
      const seg = segRequest(options, out);
      const { items, skipped, description } = await inputItems(ctx, options);
      if (seg) await checkSegInputs(items);
      const source = await modelSource(ctx, options, modelPackage);
      const engine = source.kind === 'onnx-package' ? 'onnx' : options.engine;
      const predictOptions: PredictOptions = {
        uncertainty: Boolean(options.uncertainty), overlay: Boolean(options.overlay), samples: options.samples, seed: options.seed,
        engine,
      };
      const local = options.local || source.kind === 'onnx-package' || (!options.workflow && items.length <= LOCAL_MAX_IMAGES);
      fs.mkdirSync(out, { recursive: true });
      const progress = createProgress({ withTotal: true });
      let outcome: Outcome;
      try {
        outcome = local
          ? await runLocal(ctx, items, source, options, predictOptions, out, progress)
          : await runWorkflow(ctx, items, description, source, options, predictOptions, out, progress);
      } finally {
        progress.stop();
      }
      const seconds = (Date.now() - started) / 1000;
      const segOutcome = seg
        ? await runSegResults(seg, items, out, await segAlgorithm(ctx, { package: modelPackage, ...(source.kind === 'store' ? { modelKey: source.modelKey } : {}) }))
        : undefined;
      const modelName = source.kind === 'package' ? source.dir : source.kind === 'onnx-package' ? source.file : source.modelKey;
      if (options.json) {
        console.log(JSON.stringify({
          mode: local ? 'local' : 'workflow', ...outcome, model: modelName, engine, out, seconds, imagesPerSecond: outcome.images / seconds,
          predictionsCsv: path.join(out, predictKeys.imagesCsv('')), videosCsv: path.join(out, predictKeys.videosCsv('')), skippedInputs: skipped,
          ...(segOutcome ? { dicomSeg: segOutcome } : {}),
        }, null, 2));
        return;
      }
      console.log(`predicted ${outcome.images} images (${outcome.videos} videos) with ${modelName}${engine === 'onnx' ? ' on ONNX Runtime' : ''} ${local ? 'in this process' : `on the workers (${outcome.workflowId})`}` +
        ` in ${seconds.toFixed(1)} s${outcome.skippedBatches ? `; ${outcome.skippedBatches} of ${outcome.batches} batches were already written` : ''}` +
        `${outcome.stopped ? '; stopped before the end' : ''}\n  ${out}: masks/${options.overlay ? ', overlays/' : ''}${options.uncertainty ? ', uncertainty/maps/' : ''}` +
        `, ${predictKeys.imagesCsv('')}, ${predictKeys.videosCsv('')}`);
      for (const line of segOutcome ? segSummaryLines(segOutcome) : []) console.log(line);
      for (const skip of skipped) console.log(`  skipped ${skip.file}: ${skip.reason}`);
    });
}
