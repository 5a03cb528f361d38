/**
 * Picks the next images to label: the top K unlabelled by acquisition score, ties broken by id so a rerun picks
 * the same set. Optional diversity, because the top scores of an echo pool are often K neighbouring frames of
 * one video (the paper's main open problem):
 * - `maxPerGroup`: at most m images per group (video or patient);
 * - `kCenter`: greedy k-center on feature vectors (e.g. pooled encoder features) among the top candidates —
 *   each pick is the candidate farthest from everything picked or already labelled.
 */

export interface SelectionCandidate {
  id: string;
  score: number;
  /** Video or patient id, for `maxPerGroup`. */
  group?: string;
  /** For `kCenter`, e.g. global-average-pooled encoder features. */
  features?: ArrayLike<number>;
}

export interface KCenterOptions {
  /** Candidates considered: the top `candidateFactor × k` by score (default 3). */
  candidateFactor?: number;
  /** Features of labelled images, so picks also keep away from what is already labelled. */
  labelledFeatures?: readonly ArrayLike<number>[];
}

export interface SelectionOptions {
  k: number;
  /** Ids that are already labelled (or otherwise unavailable); never selected. */
  labelled?: Iterable<string>;
  maxPerGroup?: number;
  kCenter?: KCenterOptions;
}

/** Highest score first; equal scores by id (code-unit order, locale-independent). */
export function compareByScoreThenId(a: SelectionCandidate, b: SelectionCandidate): number {
  if (a.score !== b.score) return b.score - a.score;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function squaredDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`Feature vectors differ in length (${a.length} vs ${b.length}).`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return sum;
}

/**
 * Returns up to k candidates (fewer when the unlabelled pool or the group cap runs out), in pick order:
 * by score without k-center, by greedy farthest-first with it.
 */
export function selectTopK(candidates: readonly SelectionCandidate[], options: SelectionOptions): SelectionCandidate[] {
  const { k, maxPerGroup, kCenter } = options;
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

  const perGroup = new Map<string, number>();
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
    const pool = ranked.slice(0, Math.ceil(factor * k));
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
        // Strictly greater: among equal distances the earlier (higher-scoring, then lower id) candidate wins.
        if (best < 0 || nearest[i] > nearest[best]) best = i;
      }
      if (best < 0) break;
      take(pool[best]);
      for (let i = 0; i < pool.length; i++) {
        nearest[i] = Math.min(nearest[i], squaredDistance(pool[i].features!, pool[best].features!));
      }
    }
  }
  for (const c of ranked) {
    if (picked.length >= k) break;
    if (!pickedIds.has(c.id) && allowed(c)) take(c);
  }
  return picked;
}
