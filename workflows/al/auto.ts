/**
 * The strategy `auto`, workflow side (pure, deterministic): which strategies select a phase's batch and how K is
 * split among them while it explores, and the choice once the explored phases' masks are judged.
 */
import type { ActiveLearningInput, ActiveLearningState, AutoChoice, AutoState, StrategyChoice } from '../../contracts';

/** The run's own strategy as a choice (runs without `auto`). */
export function ownChoice(input: ActiveLearningInput): StrategyChoice {
  const selection = input.selection ?? 'top-k';
  return {
    name: input.acquisition, acquisition: input.acquisition, selection,
    ...(selection === 'stochastic' && input.selectionBeta !== undefined ? { beta: input.selectionBeta } : {}),
  };
}

/** True while `auto` still splits requests among its candidates. */
export function exploring(input: ActiveLearningInput, state: ActiveLearningState): boolean {
  return input.auto !== undefined && state.auto?.chosen === undefined;
}

/** The strategies in play this phase: the run's own; auto's candidates while it explores; then the chosen one. */
export function phaseChoices(input: ActiveLearningInput, state: ActiveLearningState): StrategyChoice[] {
  if (!input.auto) return [ownChoice(input)];
  const chosen = state.auto?.chosen;
  return chosen === undefined ? input.auto.candidates : input.auto.candidates.filter((c) => c.name === chosen);
}

/**
 * K split among the candidates: ⌊K / n⌋ each, the remainder one each to candidates in an order that rotates with the
 * phase (so none is always first to pick or always short); parts in that order.
 */
export function splitK(k: number, candidates: readonly StrategyChoice[], phase: number): { choice: StrategyChoice; k: number }[] {
  const n = candidates.length;
  const base = Math.floor(k / n);
  const rest = k - base * n;
  return Array.from({ length: n }, (_, i) => candidates[(phase + i) % n]).map((choice, i) => ({ choice, k: base + (i < rest ? 1 : 0) }));
}

/**
 * One explored phase judged: each candidate's frames and errors added to its tally; once `explorePhases` phases are
 * judged, the candidate with the highest mean error is chosen (ties: the earlier candidate). A candidate with no
 * judged frame cannot be chosen; with none judged at all, exploring goes on.
 */
export function judgePhase(auto: AutoChoice, previous: AutoState | undefined, errors: Record<string, { frames: number; errorSum: number }>): AutoState {
  const tallies: AutoState['tallies'] = { ...(previous?.tallies ?? {}) };
  for (const { name } of auto.candidates) {
    const before = tallies[name] ?? { frames: 0, errorSum: 0 };
    const added = errors[name] ?? { frames: 0, errorSum: 0 };
    tallies[name] = { frames: before.frames + added.frames, errorSum: before.errorSum + added.errorSum };
  }
  const judgedPhases = (previous?.judgedPhases ?? 0) + 1;
  const next: AutoState = { tallies, judgedPhases };
  if (judgedPhases < auto.explorePhases) return next;
  let best: { name: string; mean: number } | undefined;
  for (const { name } of auto.candidates) {
    const { frames, errorSum } = tallies[name];
    if (frames === 0) continue;
    const mean = errorSum / frames;
    if (!best || mean > best.mean) best = { name, mean };
  }
  return best ? { ...next, chosen: best.name } : next;
}

/** Mean error per candidate of a tally (candidates with frames only). */
export function meanErrors(errors: Record<string, { frames: number; errorSum: number }>): Record<string, number> {
  return Object.fromEntries(Object.entries(errors).filter(([, e]) => e.frames > 0).map(([name, e]) => [name, e.errorSum / e.frames]));
}
