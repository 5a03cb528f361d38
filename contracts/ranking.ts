/** How trials are ranked: successful trials by IoU (ties by index), then failed ones by index. Pure. */
import type { LeaderboardRow, TrialResult } from './search';

export function rankTrials(trials: readonly TrialResult[]): LeaderboardRow[] {
  const ok = trials.filter((t) => t.status === 'ok').sort((a, b) => (b.iou ?? 0) - (a.iou ?? 0) || a.index - b.index);
  const failed = trials.filter((t) => t.status === 'failed').sort((a, b) => a.index - b.index);
  return [...ok, ...failed].map((t, i) => ({ ...t, rank: i + 1 }));
}

/** The best successful trial, if any. */
export function bestTrial<T extends TrialResult>(rows: readonly T[]): T | undefined {
  return rows.find((row) => row.status === 'ok');
}
