/**
 * Report charts as SVG strings: Vega-Lite specs compiled and rendered headless by Vega
 * (renderer 'none' needs no canvas; text widths are estimated).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { reportStatistics, seedRunsOf, type BenchmarkStatistics } from './stats';
import type { BenchmarkReportData } from './types';

const WIDTH = 560;
const HEIGHT = 320;
const LABELLED_TITLE = 'Labelled images';

type Metric = 'iou' | 'dice';
const METRIC_TITLE: Record<Metric, string> = { iou: 'Test IoU', dice: 'Test Dice' };

export interface ReportCharts {
  /**
   * The paper's Fig. 4: test IoU vs labelled images per strategy, baseline and target rules. With several seeds:
   * the mean curve with a shaded 95 % band per strategy, and the mean of the seeds' baselines.
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

/** A horizontal reference line with its label at the right edge, above the line. */
function referenceLine(value: number, label: string, metric: Metric, dashed: boolean) {
  const y = { datum: value, type: 'quantitative' as const, title: METRIC_TITLE[metric] };
  // Each rule gets one empty datum: a layer without data draws nothing.
  const data = { values: [{}] };
  return [
    { data, mark: { type: 'rule' as const, color: '#555', strokeWidth: 1.5, ...(dashed ? { strokeDash: [6, 4] } : {}) }, encoding: { y } },
    {
      data,
      mark: { type: 'text' as const, align: 'right' as const, baseline: 'bottom' as const, dy: -3, fontSize: 11, color: '#333' },
      encoding: { y, x: { value: WIDTH - 4 }, text: { value: label } },
    },
  ];
}

/** One row per drawn point: the mean (the value itself with one seed) and, with n ≥ 2, the interval. */
interface CurveRow {
  acquisition: string;
  labelled: number;
  value: number;
  lower?: number;
  upper?: number;
}

function curveRows(data: BenchmarkReportData, stats: BenchmarkStatistics, metric: Metric): CurveRow[] {
  const runs = seedRunsOf(data);
  if (runs.length === 1) {
    return runs[0].curves.flatMap((c) => c.points.map((p) => ({ acquisition: c.acquisition, labelled: p.labelled, value: p[metric] })));
  }
  return stats.strategies.flatMap((s) => s.curve.map((p) => ({
    acquisition: s.strategy, labelled: p.labelled, value: p[metric].mean,
    ...(p[metric].lower !== undefined ? { lower: p[metric].lower, upper: p[metric].upper } : {}),
  })));
}

function baselineRule(data: BenchmarkReportData, stats: BenchmarkStatistics, metric: Metric) {
  const runs = seedRunsOf(data);
  if (runs.length === 1) {
    const baseline = runs[0].baseline;
    return baseline ? referenceLine(baseline[metric], `full-data baseline ${baseline[metric].toFixed(3)} (${baseline.labelled} images)`, metric, false) : [];
  }
  const mean = metric === 'iou' ? stats.baseline : stats.baselineDice;
  return mean ? referenceLine(mean.mean, `full-data baseline, mean of ${mean.n} seed${mean.n === 1 ? '' : 's'}: ${mean.mean.toFixed(3)}`, metric, false) : [];
}

export function learningCurveSpec(data: BenchmarkReportData, metric: Metric, stats: BenchmarkStatistics = reportStatistics(data)): TopLevelSpec {
  const rows = curveRows(data, stats, metric);
  const band = rows.filter((r) => r.lower !== undefined);
  const strategies = seedRunsOf(data).length === 1 ? seedRunsOf(data)[0].curves.map((c) => c.acquisition) : stats.strategies.map((s) => s.strategy);
  const x = { field: 'labelled', type: 'quantitative' as const, title: LABELLED_TITLE, scale: { zero: false } };
  const color = { field: 'acquisition', type: 'nominal' as const, title: 'Strategy', scale: { domain: strategies } };
  const rules = [
    ...baselineRule(data, stats, metric),
    ...(metric === 'iou' ? referenceLine(data.targetIoU, `target ${data.targetIoU.toFixed(3)}`, metric, true) : []),
  ];
  const title = `${METRIC_TITLE[metric]} vs labelled images${band.length ? ` (mean of ${stats.seeds.length} seeds, 95% band)` : ''}`;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    // One colour scale for bands and lines; the legend comes from the lines alone.
    resolve: { legend: { color: 'independent' } },
    layer: [
      // The band under the lines: y to y2 is drawn as given (no stacking).
      ...(band.length ? [{
        data: { values: band },
        mark: { type: 'area' as const, opacity: 0.18 },
        encoding: {
          x,
          y: { field: 'lower', type: 'quantitative' as const, title: METRIC_TITLE[metric], scale: { zero: false } },
          y2: { field: 'upper' },
          // The lines' legend names the strategies; the faded band symbol would only repeat it.
          color: { ...color, legend: null },
        },
      }] : []),
      {
        data: { values: rows },
        mark: { type: 'line', point: { filled: true, size: 40 }, strokeWidth: 2 },
        encoding: {
          x,
          y: { field: 'value', type: 'quantitative', title: METRIC_TITLE[metric], scale: { zero: false } },
          color,
          order: { field: 'labelled', type: 'quantitative' },
        },
      },
      ...rules,
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
