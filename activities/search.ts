/** Light activities of the EDNAS search: every trial is stored; the leaderboard is written as JSON and Markdown. */
import { rankTrials } from '../workflows/search';
import { LEADERBOARD_SIZE, type LeaderboardRow, type TrialResult } from '../shared';
import type { ObjectStore } from '../store/objectStore';

export const searchKeys = {
  trial: (searchId: string, index: number) => `runs/${searchId}/trials/trial-${String(index).padStart(4, '0')}.json`,
  trialsPrefix: (searchId: string) => `runs/${searchId}/trials/`,
  leaderboardJson: (searchId: string) => `runs/${searchId}/leaderboard.json`,
  leaderboardMarkdown: (searchId: string) => `runs/${searchId}/leaderboard.md`,
};

export function leaderboardMarkdown(searchId: string, datasetId: string, rows: readonly LeaderboardRow[]): string {
  const fmt = (v: number | undefined, digits = 4) => (v === undefined ? '—' : v.toFixed(digits));
  return [
    `# EDNAS leaderboard ${searchId}`, '',
    `Dataset \`${datasetId}\`; ${rows.length} trials, ${rows.filter((r) => r.status === 'failed').length} failed. Score: test IoU.`, '',
    '| rank | IoU | Dice | architecture | encoder | lr | batch | params | time (s) | status |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.rank} | ${fmt(r.iou)} | ${fmt(r.dice)} | ${r.arch} | ${r.encoder} | ${r.learningRate} | ${r.batchSize} | ` +
      `${r.params?.toLocaleString('en-US') ?? '—'} | ${(r.ms / 1000).toFixed(1)} | ${r.status === 'ok' ? 'ok' : `failed: ${(r.error ?? '').replace(/\|/g, '/').slice(0, 120)}`} |`),
    '',
  ].join('\n');
}

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
