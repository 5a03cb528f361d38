import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { leaderboardMarkdown } from '../../report/leaderboard';
import { MemoryBlobStore } from '../../store/blobStore';
import {
  BASELINE_TOLERANCE, curveFromHistory, firstPointReaching, renderReport, REPORT_FILES, ReportDataError, writeReport, writeReportToFolder,
  type BenchmarkReportData, type RenderedReport,
} from '../../report/index';
import { formatDuration } from '../../report/markdown';
import type { PhaseRecord } from '../../contracts';

/** Shaped like a recorded benchmark: 40 initial + 360 pool = 400 training images, 50 labels per phase. */
function recordedRun(): BenchmarkReportData {
  const phase = (phase: number, iou: number, dice: number): PhaseRecord => ({
    phase, labelled: 40 + 50 * (phase - 1), iou, dice, acquisition: 'mfe', trainMs: 1000 * phase, segResumedFromEpoch: 0, segAttempts: 1,
  });
  return {
    title: 'MFE vs random on synthetic echo',
    benchmarkId: 'bench-7',
    datasetId: 'synthetic-a2c',
    poolSize: 360,
    initialSize: 40,
    testSize: 100,
    targetIoU: 0.87,
    curves: [
      // Recorded out of order: the report sorts by phase.
      curveFromHistory({ acquisition: 'mfe', runId: 'bench-7-mfe', stopReason: 'budget-spent',
        history: [phase(2, 0.82, 0.89), phase(1, 0.7, 0.8), phase(3, 0.875, 0.92), phase(4, 0.885, 0.935)] }),
      curveFromHistory({ acquisition: 'random', runId: 'bench-7-random', stopReason: 'budget-spent',
        history: [phase(1, 0.69, 0.79), phase(2, 0.8, 0.87), phase(3, 0.84, 0.9), phase(4, 0.86, 0.91)] }),
    ],
    baseline: { iou: 0.89, dice: 0.94, labelled: 400 },
    leaderboard: [
      { rank: 1, index: 4, status: 'ok', arch: 'Linknet', encoder: 'timm-skresnet34', learningRate: 4e-5, batchSize: 4, valIoU: 0.87, valDice: 0.92, testIoU: 0.86, testDice: 0.91, params: 21_800_000, ms: 61_000 },
      { rank: 2, index: 1, status: 'ok', arch: 'PAN', encoder: 'timm-regnety_120', learningRate: 1e-5, batchSize: 4, valIoU: 0.8695, valDice: 0.918, params: 50_290_512, ms: 95_500 },
      { rank: 3, index: 2, status: 'failed', arch: 'DeepLabV3', encoder: 'dpn98', learningRate: 1e-4, batchSize: 16, ms: 3_000, error: 'out of memory' },
    ],
    metadata: {
      seed: 7,
      backend: 'tensorflow (native CPU)',
      startedAt: '2026-11-25T10:00:00.000Z',
      finishedAt: '2026-11-25T11:02:05.000Z',
      durationsMs: { search: 754_000, mfe: 1_500_000, random: 1_450_000 },
      model: 'PAN + timm-regnety_120 (widthScale 0.25)',
      settings: { labelsPerPhase: 50, mcSamples: 30, dropout: { strategy: 'head', rate: 0.5 } },
    },
  };
}

const text = (rendered: RenderedReport, name: string) => {
  const file = rendered.files.find((f) => f.name === name);
  if (!file) throw new Error(`no ${name} among ${rendered.files.map((f) => f.name).join(', ')}`);
  return new TextDecoder().decode(file.body);
};

/** Well-formedness: every opened element is closed in order. */
function assertBalancedTags(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:.-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (!closing) stack.push(name);
    else expect(stack.pop(), `closing </${name}>`).toBe(name);
  }
  expect(stack).toEqual([]);
}

/** The Markdown table row whose first cell is `first`, under the heading `heading`. */
function rowAfter(markdown: string, heading: string, first: string): string[] {
  const section = markdown.slice(markdown.indexOf(heading));
  expect(markdown.indexOf(heading), heading).toBeGreaterThanOrEqual(0);
  const line = section.split('\n').find((l) => l.startsWith(`| ${first} |`));
  expect(line, `row '${first}' under '${heading}'`).toBeDefined();
  return line!.slice(2, -2).split(' | ');
}

describe('report', () => {
  let rendered: RenderedReport;
  beforeAll(async () => {
    rendered = await renderReport(recordedRun());
  });

  it('renders report.md, report.json, statistics.json and three SVG charts', () => {
    expect(rendered.files.map((f) => f.name)).toEqual([
      REPORT_FILES.markdown, REPORT_FILES.data, REPORT_FILES.statistics, REPORT_FILES.iouChart, REPORT_FILES.diceChart, REPORT_FILES.leaderboardChart,
    ]);
    expect(text(rendered, REPORT_FILES.markdown)).toBe(rendered.markdown);
    expect(JSON.parse(text(rendered, REPORT_FILES.data))).toEqual(recordedRun());
    expect(rendered.files.find((f) => f.name === REPORT_FILES.iouChart)?.contentType).toBe('image/svg+xml');
  });

  it('draws IoU and Dice vs labelled images with one series per acquisition function and the reference rules', () => {
    const iou = text(rendered, REPORT_FILES.iouChart);
    const dice = text(rendered, REPORT_FILES.diceChart);
    for (const svg of [iou, dice]) {
      expect(svg.startsWith('<svg')).toBe(true);
      assertBalancedTags(svg);
      expect(svg).toContain('Labelled images');
      expect(svg).toContain('>mfe<');
      expect(svg).toContain('>random<');
      expect(svg.match(/aria-roledescription="line mark"/g)).toHaveLength(2);
      expect(svg.match(/aria-roledescription="point"/g)).toHaveLength(8);
    }
    expect(iou).toContain('Test IoU');
    expect(iou).toContain('full-data baseline 0.890 (400 images)');
    expect(iou).toContain('target 0.870');
    expect(iou).toContain('stroke-dasharray="6,4"');
    expect(dice).toContain('Test Dice');
    expect(dice).toContain('full-data baseline 0.940 (400 images)');
    expect(dice).not.toContain('target 0.870');
  });

  it('charts the successful search trials only', () => {
    const svg = text(rendered, REPORT_FILES.leaderboardChart);
    expect(svg.startsWith('<svg')).toBe(true);
    assertBalancedTags(svg);
    expect(svg).toContain('Linknet + timm-skresnet34');
    expect(svg).toContain('0.8695');
    expect(svg).toContain('validation IoU per trial');
    expect(svg).not.toContain('dpn98');
    expect(svg.indexOf('#1 Linknet')).toBeLessThan(svg.indexOf('#2 PAN'));
  });

  it('lists run metadata and links the charts by relative name', () => {
    const md = rendered.markdown;
    expect(md.startsWith('# MFE vs random on synthetic echo\n')).toBe(true);
    expect(rowAfter(md, '## Run', 'seed')).toEqual(['seed', '7']);
    expect(rowAfter(md, '## Run', 'backend')).toEqual(['backend', 'tensorflow (native CPU)']);
    expect(rowAfter(md, '## Run', 'images')).toEqual(['images', '40 initial labelled + 360 pool = 400 training; 100 test']);
    expect(rowAfter(md, '## Run', 'wall time')).toEqual(['wall time', '1 h 02 min']);
    expect(rowAfter(md, '### Durations', 'search')).toEqual(['search', '12 min 34 s']);
    expect(rowAfter(md, '### Settings', 'dropout')).toEqual(['dropout', '{"strategy":"head","rate":0.5}']);
    expect(md).toContain('![Test IoU vs labelled images](iou-vs-labelled.svg)');
    expect(md).toContain('![Test Dice vs labelled images](dice-vs-labelled.svg)');
    expect(md).toContain('(leaderboard-iou.svg)');
  });

  it('tabulates every phase per acquisition function in phase order (Table II)', () => {
    const md = rendered.markdown;
    const mfe = '### mfe (run `bench-7-mfe`, stopped: budget-spent)';
    expect(rowAfter(md, mfe, '1')).toEqual(['1', '40', '10.0', '0.7000', '0.8000']);
    expect(rowAfter(md, mfe, '3')).toEqual(['3', '140', '35.0', '0.8750', '0.9200']);
    const mfeTable = md.slice(md.indexOf(mfe)).split('\n\n')[1].split('\n').slice(2).map((l) => l.split(' | ')[0]);
    expect(mfeTable).toEqual(['| 1', '| 2', '| 3', '| 4']);
    expect(rowAfter(md, '### random', '4')).toEqual(['4', '190', '47.5', '0.8600', '0.9100']);
    expect(rowAfter(md, '### Test IoU by labelled images', '90')).toEqual(['90', '22.5', '0.8200', '0.8000']);
  });

  it('states the labelled share each function needed to reach the target and the baseline', () => {
    const md = rendered.markdown;
    const header = md.split('\n').find((l) => l.startsWith('| acquisition |'));
    expect(header).toBe('| acquisition | run | phases | best IoU | reached target IoU ≥ 0.870 | reached baseline IoU ≥ 0.880 | IoU fell | stopped |');
    // mfe: phase 3 is the first with IoU ≥ 0.87 (0.875): 140 of 400 images = 35.0 %; baseline 0.89 − 0.01 first met by 0.885 in phase 4.
    expect(rowAfter(md, '## Labelled share needed', 'mfe')).toEqual([
      'mfe', '`bench-7-mfe`', '4', '0.8850', '140 images, 35.0% of 400 (phase 3)', '190 images, 47.5% of 400 (phase 4)', '0 of 3 steps', 'budget-spent',
    ]);
    expect(rowAfter(md, '## Labelled share needed', 'random')).toEqual([
      'random', '`bench-7-random`', '4', '0.8600', 'not reached', 'not reached', '0 of 3 steps', 'budget-spent',
    ]);
  });

  it('includes the search leaderboard exactly as the search writes it (Table I)', () => {
    const data = recordedRun();
    const board = leaderboardMarkdown(data.benchmarkId, data.datasetId, data.leaderboard!).replace(/^# /, '## ').trimEnd();
    expect(rendered.markdown).toContain(board);
    expect(rendered.markdown).toContain('| 3 | — | — | — | — | DeepLabV3 | dpn98 | 0.0001 | 16 | — | 0 | — | 3.0 | failed: out of memory |');
    expect(rendered.markdown.indexOf('## EDNAS leaderboard bench-7')).toBeGreaterThan(rendered.markdown.indexOf('## Phases'));
  });

  it('omits the baseline column and the leaderboard when the run has neither', async () => {
    const { baseline: _baseline, leaderboard: _leaderboard, ...rest } = recordedRun();
    const bare = await renderReport(rest);
    expect(bare.files.map((f) => f.name)).toEqual([REPORT_FILES.markdown, REPORT_FILES.data, REPORT_FILES.statistics, REPORT_FILES.iouChart, REPORT_FILES.diceChart]);
    expect(bare.markdown).not.toContain('reached baseline');
    expect(bare.markdown).not.toContain('EDNAS leaderboard');
    expect(bare.markdown).not.toContain('leaderboard-iou.svg');
    expect(text(bare, REPORT_FILES.iouChart)).not.toContain('full-data baseline');
    expect(rowAfter(bare.markdown, '## Labelled share needed', 'mfe')[4]).toBe('140 images, 35.0% of 400 (phase 3)');
  });

  it('counts a point exactly at the threshold as reached, despite floating-point subtraction', () => {
    const curve = recordedRun().curves[1];
    expect(firstPointReaching(curve, 0.86)?.phase).toBe(4);
    expect(firstPointReaching(curve, 0.861)).toBeUndefined();
    // 0.5006 − 0.01 is 0.49060000000000004 in floating point: an IoU of 0.4906 is within the tolerance all the same.
    const low = { ...curve, points: [{ phase: 1, labelled: 40, iou: 0.4906, dice: 0.6 }] };
    expect(firstPointReaching(low, 0.5006 - BASELINE_TOLERANCE)?.phase).toBe(1);
    expect(formatDuration(59_940)).toBe('59.9 s');
    expect(formatDuration(3_600_000)).toBe('1 h 00 min');
  });

  it('rejects data that would give a wrong report, saying what to fix', async () => {
    const twin = recordedRun();
    twin.curves[1].acquisition = 'mfe';
    await expect(renderReport(twin)).rejects.toThrow(ReportDataError);
    await expect(renderReport(twin)).rejects.toThrow(/two curves are named 'mfe'/);
    const broken = recordedRun();
    broken.curves[0].points[0].iou = Number.NaN;
    await expect(renderReport(broken)).rejects.toThrow(/curve 'mfe' has a non-numeric value/);
    await expect(renderReport({ ...recordedRun(), poolSize: 0, initialSize: 0 })).rejects.toThrow(/initialSize \+ poolSize is 0/);
  });

  it('writes every file to the store under the prefix', async () => {
    const store = new MemoryBlobStore();
    const written = await writeReport(store, 'runs/bench-7/report', recordedRun());
    expect(written.markdownKey).toBe('runs/bench-7/report/report.md');
    const expected = rendered.files.map((f) => `runs/bench-7/report/${f.name}`);
    expect(written.keys).toEqual(expected);
    expect(await store.list('')).toEqual([...expected].sort());
    expect(new TextDecoder().decode(await store.getBytes(written.markdownKey))).toBe(rendered.markdown);
    expect(new TextDecoder().decode(await store.getBytes('runs/bench-7/report/iou-vs-labelled.svg'))).toBe(text(rendered, REPORT_FILES.iouChart));
  });

  it('writes a rendered report into a folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'report-'));
    try {
      const paths = await writeReportToFolder(join(dir, 'nested'), rendered);
      expect((await readdir(join(dir, 'nested'))).sort()).toEqual(rendered.files.map((f) => f.name).sort());
      expect(paths).toContain(join(dir, 'nested', 'report.md'));
      expect(await readFile(join(dir, 'nested', 'report.md'), 'utf8')).toBe(rendered.markdown);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Three seeds of mfe and random, 20 initial + 80 pool = 100 training images, 10 labels per phase. */
function multiSeedRun(): BenchmarkReportData {
  const curve = (acquisition: string, seed: number, ious: number[], stopReason = 'budget-spent') => ({
    acquisition, runId: `bench-9-s${seed}-${acquisition}`, stopReason,
    points: ious.map((iou, i) => ({ phase: i + 1, labelled: 20 + 10 * i, iou, dice: iou + 0.05 })),
  });
  const { baseline: _baseline, leaderboard: _leaderboard, ...single } = recordedRun();
  return {
    ...single,
    title: 'MFE vs random over three seeds',
    poolSize: 80,
    initialSize: 20,
    targetIoU: 0.8,
    curves: [],
    seeds: [
      // mfe is 0.1, 0.11, 0.09 above random at every count it ran; seed 0's mfe stops on reaching the target at 40.
      { seed: 0, baseline: { iou: 0.86, dice: 0.9, labelled: 100 }, curves: [curve('mfe', 0, [0.6, 0.7, 0.8], 'target-reached'), curve('random', 0, [0.5, 0.6, 0.7, 0.75])] },
      { seed: 1, baseline: { iou: 0.84, dice: 0.9, labelled: 100 }, curves: [curve('mfe', 1, [0.61, 0.71, 0.81, 0.86]), curve('random', 1, [0.5, 0.6, 0.7, 0.75])] },
      { seed: 2, baseline: { iou: 0.85, dice: 0.9, labelled: 100 }, curves: [curve('mfe', 2, [0.59, 0.69, 0.79, 0.84]), curve('random', 2, [0.5, 0.6, 0.7, 0.75])] },
    ],
  };
}

describe('multi-seed report', () => {
  let rendered: RenderedReport;
  beforeAll(async () => {
    rendered = await renderReport(multiSeedRun());
  });

  it('draws each strategy\'s mean curve with a shaded band, the mean baseline and the target', () => {
    const svg = text(rendered, REPORT_FILES.iouChart);
    assertBalancedTags(svg);
    expect(svg.match(/aria-roledescription="area mark"/g)).toHaveLength(2);
    expect(svg.match(/aria-roledescription="line mark"/g)).toHaveLength(2);
    expect(svg.match(/aria-roledescription="point"/g)).toHaveLength(8);
    expect(svg).toContain('mean of 3 seeds, 95% band');
    expect(svg).toContain('full-data baseline, mean of 3 seeds: 0.850');
    expect(svg).toContain('target 0.800');
    // The band of random is a line of zero width (equal values on every seed); mfe's spans its interval at 20 labels:
    // 0.6 ± 4.3027 · 0.01 / √3 = [0.5752, 0.6248].
    expect(svg).toMatch(/Labelled images: 20; Test IoU: 0\.5751\d*; upper: 0\.6248\d*; Strategy: mfe/);
    const dice = text(rendered, REPORT_FILES.diceChart);
    expect(dice.match(/aria-roledescription="area mark"/g)).toHaveLength(2);
    expect(dice).toContain('full-data baseline, mean of 3 seeds: 0.900');
  });

  it('lists the seeds and gives every strategy a verdict against random from the paired AULC interval', () => {
    const md = rendered.markdown;
    expect(rowAfter(md, '## Run', 'seeds')).toEqual(['seeds', '3: 0, 1, 2']);
    expect(md).toContain('| strategy | AULC (mean IoU over labelled 20–50) | AULC − random | labels to target − random | verdict |');
    // random's AULC is (0.55 + 0.65 + 0.725) · 10 / 30 = 0.64167 on every seed. mfe: seed 0 carries 0.8 from 40 to 50,
    // (0.65 + 0.75 + 0.8) · 10 / 30 = 0.73333; seed 1 0.75167; seed 2 0.73167 → mean 0.73889. Differences 0.09167, 0.11,
    // 0.09: mean 0.09722, s = 0.011097, half-width 4.3027 · 0.011097 / √3 = 0.02757 → [0.0697, 0.1248].
    expect(rowAfter(md, '## Compared with random', 'mfe')).toEqual([
      'mfe', '0.7389 [0.7113, 0.7665]', '+0.0972 [+0.0697, +0.1248] (3 pairs)', '—; only mfe reached it on seed 0, 1, 2', 'better than random',
    ]);
    expect(rowAfter(md, '## Compared with random', 'random')).toEqual(['random', '0.6417 [0.6417, 0.6417]', '(reference)', '—', '—']);
  });

  it('states labels to target and to baseline per seed and as mean with interval, naming seeds that never reached them', () => {
    const md = rendered.markdown;
    // mfe reaches 0.8 at 40 (seed 0), 40 (seed 1, 0.81), and at 50 (seed 2: 0.79 at 40 misses): mean 43.3,
    // s = 5.7735, half-width 14.342 → [29.0, 57.7]; as shares of 100 images the same numbers in %.
    expect(rowAfter(md, '## Labelled share needed', 'mfe')).toEqual([
      'mfe', '3 of 3', '43.3 [29.0, 57.7] images = 43.3% [29.0%, 57.7%]',
      // Baselines 0.86, 0.84, 0.85: seed 0 never gets within 0.01 (best 0.8), seeds 1 and 2 at 50.
      '2 of 3 (not: seed 0)', '50 [50, 50] images = 50.0% [50.0%, 50.0%]', '0 of 3 steps; 0 of 8',
    ]);
    expect(rowAfter(md, '## Labelled share needed', 'random')).toEqual(['random', '0 of 3 (not: seed 0, 1, 2)', 'not reached', '0 of 3 (not: seed 0, 1, 2)', 'not reached', '0 of 3 steps; 0 of 9']);
    // Random never beats mfe; mfe beats random at every one of the three budgets both recorded on every seed (20, 30, 40).
    expect(rowAfter(md, '## Pairwise comparison', 'mfe')).toEqual(['mfe', '—', '3 of 3', '3']);
    expect(rowAfter(md, '## Pairwise comparison', 'random')).toEqual(['random', '0 of 3', '—', '0']);
    const perSeed = md.slice(md.indexOf('### Per seed'));
    expect(rowAfter(perSeed, '### Per seed', 'mfe')).toEqual([
      'mfe', '0', '`bench-9-s0-mfe`', '3', '0.8000', '0.7333', '40 images, 40.0% of 100 (phase 3)', '0.8600', 'not reached', 'target-reached',
    ]);
  });

  it('tabulates mean IoU ± half-width per labelled count, marking carried values', () => {
    // At 50: mfe 0.8 (seed 0, carried), 0.86, 0.84 → 0.8333 ± 4.3027 · 0.030551 / √3 = 0.0759.
    expect(rowAfter(rendered.markdown, '### Test IoU by labelled images', '50')).toEqual([
      '50', '50.0', '0.8333 ± 0.0759 (n 3, 1 carried)', '0.7500 ± 0.0000 (n 3)',
    ]);
    expect(rendered.markdown).not.toContain('### mfe (run');
  });

  it('stores the statistics beside the report', () => {
    const stats = JSON.parse(text(rendered, REPORT_FILES.statistics));
    expect(stats.seeds).toEqual([0, 1, 2]);
    expect(stats.range).toEqual({ from: 20, to: 50 });
    expect(stats.strategies.map((s: { strategy: string }) => s.strategy)).toEqual(['mfe', 'random']);
    expect(stats.strategies[0].vsReference.verdict.kind).toBe('better');
    expect(JSON.parse(text(rendered, REPORT_FILES.data))).toEqual(multiSeedRun());
  });

  it('renders one seed without bands and with the verdict "not enough seeds"', async () => {
    expect(text(rendered, REPORT_FILES.iouChart)).not.toBe('');
    const single = await renderReport(recordedRun());
    expect(text(single, REPORT_FILES.iouChart)).not.toContain('area mark');
    expect(rowAfter(single.markdown, '## Compared with random', 'mfe')[4]).toBe('not enough seeds');
    // AULC on seed 7 over 40–190: mfe (0.76 + 0.8475 + 0.88) · 50 / 150 = 0.82917, random (0.745 + 0.82 + 0.85) · 50 / 150 = 0.805.
    expect(rowAfter(single.markdown, '## Compared with random', 'mfe').slice(1, 3)).toEqual(['0.8292 (1 seed)', '+0.0242 (1 pair)']);
    // A multi-seed input with one seed is rendered like the single-seed report.
    const oneSeed = multiSeedRun();
    oneSeed.seeds = oneSeed.seeds!.slice(1, 2);
    const fromSeeds = await renderReport(oneSeed);
    expect(text(fromSeeds, REPORT_FILES.iouChart)).not.toContain('area mark');
    expect(rowAfter(fromSeeds.markdown, '## Run', 'seed')).toEqual(['seed', '1']);
    expect(rowAfter(fromSeeds.markdown, '## Labelled share needed', 'mfe')[4]).toBe('40 images, 40.0% of 100 (phase 3)');
  });

  it('rejects ambiguous or broken multi-seed data', async () => {
    const both = multiSeedRun();
    both.curves = recordedRun().curves;
    await expect(renderReport(both)).rejects.toThrow(/either curves and baseline \(one seed\) or seeds/);
    const twice = multiSeedRun();
    twice.seeds![1].seed = 0;
    await expect(renderReport(twice)).rejects.toThrow(/seed 0 appears twice/);
    const twin = multiSeedRun();
    twin.seeds![2].curves[1].acquisition = 'mfe';
    await expect(renderReport(twin)).rejects.toThrow(/two curves of seed 2 are named 'mfe'/);
    await expect(renderReport({ ...multiSeedRun(), seeds: [] })).rejects.toThrow(/seeds is empty/);
  });
});

describe('the strategy auto in reports', () => {
  const record = (phase: number, auto: PhaseRecord['auto']): PhaseRecord => ({
    phase, labelled: 8 + 8 * phase, iou: 0.5 + 0.05 * phase, dice: 0.6, acquisition: 'mfe', trainMs: 1, segResumedFromEpoch: 0, segAttempts: 1, ...(auto ? { auto } : {}),
  });
  const history = [
    record(0, { picked: { random: 3, 'mfe:clasp': 3, 'mfe:badge': 2 }, error: { random: 0.2, 'mfe:clasp': 0.3, 'mfe:badge': 0.5 } }),
    // A candidate whose frames were all unusable has no error that phase.
    record(1, { picked: { 'mfe:clasp': 3, 'mfe:badge': 3, random: 2 }, error: { random: 0.4, 'mfe:clasp': 0.3 } }),
    record(2, { selectedBy: 'mfe:badge' }), record(3, { selectedBy: 'mfe:badge' }), record(4, undefined),
  ];

  it('summarises the frame-weighted mean error per candidate and the choice, and lists it per seed in the benchmark report', async () => {
    const curve = curveFromHistory({ acquisition: 'auto', runId: 'b-s0-auto', history, stopReason: 'max-phases' });
    expect(curve.auto?.chosen).toBe('mfe:badge');
    expect(curve.auto?.fromPhase).toBe(2);
    expect(curve.auto?.exploredPhases).toEqual([0, 1]);
    expect(curve.auto?.meanError.random).toBeCloseTo((3 * 0.2 + 2 * 0.4) / 5, 12);
    expect(curve.auto?.meanError['mfe:badge']).toBeCloseTo(0.5, 12);
    expect(curveFromHistory({ acquisition: 'random', runId: 'b-s0-random', history: history.map(({ auto: _a, ...h }) => h), stopReason: 'max-phases' }).auto).toBeUndefined();
    const data = multiSeedRun();
    data.seeds![0].curves.push({ ...curve, acquisition: 'auto', points: data.seeds![0].curves[1].points });
    for (const seed of data.seeds!.slice(1)) seed.curves.push({ ...seed.curves[1], acquisition: 'auto', runId: `b-s${seed.seed}-auto` });
    const md = text(await renderReport(data), REPORT_FILES.markdown);
    expect(md).toContain('## What auto chose');
    expect(md).toContain('- seed 0, auto: explored in phases 0, 1 (mean error of each candidate\'s frames: random 0.280, mfe:clasp 0.300, mfe:badge 0.500); chose **mfe:badge** from phase 2.');
    expect(md).not.toContain('- seed 1, auto');
    expect(text(await renderReport(multiSeedRun()), REPORT_FILES.markdown)).not.toContain('What auto chose');
  });
});
