/**
 * Where an active-learning run's time went, phase by phase: the parts its PhaseRecords measured (training, scoring
 * and selection, the wait for masks with their merge) as a stacked bar chart and a Markdown table. A part a phase did
 * not record is absent from both, never drawn or written as a zero.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { PhaseRecord } from '../contracts';

/** The chart's file name beside the run's active-learning.md (`runKeys.reportTimeChart`). */
export const PHASE_TIME_CHART_FILE = 'active-learning-time.svg';

type TimedField = 'trainMs' | 'scoreMs' | 'waitMs';

export interface PhaseTimePart {
  field: TimedField;
  /** The name in the chart's legend and the table's header. */
  part: string;
  what: string;
}

/** The recorded parts of a phase, in the order they happen (and are stacked, bottom first). */
export const PHASE_TIME_PARTS: readonly PhaseTimePart[] = [
  { field: 'trainMs', part: 'train', what: 'training the segmentation and uncertainty models' },
  { field: 'scoreMs', part: 'score + select', what: 'scoring the pool and selecting the images to label' },
  { field: 'waitMs', part: 'wait + merge', what: 'waiting for the doctors\' masks and merging them' },
];

/** One recorded part of one phase. */
export interface PhaseTimeRow {
  phase: number;
  part: string;
  /** The part's place in PHASE_TIME_PARTS: the stacking order. */
  order: number;
  seconds: number;
}

type TimedRecord = Pick<PhaseRecord, 'phase' | TimedField>;

const recorded = (ms: number | undefined): ms is number => ms !== undefined && Number.isFinite(ms) && ms >= 0;

/** The parts each phase recorded, by phase and then in PHASE_TIME_PARTS order; unrecorded parts have no row. */
export function phaseTimeRows(history: readonly TimedRecord[]): PhaseTimeRow[] {
  return [...history].sort((a, b) => a.phase - b.phase).flatMap((h) => PHASE_TIME_PARTS.flatMap((p, order) => {
    const ms = h[p.field];
    return recorded(ms) ? [{ phase: h.phase, part: p.part, order, seconds: ms / 1000 }] : [];
  }));
}

/** One stacked bar per phase, its parts in the order they happen; undefined when no phase recorded any time. */
export function phaseTimeSpec(history: readonly TimedRecord[], title = 'Time per phase'): TopLevelSpec | undefined {
  const rows = phaseTimeRows(history);
  if (rows.length === 0) return undefined;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: { step: 28 },
    height: 240,
    background: 'white',
    data: { values: rows },
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'phase', type: 'ordinal', title: 'Phase', axis: { labelAngle: 0 } },
      y: { field: 'seconds', type: 'quantitative', title: 'Seconds', stack: 'zero' },
      color: { field: 'part', type: 'nominal', title: 'Part', scale: { domain: PHASE_TIME_PARTS.map((p) => p.part) }, sort: PHASE_TIME_PARTS.map((p) => p.part) },
      order: { field: 'order', type: 'quantitative', sort: 'ascending' },
    },
  };
}

const secondsText = (ms: number | undefined) => (recorded(ms) ? (ms / 1000).toFixed(1) : '—');

/**
 * The time section of a run's report: the chart (when `chart` names its file beside the report) and the table; an
 * unrecorded part is '—' and the total adds only what was recorded.
 */
export function phaseTimeMarkdown(history: readonly TimedRecord[], chart?: { file: string; alt: string }): string[] {
  const sorted = [...history].sort((a, b) => a.phase - b.phase);
  const rows = sorted.map((h) => {
    const parts = PHASE_TIME_PARTS.map((p) => h[p.field]);
    const total = parts.filter(recorded).reduce((sum, ms) => sum + ms, 0);
    return `| ${h.phase} | ${parts.map(secondsText).join(' | ')} | ${parts.some(recorded) ? (total / 1000).toFixed(1) : '—'} |`;
  });
  return [
    '## Time per phase', '',
    `Seconds per phase as the run recorded them: ${PHASE_TIME_PARTS.map((p) => `*${p.part}* is ${p.what}`).join('; ')}. ` +
      'Evaluation is not timed on its own, and the merge is inside the wait. A part a phase did not record (the phase that ended ' +
      'the run requests no masks) is shown as —, not as 0, and the total adds only what was recorded.', '',
    ...(chart ? [`![${chart.alt}](${chart.file})`, ''] : []),
    `| phase | ${PHASE_TIME_PARTS.map((p) => `${p.part} s`).join(' | ')} | recorded total s |`,
    `| --- | ${PHASE_TIME_PARTS.map(() => '---').join(' | ')} | --- |`,
    ...rows, '',
  ];
}
