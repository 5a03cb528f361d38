import { describe, expect, it } from 'vitest';
import {
  boxesIntersect, estimateTextWidth, learningCurveLayout, learningCurveSpec, metricDomain, renderSpec, spreadLabels, type LabelBox,
} from '../../report/charts';
import { reportMarkdown } from '../../report/markdown';
import type { AcquisitionCurve, BenchmarkReportData } from '../../report/types';

const curve = (acquisition: string, seed: number, ious: readonly number[]): AcquisitionCurve => ({
  acquisition, runId: `bench-s${seed}-${acquisition}`, stopReason: 'budget-spent',
  points: ious.map((iou, i) => ({ phase: i + 1, labelled: 20 + 10 * i, iou, dice: Math.min(1, iou + 0.05) })),
});

function seeded(seeds: { seed: number; curves: AcquisitionCurve[] }[]): BenchmarkReportData {
  return {
    title: 'chart', benchmarkId: 'bench', datasetId: 'synthetic', poolSize: 80, initialSize: 20, testSize: 10, targetIoU: 0.8, curves: [],
    seeds: seeds.map((s) => ({ ...s, baseline: { iou: 0.8, dice: 0.85, labelled: 100 } })),
    metadata: { seed: 0, backend: 'test', startedAt: '2026-12-01T00:00:00.000Z', finishedAt: '2026-12-01T01:00:00.000Z', durationsMs: {}, model: 'm', settings: {} },
  };
}

/** Two seeds that disagree wildly: the 95 % t interval (t = 12.71 with df 1) spans far beyond [0, 1]. */
const twoSeeds = () => seeded([
  { seed: 0, curves: [curve('mfe', 0, [0.05, 0.1, 0.95]), curve('random', 0, [0.02, 0.9, 0.3])] },
  { seed: 1, curves: [curve('mfe', 1, [0.95, 0.9, 0.05]), curve('random', 1, [0.98, 0.1, 0.7])] },
]);

/** "…with values from 0.0 to 1.0" in the y axis's description of the rendered SVG. */
function yAxisRange(svg: string): [number, number] {
  const m = svg.match(/Y-axis titled '[^']*' for a linear scale with values from (-?[\d.]+) to (-?[\d.]+)/);
  expect(m, 'y axis description').not.toBeNull();
  return [Number(m![1]), Number(m![2])];
}

/** Every y domain the spec gives its layers. */
function specDomains(spec: unknown): unknown[] {
  const found: unknown[] = [];
  const walk = (node: unknown, key?: string): void => {
    if (Array.isArray(node)) node.forEach((n) => walk(n));
    else if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (key === 'y' && o.scale && typeof o.scale === 'object') found.push((o.scale as Record<string, unknown>).domain);
      for (const [k, v] of Object.entries(o)) walk(v, k);
    }
  };
  walk(spec);
  return found;
}

/** The end-of-line labels as drawn: texts right of the 560-pixel plot, their boxes estimated like the chart estimates them. */
function drawnLabelBoxes(svg: string): LabelBox[] {
  return [...svg.matchAll(/<text [^>]*transform="translate\(([\d.]+),([\d.]+)\)"[^>]*font-size="(\d+)px"[^>]*>([^<]*)</g)]
    .map(([, x, y, size, text]) => ({ text, x: Number(x), y: Number(y), width: estimateTextWidth(text, Number(size)), height: Number(size) + 3 }))
    .filter((b) => b.x > 560);
}

const overlapping = (boxes: readonly LabelBox[]) =>
  boxes.flatMap((a, i) => boxes.slice(i + 1).filter((b) => boxesIntersect(a, b)).map((b) => `${a.text} × ${b.text}`));

describe('learning-curve chart axes', () => {
  it('keeps a bounded metric\'s domain inside its bounds', () => {
    expect(metricDomain([-5, 6], [0, 1])).toEqual([0, 1]);
    const [lo, hi] = metricDomain([0.7, 0.8], [0, 1]);
    expect(lo).toBeGreaterThan(0.6);
    expect(hi).toBeLessThan(0.9);
    expect(metricDomain([], [0, 1])).toEqual([0, 1]);
  });

  it('keeps the IoU and Dice axes of a 2-seed case with a huge interval within [0, 1]', async () => {
    for (const metric of ['iou', 'dice'] as const) {
      const spec = learningCurveSpec(twoSeeds(), metric);
      const domains = specDomains(spec);
      expect(domains.length).toBeGreaterThan(0);
      for (const d of domains) {
        expect(d).toHaveLength(2);
        const [lo, hi] = d as [number, number];
        expect(lo).toBeGreaterThanOrEqual(0);
        expect(hi).toBeLessThanOrEqual(1);
      }
      const [lo, hi] = yAxisRange(await renderSpec(spec));
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
    }
  });

  it('clamps a 3-seed band that reaches past [0, 1] to the plot instead of widening the axis', async () => {
    const data = seeded([0, 1, 2].map((seed) => ({ seed, curves: [curve('mfe', seed, [0.05 + 0.45 * seed, 0.5, 0.9 - 0.4 * seed])] })));
    const svg = await renderSpec(learningCurveSpec(data, 'iou'));
    expect(svg).toContain('aria-roledescription="area mark"');
    const [lo, hi] = yAxisRange(svg);
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
  });
});

describe('learning-curve chart with few seeds', () => {
  it('draws each of 2 seeds as one thin path per strategy, the mean line over them, and no band', async () => {
    const svg = await renderSpec(learningCurveSpec(twoSeeds(), 'iou'));
    expect(svg).not.toContain('area mark');
    const lines = [...svg.matchAll(/<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="line mark"[^>]*stroke-width="([\d.]+)"/g)];
    const thin = lines.filter((m) => m[2] === '1');
    const thick = lines.filter((m) => m[2] === '2');
    expect(thin).toHaveLength(4);
    for (const strategy of ['mfe', 'random']) {
      for (const seed of [0, 1]) {
        expect(thin.filter((m) => m[1].includes(`Strategy: ${strategy}`) && m[1].includes(`seed: ${seed}`)), `${strategy} seed ${seed}`).toHaveLength(1);
      }
    }
    expect(thick).toHaveLength(2);
    expect(svg).toContain('(mean of 2 seeds and each seed)');
    expect(reportMarkdown(twoSeeds(), [])).toContain('thin lines: each seed\'s own run');
  });

  it('keeps the mean and its 95% band with 3 seeds, without per-seed lines', async () => {
    const data = seeded([0, 1, 2].map((seed) => ({ seed, curves: [curve('mfe', seed, [0.6, 0.7 + 0.01 * seed]), curve('random', seed, [0.5, 0.6])] })));
    const svg = await renderSpec(learningCurveSpec(data, 'iou'));
    expect(svg.match(/aria-roledescription="area mark"/g)).toHaveLength(2);
    expect(svg).not.toMatch(/aria-roledescription="line mark"[^>]*stroke-width="1"/);
    expect(svg).toContain('mean of 3 seeds, 95% band');
  });
});

describe('end-of-line labels', () => {
  it('spreads labels that share a position so that none overlaps, inside the plot when they fit', () => {
    const ys = spreadLabels([100, 100, 100, 101, 300, 299], 14, 320);
    const sorted = [...ys].sort((a, b) => a - b);
    for (let k = 1; k < sorted.length; k++) expect(sorted[k] - sorted[k - 1]).toBeGreaterThanOrEqual(14 - 1e-9);
    expect(Math.min(...ys)).toBeGreaterThanOrEqual(7);
    expect(Math.max(...ys)).toBeLessThanOrEqual(313);
    // Order by value is kept (ties by input order), and a lone label is not moved.
    expect(ys[0]).toBeLessThan(ys[1]);
    expect(spreadLabels([150], 14, 320)).toEqual([150]);
  });

  it('gives a crowded chart (eight strategies, baseline and target at one value) label boxes that do not intersect', async () => {
    const names = ['mfe', 'mfe stochastic', 'random', 'entropy', 'badge', 'k-center', 'clasp', 'mfe +pseudo-label'];
    const data = seeded([0, 1, 2].map((seed) => ({ seed, curves: names.map((n, i) => curve(n, seed, [0.5, 0.7, 0.8 + 0.0005 * i + 0.001 * seed])) })));
    const layout = learningCurveLayout(data, 'iou');
    expect(layout.labels.map((l) => l.text)).toEqual([...names, 'full-data baseline, mean of 3 seeds: 0.800', 'target 0.800']);
    expect(overlapping(layout.labels)).toEqual([]);
    const drawn = drawnLabelBoxes(await renderSpec(learningCurveSpec(data, 'iou')));
    expect(drawn.map((b) => b.text).sort()).toEqual(layout.labels.map((l) => l.text).sort());
    expect(overlapping(drawn)).toEqual([]);
  });

  it('separates the single-seed baseline and target labels when their values are close', () => {
    const data = seeded([{ seed: 0, curves: [curve('mfe', 0, [0.6, 0.8]), curve('random', 0, [0.6, 0.79])] }]);
    const layout = learningCurveLayout(data, 'iou');
    expect(layout.labels.map((l) => l.text)).toEqual(['mfe', 'random', 'full-data baseline 0.800 (100 images)', 'target 0.800']);
    expect(overlapping(layout.labels)).toEqual([]);
  });
});
