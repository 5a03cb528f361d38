import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { leaderboardMarkdown } from '../../report/leaderboard';
import { MemoryBlobStore } from '../../ml/blobStore';
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
      { rank: 1, index: 4, status: 'ok', arch: 'Linknet', encoder: 'timm-skresnet34', learningRate: 4e-5, batchSize: 4, iou: 0.87, dice: 0.92, params: 21_800_000, ms: 61_000 },
      { rank: 2, index: 1, status: 'ok', arch: 'PAN', encoder: 'timm-regnety_120', learningRate: 1e-5, batchSize: 4, iou: 0.8695, dice: 0.918, params: 50_290_512, ms: 95_500 },
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

  it('renders report.md, report.json and three SVG charts', () => {
    expect(rendered.files.map((f) => f.name)).toEqual([
      REPORT_FILES.markdown, REPORT_FILES.data, REPORT_FILES.iouChart, REPORT_FILES.diceChart, REPORT_FILES.leaderboardChart,
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
    expect(header).toBe('| acquisition | run | phases | best IoU | reached target IoU ≥ 0.870 | reached baseline IoU ≥ 0.880 | stopped |');
    // mfe: phase 3 is the first with IoU ≥ 0.87 (0.875): 140 of 400 images = 35.0 %; baseline 0.89 − 0.01 first met by 0.885 in phase 4.
    expect(rowAfter(md, '## Labelled share needed', 'mfe')).toEqual([
      'mfe', '`bench-7-mfe`', '4', '0.8850', '140 images, 35.0% of 400 (phase 3)', '190 images, 47.5% of 400 (phase 4)', 'budget-spent',
    ]);
    expect(rowAfter(md, '## Labelled share needed', 'random')).toEqual([
      'random', '`bench-7-random`', '4', '0.8600', 'not reached', 'not reached', 'budget-spent',
    ]);
  });

  it('includes the search leaderboard exactly as the search writes it (Table I)', () => {
    const data = recordedRun();
    const board = leaderboardMarkdown(data.benchmarkId, data.datasetId, data.leaderboard!).replace(/^# /, '## ').trimEnd();
    expect(rendered.markdown).toContain(board);
    expect(rendered.markdown).toContain('| 3 | — | — | DeepLabV3 | dpn98 | 0.0001 | 16 | — | 3.0 | failed: out of memory |');
    expect(rendered.markdown.indexOf('## EDNAS leaderboard bench-7')).toBeGreaterThan(rendered.markdown.indexOf('## Phases'));
  });

  it('omits the baseline column and the leaderboard when the run has neither', async () => {
    const { baseline: _baseline, leaderboard: _leaderboard, ...rest } = recordedRun();
    const bare = await renderReport(rest);
    expect(bare.files.map((f) => f.name)).toEqual([REPORT_FILES.markdown, REPORT_FILES.data, REPORT_FILES.iouChart, REPORT_FILES.diceChart]);
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
