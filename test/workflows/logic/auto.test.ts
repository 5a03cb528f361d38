/**
 * The strategy auto's pure parts: its name and candidates parsed, K split among candidates with a rotating
 * remainder, the choice from judged errors, and a batch split among strategies under one group cap.
 */
import { describe, expect, it } from 'vitest';
import { type ActiveLearningInput, type AutoChoice, DEFAULT_AUTO_CANDIDATES, parseAutoCandidates, parseStrategy, type StrategyChoice } from '../../../contracts';
import { selectSplitBatch } from '../../../ml/selection';
import { judgePhase, phaseChoices, splitK } from '../../../workflows/al/auto';

const choice = (name: string): StrategyChoice => {
  const parsed = parseStrategy(name);
  if ('error' in parsed) throw new Error(parsed.error);
  return { name: parsed.name, acquisition: parsed.acquisition, selection: parsed.selection };
};
const auto: AutoChoice = { candidates: ['random', 'mfe:clasp', 'mfe:badge'].map(choice), explorePhases: 2 };

describe('the strategy auto', () => {
  it('parses as a strategy (with the default candidates) and refuses candidates that cannot be', () => {
    const parsed = parseStrategy('auto+pseudo-label');
    expect(parsed).toMatchObject({ name: 'auto+pseudo-label', acquisition: 'mfe', semiSupervised: 'pseudo-label' });
    expect((parsed as { auto: AutoChoice }).auto.candidates.map((c) => c.name)).toEqual([...DEFAULT_AUTO_CANDIDATES]);
    expect(parseAutoCandidates(['random', 'mfe:stochastic'], 2)).toEqual([choice('random'), { ...choice('mfe:stochastic'), beta: 2 }]);
    expect(parseAutoCandidates(['random'])).toEqual({ error: 'auto needs at least two candidates to choose between' });
    expect(parseAutoCandidates(['random', 'random'])).toEqual({ error: "'random' is given twice" });
    expect(parseAutoCandidates(['random', 'auto'])).toHaveProperty('error');
    expect(parseAutoCandidates(['random', 'mfe+pseudo-label'])).toHaveProperty('error');
    expect(parseAutoCandidates(['random', 'random:badge'])).toEqual({ error: expect.stringContaining("selection 'badge' reads the uncertainty model's features") });
  });

  it('splits K evenly, the remainder to candidates in an order that rotates with the phase', () => {
    const names = (phase: number, k: number) => splitK(k, auto.candidates, phase).map((p) => `${p.choice.name}=${p.k}`);
    expect(names(0, 8)).toEqual(['random=3', 'mfe:clasp=3', 'mfe:badge=2']);
    expect(names(1, 8)).toEqual(['mfe:clasp=3', 'mfe:badge=3', 'random=2']);
    expect(names(2, 2)).toEqual(['mfe:badge=1', 'random=1', 'mfe:clasp=0']);
    for (let phase = 0; phase < 5; phase++) expect(splitK(7, auto.candidates, phase).reduce((n, p) => n + p.k, 0)).toBe(7);
  });

  it('chooses the highest mean error once the explored phases are judged; ties go to the earlier candidate; no frames, no choice', () => {
    const first = judgePhase(auto, undefined, { random: { frames: 3, errorSum: 0.9 }, 'mfe:clasp': { frames: 3, errorSum: 1.2 }, 'mfe:badge': { frames: 2, errorSum: 0.4 } });
    expect(first).toEqual({ judgedPhases: 1, tallies: { random: { frames: 3, errorSum: 0.9 }, 'mfe:clasp': { frames: 3, errorSum: 1.2 }, 'mfe:badge': { frames: 2, errorSum: 0.4 } } });
    // Summed over both phases: random 1.5 / 5 = 0.3, clasp 1.4 / 5 = 0.28, badge 2.4 / 5 = 0.48.
    const second = judgePhase(auto, first, { random: { frames: 2, errorSum: 0.6 }, 'mfe:clasp': { frames: 2, errorSum: 0.2 }, 'mfe:badge': { frames: 3, errorSum: 2.0 } });
    expect(second.chosen).toBe('mfe:badge');
    const tie = judgePhase({ ...auto, explorePhases: 1 }, undefined, { random: { frames: 2, errorSum: 1 }, 'mfe:clasp': { frames: 4, errorSum: 2 }, 'mfe:badge': { frames: 0, errorSum: 0 } });
    expect(tie.chosen).toBe('random');
    expect(judgePhase({ ...auto, explorePhases: 1 }, undefined, {}).chosen).toBeUndefined();
  });

  it('plays the candidates while exploring, then the chosen one alone; a run without auto plays its own strategy', () => {
    const input = { acquisition: 'mfe', selection: 'stochastic', selectionBeta: 3, auto } as ActiveLearningInput;
    expect(phaseChoices(input, { auto: { tallies: {}, judgedPhases: 1 } } as never).map((c) => c.name)).toEqual(['random', 'mfe:clasp', 'mfe:badge']);
    expect(phaseChoices(input, { auto: { tallies: {}, judgedPhases: 2, chosen: 'mfe:clasp' } } as never)).toEqual([choice('mfe:clasp')]);
    expect(phaseChoices({ ...input, auto: undefined }, {} as never)).toEqual([{ name: 'mfe', acquisition: 'mfe', selection: 'stochastic', beta: 3 }]);
  });
});

describe('selectSplitBatch', () => {
  const pool = Array.from({ length: 12 }, (_, i) => ({ id: `f${String(i).padStart(2, '0')}`, group: `v${i % 3}` }));
  const up = new Map(pool.map((c, i) => [c.id, i / 12]));
  const down = new Map(pool.map((c, i) => [c.id, 1 - i / 12]));

  it('each part picks its share by its own scores, never a frame an earlier part took', () => {
    const picks = selectSplitBatch(pool, [{ name: 'up', mode: 'top-k', k: 3, scores: up }, { name: 'down', mode: 'top-k', k: 2, scores: down }], {});
    expect(picks.get('up')!.map((c) => c.id)).toEqual(['f11', 'f10', 'f09']);
    expect(picks.get('down')!.map((c) => c.id)).toEqual(['f00', 'f01']);
    // The second part ranks by the first's scores: it continues below what the first took.
    const same = selectSplitBatch(pool, [{ name: 'a', mode: 'top-k', k: 2, scores: up }, { name: 'b', mode: 'top-k', k: 2, scores: up }], {});
    expect(same.get('b')!.map((c) => c.id)).toEqual(['f09', 'f08']);
  });

  it('keeps one group cap over the whole batch, and repeats under the same seed', () => {
    const parts = [{ name: 'up', mode: 'top-k' as const, k: 2, scores: up }, { name: 'random', mode: 'stochastic' as const, k: 2, scores: down }];
    const picks = selectSplitBatch(pool, parts, { maxPerGroup: 1, seed: 5 });
    const all = [...picks.values()].flat();
    expect(all).toHaveLength(3); // three videos, one frame each
    expect(new Set(all.map((c) => c.group)).size).toBe(3);
    expect(picks.get('up')!.map((c) => c.id)).toEqual(['f11', 'f10']);
    expect([...selectSplitBatch(pool, parts, { maxPerGroup: 1, seed: 5 }).values()].flat().map((c) => c.id)).toEqual(all.map((c) => c.id));
  });
});
