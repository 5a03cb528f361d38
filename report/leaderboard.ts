/** The search leaderboard as Markdown (the paper's Table I): written by the search, embedded in benchmark reports. */
import type { LeaderboardRow } from '../contracts';

export function leaderboardMarkdown(searchId: string, datasetId: string, rows: readonly LeaderboardRow[]): string {
  const fmt = (v: number | undefined, digits = 4) => (v === undefined ? '—' : v.toFixed(digits));
  return [
    `# EDNAS leaderboard ${searchId}`, '',
    `Dataset \`${datasetId}\`; ${rows.length} trials, ${rows.filter((r) => r.status === 'failed').length} failed. ` +
      'Ranked on the validation split (by the successive-halving rung reached, then validation IoU); test IoU is measured ' +
      'for the winners only and never chooses.', '',
    '| rank | validation IoU | validation Dice | test IoU | test Dice | architecture | encoder | lr | batch | epochs | rung | params | time (s) | status |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.rank} | ${fmt(r.valIoU)} | ${fmt(r.valDice)} | ${fmt(r.testIoU)} | ${fmt(r.testDice)} | ${r.arch} | ${r.encoder} | ` +
      `${r.learningRate} | ${r.batchSize} | ${r.epochs ?? '—'} | ${r.rung ?? 0} | ${r.params?.toLocaleString('en-US') ?? '—'} | ${(r.ms / 1000).toFixed(1)} | ` +
      `${r.status === 'ok' ? 'ok' : `failed: ${(r.error ?? '').replace(/\|/g, '/').slice(0, 120)}`} |`),
    '',
  ].join('\n');
}
