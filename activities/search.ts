/** Light activities of the EDNAS search: every trial is stored; the leaderboard is written as JSON and Markdown. */
import { LEADERBOARD_SIZE, type LeaderboardRow, rankTrials, searchKeys, type TrialResult } from '../contracts';
import { leaderboardMarkdown } from '../report/leaderboard';
import type { ObjectStore } from '../store/objectStore';

export function searchActivities(store: ObjectStore) {
  return {
    async recordTrial(input: { searchId: string; result: TrialResult }): Promise<void> {
      await store.putJson(searchKeys.trial(input.searchId, input.result.index), input.result);
    },

    async writeLeaderboard(input: { searchId: string; datasetId: string }): Promise<{ top: LeaderboardRow[]; jsonKey: string; markdownKey: string }> {
      const keys = (await store.list(searchKeys.trialsPrefix(input.searchId))).filter((k) => /trial-\d+\.json$/.test(k));
      const trials = await Promise.all(keys.map((k) => store.getJson<TrialResult>(k)));
      const rows = rankTrials(trials);
      const jsonKey = searchKeys.leaderboardJson(input.searchId);
      const markdownKey = searchKeys.leaderboardMarkdown(input.searchId);
      await store.putJson(jsonKey, { searchId: input.searchId, datasetId: input.datasetId, writtenAt: new Date().toISOString(), rows });
      await store.putBytes(markdownKey, new TextEncoder().encode(leaderboardMarkdown(input.searchId, input.datasetId, rows)), 'text/markdown');
      return { top: rows.slice(0, LEADERBOARD_SIZE), jsonKey, markdownKey };
    },
  };
}
