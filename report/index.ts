/**
 * Benchmark report: Markdown + SVG charts + the data as JSON, written to the object store
 * (e.g. `runs/<id>/report/`) or to a local folder.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../store/blobStore';
import type { PhaseRecord } from '../contracts';
import { autoSummary } from './auto';
import { renderCharts } from './charts';
import { reportMarkdown, type ReportImage } from './markdown';
import { reportStatistics } from './stats';
import { REPORT_FILES, type AcquisitionCurve, type BenchmarkReportData } from './types';

export type { AcquisitionCurve, BaselineResult, BenchmarkReportData, CurvePoint, SeedRun } from './types';
export { REPORT_FILES } from './types';
export { reportMarkdown } from './markdown';
export { renderCharts } from './charts';
export { PHASE_TIME_CHART_FILE, PHASE_TIME_PARTS, phaseTimeMarkdown, phaseTimeRows, phaseTimeSpec, type PhaseTimeRow } from './timing';
export {
  BASELINE_TOLERANCE, CONFIDENCE_LEVEL, DEFAULT_REFERENCE, benchmarkStatistics, firstPointReaching, meanInterval, reportStatistics, seedRunsOf,
  studentTCdf, studentTQuantile, verdictFrom,
  type BenchmarkStatistics, type Interval, type PairedComparison, type ReachSummary, type SeedOutcome, type StrategyStatistics, type Verdict,
  type VerdictKind,
} from './stats';

export interface ReportFile {
  name: string;
  contentType: string;
  body: Uint8Array;
}

export interface RenderedReport {
  markdown: string;
  files: ReportFile[];
}

export class ReportDataError extends Error {
  constructor(message: string) {
    super(`Cannot render the report: ${message}`);
    this.name = 'ReportDataError';
  }
}

/** A learning curve from an active-learning run's phase history (its result or its stored active-learning.json). */
export function curveFromHistory(input: { acquisition: string; runId: string; history: readonly PhaseRecord[]; stopReason: string }): AcquisitionCurve {
  const summary = autoSummary(input.history);
  return {
    acquisition: input.acquisition,
    runId: input.runId,
    points: [...input.history].sort((a, b) => a.phase - b.phase).map((h) => ({ phase: h.phase, labelled: h.labelled, iou: h.iou, dice: h.dice })),
    stopReason: input.stopReason,
    ...(summary ? { auto: summary } : {}),
  };
}

function validateCurves(curves: readonly AcquisitionCurve[], where: string): void {
  const seen = new Set<string>();
  for (const curve of curves) {
    if (seen.has(curve.acquisition)) {
      throw new ReportDataError(`two curves${where} are named '${curve.acquisition}'; give each run a distinct strategy label (e.g. 'mfe stochastic').`);
    }
    seen.add(curve.acquisition);
    for (const p of curve.points) {
      if (![p.phase, p.labelled, p.iou, p.dice].every(Number.isFinite)) {
        throw new ReportDataError(`curve '${curve.acquisition}'${where} has a non-numeric value in phase ${p.phase}: ${JSON.stringify(p)}.`);
      }
    }
  }
}

function validateBaseline(baseline: BenchmarkReportData['baseline'], where: string): void {
  if (baseline && ![baseline.iou, baseline.dice, baseline.labelled].every(Number.isFinite)) {
    throw new ReportDataError(`baseline${where} has a non-numeric value: ${JSON.stringify(baseline)}.`);
  }
}

/** Rejects data that would render a wrong report, saying which field to fix. */
export function validateReportData(data: BenchmarkReportData): void {
  for (const field of ['poolSize', 'initialSize', 'testSize'] as const) {
    if (!Number.isInteger(data[field]) || data[field] < 0) throw new ReportDataError(`${field} must be a non-negative integer, got ${data[field]}.`);
  }
  if (data.initialSize + data.poolSize === 0) throw new ReportDataError('initialSize + poolSize is 0; the shares of the training set need its size.');
  if (!(data.targetIoU > 0 && data.targetIoU <= 1)) throw new ReportDataError(`targetIoU must be in (0, 1], got ${data.targetIoU}.`);
  if (data.seeds === undefined) {
    if (data.curves.length === 0) throw new ReportDataError('no acquisition curves; add at least one active-learning run.');
    validateCurves(data.curves, '');
    validateBaseline(data.baseline, '');
    return;
  }
  if (data.curves.length > 0 || data.baseline) {
    throw new ReportDataError('give either curves and baseline (one seed) or seeds (one entry per seed), not both; leave curves empty with seeds.');
  }
  if (data.seeds.length === 0) throw new ReportDataError('seeds is empty; add at least one seed\'s runs.');
  const seeds = new Set<number>();
  for (const run of data.seeds) {
    if (!Number.isFinite(run.seed)) throw new ReportDataError(`a seed is ${run.seed}; seeds must be numbers.`);
    if (seeds.has(run.seed)) throw new ReportDataError(`seed ${run.seed} appears twice; merge its runs into one entry.`);
    seeds.add(run.seed);
    if (run.curves.length === 0) throw new ReportDataError(`seed ${run.seed} has no curves; add its active-learning runs or leave the seed out.`);
    validateCurves(run.curves, ` of seed ${run.seed}`);
    validateBaseline(run.baseline, ` of seed ${run.seed}`);
  }
}

const encode = (text: string) => new TextEncoder().encode(text);

export async function renderReport(data: BenchmarkReportData): Promise<RenderedReport> {
  validateReportData(data);
  const stats = reportStatistics(data);
  const charts = await renderCharts(data, stats);
  const svgs: (ReportImage & { svg: string })[] = [
    { file: REPORT_FILES.iouChart, alt: 'Test IoU vs labelled images', svg: charts.iouVsLabelled },
    { file: REPORT_FILES.diceChart, alt: 'Test Dice vs labelled images', svg: charts.diceVsLabelled },
    ...(charts.leaderboardIoU ? [{ file: REPORT_FILES.leaderboardChart, alt: 'EDNAS search: test IoU per trial', svg: charts.leaderboardIoU }] : []),
  ];
  const markdown = reportMarkdown(data, svgs, stats);
  return {
    markdown,
    files: [
      { name: REPORT_FILES.markdown, contentType: 'text/markdown; charset=utf-8', body: encode(markdown) },
      { name: REPORT_FILES.data, contentType: 'application/json', body: encode(`${JSON.stringify(data, null, 2)}\n`) },
      { name: REPORT_FILES.statistics, contentType: 'application/json', body: encode(`${JSON.stringify(stats, null, 2)}\n`) },
      ...svgs.map((s) => ({ name: s.file, contentType: 'image/svg+xml', body: encode(s.svg) })),
    ],
  };
}

/** Renders the report and stores every file under `prefix` (e.g. `runs/<id>/report/`). */
export async function writeReport(store: BlobStore, prefix: string, data: BenchmarkReportData): Promise<{ markdownKey: string; keys: string[] }> {
  const base = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  const rendered = await renderReport(data);
  const keys = rendered.files.map((f) => `${base}${f.name}`);
  await Promise.all(rendered.files.map((f, i) => store.putBytes(keys[i], f.body, f.contentType)));
  return { markdownKey: `${base}${REPORT_FILES.markdown}`, keys };
}

/** Writes a rendered report's files into `dir` (created if missing); returns their paths. */
export async function writeReportToFolder(dir: string, rendered: RenderedReport): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths = rendered.files.map((f) => join(dir, f.name));
  await Promise.all(rendered.files.map((f, i) => writeFile(paths[i], f.body)));
  return paths;
}
