/**
 * The Markdown benchmark report: run metadata, learning-curve charts (the paper's Fig. 4), the verdict of each
 * strategy against random, the labelled share each strategy needed, the area under its learning curve, phase tables
 * (the paper's Table II) and the search leaderboard (its Table I). With one seed the tables show that seed's runs;
 * with several they show every seed and the means with 95 % intervals (statistics in `stats.ts`).
 */
import { autoText } from './auto';
import { leaderboardMarkdown } from './leaderboard';
import {
  BASELINE_TOLERANCE, fallsOf, firstPointReaching, MIN_SEEDS_FOR_BAND, reportStatistics, seedRunsOf,
  type BenchmarkStatistics, type FallCount, type Interval, type ReachSummary, type StrategyStatistics,
} from './stats';
import { REPORT_FILES, type BenchmarkReportData, type CurvePoint, type SeedRun } from './types';

export { BASELINE_TOLERANCE, firstPointReaching } from './stats';

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
const signed = (v: number, digits: number) => `${v > 0 ? '+' : ''}${v.toFixed(digits)}`;
/** A labelled count: whole numbers as they are, means with one decimal. */
const count = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
const seedList = (seeds: readonly number[]) => seeds.join(', ');

/** "0.8123 [0.8012, 0.8234]" with n ≥ 2; "0.8123 (1 seed)" with one value; '—' with none. */
export function intervalText(interval: Interval | undefined, format: (v: number) => string = metric): string {
  if (!interval) return '—';
  if (interval.lower === undefined || interval.upper === undefined) return `${format(interval.mean)} (${interval.n} seed${interval.n === 1 ? '' : 's'})`;
  return `${format(interval.mean)} [${format(interval.lower)}, ${format(interval.upper)}]`;
}

/** A paired difference: "+0.0261 [+0.0106, +0.0416] (3 pairs)", "+0.0200 (1 pair)" or '—'. */
function pairedText(interval: Interval | undefined, digits: number): string {
  if (!interval) return '—';
  const format = (v: number) => signed(v, digits);
  return interval.n === 1 ? `${format(interval.mean)} (1 pair)` : `${intervalText(interval, format)} (${interval.n} pairs)`;
}

function metadataSection(data: BenchmarkReportData, runs: readonly SeedRun[]): string[] {
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
      runs.length === 1 ? ['seed', String(runs[0].seed)] : ['seeds', `${runs.length}: ${seedList(runs.map((r) => r.seed))}`],
      ['backend', m.backend],
      ['started', m.startedAt],
      ['finished', m.finishedAt],
      ['wall time', formatDuration(wallMs)],
    ]), '',
    ...(durations.length ? ['### Durations', '', ...table(['stage', 'duration'], durations.map(([k, v]) => [k, formatDuration(v)])), ''] : []),
    ...(settings.length ? ['### Settings', '', ...table(['setting', 'value'], settings.map(([k, v]) => [k, settingText(v)])), ''] : []),
  ];
}

function curvesSection(stats: BenchmarkStatistics, images: readonly ReportImage[]): string[] {
  const s = stats.seeds.length;
  const carried = 'A run that stopped on reaching its target keeps its last IoU after it; a run that ended otherwise ends where it ended.';
  const note = s === 1
    ? 'One seed: each line is that seed\'s run (no interval; repeat the benchmark over seeds for bands).'
    : s < MIN_SEEDS_FOR_BAND
      ? `Thick lines: mean over ${s} seeds; thin lines: each seed's own run (with ${s} seeds a ${100 * stats.level}% interval is too ` +
        `wide to draw; ${MIN_SEEDS_FOR_BAND} or more seeds give bands). ${carried}`
      : `Lines: mean over ${s} seeds; shaded bands: ${100 * stats.level}% Student t intervals (df = ${s - 1}), clipped to the plot. ${carried}`;
  return ['## Learning curves', '', note, '', ...images.flatMap((i) => [`![${i.alt}](${i.file})`, ''])];
}

function verdictSection(stats: BenchmarkStatistics): string[] {
  const { reference, range } = stats;
  const rangeText = range ? `labelled ${range.from}–${range.to}` : 'no common labelled range';
  const header = ['strategy', `AULC (mean IoU over ${rangeText})`, `AULC − ${reference}`, `labels to target − ${reference}`, 'verdict'];
  const rows = stats.strategies.map((s) => {
    const vs = s.vsReference;
    if (!vs) return [s.strategy, intervalText(s.aulc), '(reference)', '—', '—'];
    const only = [
      ...(vs.toTargetOnlyStrategy.length ? [`only ${s.strategy} reached it on seed ${seedList(vs.toTargetOnlyStrategy)}`] : []),
      ...(vs.toTargetOnlyReference.length ? [`only ${reference} reached it on seed ${seedList(vs.toTargetOnlyReference)}`] : []),
    ];
    const target = pairedText(vs.toTarget, 1);
    return [
      s.strategy, intervalText(s.aulc), pairedText(vs.aulc, 4),
      only.length ? `${target}; ${only.join('; ')}` : target,
      vs.verdict.text,
    ];
  });
  return [
    `## Compared with ${reference}`, '',
    `AULC is the area under the test-IoU learning curve divided by the labelled range every run covers, so it is the ` +
      `mean IoU over that range (0–1, higher is better); a run that stopped on reaching its target counts at its last IoU ` +
      `up to the longest run's end. Differences are taken seed by seed against ${reference} on the same ` +
      `seed and shown as mean [${100 * stats.level}% t interval]; labels to target: fewer is better, over the seeds where both ` +
      `reached it. The verdict reads the interval of the AULC difference: above 0 "better than ${reference}", below 0 "worse ` +
      `than ${reference}", containing 0 "not distinguishable from ${reference}"; it needs at least two seeds.`, '',
    ...table(header, rows), '',
  ];
}

/** "1 of 3 steps; 4 of 12" — how often test IoU went down from one phase to the next. */
export function fallsText(f: FallCount): string {
  return `${f.meanFalls} of ${f.meanSteps} steps; ${f.seedFalls} of ${f.seedSteps}`;
}

/** nnActive's pairwise penalty matrix (`PenaltyMatrix`): row beat column at that many labelled budgets. */
function penaltySection(stats: BenchmarkStatistics): string[] {
  const p = stats.penalty;
  if (!p || p.budgets.every((row) => row.every((n) => n === 0))) return [];
  const rows = p.strategies.map((a, i) => [a, ...p.strategies.map((_, j) => (i === j ? '—' : `${p.wins[i][j]} of ${p.budgets[i][j]}`)),
    String(p.wins[i].reduce((x, y) => x + y, 0))]);
  return [
    '## Pairwise comparison', '',
    `Each cell: at how many labelled budgets the row's strategy had a significantly higher test IoU than the column's ` +
      `(paired over seeds, the whole ${100 * stats.level}% t interval of the difference above 0), out of the budgets both recorded on ` +
      'every seed (nnActive\'s pairwise penalty matrix). The last column sums the row: how often the strategy won.', '',
    ...table(['strategy', ...p.strategies, 'wins'], rows), '',
  ];
}

function reachSummaryText(summary: ReachSummary | undefined): string {
  if (!summary) return '—';
  const missing = summary.notReached.length ? ` (not: seed ${seedList(summary.notReached)})` : '';
  return `${summary.reached} of ${summary.seeds}${missing}`;
}

function labelsText(summary: ReachSummary | undefined, total: number): string {
  if (!summary?.labelled) return summary ? 'not reached' : '—';
  const share = { ...summary.labelled };
  for (const key of ['mean', 'lower', 'upper'] as const) if (share[key] !== undefined) share[key] = (100 * share[key]!) / total;
  return `${intervalText(summary.labelled, count)} images = ${intervalText(share, (v) => `${v.toFixed(1)}%`)}`;
}

function singleSeedReachSection(data: BenchmarkReportData, run: SeedRun): string[] {
  const total = trainingSetSize(data);
  const baseline = run.baseline;
  const baselineThreshold = baseline ? baseline.iou - BASELINE_TOLERANCE : undefined;
  const header = ['acquisition', 'run', 'phases', 'best IoU', `reached target IoU ≥ ${data.targetIoU.toFixed(3)}`,
    ...(baselineThreshold !== undefined ? [`reached baseline IoU ≥ ${baselineThreshold.toFixed(3)}`] : []), 'IoU fell', 'stopped'];
  const rows = run.curves.map((c) => [
    c.acquisition, `\`${c.runId}\``, String(c.points.length),
    c.points.length ? metric(Math.max(...c.points.map((p) => p.iou))) : '—',
    reachedText(firstPointReaching(c, data.targetIoU), total),
    ...(baselineThreshold !== undefined ? [reachedText(firstPointReaching(c, baselineThreshold), total)] : []),
    (({ falls, steps }) => `${falls} of ${steps} steps`)(fallsOf([...c.points].sort((a, b) => a.phase - b.phase).map((p) => p.iou))),
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

function multiSeedReachSection(data: BenchmarkReportData, stats: BenchmarkStatistics): string[] {
  const total = trainingSetSize(data);
  const withBaseline = stats.strategies.some((s) => s.toBaseline);
  const summaryHeader = ['strategy', 'reached target', `labels to target IoU ≥ ${data.targetIoU.toFixed(3)}`,
    ...(withBaseline ? ['reached baseline', 'labels to baseline'] : []), 'IoU fell (mean curve; seeds\' curves)'];
  const summaryRows = stats.strategies.map((s) => [
    s.strategy, reachSummaryText(s.toTarget), labelsText(s.toTarget, total),
    ...(withBaseline ? [reachSummaryText(s.toBaseline), labelsText(s.toBaseline, total)] : []),
    fallsText(s.falls),
  ]);
  const seedHeader = ['strategy', 'seed', 'run', 'phases', 'best IoU', 'AULC', 'reached target',
    ...(withBaseline ? ['baseline IoU', 'reached baseline'] : []), 'stopped'];
  const seedRows = stats.strategies.flatMap((s) => s.seeds.map((o) => [
    s.strategy, String(o.seed), `\`${o.runId}\``, String(o.phases),
    o.bestIoU === undefined ? '—' : metric(o.bestIoU), o.aulc === undefined ? '—' : metric(o.aulc),
    reachedText(o.toTarget, total),
    ...(withBaseline ? [o.baselineIoU === undefined ? 'none' : metric(o.baselineIoU), o.baselineIoU === undefined ? '—' : reachedText(o.toBaseline, total)] : []),
    o.stopReason,
  ]));
  const baselineText = stats.baseline
    ? ` Full-data baseline IoU over ${stats.baseline.n} seed${stats.baseline.n === 1 ? '' : 's'}: ${intervalText(stats.baseline)}; ` +
      `"reached baseline" means within ${BASELINE_TOLERANCE} of that seed's own baseline.`
    : ' No full-data baseline was recorded.';
  return [
    '## Labelled share needed', '',
    `First phase whose test IoU reaches the threshold, as images and as a share of the ${total}-image training set ` +
      `(initial + pool): mean [${100 * stats.level}% t interval] over the seeds that reached it; seeds that never reached it are named.` +
      baselineText, '',
    ...table(summaryHeader, summaryRows), '',
    '### Per seed', '',
    ...table(seedHeader, seedRows), '',
    '"stopped" is the run\'s own stop rule, which reads the split named by the `stopOn` setting (validation by default), ' +
      'while this report measures on test: a run can stop because its validation IoU reached the target although its test IoU did not.', '',
  ];
}

function singleSeedPhaseSections(data: BenchmarkReportData, run: SeedRun): string[] {
  const total = trainingSetSize(data);
  const labelledCounts = [...new Set(run.curves.flatMap((c) => c.points.map((p) => p.labelled)))].sort((a, b) => a - b);
  const comparison = labelledCounts.map((n) => [String(n), sharePercent(n, total),
    ...run.curves.map((c) => { const p = c.points.find((q) => q.labelled === n); return p ? metric(p.iou) : '—'; })]);
  return [
    '## Phases', '',
    `"share of pool %" is labelled images as a share of the ${total}-image training set (initial + pool), as in the paper's Table II.`, '',
    '### Test IoU by labelled images', '',
    ...table(['labelled', 'share of pool %', ...run.curves.map((c) => c.acquisition)], comparison), '',
    ...run.curves.flatMap((c) => [
      `### ${c.acquisition} (run \`${c.runId}\`, stopped: ${c.stopReason})`, '',
      ...table(['phase', 'labelled', 'share of pool %', 'IoU', 'Dice'],
        [...c.points].sort((a, b) => a.phase - b.phase).map((p) => [String(p.phase), String(p.labelled), sharePercent(p.labelled, total), metric(p.iou), metric(p.dice)])),
      '',
    ]),
  ];
}

/** "0.8123 ± 0.0111 (n 5)" — or "(n 5, 1 carried)" when some seeds' runs had stopped on the target. */
function meanCellText(point: StrategyStatistics['curve'][number] | undefined, pick: 'iou' | 'dice'): string {
  if (!point) return '—';
  const iv = point[pick];
  const spread = iv.halfWidth === undefined ? '' : ` ± ${metric(iv.halfWidth)}`;
  return `${metric(iv.mean)}${spread} (n ${iv.n}${point.carried ? `, ${point.carried} carried` : ''})`;
}

function multiSeedPhaseSections(data: BenchmarkReportData, stats: BenchmarkStatistics): string[] {
  const total = trainingSetSize(data);
  const labelledCounts = [...new Set(stats.strategies.flatMap((s) => s.curve.map((p) => p.labelled)))].sort((a, b) => a - b);
  const rowsFor = (pick: 'iou' | 'dice') => labelledCounts.map((n) => [String(n), sharePercent(n, total),
    ...stats.strategies.map((s) => meanCellText(s.curve.find((p) => p.labelled === n), pick))]);
  const header = ['labelled', 'share of pool %', ...stats.strategies.map((s) => s.strategy)];
  return [
    '## Phases', '',
    `Mean over seeds ± half-width of the ${100 * stats.level}% t interval; n is the number of seeds with a value at that count ` +
      '("carried": runs that had stopped on reaching the target, at their last IoU). "share of pool %" is labelled images as a share of ' +
      `the ${total}-image training set (initial + pool). Every run's own phases are in report.json.`, '',
    '### Test IoU by labelled images', '',
    ...table(header, rowsFor('iou')), '',
    '### Test Dice by labelled images', '',
    ...table(header, rowsFor('dice')), '',
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
/** What the strategy auto chose in each seed's run (absent without auto). */
function autoSection(runs: readonly SeedRun[]): string[] {
  const lines = runs.flatMap((run) => run.curves.filter((c) => c.auto).map((c) => `- seed ${run.seed}, ${c.acquisition}: ${autoText(c.auto!)}`));
  if (lines.length === 0) return [];
  return [
    '## What auto chose', '',
    'Each explored phase splits the request among the candidates; the phase\'s segmentation model is then scored on each candidate\'s frames against the masks that came back (error = 1 − IoU), and the candidate with the highest mean error selects every later batch.', '',
    ...lines, '',
  ];
}

export function reportMarkdown(data: BenchmarkReportData, images: readonly ReportImage[], stats: BenchmarkStatistics = reportStatistics(data)): string {
  const runs = seedRunsOf(data);
  const curveImages = images.filter((i) => i.file !== REPORT_FILES.leaderboardChart);
  const single = runs.length === 1;
  return [
    `# ${data.title}`, '',
    ...metadataSection(data, runs),
    ...curvesSection(stats, curveImages),
    ...verdictSection(stats),
    ...(single ? [] : penaltySection(stats)),
    ...(single ? singleSeedReachSection(data, runs[0]) : multiSeedReachSection(data, stats)),
    ...(single ? singleSeedPhaseSections(data, runs[0]) : multiSeedPhaseSections(data, stats)),
    ...autoSection(runs),
    ...leaderboardSection(data, images),
  ].join('\n');
}
