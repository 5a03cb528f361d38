/**
 * Picks the next images to label from the scored, unlabelled pool. Every selection mode works with the scores of
 * any acquisition function (`contracts/names.ts`: SELECTION_MODES):
 * - `top-k`: the K highest scores, ties broken by id, so a rerun picks the same set;
 * - `stochastic`: K drawn without replacement with probability ∝ score^β (the "power" variant of stochastic batch
 *   acquisition), from a seed: the same seed and pool give the same batch. Top-K of an echo pool is often K
 *   neighbouring frames of one video; sampling trades a little score for a less redundant batch;
 * - `stratified`: round-robin over videos (groups), best-scored first within each, so the batch is spread evenly;
 *   with `random` scores this is stratified random sampling;
 * - `k-center`: farthest-first traversal on pooled features, starting from the best score (core-set diversity);
 * - `badge`: k-means++ seeding on the features scaled by the score — BADGE's gradient embedding has the norm of the
 *   prediction's uncertainty, so uncertain and mutually distant images are drawn first (seeded);
 * - `clasp` (ClaSP-PE-like, for one structure): ⌈`stratifiedShare` · K⌉ images stratified by the predicted
 *   foreground area — the pool cut into that many equal-count area bins, the best-scored image of each, so small,
 *   foreshortened and large ventricles all come — and the rest by power sampling (∝ score^β) with β growing each
 *   phase, β = `claspBeta` · (1 + phase): much noise (diversity) early, close to top-K later.
 * Each mode only decides an order of preference over the pool; the constraints below then act the same way on
 * every mode:
 * - `maxPerGroup`: at most m images per group (video or patient): a capped candidate is skipped for the next one
 *   in the order;
 * - `kCenter`: greedy k-center on feature vectors (e.g. pooled encoder features) among the first candidates of the
 *   order — each pick is the candidate farthest from everything picked or already labelled.
 */
import type { SelectionMode } from '../contracts/names';
import { SeededRng } from './train/rng';

export interface SelectionCandidate {
  id: string;
  score: number;
  /** Video or patient id, for `maxPerGroup` and `stratified`. */
  group?: string;
  /** For `kCenter`, `k-center` and `badge`, e.g. global-average-pooled encoder features. */
  features?: ArrayLike<number>;
  /** Predicted foreground share, for `clasp`. */
  area?: number;
}

export interface KCenterOptions {
  /** Candidates considered: the first `candidateFactor × k` of the mode's order (default 3). */
  candidateFactor?: number;
  /** Features of labelled images, so picks also keep away from what is already labelled. */
  labelledFeatures?: readonly ArrayLike<number>[];
}

export interface SelectionOptions {
  k: number;
  /** Ids that are already labelled (or otherwise unavailable); never selected. */
  labelled?: Iterable<string>;
  maxPerGroup?: number;
  /** Frames per group already in the batch (picked by an earlier part of it): they count towards `maxPerGroup`. */
  groupCounts?: ReadonlyMap<string, number>;
  kCenter?: KCenterOptions;
}

export interface BatchOptions extends SelectionOptions {
  mode: SelectionMode;
  /** Integer seed of the `stochastic` draw (required there; derive one per phase so phases differ). Other modes ignore it. */
  seed?: number;
  /** Exponent β of `stochastic` (default 1): 0 draws uniformly, large β approaches top-K. Other modes ignore it. */
  beta?: number;
  /** `clasp`: the run's phase (its power-sampling β grows with it), the share of K stratified by area, β at phase 0. */
  phase?: number;
  stratifiedShare?: number;
  claspBeta?: number;
}

/** `clasp`'s defaults: two thirds of each query stratified (as ClaSP PE), power β = 1 · (1 + phase). */
export const CLASP_DEFAULTS = { stratifiedShare: 2 / 3, claspBeta: 1 } as const;

/**
 * The `stochastic` seed of one phase of one run: mixes both, so phases of a run draw differently and run seed s,
 * phase p never shares its draw with run seed s + 1, phase p − 1 (as seed + phase would).
 */
export function selectionSeed(runSeed: number, phase: number): number {
  if (!Number.isInteger(runSeed) || !Number.isInteger(phase)) throw new Error(`selectionSeed needs integers, got ${runSeed} and ${phase}.`);
  let h = Math.imul(runSeed ^ 0x5bd1e995, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ phase, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** Highest score first; equal scores by id (code-unit order, locale-independent). */
export function compareByScoreThenId(a: SelectionCandidate, b: SelectionCandidate): number {
  if (a.score !== b.score) return b.score - a.score;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** A mode turns the ranked pool (unlabelled, by score then id) into its order of preference. */
type Ordering = (ranked: readonly SelectionCandidate[], options: BatchOptions) => SelectionCandidate[];

/**
 * Stochastic order: Gumbel-top-k on log(score^β), which is exactly sequential sampling without replacement with
 * probability ∝ score^β among the candidates still left. Scores must be ≥ 0 (a power of a negative number has no
 * meaning); a score of 0 has weight 0 when β > 0, so zero-scored candidates come only after every positive one,
 * in uniform random order; β = 0 gives every candidate weight 1 (uniform), zero scores included. Equal scores
 * have equal chances. One noise draw per candidate in ranked order, so the result depends on the seed and the
 * pool, not on the order the candidates came in. Working in logs keeps large β from overflowing.
 */
const stochasticOrder: Ordering = (ranked, options) => {
  const { seed, beta = 1 } = options;
  if (seed === undefined || !Number.isInteger(seed)) throw new Error(`stochastic selection needs an integer seed, got ${seed}.`);
  if (!(Number.isFinite(beta) && beta >= 0)) throw new Error(`beta must be a finite number ≥ 0, got ${beta}.`);
  const negative = ranked.find((c) => c.score < 0);
  if (negative) {
    throw new Error(`stochastic selection draws ∝ score^β and needs scores ≥ 0; '${negative.id}' has ${negative.score}. Shift the scores or use top-k.`);
  }
  const rng = new SeededRng(seed);
  const keyed = ranked.map((candidate) => {
    // Uniform in (0, 1): neither end, so the Gumbel noise −log(−log u) is finite.
    const u = (rng.nextUint32() + 0.5) / 2 ** 32;
    const gumbel = -Math.log(-Math.log(u));
    const positive = beta === 0 || candidate.score > 0;
    return { candidate, positive, key: (beta === 0 ? 0 : positive ? beta * Math.log(candidate.score) : 0) + gumbel };
  });
  keyed.sort((a, b) => (a.positive !== b.positive ? (a.positive ? -1 : 1) : b.key - a.key));
  return keyed.map((k) => k.candidate);
};

/**
 * Stratified order: round r takes the r-th best candidate of every group. Groups go in the order of their best
 * score (then group id), so with fewer than one pick per group the best groups get one each. A candidate without
 * a group is a group of its own.
 */
const stratifiedOrder: Ordering = (ranked) => {
  const groups = new Map<string, { name: string; members: SelectionCandidate[] }>();
  for (const c of ranked) {
    // Prefixes keep a group named 'x' apart from an ungrouped candidate with id 'x'.
    const key = c.group === undefined ? `id:${c.id}` : `group:${c.group}`;
    const entry = groups.get(key);
    if (entry) entry.members.push(c);
    else groups.set(key, { name: c.group ?? c.id, members: [c] });
  }
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  // Members are in ranked order, so members[0] is a group's best.
  const ordered = [...groups.entries()]
    .sort(([ka, a], [kb, b]) => b.members[0].score - a.members[0].score || byName(a.name, b.name) || byName(ka, kb))
    .map(([, entry]) => entry.members);
  const out: SelectionCandidate[] = [];
  const deepest = ordered.reduce((most, members) => Math.max(most, members.length), 0);
  for (let round = 0; round < deepest; round++) {
    for (const members of ordered) if (round < members.length) out.push(members[round]);
  }
  return out;
};

function squaredDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`Feature vectors differ in length (${a.length} vs ${b.length}).`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return sum;
}

function requireFeatures(ranked: readonly SelectionCandidate[], mode: string): void {
  const missing = ranked.find((c) => !c.features);
  if (missing) throw new Error(`${mode} selection needs features for every candidate; '${missing.id}' has none.`);
}

/** Picks worked out by a diversity ordering: 2K of them (the batch and as many in reserve), then the rest by score. */
const diversityPicks = (options: BatchOptions) => 2 * options.k;

/**
 * Farthest-first: the best-scored candidate, then each next the one farthest from everything picked. Greedy 2-approx
 * of k-center (Sener & Savarese's core-set); O(picks × pool) distances.
 */
const kCenterOrder: Ordering = (ranked, options) => {
  requireFeatures(ranked, 'k-center');
  const picks = Math.min(ranked.length, diversityPicks(options));
  const nearest = ranked.map(() => Infinity);
  const taken = new Set<number>();
  const out: SelectionCandidate[] = [];
  let next = 0;
  while (out.length < picks) {
    taken.add(next);
    out.push(ranked[next]);
    let far = -1;
    for (let i = 0; i < ranked.length; i++) {
      if (taken.has(i)) continue;
      nearest[i] = Math.min(nearest[i], squaredDistance(ranked[i].features!, ranked[next].features!));
      if (far < 0 || nearest[i] > nearest[far]) far = i;
    }
    if (far < 0) break;
    next = far;
  }
  return [...out, ...ranked.filter((_, i) => !taken.has(i))];
};

/**
 * BADGE-style: k-means++ seeding on g = score · f — the first pick the largest ‖g‖, each next drawn with probability
 * ∝ its squared distance to the nearest pick (seeded). Scores must be ≥ 0.
 */
const badgeOrder: Ordering = (ranked, options) => {
  requireFeatures(ranked, 'badge');
  if (options.seed === undefined || !Number.isInteger(options.seed)) throw new Error(`badge selection needs an integer seed, got ${options.seed}.`);
  const negative = ranked.find((c) => c.score < 0);
  if (negative) throw new Error(`badge selection scales features by the score and needs scores ≥ 0; '${negative.id}' has ${negative.score}.`);
  const embedding = ranked.map((c) => Array.from(c.features!, (v) => v * c.score));
  const rng = new SeededRng(options.seed);
  const picks = Math.min(ranked.length, diversityPicks(options));
  const taken = new Set<number>();
  const norms = embedding.map((g) => g.reduce((a, v) => a + v * v, 0));
  let next = norms.reduce((best, n, i) => (n > norms[best] ? i : best), 0);
  const nearest = ranked.map(() => Infinity);
  const out: SelectionCandidate[] = [];
  while (out.length < picks) {
    taken.add(next);
    out.push(ranked[next]);
    let total = 0;
    for (let i = 0; i < ranked.length; i++) {
      if (taken.has(i)) continue;
      nearest[i] = Math.min(nearest[i], squaredDistance(embedding[i], embedding[next]));
      total += nearest[i];
    }
    if (out.length >= picks) break;
    if (!(total > 0)) {
      // Every remaining embedding coincides with a pick: the rest by score.
      break;
    }
    let target = rng.next() * total;
    next = -1;
    for (let i = 0; i < ranked.length && next < 0; i++) {
      if (taken.has(i)) continue;
      target -= nearest[i];
      if (target <= 0) next = i;
    }
    if (next < 0) next = ranked.findIndex((_, i) => !taken.has(i));
  }
  return [...out, ...ranked.filter((_, i) => !taken.has(i))];
};

/**
 * ClaSP-PE-like (see the module comment): the best-scored candidate of each of ⌈share · K⌉ equal-count bins of the
 * predicted area, then the rest in power-sampling order with β = claspBeta · (1 + phase).
 */
const claspOrder: Ordering = (ranked, options) => {
  const missing = ranked.find((c) => c.area === undefined || !Number.isFinite(c.area));
  if (missing) throw new Error(`clasp selection needs the predicted area of every candidate; '${missing.id}' has none.`);
  const share = options.stratifiedShare ?? CLASP_DEFAULTS.stratifiedShare;
  const beta0 = options.claspBeta ?? CLASP_DEFAULTS.claspBeta;
  if (!(share >= 0 && share <= 1)) throw new Error(`stratifiedShare must be in [0, 1], got ${share}.`);
  if (!(Number.isFinite(beta0) && beta0 >= 0)) throw new Error(`claspBeta must be a finite number ≥ 0, got ${beta0}.`);
  const phase = options.phase ?? 0;
  const bins = Math.min(ranked.length, Math.ceil(share * options.k));
  const byArea = [...ranked].sort((a, b) => a.area! - b.area! || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const stratified: SelectionCandidate[] = [];
  for (let b = 0; b < bins; b++) {
    const members = byArea.slice(Math.floor((b * byArea.length) / bins), Math.floor(((b + 1) * byArea.length) / bins));
    // Members keep area order; the best score wins (ties by id, as in the ranking).
    const best = members.reduce<SelectionCandidate | undefined>((top, c) => (!top || compareByScoreThenId(c, top) < 0 ? c : top), undefined);
    if (best) stratified.push(best);
  }
  const chosen = new Set(stratified.map((c) => c.id));
  const rest = stochasticOrder(ranked.filter((c) => !chosen.has(c.id)), { ...options, beta: beta0 * (1 + phase) });
  return [...stratified, ...rest];
};

/** One entry per selection mode: adding a mode is one entry here and one name in `contracts/names.ts`. */
export const SELECTION_ORDERINGS: Record<SelectionMode, Ordering> = {
  'top-k': (ranked) => [...ranked],
  stochastic: stochasticOrder,
  stratified: stratifiedOrder,
  'k-center': kCenterOrder,
  badge: badgeOrder,
  clasp: claspOrder,
};

/**
 * Returns up to k candidates (fewer when the unlabelled pool or the group cap runs out), in pick order: the mode's
 * order without k-center, greedy farthest-first with it (then filled from the mode's order if k-center's
 * candidates run out under the cap).
 */
export function selectBatch(candidates: readonly SelectionCandidate[], options: BatchOptions): SelectionCandidate[] {
  const { k, maxPerGroup, kCenter, mode } = options;
  const ordering = SELECTION_ORDERINGS[mode];
  if (!ordering) throw new Error(`Unknown selection mode '${String(mode)}'; use one of ${Object.keys(SELECTION_ORDERINGS).join(', ')}.`);
  if (!(Number.isInteger(k) && k >= 0)) throw new Error(`k must be a non-negative integer, got ${k}.`);
  if (maxPerGroup !== undefined && !(Number.isInteger(maxPerGroup) && maxPerGroup >= 1)) {
    throw new Error(`maxPerGroup must be a positive integer, got ${maxPerGroup}.`);
  }
  const labelled = new Set(options.labelled ?? []);
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(c.id)) throw new Error(`Candidate id '${c.id}' appears twice; ids must be unique.`);
    seen.add(c.id);
    if (!Number.isFinite(c.score)) throw new Error(`Candidate '${c.id}' has score ${c.score}; scores must be finite numbers.`);
  }
  const ranked = candidates.filter((c) => !labelled.has(c.id)).sort(compareByScoreThenId);
  const order = ordering(ranked, options);

  const perGroup = new Map<string, number>(options.groupCounts ?? []);
  const allowed = (c: SelectionCandidate) =>
    maxPerGroup === undefined || c.group === undefined || (perGroup.get(c.group) ?? 0) < maxPerGroup;
  const picked: SelectionCandidate[] = [];
  const pickedIds = new Set<string>();
  const take = (c: SelectionCandidate) => {
    picked.push(c);
    pickedIds.add(c.id);
    if (c.group !== undefined) perGroup.set(c.group, (perGroup.get(c.group) ?? 0) + 1);
  };

  if (kCenter && k > 0) {
    const factor = kCenter.candidateFactor ?? 3;
    if (!(factor >= 1)) throw new Error(`kCenter.candidateFactor must be at least 1, got ${factor}.`);
    const pool = order.slice(0, Math.ceil(factor * k));
    for (const c of pool) {
      if (!c.features) throw new Error(`k-center selection needs features for every candidate; '${c.id}' has none.`);
    }
    const labelledFeatures = kCenter.labelledFeatures ?? [];
    // Distance from each candidate to its nearest picked or labelled image; Infinity before the first pick.
    const nearest = pool.map((c) => Math.min(Infinity, ...labelledFeatures.map((f) => squaredDistance(c.features!, f))));
    while (picked.length < k) {
      let best = -1;
      for (let i = 0; i < pool.length; i++) {
        if (pickedIds.has(pool[i].id) || !allowed(pool[i])) continue;
        // Strictly greater: among equal distances the candidate earlier in the mode's order wins.
        if (best < 0 || nearest[i] > nearest[best]) best = i;
      }
      if (best < 0) break;
      take(pool[best]);
      for (let i = 0; i < pool.length; i++) {
        nearest[i] = Math.min(nearest[i], squaredDistance(pool[i].features!, pool[best].features!));
      }
    }
  }
  for (const c of order) {
    if (picked.length >= k) break;
    if (!pickedIds.has(c.id) && allowed(c)) take(c);
  }
  return picked;
}

/** The top K by score (ties by id), with the optional group cap and k-center: `selectBatch` in mode `top-k`. */
export function selectTopK(candidates: readonly SelectionCandidate[], options: SelectionOptions): SelectionCandidate[] {
  return selectBatch(candidates, { ...options, mode: 'top-k' });
}

/** One part of a batch split among strategies: its own scores, selection mode and share of K. */
export interface BatchPart {
  name: string;
  mode: SelectionMode;
  k: number;
  beta?: number;
  /** The part's score of each candidate id (a missing id scores 0). */
  scores: ReadonlyMap<string, number>;
}

/**
 * A batch split among strategies (`auto` while it explores): the parts pick in order, each with its own scores and
 * mode, never a frame an earlier part took, under one group cap for the whole batch. Returns each part's picks.
 */
export function selectSplitBatch(
  candidates: readonly Omit<SelectionCandidate, 'score'>[], parts: readonly BatchPart[], options: Omit<BatchOptions, 'k' | 'mode' | 'beta' | 'labelled' | 'groupCounts'>,
): Map<string, SelectionCandidate[]> {
  const taken = new Set<string>();
  const groupCounts = new Map<string, number>();
  const picks = new Map<string, SelectionCandidate[]>();
  for (const part of parts) {
    const scored = candidates.map((c) => ({ ...c, score: part.scores.get(c.id) ?? 0 }));
    const chosen = selectBatch(scored, { ...options, k: part.k, mode: part.mode, beta: part.beta, labelled: taken, groupCounts });
    for (const c of chosen) {
      taken.add(c.id);
      if (c.group !== undefined) groupCounts.set(c.group, (groupCounts.get(c.group) ?? 0) + 1);
    }
    picks.set(part.name, chosen);
  }
  return picks;
}
