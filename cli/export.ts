/**
 * `export ID --out DIR [--format tfjs|onnx]`: a run's latest segmentation model (or a model key) as a self-contained
 * package, or as an ONNX file with the same metadata (export/package.ts). Also where `predict` finds the model behind `--run` and `--model`:
 *
 * - a run id: the highest phase n with a complete segmentation model, `runs/<id>/phase-<n>/model-seg/config.json`
 *   (written after the final weights), for an active-learning run or a pipeline's `<id>-al` child; a search's best
 *   trial (its leaderboard). The phase's `model-unc` is the uncertainty model when it exists. Found from the object
 *   store alone, so finished runs work whatever Temporal still remembers; Temporal is asked only to tell an unknown
 *   run from one that has no model yet.
 * - a model key: any prefix with `config.json` and `final/` (e.g. `runs/<id>/phase-2/model-seg`, a search trial).
 *
 * What is known about the model (dataset, labelled count, validation / test IoU) comes from the run's
 * `state.json` (or its history query while it runs) and, for search trials, the trial record and leaderboard.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { type Command, Option } from 'commander';
import {
  type ActiveLearningCheckpoint, childIds, datasetKeys, EXPORT_FORMATS, type ExportFormat, modelKeys, type PhaseRecord, runKeys, searchKeys, type TrialResult,
} from '../contracts';
import type { PackageSource } from '../export/package';
import { MissingKeyError } from '../store/blobStore';
import { historyQuery } from '../contracts/messages';
import { type CliContext, CliError, UsageError } from './context';
import { describeRun } from './runs';

/** A model found for `--run`, `--model` or `export`, with what is known about it: what a package records. */
export type ResolvedModel = PackageSource;

const PHASE_MODEL = /^runs\/(.+)\/phase-(\d+)\/model-seg$/;
const TRIAL_MODEL = /^runs\/(.+)\/trials\/trial-(\d+)$/;

async function exists(ctx: CliContext, key: string): Promise<boolean> {
  return ctx.store().exists(key);
}

async function jsonOrUndefined<T>(ctx: CliContext, key: string): Promise<T | undefined> {
  try {
    return await ctx.store().getJson<T>(key);
  } catch (error) {
    if (error instanceof MissingKeyError) return undefined;
    throw error;
  }
}

/** The phase record of an active-learning run: from state.json, else from the running workflow. */
async function phaseRecord(ctx: CliContext, runId: string, phase: number): Promise<{ record?: PhaseRecord; datasetId?: string }> {
  const checkpoint = await jsonOrUndefined<ActiveLearningCheckpoint>(ctx, runKeys.checkpoint(runId));
  let record = checkpoint?.state.history.find((h) => h.phase === phase);
  if (!record) {
    try {
      record = (await (await ctx.temporal()).workflow.getHandle(runId).query(historyQuery)).find((h) => h.phase === phase);
    } catch {
      // not running any more, or Temporal unreachable: the metadata says unknown
    }
  }
  return { record, datasetId: checkpoint?.datasetId };
}

/** What is known about a model key (its run, phase, dataset, scores). */
async function describeModelKey(ctx: CliContext, modelKey: string): Promise<ResolvedModel> {
  const phaseMatch = PHASE_MODEL.exec(modelKey);
  if (phaseMatch) {
    const [, runId, phaseText] = phaseMatch;
    const phase = Number(phaseText);
    const uncertaintyKey = runKeys.uncertaintyModel(runId, phase);
    const { record, datasetId } = await phaseRecord(ctx, runId, phase);
    return {
      modelKey, runId, phase,
      ...((await exists(ctx, modelKeys.config(uncertaintyKey))) ? { uncertaintyKey } : {}),
      ...(datasetId ? { datasetId } : {}),
      ...(record ? { labelledCount: record.labelled, testIoU: record.iou, ...(record.valIoU !== undefined ? { validationIoU: record.valIoU } : {}) } : {}),
    };
  }
  const trialMatch = TRIAL_MODEL.exec(modelKey);
  if (trialMatch) {
    const [, searchId, index] = trialMatch;
    const trial = await jsonOrUndefined<TrialResult>(ctx, searchKeys.trial(searchId, Number(index)));
    const board = await jsonOrUndefined<{ datasetId?: string }>(ctx, searchKeys.leaderboardJson(searchId));
    let labelledCount: number | undefined;
    if (board?.datasetId) {
      // A trial trains on the dataset's initial labelled split.
      labelledCount = (await jsonOrUndefined<string[]>(ctx, datasetKeys.split(board.datasetId, 'initial')))?.length;
    }
    return {
      modelKey, runId: searchId,
      ...(board?.datasetId ? { datasetId: board.datasetId } : {}),
      ...(labelledCount !== undefined ? { labelledCount } : {}),
      ...(trial?.testIoU !== undefined ? { testIoU: trial.testIoU } : {}),
    };
  }
  return { modelKey };
}

/** The latest complete segmentation model of an active-learning run (or undefined). */
async function latestPhaseModel(ctx: CliContext, runId: string): Promise<string | undefined> {
  const phases = (await ctx.store().list(`${runKeys.prefix(runId)}phase-`))
    .map((key) => /\/phase-(\d+)\/model-seg\/config\.json$/.exec(key))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
  return phases.length > 0 ? runKeys.segmentationModel(runId, Math.max(...phases)) : undefined;
}

/** The model behind a run id; a CliError names an unknown run or a run without a model yet. */
export async function resolveRunModel(ctx: CliContext, runId: string): Promise<ResolvedModel> {
  for (const candidate of [runId, childIds.activeLearning(runId)]) {
    const modelKey = await latestPhaseModel(ctx, candidate);
    if (modelKey) return describeModelKey(ctx, modelKey);
  }
  const board = await jsonOrUndefined<{ rows: { status: string; modelKey?: string }[] }>(ctx, searchKeys.leaderboardJson(runId));
  const best = board?.rows.find((row) => row.status === 'ok' && row.modelKey);
  if (best?.modelKey) return describeModelKey(ctx, best.modelKey);
  let kind: string;
  try {
    ({ kind } = await describeRun(await ctx.temporal(), runId));
  } catch (error) {
    if (error instanceof CliError && error.message.startsWith('no run')) throw new CliError(`no run '${runId}'; \`client.ts runs list\` lists the runs`);
    throw error;
  }
  if (kind === 'benchmark') throw new CliError(`run '${runId}' is a benchmark with one active-learning run per function: give one of them, e.g. --run ${childIds.benchmarkRun(runId, 'mfe')}`);
  if (kind === 'predict' || kind === 'roundTrip') throw new CliError(`run '${runId}' is a ${kind} run; it trains no model`);
  throw new CliError(`run '${runId}' (${kind}) has no trained segmentation model yet; its first model is saved when phase 0's training ends`);
}

/** A model key given directly: it must hold a model (config.json). */
export async function resolveModelKey(ctx: CliContext, modelKey: string): Promise<ResolvedModel> {
  const key = modelKey.replace(/\/+$/, '');
  if (!(await exists(ctx, modelKeys.config(key)))) {
    throw new CliError(`no model at '${key}' (no ${modelKeys.config(key)}); a model key is a prefix like runs/<run>/phase-<n>/model-seg`);
  }
  if (!(await exists(ctx, `${modelKeys.finalWeights(key)}/model.json`))) throw new CliError(`the model at '${key}' has no final weights (${modelKeys.finalWeights(key)}/model.json)`);
  return describeModelKey(ctx, key);
}

/** A run id or a model key (keys contain '/'). */
export function resolveModel(ctx: CliContext, id: string): Promise<ResolvedModel> {
  return id.includes('/') ? resolveModelKey(ctx, id) : resolveRunModel(ctx, id);
}

/** `--out` must be absent, empty, or hold an earlier package (which is replaced). */
function checkPackageFolder(dir: string): void {
  if (!fs.existsSync(dir)) return;
  if (!fs.statSync(dir).isDirectory()) throw new UsageError(`--out ${dir} is a file, not a folder`);
  const entries = fs.readdirSync(dir);
  if (entries.length > 0 && !entries.includes('metadata.json')) throw new UsageError(`--out ${dir} is not empty and holds no earlier package; give a new or empty folder`);
}

export function registerExportCommand(program: Command, ctx: CliContext): void {
  program.command('export').description('write a run\'s latest segmentation model (or a model key) as a self-contained package')
    .argument('<id>', 'run id (active learning, pipeline or search) or model key (runs/<run>/phase-<n>/model-seg)')
    .requiredOption('--out <dir>', 'the package folder (tfjs: model.json, weights.bin, metadata.json, README.md; onnx: model.onnx, metadata.json)')
    .addOption(new Option('--format <format>', 'tfjs: the layers model for export/loader.ts; onnx: model.onnx for ONNX Runtime and other ONNX runtimes').choices(EXPORT_FORMATS).default('tfjs'))
    .option('--json', 'print the package\'s metadata and files as JSON')
    .action(async (id: string, options: { out: string; format: ExportFormat; json?: boolean }) => {
      const dir = path.resolve(options.out);
      checkPackageFolder(dir);
      const model = await resolveModel(ctx, id);
      const { writeModelPackage, writeOnnxPackage } = await import('../export/package');
      const write = options.format === 'onnx' ? writeOnnxPackage : writeModelPackage;
      const { metadata, files } = await write(ctx.store(), model, dir);
      if (options.json) return console.log(JSON.stringify({ dir, format: options.format, modelKey: model.modelKey, metadata, files }, null, 2));
      const s = metadata.source;
      const usage = options.format === 'onnx'
        ? `run ${path.join(dir, 'model.onnx')} with ONNX Runtime: input 'input' [N, ${metadata.input.height}, ${metadata.input.width}, ${metadata.input.channels}] float32, output 'output' probabilities [N, H, W, ${metadata.classes}]`
        : `load it with loadSegmentationModel('${dir}') from export/loader.ts (see ${path.join(dir, 'README.md')})`;
      console.log(`exported ${model.modelKey} → ${dir} (${options.format})\n  ${metadata.architecture} + ${metadata.encoder}, input ${metadata.input.height}×${metadata.input.width}×${metadata.input.channels}` +
        `, dataset ${s.datasetId ?? 'unknown'}, ${s.labelledCount ?? '?'} labelled, validation IoU ${s.validationIoU?.toFixed(4) ?? '—'}, test IoU ${s.testIoU?.toFixed(4) ?? '—'}` +
        `${metadata.uncertainty ? ', with its uncertainty model' : ''}\n  ${usage}`);
    });
}
