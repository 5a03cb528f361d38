/**
 * How trials are ranked: successful trials by the highest successive-halving rung they reached, then by validation IoU
 * (ties by index), then failed ones by index. Never by test IoU. Pure.
 */
import type { LeaderboardRow, TrialResult } from './search';

/** The score that ranks a trial: its validation IoU. */
export function rankingScore(trial: TrialResult): number {
  return trial.valIoU ?? 0;
}

export function rankTrials(trials: readonly TrialResult[]): LeaderboardRow[] {
  const ok = trials.filter((t) => t.status === 'ok')
    .sort((a, b) => (b.rung ?? 0) - (a.rung ?? 0) || rankingScore(b) - rankingScore(a) || a.index - b.index);
  const failed = trials.filter((t) => t.status === 'failed').sort((a, b) => a.index - b.index);
  return [...ok, ...failed].map((t, i) => ({ ...t, rank: i + 1 }));
}

/** The best successful trial, if any. */
export function bestTrial<T extends TrialResult>(rows: readonly T[]): T | undefined {
  return rows.find((row) => row.status === 'ok');
}
