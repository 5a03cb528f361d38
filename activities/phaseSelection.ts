/** Light activities between scoring and the request: the shards put together, and the phase's batch chosen. */
import { type AcquisitionFunction, runKeys, scoringKeys, type SelectionMode, selectionNeeds } from '../contracts';
import { decodeFloat32, encodeFloat32 } from '../store/blobStore';
import { selectBatch, selectionSeed, selectSplitBatch } from '../ml/selection';
import type { ScoresDocument } from '../ml/uncertaintyMap';
import type { ObjectStore } from '../store/objectStore';
import { invalidInput, itemsById, jsonOrFail, manifestOrFail } from './datasets';

/** Row i of the scores' pooled features. */
async function featureRows(store: ObjectStore, scores: ScoresDocument): Promise<(i: number) => Float32Array> {
  if (!scores.featuresKey || !scores.featureDim) throw invalidInput('this selection mode needs pooled features, and the scoring wrote none');
  const all = decodeFloat32(await store.getBytes(scores.featuresKey), scores.featuresKey);
  const dim = scores.featureDim;
  return (i) => all.subarray(i * dim, (i + 1) * dim);
}

/** `selectForLabelling` with K split among strategies: their picks in order, and a reserve by the first part's rule. */
async function selectInParts(
  store: ObjectStore, scores: ScoresDocument, items: Map<string, { group?: string }>,
  input: { k: number; maxPerGroup?: number; seed?: number; phase?: number; parts: { name: string; acquisition: AcquisitionFunction; selection: SelectionMode; beta?: number; k: number }[] },
): Promise<{ ids: string[]; reserve: string[]; picks: Record<string, string[]> }> {
  const missing = input.parts.map((p) => p.acquisition).find((fn) => !scores.functions.includes(fn));
  if (missing) throw invalidInput(`the scores have no '${missing}' column (scored: ${scores.functions.join(', ')})`);
  const needsFeatures = input.parts.some((p) => selectionNeeds(p.selection).features);
  const features = needsFeatures ? await featureRows(store, scores) : undefined;
  const candidates = scores.items.map((item, i) => ({
    id: item.id, group: items.get(item.id)?.group,
    ...(features ? { features: features(i) } : {}), ...(item.area !== undefined ? { area: item.area } : {}),
  }));
  const column = (fn: AcquisitionFunction) => new Map(scores.items.map((item) => [item.id, item.scores[fn] ?? 0]));
  const phase = input.phase ?? 0;
  const options = { maxPerGroup: input.maxPerGroup, seed: selectionSeed(input.seed ?? 0, phase), phase };
  const parts = input.parts.map((p) => ({ name: p.name, mode: p.selection, k: p.k, beta: p.beta, scores: column(p.acquisition) }));
  const picked = selectSplitBatch(candidates, parts, options);
  const picks = Object.fromEntries([...picked].map(([name, chosen]) => [name, chosen.map((c) => c.id)]));
  const ids = Object.values(picks).flat();
  const taken = new Set(ids);
  const [first] = parts;
  const reserve = selectBatch(candidates.filter((c) => !taken.has(c.id)).map((c) => ({ ...c, score: first.scores.get(c.id) ?? 0 })), {
    ...options, k: input.k, mode: first.mode, beta: first.beta, seed: options.seed ^ 0x5eed,
  });
  return { ids, reserve: reserve.map((c) => c.id), picks };
}

export function phaseSelectionActivities(store: ObjectStore) {
  return {
    /** Puts a phase's score shards together, in pool order, as its scores.json. */
    async mergeScoreShards(input: { runId: string; phase: number; shards: number }): Promise<{ scoresKey: string; scored: number }> {
      const documents = [];
      for (let shard = 0; shard < input.shards; shard++) {
        documents.push(await jsonOrFail<ScoresDocument>(store, runKeys.scoreShard(input.runId, input.phase, shard), 'score shard'));
      }
      const [first] = documents;
      const { featuresKey: _shardFeatures, featureDim, ...common } = first;
      const merged: ScoresDocument = { ...common, items: documents.flatMap((d) => d.items) };
      if (featureDim !== undefined) {
        // The shards' feature rows, in the same order as the items.
        const rows = await Promise.all(documents.map(async (d) => decodeFloat32(await store.getBytes(d.featuresKey!), d.featuresKey)));
        const all = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
        let offset = 0;
        for (const r of rows) {
          all.set(r, offset);
          offset += r.length;
        }
        merged.featuresKey = runKeys.scoreFeatures(input.runId, input.phase);
        merged.featureDim = featureDim;
        await store.putBytes(merged.featuresKey, encodeFloat32(all), 'application/octet-stream');
      }
      const key = scoringKeys.scores(runKeys.phase(input.runId, input.phase));
      await store.putJson(key, merged);
      return { scoresKey: key, scored: merged.items.length };
    },

    /**
     * The phase's batch: top-K, stochastic (∝ score^β, seeded from the run's seed and phase) or stratified over videos;
     * and as many reserve frames after it, by the same rule, which replace frames doctors mark unusable.
     */
    async selectForLabelling(input: {
      scoresKey: string; datasetId: string; k: number; maxPerGroup?: number; selection?: SelectionMode; beta?: number; seed?: number; phase?: number;
      /** The function whose scores rank (default the scores' first). */
      acquisition?: AcquisitionFunction;
      /**
       * The strategy `auto` while it explores: K split among candidate strategies, each picking its share with its own
       * function and mode (then `selection` and `acquisition` are unused); the picks come back per part.
       */
      parts?: { name: string; acquisition: AcquisitionFunction; selection: SelectionMode; beta?: number; k: number }[];
    }): Promise<{ ids: string[]; reserve?: string[]; picks?: Record<string, string[]> }> {
      const scores = await jsonOrFail<ScoresDocument>(store, input.scoresKey, 'scores');
      const fn: AcquisitionFunction = input.acquisition ?? scores.functions[0];
      const items = await itemsById(store, await manifestOrFail(store, input.datasetId));
      if (input.parts) return selectInParts(store, scores, items, { ...input, parts: input.parts });
      const needs = selectionNeeds(input.selection);
      const features = needs.features ? await featureRows(store, scores) : undefined;
      const candidates = scores.items.map((item, i) => ({
        id: item.id, score: item.scores[fn] ?? 0, group: items.get(item.id)?.group,
        ...(features ? { features: features(i) } : {}), ...(item.area !== undefined ? { area: item.area } : {}),
      }));
      const options = {
        mode: input.selection ?? 'top-k', maxPerGroup: input.maxPerGroup, beta: input.beta, seed: selectionSeed(input.seed ?? 0, input.phase ?? 0), phase: input.phase ?? 0,
      } as const;
      const chosen = selectBatch(candidates, { ...options, k: input.k });
      const taken = new Set(chosen.map((c) => c.id));
      const reserve = selectBatch(candidates.filter((c) => !taken.has(c.id)), { ...options, k: input.k, seed: options.seed ^ 0x5eed });
      return { ids: chosen.map((c) => c.id), reserve: reserve.map((c) => c.id) };
    },
  };
}
