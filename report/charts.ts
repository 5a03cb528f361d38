/**
 * Report charts as SVG strings: Vega-Lite specs compiled and rendered headless by Vega
 * (renderer 'none' needs no canvas; text widths are estimated).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { MIN_SEEDS_FOR_BAND, reportStatistics, seedRunsOf, type BenchmarkStatistics } from './stats';

export { MIN_SEEDS_FOR_BAND } from './stats';
import type { BenchmarkReportData } from './types';

const WIDTH = 560;
const HEIGHT = 320;
const LABELLED_TITLE = 'Labelled images';

type Metric = 'iou' | 'dice';
const METRIC_TITLE: Record<Metric, string> = { iou: 'Test IoU', dice: 'Test Dice' };

export interface ReportCharts {
  /**
   * The paper's Fig. 4: test IoU vs labelled images per strategy, baseline and target rules, each named by a label at
   * the right end (labels spread apart so none overlaps; no legend). With 3 or more seeds: the mean curve with a
   * shaded 95 % band per strategy; with 2: the mean curve and each seed's run as a thin line (a 1-df interval is too
   * wide to draw); both with the mean of the seeds' baselines. The y axis stays inside [0, 1].
   */
  iouVsLabelled: string;
  /** The same curves for Dice, with the baseline's Dice (the target is an IoU, so it is not drawn). */
  diceVsLabelled: string;
  /** Test IoU of the successful search trials (absent without a leaderboard or without a successful trial). */
  leaderboardIoU?: string;
}

export async function renderSpec(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The values a metric can take: IoU and Dice lie in [0, 1], so no axis of theirs reaches past it. */
export const METRIC_BOUNDS: Record<Metric, readonly [number, number]> = { iou: [0, 1], dice: [0, 1] };
const LABEL_FONT_SIZE = 11;
const LABEL_HEIGHT = LABEL_FONT_SIZE + 3;
/** End-of-line labels start this far right of the plot. */
const LABEL_GAP = 6;

/**
 * The y domain of a bounded metric: the drawn values (lines and reference rules, never the bands) with a margin,
 * clipped to `bounds`. A band beyond it is clipped to the plot, never widens the axis.
 */
export function metricDomain(values: readonly number[], bounds: readonly [number, number]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [bounds[0], bounds[1]];
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const margin = Math.max(0.02 * (bounds[1] - bounds[0]), 0.08 * (hi - lo));
  return [Math.max(bounds[0], lo - margin), Math.min(bounds[1], hi + margin)];
}

/** A label's box in chart pixels: `y` is its vertical centre, `x` its left edge. */
export interface LabelBox {
  text: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Text widths are estimated (renderer 'none' measures nothing): 0.6 em per character. */
export const estimateTextWidth = (text: string, fontSize = LABEL_FONT_SIZE) => text.length * fontSize * 0.6;

export function boxesIntersect(a: LabelBox, b: LabelBox): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && Math.abs(a.y - b.y) < (a.height + b.height) / 2;
}

/**
 * Vertical de-overlap: moves label centres (`ys`, in pixels) as little as this simple pass can so that labels of
 * `height` are at least `height` apart, inside [0, `plotHeight`] when they fit; when they do not, they run past
 * the bottom rather than overlap. Returns the centres in the input order.
 */
export function spreadLabels(ys: readonly number[], height: number, plotHeight: number): number[] {
  const order = ys.map((y, i) => ({ y, i })).sort((a, b) => a.y - b.y || a.i - b.i);
  const placed = order.map((o) => o.y);
  for (let k = 1; k < placed.length; k++) placed[k] = Math.max(placed[k], placed[k - 1] + height);
  if (placed.length) placed[placed.length - 1] = Math.min(placed[placed.length - 1], plotHeight - height / 2);
  for (let k = placed.length - 2; k >= 0; k--) placed[k] = Math.min(placed[k], placed[k + 1] - height);
  if (placed.length) placed[0] = Math.max(placed[0], height / 2);
  for (let k = 1; k < placed.length; k++) placed[k] = Math.max(placed[k], placed[k - 1] + height);
  const out = new Array<number>(ys.length);
  order.forEach((o, k) => { out[o.i] = placed[k]; });
  return out;
}

/** A label at the right end of the chart: a strategy's line (coloured like it) or a reference rule. */
interface EndLabel {
  text: string;
  value: number;
  acquisition?: string;
}

/** One row per drawn point: the mean (the value itself with one seed) and, with enough seeds, the interval. */
interface CurveRow {
  acquisition: string;
  labelled: number;
  value: number;
  lower?: number;
  upper?: number;
}

/** One row per point of one seed's own run (drawn as thin lines when there are too few seeds for a band). */
interface SeedRow {
  acquisition: string;
  seed: number;
  labelled: number;
  value: number;
}

function curveRows(data: BenchmarkReportData, stats: BenchmarkStatistics, metric: Metric): CurveRow[] {
  const runs = seedRunsOf(data);
  if (runs.length === 1) {
    return runs[0].curves.flatMap((c) => c.points.map((p) => ({ acquisition: c.acquisition, labelled: p.labelled, value: p[metric] })));
  }
  const withBand = runs.length >= MIN_SEEDS_FOR_BAND;
  return stats.strategies.flatMap((s) => s.curve.map((p) => ({
    acquisition: s.strategy, labelled: p.labelled, value: p[metric].mean,
    ...(withBand && p[metric].lower !== undefined ? { lower: p[metric].lower, upper: p[metric].upper } : {}),
  })));
}

function seedRows(data: BenchmarkReportData, metric: Metric): SeedRow[] {
  const runs = seedRunsOf(data);
  if (runs.length === 1 || runs.length >= MIN_SEEDS_FOR_BAND) return [];
  return runs.flatMap((r) => r.curves.flatMap((c) => c.points.map((p) => ({ acquisition: c.acquisition, seed: r.seed, labelled: p.labelled, value: p[metric] }))));
}

/** The baseline rule's value and label (the seed's own, or the mean over seeds). */
function baselineReference(data: BenchmarkReportData, stats: BenchmarkStatistics, metric: Metric): EndLabel | undefined {
  const runs = seedRunsOf(data);
  if (runs.length === 1) {
    const baseline = runs[0].baseline;
    return baseline ? { value: baseline[metric], text: `full-data baseline ${baseline[metric].toFixed(3)} (${baseline.labelled} images)` } : undefined;
  }
  const mean = metric === 'iou' ? stats.baseline : stats.baselineDice;
  return mean ? { value: mean.mean, text: `full-data baseline, mean of ${mean.n} seed${mean.n === 1 ? '' : 's'}: ${mean.mean.toFixed(3)}` } : undefined;
}

/** Each line's last point, by labelled images. */
function lineEnds(rows: readonly CurveRow[], strategies: readonly string[]): EndLabel[] {
  return strategies.flatMap((acquisition) => {
    const last = rows.filter((r) => r.acquisition === acquisition).sort((a, b) => a.labelled - b.labelled).at(-1);
    return last ? [{ text: acquisition, value: last.value, acquisition }] : [];
  });
}

/** Pixel y of `value` on a linear scale over `domain` (top 0, bottom HEIGHT). */
const pixelY = (value: number, domain: readonly [number, number]) =>
  domain[1] === domain[0] ? HEIGHT / 2 : HEIGHT * (1 - (value - domain[0]) / (domain[1] - domain[0]));

/** The end-of-line labels' boxes after the de-overlap pass, right of the plot. */
export function placeLabels(labels: readonly { text: string; value: number }[], domain: readonly [number, number]): LabelBox[] {
  const ys = spreadLabels(labels.map((l) => pixelY(l.value, domain)), LABEL_HEIGHT, HEIGHT);
  return labels.map((l, i) => ({ text: l.text, x: WIDTH + LABEL_GAP, y: ys[i], width: estimateTextWidth(l.text), height: LABEL_HEIGHT }));
}

/** Everything a learning-curve chart draws, before it becomes a spec. */
export interface LearningCurveLayout {
  domain: [number, number];
  rows: CurveRow[];
  seedRows: SeedRow[];
  strategies: string[];
  /** The strategies' labels first (in `strategies` order), then the baseline's and the target's. */
  labels: (LabelBox & { acquisition?: string })[];
  references: { value: number; dashed: boolean }[];
}

export function learningCurveLayout(data: BenchmarkReportData, metric: Metric, stats: BenchmarkStatistics = reportStatistics(data)): LearningCurveLayout {
  const runs = seedRunsOf(data);
  const rows = curveRows(data, stats, metric);
  const seeds = seedRows(data, metric);
  const strategies = runs.length === 1 ? runs[0].curves.map((c) => c.acquisition) : stats.strategies.map((s) => s.strategy);
  const baseline = baselineReference(data, stats, metric);
  const target = metric === 'iou' ? { value: data.targetIoU, text: `target ${data.targetIoU.toFixed(3)}` } : undefined;
  const references = [...(baseline ? [{ ...baseline, dashed: false }] : []), ...(target ? [{ ...target, dashed: true }] : [])];
  const domain = metricDomain([...rows, ...seeds].map((r) => r.value).concat(references.map((r) => r.value)), METRIC_BOUNDS[metric]);
  const ends: EndLabel[] = [...lineEnds(rows, strategies), ...references];
  const boxes = placeLabels(ends, domain);
  return {
    domain, rows, seedRows: seeds, strategies,
    labels: boxes.map((b, i) => ({ ...b, ...(ends[i].acquisition !== undefined ? { acquisition: ends[i].acquisition } : {}) })),
    references: references.map((r) => ({ value: r.value, dashed: r.dashed })),
  };
}

export function learningCurveSpec(data: BenchmarkReportData, metric: Metric, stats: BenchmarkStatistics = reportStatistics(data)): TopLevelSpec {
  const layout = learningCurveLayout(data, metric, stats);
  const band = layout.rows.filter((r) => r.lower !== undefined);
  const x = { field: 'labelled', type: 'quantitative' as const, title: LABELLED_TITLE, scale: { zero: false } };
  // One explicit domain for every layer: the axis stays inside the metric's bounds whatever a band spans, and
  // clamping draws a band beyond it at the plot's edge (a clip path would number its ids anew on every render).
  const scale = { domain: layout.domain, nice: false, zero: false, clamp: true };
  const y = (field: string) => ({ field, type: 'quantitative' as const, title: METRIC_TITLE[metric], scale });
  // The end-of-line labels name the strategies, so there is no legend.
  const color = { field: 'acquisition', type: 'nominal' as const, title: 'Strategy', scale: { domain: layout.strategies }, legend: null };
  const seedsDrawn = [...new Set(layout.seedRows.map((r) => r.seed))].length;
  const title = `${METRIC_TITLE[metric]} vs labelled images` +
    (band.length ? ` (mean of ${stats.seeds.length} seeds, 95% band)` : seedsDrawn ? ` (mean of ${seedsDrawn} seeds and each seed)` : '');
  const one = { values: [{}] };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    layer: [
      // The band under the lines: y to y2 is drawn as given (no stacking), clamped to the plot.
      ...(band.length ? [{
        data: { values: band },
        mark: { type: 'area' as const, opacity: 0.18 },
        encoding: { x, y: y('lower'), y2: { field: 'upper' }, color },
      }] : []),
      // Too few seeds for a band: each seed's own run as a thin line.
      ...(layout.seedRows.length ? [{
        data: { values: layout.seedRows },
        mark: { type: 'line' as const, strokeWidth: 1, opacity: 0.5 },
        encoding: { x, y: y('value'), color, detail: { field: 'seed', type: 'nominal' as const }, order: { field: 'labelled', type: 'quantitative' as const } },
      }] : []),
      {
        data: { values: layout.rows },
        mark: { type: 'line', point: { filled: true, size: 40 }, strokeWidth: 2 },
        encoding: { x, y: y('value'), color, order: { field: 'labelled', type: 'quantitative' } },
      },
      ...layout.references.map((r) => ({
        // Each rule gets one empty datum: a layer without data draws nothing.
        data: one,
        mark: { type: 'rule' as const, color: '#555', strokeWidth: 1.5, ...(r.dashed ? { strokeDash: [6, 4] } : {}) },
        encoding: { y: { datum: r.value, type: 'quantitative' as const, title: METRIC_TITLE[metric], scale } },
      })),
      ...layout.labels.map((l) => ({
        data: { values: [{ acquisition: l.acquisition ?? '' }] },
        mark: { type: 'text' as const, align: 'left' as const, baseline: 'middle' as const, fontSize: LABEL_FONT_SIZE, ...(l.acquisition === undefined ? { color: '#333' } : {}) },
        encoding: { x: { value: l.x }, y: { value: l.y }, text: { value: l.text }, ...(l.acquisition === undefined ? {} : { color }) },
      })),
    ],
  };
}

export function leaderboardSpec(data: BenchmarkReportData): TopLevelSpec | undefined {
  const ok = (data.leaderboard ?? []).filter((r) => r.status === 'ok' && r.valIoU !== undefined);
  if (ok.length === 0) return undefined;
  const values = [...ok].sort((a, b) => a.rank - b.rank)
    .map((r) => ({ trial: `#${r.rank} ${r.arch} + ${r.encoder} (lr ${r.learningRate}, batch ${r.batchSize})`, iou: r.valIoU }));
  // sort: null keeps rank order (a field sort shared by the bar and label layers makes Vega-Lite warn).
  const y = { field: 'trial', type: 'nominal' as const, title: null, sort: null, axis: { labelLimit: 0 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'EDNAS search: validation IoU per trial (what ranks them)',
    width: WIDTH - 200,
    height: { step: 22 },
    background: 'white',
    data: { values },
    encoding: { y, x: { field: 'iou', type: 'quantitative', title: 'Validation IoU', scale: { domain: [0, 1] } } },
    layer: [
      { mark: { type: 'bar', color: '#4c78a8' } },
      { mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 }, encoding: { text: { field: 'iou', type: 'quantitative', format: '.4f' } } },
    ],
  };
}

export async function renderCharts(data: BenchmarkReportData, stats: BenchmarkStatistics = reportStatistics(data)): Promise<ReportCharts> {
  const board = leaderboardSpec(data);
  const [iouVsLabelled, diceVsLabelled, leaderboardIoU] = await Promise.all([
    renderSpec(learningCurveSpec(data, 'iou', stats)),
    renderSpec(learningCurveSpec(data, 'dice', stats)),
    board ? renderSpec(board) : Promise.resolve(undefined),
  ]);
  return { iouVsLabelled, diceVsLabelled, ...(leaderboardIoU ? { leaderboardIoU } : {}) };
}
