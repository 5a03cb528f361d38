import { describe, expect, it } from 'vitest';
import { selectTopK, type SelectionCandidate } from '../../ml/selection';

const ids = (picked: SelectionCandidate[]) => picked.map((c) => c.id);

describe('selectTopK', () => {
  const pool: SelectionCandidate[] = [
    { id: 'c', score: 0.9, group: 'v1' },
    { id: 'a', score: 0.5, group: 'v2' },
    { id: 'b', score: 0.5, group: 'v1' },
    { id: 'd', score: 0.95, group: 'v1' },
    { id: 'e', score: 0.1, group: 'v3' },
    { id: 'f', score: 0.7, group: 'v1' },
  ];

  it('picks the highest scores, never a labelled item', () => {
    expect(ids(selectTopK(pool, { k: 3 }))).toEqual(['d', 'c', 'f']);
    expect(ids(selectTopK(pool, { k: 3, labelled: ['d', 'f'] }))).toEqual(['c', 'a', 'b']);
    expect(ids(selectTopK(pool, { k: 10, labelled: new Set(['e']) }))).toEqual(['d', 'c', 'f', 'a', 'b']);
  });

  it('breaks ties by id, whatever order the candidates come in', () => {
    const tied = ['k', 'b', 'x', 'a'].map((id) => ({ id, score: 0.3 }));
    expect(ids(selectTopK(tied, { k: 2 }))).toEqual(['a', 'b']);
    expect(ids(selectTopK([...tied].reverse(), { k: 2 }))).toEqual(['a', 'b']);
  });

  it('keeps at most maxPerGroup per video, filling with the next best of other videos', () => {
    const picked = selectTopK(pool, { k: 4, maxPerGroup: 2 });
    expect(ids(picked)).toEqual(['d', 'c', 'a', 'e']);
    const perGroup = new Map<string, number>();
    for (const c of picked) perGroup.set(c.group!, (perGroup.get(c.group!) ?? 0) + 1);
    expect(Math.max(...perGroup.values())).toBeLessThanOrEqual(2);
    // Fewer than k when the cap leaves nothing else.
    expect(ids(selectTopK(pool, { k: 6, maxPerGroup: 1 }))).toEqual(['d', 'a', 'e']);
  });

  it('spreads k-center picks over feature space instead of taking near-duplicates', () => {
    // Three near-identical frames with top scores, and two distinct images scoring a little lower.
    const frames: SelectionCandidate[] = [
      { id: 'f1', score: 0.9, features: [0, 0] },
      { id: 'f2', score: 0.89, features: [0.01, 0] },
      { id: 'f3', score: 0.88, features: [0, 0.01] },
      { id: 'g', score: 0.8, features: [5, 5] },
      { id: 'h', score: 0.7, features: [-6, 6] },
      { id: 'far-but-low', score: 0.01, features: [100, 100] },
    ];
    expect(ids(selectTopK(frames, { k: 3 }))).toEqual(['f1', 'f2', 'f3']);
    // Candidates: the top 2 × 3 = 6 by score; first pick = best score, then farthest-first.
    expect(ids(selectTopK(frames, { k: 3, kCenter: { candidateFactor: 2 } }))).toEqual(['f1', 'far-but-low', 'h']);
    // With only the top 5 as candidates the low-scoring outlier is out of reach; h (72 from f1) before g (50).
    expect(ids(selectTopK(frames, { k: 3, kCenter: { candidateFactor: 5 / 3 } }))).toEqual(['f1', 'h', 'g']);
    // Labelled features push picks away from what is already labelled: f1 and g sit on labelled images;
    // after h, f2 and f3 are equally far (0.01 from f1's twin) and the higher score wins.
    expect(ids(selectTopK(frames, { k: 2, kCenter: { candidateFactor: 2.5, labelledFeatures: [[0, 0], [5, 5]] } }))).toEqual(['h', 'f2']);
  });

  it('combines k-center with the group cap', () => {
    const frames: SelectionCandidate[] = [
      { id: 'a', score: 0.9, group: 'v1', features: [0] },
      { id: 'b', score: 0.8, group: 'v1', features: [10] },
      { id: 'c', score: 0.7, group: 'v2', features: [1] },
    ];
    expect(ids(selectTopK(frames, { k: 2, kCenter: {} }))).toEqual(['a', 'b']);
    expect(ids(selectTopK(frames, { k: 2, maxPerGroup: 1, kCenter: {} }))).toEqual(['a', 'c']);
  });

  it('says what is wrong with bad input', () => {
    expect(() => selectTopK([{ id: 'a', score: NaN }], { k: 1 })).toThrow(/'a' has score NaN/);
    expect(() => selectTopK([{ id: 'a', score: 1 }, { id: 'a', score: 2 }], { k: 1 })).toThrow(/appears twice/);
    expect(() => selectTopK([{ id: 'a', score: 1 }], { k: 1, kCenter: {} })).toThrow(/needs features/);
    expect(() => selectTopK(pool, { k: -1 })).toThrow(/k must be/);
    expect(selectTopK(pool, { k: 0 })).toEqual([]);
  });
});
