/**
 * `predict --dicom-seg DIR | --stow URL [--token-file F]`: the command line's checks and the step after predicting
 * that writes the masks as DICOM SEG objects (export/segResults.ts) and sends them with STOW-RS. Without
 * `--dicom-seg`, `--stow` writes them under `<out>/dicom-seg/` first, so what was sent is kept beside the PNGs.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { PredictItem } from '../contracts';
import type { ModelPackage } from '../export/package';
import type { SegAlgorithm, StowReport, WrittenSeg } from '../export/segResults';
import { type CliContext, CliError, UsageError } from './context';
import { dicomWebAuthorization } from './dicomWebToken';

export interface SegCliOptions {
  dicomSeg?: string;
  stow?: string;
  tokenFile?: string;
  dataset?: string;
}

export interface SegRequest {
  segDir: string;
  stow?: { url: string; authorization?: string };
}

export interface SegOutcome {
  dir: string;
  objects: Array<Omit<WrittenSeg, 'sopInstance'>>;
  stow?: StowReport;
}

/** The SEG step the options ask for (undefined: none), checked before anything is read or contacted. */
export function segRequest(options: SegCliOptions, out: string): SegRequest | undefined {
  if (options.tokenFile && !options.stow) throw new UsageError('--token-file applies with --stow only');
  if (!options.dicomSeg && !options.stow) return undefined;
  const flag = options.dicomSeg ? '--dicom-seg' : '--stow';
  if (options.dataset) {
    throw new UsageError(`${flag} needs --input DIR of DICOM files, not --dataset: a dataset stores no DICOM UIDs (privacy), so its masks cannot reference their source instances; give the folder it was imported from (for a DICOMweb import, its cache folder under <data dir>/dicomweb/)`);
  }
  const segDir = path.resolve(options.dicomSeg ?? path.join(out, 'dicom-seg'));
  if (fs.existsSync(segDir) && !fs.statSync(segDir).isDirectory()) throw new UsageError(`--dicom-seg ${segDir} is a file, not a folder`);
  if (!options.stow) return { segDir };
  let url: URL;
  try {
    url = new URL(options.stow);
  } catch {
    throw new UsageError(`--stow ${options.stow} is not a URL; give the DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web`);
  }
  if (!['http:', 'https:'].includes(url.protocol)) throw new UsageError(`--stow must be an http or https URL, not ${url.protocol}`);
  return { segDir, stow: { url: options.stow, ...(options.tokenFile ? { authorization: dicomWebAuthorization(options.tokenFile) } : {}) } };
}

/** Refuses inputs a SEG cannot be made from (exit 2), before the model runs. */
export async function checkSegInputs(items: readonly PredictItem[]): Promise<void> {
  const { segInputProblem } = await import('../export/segResults');
  const problem = segInputProblem(items);
  if (problem) throw new UsageError(`--dicom-seg/--stow: ${problem}`);
}

function shortHash(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** The model as the SEG names it: architecture-encoder, and the stored model's key or the package's content hash. */
export async function segAlgorithm(ctx: CliContext, model: { package?: ModelPackage; modelKey?: string }): Promise<SegAlgorithm> {
  if (model.package) {
    const { architecture, encoder } = model.package.metadata;
    const file = model.package.kind === 'onnx' ? model.package.file : path.join(model.package.dir, 'weights.bin');
    return { name: `echo-al ${architecture}-${encoder}`, version: `sha256:${shortHash(fs.readFileSync(file))}` };
  }
  const { readModelConfig } = await import('../ml/predict');
  const config = await readModelConfig(ctx.store(), model.modelKey!);
  return { name: `echo-al ${config.arch}-${config.encoder}`, version: model.modelKey! };
}

/** Writes the SEG objects from predict's masks in `out`, sends them when asked; a refused or failed STOW exits 1. */
export async function runSegResults(request: SegRequest, items: readonly PredictItem[], out: string, algorithm: SegAlgorithm): Promise<SegOutcome> {
  const { stowSegResults, writeSegResults } = await import('../export/segResults');
  const { DicomSegError } = await import('../export/dicomSeg');
  const { DicomWebError } = await import('../data/import/dicomwebClient');
  let written: WrittenSeg[];
  try {
    written = await writeSegResults({ items, predictionsDir: out, segDir: request.segDir, algorithm });
  } catch (error) {
    if (error instanceof DicomSegError) throw new CliError(`cannot write DICOM SEG: ${error.message}`);
    throw error;
  }
  const outcome: SegOutcome = { dir: request.segDir, objects: written.map(({ sopInstance: _uid, ...seg }) => seg) };
  if (!request.stow) return outcome;
  let report: StowReport;
  try {
    report = await stowSegResults(written, request.stow);
  } catch (error) {
    if (error instanceof DicomWebError) throw new CliError(`STOW-RS to ${request.stow.url} failed, nothing is known to be stored (the SEG files are in ${request.segDir}): ${error.message}`);
    throw error;
  }
  if (report.failed.length > 0) {
    throw new CliError(`the DICOMweb server at ${report.url} stored ${report.stored.length} of ${written.length} SEG objects; not stored: ` +
      `${report.failed.map((f) => `${path.basename(f.file)}${f.reason ? ` (${f.reason})` : ''}`).join(', ')} (the SEG files are in ${request.segDir})`);
  }
  return { ...outcome, stow: report };
}

/** The outcome's lines for the terminal. */
export function segSummaryLines(outcome: SegOutcome): string[] {
  const frames = outcome.objects.reduce((n, seg) => n + seg.frames, 0);
  const lines = [`  DICOM SEG: ${outcome.objects.length} object${outcome.objects.length === 1 ? '' : 's'} (one per source series, ${frames} frames) in ${outcome.dir}`];
  if (outcome.stow) lines.push(`  STOW-RS: stored ${outcome.stow.stored.length} of ${outcome.objects.length} at ${outcome.stow.url}`);
  return lines;
}
