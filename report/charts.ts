/**
 * Report charts as SVG strings: Vega-Lite specs compiled and rendered headless by Vega
 * (renderer 'none' needs no canvas; text widths are estimated).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchmarkReportData } from './types';

const WIDTH = 560;
const HEIGHT = 320;
const LABELLED_TITLE = 'Labelled images';

type Metric = 'iou' | 'dice';
const METRIC_TITLE: Record<Metric, string> = { iou: 'Test IoU', dice: 'Test Dice' };

export interface ReportCharts {
  /** The paper's Fig. 4: test IoU vs labelled images per acquisition function, baseline and target rules. */
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

export function learningCurveSpec(data: BenchmarkReportData, metric: Metric): TopLevelSpec {
  const values = data.curves.flatMap((c) => c.points.map((p) => ({ acquisition: c.acquisition, labelled: p.labelled, phase: p.phase, value: p[metric] })));
  const rules = [
    ...(data.baseline ? referenceLine(data.baseline[metric], `full-data baseline ${data.baseline[metric].toFixed(3)} (${data.baseline.labelled} images)`, metric, false) : []),
    ...(metric === 'iou' ? referenceLine(data.targetIoU, `target ${data.targetIoU.toFixed(3)}`, metric, true) : []),
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${METRIC_TITLE[metric]} vs labelled images`,
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: { filled: true, size: 40 }, strokeWidth: 2 },
        encoding: {
          x: { field: 'labelled', type: 'quantitative', title: LABELLED_TITLE, scale: { zero: false } },
          y: { field: 'value', type: 'quantitative', title: METRIC_TITLE[metric], scale: { zero: false } },
          color: { field: 'acquisition', type: 'nominal', title: 'Acquisition', scale: { domain: data.curves.map((c) => c.acquisition) } },
          order: { field: 'labelled', type: 'quantitative' },
        },
      },
      ...rules,
    ],
  };
}

export function leaderboardSpec(data: BenchmarkReportData): TopLevelSpec | undefined {
  const ok = (data.leaderboard ?? []).filter((r) => r.status === 'ok' && r.iou !== undefined);
  if (ok.length === 0) return undefined;
  const values = [...ok].sort((a, b) => a.rank - b.rank)
    .map((r) => ({ trial: `#${r.rank} ${r.arch} + ${r.encoder} (lr ${r.learningRate}, batch ${r.batchSize})`, iou: r.iou }));
  // sort: null keeps rank order (a field sort shared by the bar and label layers makes Vega-Lite warn).
  const y = { field: 'trial', type: 'nominal' as const, title: null, sort: null, axis: { labelLimit: 0 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'EDNAS search: test IoU per trial',
    width: WIDTH - 200,
    height: { step: 22 },
    background: 'white',
    data: { values },
    encoding: { y, x: { field: 'iou', type: 'quantitative', title: 'Test IoU', scale: { domain: [0, 1] } } },
    layer: [
      { mark: { type: 'bar', color: '#4c78a8' } },
      { mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 }, encoding: { text: { field: 'iou', type: 'quantitative', format: '.4f' } } },
    ],
  };
}

export async function renderCharts(data: BenchmarkReportData): Promise<ReportCharts> {
  const board = leaderboardSpec(data);
  const [iouVsLabelled, diceVsLabelled, leaderboardIoU] = await Promise.all([
    renderSpec(learningCurveSpec(data, 'iou')),
    renderSpec(learningCurveSpec(data, 'dice')),
    board ? renderSpec(board) : Promise.resolve(undefined),
  ]);
  return { iouVsLabelled, diceVsLabelled, ...(leaderboardIoU ? { leaderboardIoU } : {}) };
}
