/**
 * The Markdown benchmark report: run metadata, learning-curve charts (the paper's Fig. 4), phase tables
 * (its Table II), the labelled share each acquisition function needed, and the search leaderboard (its Table I).
 */
import { leaderboardMarkdown } from './leaderboard';
import { REPORT_FILES, type AcquisitionCurve, type BenchmarkReportData, type CurvePoint } from './types';

/** A curve "reaches the baseline" once its IoU is within this of the full-data model's. */
export const BASELINE_TOLERANCE = 0.01;
/** Absorbs floating-point error in thresholds such as 0.87 − 0.01. */
const EPSILON = 1e-9;

export interface ReportImage {
  file: string;
  alt: string;
}

/** The whole training set (initial labelled + pool): the paper's "original dataset" that shares are measured against. */
export function trainingSetSize(data: Pick<BenchmarkReportData, 'initialSize' | 'poolSize'>): number {
  return data.initialSize + data.poolSize;
}

/** Percentage of `total` with one decimal, without the sign ("35.0"); '—' when there is no training set. */
export function sharePercent(labelled: number, total: number): string {
  return total > 0 ? ((100 * labelled) / total).toFixed(1) : '—';
}

/** The first phase (in phase order) whose test IoU is at least `threshold`, or undefined if none is. */
export function firstPointReaching(curve: AcquisitionCurve, threshold: number): CurvePoint | undefined {
  return [...curve.points].sort((a, b) => a.phase - b.phase).find((p) => p.iou >= threshold - EPSILON);
}

/** "140 images, 35.0% of 400 (phase 3)" or "not reached". */
export function reachedText(point: CurvePoint | undefined, total: number): string {
  return point ? `${point.labelled} images, ${sharePercent(point.labelled, total)}% of ${total} (phase ${point.phase})` : 'not reached';
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.round(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return hours > 0 ? `${hours} h ${pad(minutes)} min` : `${minutes} min ${pad(seconds)} s`;
}

const cell = (value: string) => value.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const row = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
const table = (header: readonly string[], rows: readonly (readonly string[])[]) =>
  [row(header), row(header.map(() => '---')), ...rows.map(row)];
const metric = (v: number) => v.toFixed(4);
const settingText = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v) ?? String(v));

function metadataSection(data: BenchmarkReportData): string[] {
  const m = data.metadata;
  const wallMs = Date.parse(m.finishedAt) - Date.parse(m.startedAt);
  const durations = Object.entries(m.durationsMs);
  const settings = Object.entries(m.settings);
  return [
    '## Run', '',
    ...table(['item', 'value'], [
      ['benchmark', `\`${data.benchmarkId}\``],
      ['dataset', `\`${data.datasetId}\``],
      ['images', `${data.initialSize} initial labelled + ${data.poolSize} pool = ${trainingSetSize(data)} training; ${data.testSize} test`],
      ['target IoU', data.targetIoU.toFixed(3)],
      ['model', m.model],
      ['seed', String(m.seed)],
      ['backend', m.backend],
      ['started', m.startedAt],
      ['finished', m.finishedAt],
      ['wall time', formatDuration(wallMs)],
    ]), '',
    ...(durations.length ? ['### Durations', '', ...table(['stage', 'duration'], durations.map(([k, v]) => [k, formatDuration(v)])), ''] : []),
    ...(settings.length ? ['### Settings', '', ...table(['setting', 'value'], settings.map(([k, v]) => [k, settingText(v)])), ''] : []),
  ];
}

function reachSection(data: BenchmarkReportData): string[] {
  const total = trainingSetSize(data);
  const baseline = data.baseline;
  const baselineThreshold = baseline ? baseline.iou - BASELINE_TOLERANCE : undefined;
  const header = ['acquisition', 'run', 'phases', 'best IoU', `reached target IoU ≥ ${data.targetIoU.toFixed(3)}`,
    ...(baselineThreshold !== undefined ? [`reached baseline IoU ≥ ${baselineThreshold.toFixed(3)}`] : []), 'stopped'];
  const rows = data.curves.map((c) => [
    c.acquisition, `\`${c.runId}\``, String(c.points.length),
    c.points.length ? metric(Math.max(...c.points.map((p) => p.iou))) : '—',
    reachedText(firstPointReaching(c, data.targetIoU), total),
    ...(baselineThreshold !== undefined ? [reachedText(firstPointReaching(c, baselineThreshold), total)] : []),
    c.stopReason,
  ]);
  return [
    '## Labelled share needed', '',
    `First phase whose test IoU reaches the threshold; share of the ${total}-image training set (initial + pool).` +
      (baseline ? ` Full-data baseline: IoU ${metric(baseline.iou)}, Dice ${metric(baseline.dice)} on ${baseline.labelled} images; ` +
        `"reached baseline" means within ${BASELINE_TOLERANCE} of its IoU.` : ' No full-data baseline was recorded.'), '',
    ...table(header, rows), '',
  ];
}

function phaseSections(data: BenchmarkReportData): string[] {
  const total = trainingSetSize(data);
  const labelledCounts = [...new Set(data.curves.flatMap((c) => c.points.map((p) => p.labelled)))].sort((a, b) => a - b);
  const comparison = labelledCounts.map((n) => [String(n), sharePercent(n, total),
    ...data.curves.map((c) => { const p = c.points.find((q) => q.labelled === n); return p ? metric(p.iou) : '—'; })]);
  return [
    '## Phases', '',
    `"share of pool %" is labelled images as a share of the ${total}-image training set (initial + pool), as in the paper's Table II.`, '',
    '### Test IoU by labelled images', '',
    ...table(['labelled', 'share of pool %', ...data.curves.map((c) => c.acquisition)], comparison), '',
    ...data.curves.flatMap((c) => [
      `### ${c.acquisition} (run \`${c.runId}\`, stopped: ${c.stopReason})`, '',
      ...table(['phase', 'labelled', 'share of pool %', 'IoU', 'Dice'],
        [...c.points].sort((a, b) => a.phase - b.phase).map((p) => [String(p.phase), String(p.labelled), sharePercent(p.labelled, total), metric(p.iou), metric(p.dice)])),
      '',
    ]),
  ];
}

function leaderboardSection(data: BenchmarkReportData, images: readonly ReportImage[]): string[] {
  if (!data.leaderboard) return [];
  // Reuse the search's own table; its title becomes a section of this report.
  const board = leaderboardMarkdown(data.benchmarkId, data.datasetId, data.leaderboard).replace(/^# /, '## ').trimEnd();
  const chart = images.find((i) => i.file === REPORT_FILES.leaderboardChart);
  return [board, '', ...(chart ? [`![${chart.alt}](${chart.file})`, ''] : [])];
}

/** The report's Markdown; `images` are the chart files beside it, linked by relative name. */
export function reportMarkdown(data: BenchmarkReportData, images: readonly ReportImage[]): string {
  const curveImages = images.filter((i) => i.file !== REPORT_FILES.leaderboardChart);
  return [
    `# ${data.title}`, '',
    ...metadataSection(data),
    '## Learning curves', '',
    ...curveImages.flatMap((i) => [`![${i.alt}](${i.file})`, '']),
    ...reachSection(data),
    ...phaseSections(data),
    ...leaderboardSection(data, images),
  ].join('\n');
}
