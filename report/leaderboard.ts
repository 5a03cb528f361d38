/** The search leaderboard as Markdown (the paper's Table I): written by the search, embedded in benchmark reports. */
import type { LeaderboardRow } from '../contracts';

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
