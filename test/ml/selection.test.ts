import { describe, expect, it } from 'vitest';
import { SELECTION_MODES } from '../../contracts/names';
import { SELECTION_ORDERINGS, selectBatch, selectionSeed, selectTopK, type SelectionCandidate } from '../../ml/selection';

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

/** How often each id is picked over seeds 0 … runs − 1. */
function inclusionFrequency(pool: SelectionCandidate[], k: number, beta: number, runs: number): Map<string, number> {
  const counts = new Map(pool.map((c) => [c.id, 0]));
  for (let seed = 0; seed < runs; seed++) {
    for (const c of selectBatch(pool, { mode: 'stochastic', k, seed, beta })) counts.set(c.id, counts.get(c.id)! + 1);
  }
  return new Map([...counts].map(([id, n]) => [id, n / runs]));
}

describe('selectBatch', () => {
  const pool: SelectionCandidate[] = [
    { id: 'c', score: 0.9, group: 'v1' },
    { id: 'a', score: 0.5, group: 'v2' },
    { id: 'b', score: 0.5, group: 'v1' },
    { id: 'd', score: 0.95, group: 'v1' },
    { id: 'e', score: 0.1, group: 'v3' },
    { id: 'f', score: 0.7, group: 'v1' },
  ];
  /** Scores 1, 2, 3, 4: first-draw probabilities 0.1, 0.2, 0.3, 0.4 with β = 1. */
  const weighted: SelectionCandidate[] = [1, 2, 3, 4].map((score) => ({ id: `s${score}`, score }));

  it('has one ordering per selection mode named in the contracts', () => {
    expect(Object.keys(SELECTION_ORDERINGS).sort()).toEqual([...SELECTION_MODES].sort());
    expect(() => selectBatch(pool, { mode: 'greedy' as never, k: 1 })).toThrow(/Unknown selection mode 'greedy'/);
  });

  it('top-k mode is selectTopK', () => {
    for (const options of [{ k: 3 }, { k: 4, maxPerGroup: 2 }, { k: 10, labelled: ['e'] }]) {
      expect(ids(selectBatch(pool, { ...options, mode: 'top-k' }))).toEqual(ids(selectTopK(pool, options)));
    }
  });

  it('stochastic: the same seed gives the same batch whatever the input order; other seeds other batches', () => {
    const big: SelectionCandidate[] = Array.from({ length: 40 }, (_, i) => ({ id: `i${String(i).padStart(2, '0')}`, score: 0.1 + (i % 7) / 10 }));
    const batch = ids(selectBatch(big, { mode: 'stochastic', k: 8, seed: 11 }));
    expect(batch).toHaveLength(8);
    expect(new Set(batch).size).toBe(8);
    expect(ids(selectBatch(big, { mode: 'stochastic', k: 8, seed: 11 }))).toEqual(batch);
    expect(ids(selectBatch([...big].reverse(), { mode: 'stochastic', k: 8, seed: 11 }))).toEqual(batch);
    const others = new Set([12, 13, 14, 15, -1].map((seed) => ids(selectBatch(big, { mode: 'stochastic', k: 8, seed })).sort().join(',')));
    expect(others.size).toBeGreaterThan(3);
    // Labelled items are never drawn.
    const withLabelled = ids(selectBatch(big, { mode: 'stochastic', k: 8, seed: 11, labelled: batch.slice(0, 4) }));
    expect(withLabelled.filter((id) => batch.slice(0, 4).includes(id))).toEqual([]);
  });

  it('derives distinct stochastic seeds per run seed and phase', () => {
    const seeds = new Set<number>();
    for (let run = -3; run < 4; run++) for (let phase = 0; phase < 6; phase++) seeds.add(selectionSeed(run, phase));
    expect(seeds.size).toBe(42);
    expect(selectionSeed(5, 2)).toBe(selectionSeed(5, 2));
    for (const seed of seeds) expect(Number.isInteger(seed)).toBe(true);
    expect(() => selectionSeed(1.5, 0)).toThrow(/integers/);
  });

  it('stochastic: the first pick is drawn with probability ∝ score^β; β = 0 is uniform', () => {
    const runs = 4000;
    // Tolerance 0.03 is over 4 binomial standard deviations (≤ 0.0079 at 4000 draws).
    const first = inclusionFrequency(weighted, 1, 1, runs);
    [0.1, 0.2, 0.3, 0.4].forEach((p, i) => expect(Math.abs(first.get(`s${i + 1}`)! - p)).toBeLessThan(0.03));
    // β = 2: weights 1, 4, 9, 16 of 30.
    const squared = inclusionFrequency(weighted, 1, 2, runs);
    [1, 4, 9, 16].forEach((w, i) => expect(Math.abs(squared.get(`s${i + 1}`)! - w / 30)).toBeLessThan(0.03));
    const uniform = inclusionFrequency(weighted, 1, 0, runs);
    for (const f of uniform.values()) expect(Math.abs(f - 0.25)).toBeLessThan(0.03);
  });

  it('stochastic: batches of two follow sampling without replacement, and inclusion rises with the score', () => {
    // P(i in a batch of 2) = p_i + Σ_{j≠i} p_j · p_i / (1 − p_j), with p = 0.1, 0.2, 0.3, 0.4:
    // 0.2345, 0.4310, 0.5929, 0.7416 (they sum to 2).
    const expected = [0.2345, 0.4310, 0.5929, 0.7416];
    const pairs = inclusionFrequency(weighted, 2, 1, 4000);
    expected.forEach((p, i) => expect(Math.abs(pairs.get(`s${i + 1}`)! - p)).toBeLessThan(0.03));
    const frequencies = [1, 2, 3, 4].map((s) => pairs.get(`s${s}`)!);
    expect(frequencies).toEqual([...frequencies].sort((a, b) => a - b));
    const uniform = inclusionFrequency(weighted, 2, 0, 4000);
    for (const f of uniform.values()) expect(Math.abs(f - 0.5)).toBeLessThan(0.03);
  });

  it('stochastic: large β approaches top-k; zero scores come last; negative scores are refused', () => {
    for (let seed = 0; seed < 30; seed++) {
      expect(ids(selectBatch(pool, { mode: 'stochastic', k: 3, seed, beta: 300 }))).toEqual(['d', 'c', 'f']);
    }
    const withZeros: SelectionCandidate[] = [
      { id: 'z1', score: 0 }, { id: 'z2', score: 0 }, { id: 'p1', score: 0.01 }, { id: 'p2', score: 1 },
    ];
    const thirds = new Map<string, number>();
    for (let seed = 0; seed < 200; seed++) {
      const batch = ids(selectBatch(withZeros, { mode: 'stochastic', k: 3, seed }));
      // The two positive scores always come first, however small one of them is.
      expect(batch.slice(0, 2).sort()).toEqual(['p1', 'p2']);
      thirds.set(batch[2], (thirds.get(batch[2]) ?? 0) + 1);
    }
    // The zero-scored filler is uniform among the zeros.
    expect([...thirds.keys()].sort()).toEqual(['z1', 'z2']);
    expect(Math.abs(thirds.get('z1')! / 200 - 0.5)).toBeLessThan(0.15);
    // With β = 0 zeros have the same chance as anything else.
    const uniform = inclusionFrequency(withZeros, 1, 0, 2000);
    expect(Math.abs(uniform.get('z1')! - 0.25)).toBeLessThan(0.04);
    expect(() => selectBatch([{ id: 'n', score: -0.1 }], { mode: 'stochastic', k: 1, seed: 1 })).toThrow(/needs scores ≥ 0; 'n' has -0.1/);
    expect(() => selectBatch(pool, { mode: 'stochastic', k: 1 })).toThrow(/needs an integer seed/);
    expect(() => selectBatch(pool, { mode: 'stochastic', k: 1, seed: 1, beta: -1 })).toThrow(/beta must be/);
    // Equal scores, no preference: every one of four tied candidates is drawn first about a quarter of the time.
    const tied = inclusionFrequency(['w', 'x', 'y', 'z'].map((id) => ({ id, score: 0.3 })), 1, 1, 2000);
    for (const f of tied.values()) expect(Math.abs(f - 0.25)).toBeLessThan(0.04);
  });

  it('stratified: round-robin over videos, best-scored first within each, groups by their best score', () => {
    const frames: SelectionCandidate[] = [
      { id: 'a1', score: 0.9, group: 'A' }, { id: 'a2', score: 0.8, group: 'A' }, { id: 'a3', score: 0.7, group: 'A' }, { id: 'a4', score: 0.6, group: 'A' },
      { id: 'b1', score: 0.5, group: 'B' }, { id: 'b2', score: 0.95, group: 'B' },
      { id: 'c1', score: 0.3, group: 'C' },
      { id: 'solo', score: 0.4 },
    ];
    // Group order by best score: B (0.95), A (0.9), solo (0.4, its own group), C (0.3).
    expect(ids(selectBatch(frames, { mode: 'stratified', k: 8 }))).toEqual(['b2', 'a1', 'solo', 'c1', 'b1', 'a2', 'a3', 'a4']);
    expect(ids(selectBatch(frames, { mode: 'stratified', k: 3 }))).toEqual(['b2', 'a1', 'solo']);
    // Equal best scores: by group id, whatever order the candidates come in.
    const tiedGroups: SelectionCandidate[] = [{ id: 'x', score: 0.5, group: 'v2' }, { id: 'y', score: 0.5, group: 'v1' }, { id: 'w', score: 0.1, group: 'v1' }];
    expect(ids(selectBatch(tiedGroups, { mode: 'stratified', k: 3 }))).toEqual(['y', 'x', 'w']);
    expect(ids(selectBatch([...tiedGroups].reverse(), { mode: 'stratified', k: 3 }))).toEqual(['y', 'x', 'w']);
  });

  it('stratified with random scores spreads the batch evenly over videos', () => {
    // 5 videos × 12 frames with seeded uniform scores (like the random acquisition function).
    let state = 12345;
    const uniform = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const frames: SelectionCandidate[] = [];
    for (let v = 0; v < 5; v++) for (let f = 0; f < 12; f++) frames.push({ id: `v${v}f${f}`, score: uniform(), group: `v${v}` });
    for (const k of [5, 13, 20]) {
      const perVideo = new Map<string, number>();
      for (const c of selectBatch(frames, { mode: 'stratified', k })) perVideo.set(c.group!, (perVideo.get(c.group!) ?? 0) + 1);
      const counts = [...perVideo.values()];
      expect(counts.reduce((a, b) => a + b, 0)).toBe(k);
      expect(Math.max(...counts) - Math.min(...counts, ...(perVideo.size < 5 ? [0] : []))).toBeLessThanOrEqual(1);
    }
    // Top-k on the same scores is not balanced: its 20 best are spread unevenly.
    const topPerVideo = new Map<string, number>();
    for (const c of selectBatch(frames, { mode: 'top-k', k: 20 })) topPerVideo.set(c.group!, (topPerVideo.get(c.group!) ?? 0) + 1);
    expect(Math.max(...topPerVideo.values())).toBeGreaterThan(4);
  });

  it('keeps the per-video cap in every mode', () => {
    const frames: SelectionCandidate[] = [];
    for (let v = 0; v < 3; v++) {
      for (let f = 0; f < 5; f++) frames.push({ id: `v${v}f${f}`, score: (v + 1) * 0.1 + f * 0.01, group: `v${v}`, features: [v, f], area: 0.1 + 0.05 * f });
    }
    for (const mode of SELECTION_MODES) {
      for (let seed = 0; seed < 20; seed++) {
        const picked = selectBatch(frames, { mode, k: 5, seed, maxPerGroup: 2 });
        const perVideo = new Map<string, number>();
        for (const c of picked) perVideo.set(c.group!, (perVideo.get(c.group!) ?? 0) + 1);
        expect(picked, `${mode} seed ${seed}`).toHaveLength(5);
        expect(Math.max(...perVideo.values()), `${mode} seed ${seed}`).toBeLessThanOrEqual(2);
      }
      // The cap leaves 3 videos × 1: fewer than k.
      expect(selectBatch(frames, { mode, k: 5, seed: 3, maxPerGroup: 1 }), mode).toHaveLength(3);
    }
    // Top-k under the cap takes the two best of the best videos, then the next video's best.
    expect(ids(selectBatch(frames, { mode: 'top-k', k: 5, maxPerGroup: 2 }))).toEqual(['v2f4', 'v2f3', 'v1f4', 'v1f3', 'v0f4']);
  });

  it('runs k-center on the order of every mode', () => {
    // Video A: three near-identical frames with top scores; video B: two frames far away in feature space.
    const frames: SelectionCandidate[] = [
      { id: 'a1', score: 0.9, group: 'A', features: [0] }, { id: 'a2', score: 0.85, group: 'A', features: [0.01] },
      { id: 'a3', score: 0.8, group: 'A', features: [0.02] }, { id: 'b1', score: 0.5, group: 'B', features: [10] },
      { id: 'b2', score: 0.4, group: 'B', features: [10.01] },
    ];
    // Candidates = the first k × 1 of the order: top-k sees only video A, stratified sees both videos.
    expect(ids(selectBatch(frames, { mode: 'top-k', k: 2, kCenter: { candidateFactor: 1 } }))).toEqual(['a1', 'a2']);
    expect(ids(selectBatch(frames, { mode: 'stratified', k: 2, kCenter: { candidateFactor: 1 } }))).toEqual(['a1', 'b1']);
    // Stochastic with every candidate in reach: after the first draw, the farthest frame is taken.
    for (let seed = 0; seed < 20; seed++) {
      const [first, second] = selectBatch(frames, { mode: 'stochastic', k: 2, seed, kCenter: { candidateFactor: 2.5 } });
      expect(Math.abs(first.features![0] - second.features![0]), `seed ${seed}`).toBeGreaterThan(9.9);
      expect(ids(selectBatch(frames, { mode: 'stochastic', k: 2, seed, kCenter: { candidateFactor: 2.5 } }))).toEqual([first.id, second.id]);
    }
    // Under the cap of one per video only two of three can be picked; among video B's, b2 is 0.01 farther from a1.
    expect(ids(selectBatch(frames, { mode: 'stratified', k: 3, maxPerGroup: 1, kCenter: { candidateFactor: 2 } }))).toEqual(['a1', 'b2']);
  });

  describe('diversity and ClaSP-PE-like modes', () => {
    // Four videos of five frames; features on a plane (video × frame), areas rising with the frame.
    const frames: SelectionCandidate[] = [];
    for (let v = 0; v < 4; v++) {
      for (let f = 0; f < 5; f++) frames.push({ id: `v${v}f${f}`, score: 0.2 + 0.1 * v + 0.01 * f, group: `v${v}`, features: [10 * v, f], area: 0.02 + 0.1 * f + 0.001 * v });
    }

    it('k-center starts from the best score and then takes the frame farthest from all picks', () => {
      const picked = ids(selectBatch(frames, { mode: 'k-center', k: 4 }));
      expect(picked[0]).toBe('v3f4');
      // Farthest from v3f4 (30, 4) is v0f0 (0, 0); then the videos in between, one each.
      expect(picked[1]).toBe('v0f0');
      expect(new Set(picked.map((id) => id.slice(0, 2)))).toEqual(new Set(['v0', 'v1', 'v2', 'v3']));
      expect(() => selectBatch([{ id: 'x', score: 1 }], { mode: 'k-center', k: 1 })).toThrow(/needs features/);
    });

    it('badge draws uncertain, mutually distant frames; the same seed gives the same batch, another seed another', () => {
      const batch = (seed: number) => ids(selectBatch(frames, { mode: 'badge', k: 5, seed }));
      expect(batch(1)).toEqual(batch(1));
      expect(new Set(Array.from({ length: 10 }, (_, seed) => batch(seed).join())).size).toBeGreaterThan(1);
      for (let seed = 0; seed < 10; seed++) {
        // The largest score × feature norm comes first; a batch of 5 never takes two of one frame's near-twins first.
        expect(batch(seed)[0]).toBe('v3f4');
        expect(batch(seed)).toHaveLength(5);
      }
      expect(() => selectBatch(frames, { mode: 'badge', k: 2 })).toThrow(/integer seed/);
    });

    it('clasp takes the best-scored frame of each area bin for two thirds of K, the rest by power sampling', () => {
      for (let seed = 0; seed < 10; seed++) {
        const picked = selectBatch(frames, { mode: 'clasp', k: 6, seed, phase: 0 });
        expect(picked).toHaveLength(6);
        // ⌈6 · 2/3⌉ = 4 bins of 5 frames by area; the best-scored of each (video 3's scores are highest).
        expect(ids(picked.slice(0, 4))).toEqual(['v3f0', 'v3f1', 'v3f2', 'v3f4']);
        const bins = picked.slice(0, 4).map((c) => Math.floor((frames.slice().sort((a, b) => a.area! - b.area!).indexOf(c) * 4) / 20));
        expect(bins).toEqual([0, 1, 2, 3]);
        expect(ids(selectBatch(frames, { mode: 'clasp', k: 6, seed, phase: 0 }))).toEqual(ids(picked));
      }
      expect(() => selectBatch([{ id: 'x', score: 1 }], { mode: 'clasp', k: 1, seed: 0 })).toThrow(/predicted area/);
    });

    it('clasp noise decays over phases: late phases fill the batch close to top-K', () => {
      const topRest = (phase: number) => {
        let hits = 0;
        for (let seed = 0; seed < 40; seed++) {
          const picked = selectBatch(frames, { mode: 'clasp', k: 6, seed, phase });
          const rest = picked.slice(4).map((c) => c.score);
          hits += rest.filter((score) => score >= 0.5).length;
        }
        return hits;
      };
      expect(topRest(40)).toBeGreaterThan(topRest(0));
    });
  });
});
