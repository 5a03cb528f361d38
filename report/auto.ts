/** What the strategy auto did in a run, from its phase records: the errors it judged and the candidate it chose. */
import type { PhaseRecord } from '../contracts';

export interface AutoSummary {
  /** Mean error (1 − IoU) of each candidate's frames over the explored phases. */
  meanError: Record<string, number>;
  /** The candidate that selected from `fromPhase` on; absent while still exploring. */
  chosen?: string;
  fromPhase?: number;
  exploredPhases: number[];
}

/** Undefined for runs without auto. */
export function autoSummary(history: readonly PhaseRecord[]): AutoSummary | undefined {
  const records = [...history].sort((a, b) => a.phase - b.phase).filter((h) => h.auto);
  if (records.length === 0) return undefined;
  const explored = records.filter((h) => h.auto!.picked);
  const sums: Record<string, { frames: number; error: number }> = {};
  for (const h of explored) {
    for (const [name, frames] of Object.entries(h.auto!.picked!)) {
      const error = h.auto!.error?.[name];
      if (error === undefined || frames === 0) continue;
      sums[name] = { frames: (sums[name]?.frames ?? 0) + frames, error: (sums[name]?.error ?? 0) + error * frames };
    }
  }
  const first = records.find((h) => h.auto!.selectedBy);
  return {
    meanError: Object.fromEntries(Object.entries(sums).map(([name, s]) => [name, s.error / s.frames])),
    exploredPhases: explored.map((h) => h.phase),
    ...(first ? { chosen: first.auto!.selectedBy!, fromPhase: first.phase } : {}),
  };
}

/** One line a person reads: what auto tried, what it measured, what it chose. */
export function autoText(summary: AutoSummary): string {
  const errors = Object.entries(summary.meanError).map(([name, e]) => `${name} ${e.toFixed(3)}`).join(', ');
  const phases = summary.exploredPhases.length === 1 ? `phase ${summary.exploredPhases[0]}` : `phases ${summary.exploredPhases.join(', ')}`;
  return `explored in ${phases} (mean error of each candidate's frames: ${errors || 'none judged'}); ` +
    (summary.chosen ? `chose **${summary.chosen}** from phase ${summary.fromPhase}.` : 'no choice made before the run ended.');
}
