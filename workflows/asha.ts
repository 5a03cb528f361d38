/**
 * Asynchronous successive halving (ASHA, Li et al. 2020) over training epochs, as pure functions of the search's
 * state, so the search workflow stays deterministic. Rung k trains a configuration to minEpochs·eta^k epochs (the last
 * rung to maxEpochs). When a worker is free: promote the best not-yet-promoted configuration of the highest rung
 * that has one in its top 1/eta (it continues from its checkpoint), else start a new configuration at rung 0.
 */
import type { AshaSettings, RungEntry } from '../contracts';

export const DEFAULT_ETA = 3;

/** The number of rungs: the last one is the first whose epochs reach maxEpochs. */
export function rungCount(settings: AshaSettings): number {
  let rungs = 1;
  while (rungEpochs(settings, rungs - 1) < settings.maxEpochs) rungs += 1;
  return rungs;
}

/** Epochs a configuration has trained once it completes rung k. */
export function rungEpochs(settings: AshaSettings, k: number): number {
  return Math.min(settings.maxEpochs, Math.round(settings.minEpochs * settings.eta ** k));
}

export type AshaJob = { kind: 'promote'; index: number; rung: number } | { kind: 'new'; rung: 0 };

/** What a free worker does next. `canStartNew` is false when no configuration may be added (trials or budget spent). */
export function nextJob(rungs: readonly RungEntry[][], settings: AshaSettings, canStartNew: boolean): AshaJob | undefined {
  for (let k = rungCount(settings) - 2; k >= 0; k--) {
    const entries = [...(rungs[k] ?? [])].sort((a, b) => b.valIoU - a.valIoU || a.index - b.index);
    const top = entries.slice(0, Math.floor(entries.length / settings.eta));
    const candidate = top.find((e) => !e.promoted);
    if (candidate) return { kind: 'promote', index: candidate.index, rung: k + 1 };
  }
  return canStartNew ? { kind: 'new', rung: 0 } : undefined;
}

/** Marks a configuration promoted out of rung k (so no other worker promotes it too). Returns new rungs. */
export function markPromoted(rungs: readonly RungEntry[][], k: number, index: number): RungEntry[][] {
  return rungs.map((entries, r) => (r === k ? entries.map((e) => (e.index === index ? { ...e, promoted: true } : e)) : entries));
}

/** Records a configuration's result at rung k. Returns new rungs. */
export function recordResult(rungs: readonly RungEntry[][], k: number, index: number, valIoU: number): RungEntry[][] {
  const next = rungs.map((entries) => [...entries]);
  while (next.length <= k) next.push([]);
  next[k] = [...next[k].filter((e) => e.index !== index), { index, valIoU, promoted: false }];
  return next;
}

/** Epochs a job adds: a new configuration trains rung 0's epochs; a promotion trains the difference. */
export function jobEpochs(settings: AshaSettings, job: AshaJob): number {
  return job.kind === 'new' ? rungEpochs(settings, 0) : rungEpochs(settings, job.rung) - rungEpochs(settings, job.rung - 1);
}
