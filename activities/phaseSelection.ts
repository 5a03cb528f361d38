/** Light activities between scoring and the request: the shards put together, and the phase's batch chosen. */
import { type AcquisitionFunction, runKeys, scoringKeys, type SelectionMode } from '../contracts';
import { selectBatch, selectionSeed } from '../ml/selection';
import type { ScoresDocument } from '../ml/uncertaintyMap';
import type { ObjectStore } from '../store/objectStore';
import { itemsById, jsonOrFail, manifestOrFail } from './datasets';

export function phaseSelectionActivities(store: ObjectStore) {
  return {
    /** Puts a phase's score shards together, in pool order, as its scores.json. */
    async mergeScoreShards(input: { runId: string; phase: number; shards: number }): Promise<{ scoresKey: string; scored: number }> {
      const documents = [];
      for (let shard = 0; shard < input.shards; shard++) {
        documents.push(await jsonOrFail<ScoresDocument>(store, runKeys.scoreShard(input.runId, input.phase, shard), 'score shard'));
      }
      const [first] = documents;
      const merged: ScoresDocument = { ...first, items: documents.flatMap((d) => d.items) };
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
    }): Promise<{ ids: string[]; reserve?: string[] }> {
      const scores = await jsonOrFail<ScoresDocument>(store, input.scoresKey, 'scores');
      const fn: AcquisitionFunction = scores.functions[0];
      const items = await itemsById(store, await manifestOrFail(store, input.datasetId));
      const candidates = scores.items.map((item) => ({ id: item.id, score: item.scores[fn] ?? 0, group: items.get(item.id)?.group }));
      const options = { mode: input.selection ?? 'top-k', maxPerGroup: input.maxPerGroup, beta: input.beta, seed: selectionSeed(input.seed ?? 0, input.phase ?? 0) } as const;
      const chosen = selectBatch(candidates, { ...options, k: input.k });
      const taken = new Set(chosen.map((c) => c.id));
      const reserve = selectBatch(candidates.filter((c) => !taken.has(c.id)), { ...options, k: input.k, seed: options.seed ^ 0x5eed });
      return { ids: chosen.map((c) => c.id), reserve: reserve.map((c) => c.id) };
    },
  };
}
