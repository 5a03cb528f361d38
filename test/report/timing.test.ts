import { describe, expect, it } from 'vitest';
import { phaseMergeActivities } from '../../activities/phaseMerge';
import { runKeys, type PhaseRecord } from '../../contracts';
import { MemoryBlobStore } from '../../store/blobStore';
import type { ObjectStore } from '../../store/objectStore';
import { renderSpec } from '../../report/charts';
import { PHASE_TIME_PARTS, phaseTimeMarkdown, phaseTimeRows, phaseTimeSpec } from '../../report/timing';

/** Three phases, recorded out of order: the third ended the run (no score, no wait), the first predates scoreMs. */
const history = [
  { phase: 2, trainMs: 15_000, scoreMs: 3_500, waitMs: 20_000 },
  { phase: 1, trainMs: 12_000, waitMs: 40_000 },
  { phase: 3, trainMs: 18_000 },
];

/** The bars of a rendered chart: phase and part from each one's description, and its pixel box. */
function bars(svg: string) {
  return [...svg.matchAll(/<path aria-label="Phase: (\d+);[^"]*Part: ([^;"]+);[^"]*" role="graphics-symbol" aria-roledescription="bar" d="M([\d.]+),([\d.]+)h[\d.]+v([\d.]+)/g)]
    .map(([, phase, part, x, y, height]) => ({ phase: Number(phase), part, x: Number(x), top: Number(y), bottom: Number(y) + Number(height) }));
}

describe('time per phase', () => {
  it('keeps each phase\'s recorded parts in order and leaves unrecorded ones out (no zeros)', () => {
    expect(phaseTimeRows(history).map((r) => [r.phase, r.part, r.seconds])).toEqual([
      [1, 'train', 12], [1, 'wait + merge', 40],
      [2, 'train', 15], [2, 'score + select', 3.5], [2, 'wait + merge', 20],
      [3, 'train', 18],
    ]);
    expect(phaseTimeRows([{ phase: 1, trainMs: Number.NaN }])).toEqual([]);
    expect(phaseTimeSpec([{ phase: 1, trainMs: Number.NaN }])).toBeUndefined();
  });

  it('draws one stacked bar per phase with its parts bottom-up in the order they happen', async () => {
    const svg = await renderSpec(phaseTimeSpec(history)!);
    const drawn = bars(svg);
    expect(drawn).toHaveLength(6);
    const byPhase = new Map<number, typeof drawn>();
    for (const b of drawn) byPhase.set(b.phase, [...(byPhase.get(b.phase) ?? []), b]);
    expect([...byPhase.keys()].sort()).toEqual([1, 2, 3]);
    // One bar per phase: every part of a phase shares one x, and the phases' x differ.
    expect(new Set(drawn.map((b) => b.x)).size).toBe(3);
    const order = PHASE_TIME_PARTS.map((p) => p.part);
    for (const [phase, parts] of byPhase) {
      expect(new Set(parts.map((b) => b.x)).size, `phase ${phase}`).toBe(1);
      // Bottom-up (SVG y grows downwards): each part starts where the one before it ends.
      const bottomUp = [...parts].sort((a, b) => b.bottom - a.bottom);
      expect(bottomUp.map((b) => b.part), `phase ${phase}`).toEqual(order.filter((p) => bottomUp.some((b) => b.part === p)));
      for (let k = 1; k < bottomUp.length; k++) expect(bottomUp[k].bottom).toBeCloseTo(bottomUp[k - 1].top, 6);
    }
    expect(byPhase.get(1)!.map((b) => b.part).sort()).toEqual(['train', 'wait + merge']);
  });

  it('tabulates the seconds per part, — for what a phase did not record, and the total of what it did', () => {
    const lines = phaseTimeMarkdown(history, { file: 'active-learning-time.svg', alt: 'Time per phase' });
    expect(lines).toContain('![Time per phase](active-learning-time.svg)');
    expect(lines).toContain('| phase | train s | score + select s | wait + merge s | recorded total s |');
    const rows = lines.filter((l) => /^\| \d/.test(l));
    expect(rows).toEqual([
      '| 1 | 12.0 | — | 40.0 | 52.0 |',
      '| 2 | 15.0 | 3.5 | 20.0 | 38.5 |',
      '| 3 | 18.0 | — | — | 18.0 |',
    ]);
    expect(phaseTimeMarkdown(history).some((l) => l.startsWith('!['))).toBe(false);
  });
});

describe('active-learning report', () => {
  it('ends with the time per phase: the chart beside the Markdown and the table in it', async () => {
    const memory = new MemoryBlobStore();
    const putJson = (key: string, value: unknown) => memory.putBytes(key, new TextEncoder().encode(JSON.stringify(value)));
    // writeActiveLearningReport only writes bytes and JSON.
    const store = Object.assign(memory, { putJson }) as unknown as ObjectStore;
    const record = (h: (typeof history)[number]): PhaseRecord => ({
      ...h, labelled: 10 * h.phase, iou: 0.5, dice: 0.6, acquisition: 'mfe', segResumedFromEpoch: 0, segAttempts: 1,
    });
    const { markdownKey } = await phaseMergeActivities(store).writeActiveLearningReport({
      runId: 'al-1', datasetId: 'synthetic', acquisition: 'mfe', history: history.map(record), stopReason: 'max-phases', targetIoU: 0.8,
      labelledKey: runKeys.labelled('al-1', 3),
    });
    const markdown = new TextDecoder().decode(await memory.getBytes(markdownKey));
    expect(markdown).toContain('## Time per phase');
    expect(markdown).toContain('![Time per phase](active-learning-time.svg)');
    expect(markdown).toContain('| 3 | 18.0 | — | — | 18.0 |');
    const svg = new TextDecoder().decode(await memory.getBytes(runKeys.reportTimeChart('al-1')));
    expect(svg.startsWith('<svg')).toBe(true);
    expect(bars(svg)).toHaveLength(6);
    expect(runKeys.reportTimeChart('al-1').startsWith(runKeys.reportPrefix('al-1'))).toBe(true);
  });
});
