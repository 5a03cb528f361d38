/**
 * A strategy: how each phase's batch is chosen — an acquisition function and a selection mode (and β for stochastic
 * selection). Named `<function>` for top-K (`mfe`, `random`) and `<function>:<mode>` otherwise (`random:stratified`,
 * `mfe:stochastic`). Pure.
 */
import {
  ACQUISITION_FUNCTIONS, type AcquisitionFunction, isAcquisitionFunction, isSelectionMode, SELECTION_MODES, type SelectionMode, selectionNeeds,
} from './names';

export interface Strategy {
  name: string;
  acquisition: AcquisitionFunction;
  selection: SelectionMode;
  /** Stochastic selection: probability ∝ score^beta (default 1). */
  beta?: number;
}

export const DEFAULT_BETA = 1;

/** Why a function and a selection mode do not go together (the modes that read the model's features or areas need one). */
export function selectionProblem(acquisition: AcquisitionFunction, selection: SelectionMode | undefined): string | undefined {
  const needs = selectionNeeds(selection);
  return acquisition === 'random' && (needs.features || needs.areas)
    ? `selection '${selection}' reads the uncertainty model's ${needs.features ? 'features' : 'predicted areas'}; use it with an uncertainty function (e.g. mfe:${selection}), not random`
    : undefined;
}

export function strategyName(acquisition: AcquisitionFunction, selection: SelectionMode): string {
  return selection === 'top-k' ? acquisition : `${acquisition}:${selection}`;
}

/** `mfe`, `random:stratified`, `mfe:stochastic` → a strategy, or a message saying what is wrong. */
export function parseStrategy(text: string, beta?: number): Strategy | { error: string } {
  const [acquisition, selection = 'top-k', ...rest] = text.split(':');
  if (rest.length > 0) return { error: `'${text}' has more than one ':'; write <function>[:<selection>]` };
  if (!isAcquisitionFunction(acquisition)) return { error: `'${acquisition}' is not an acquisition function (${ACQUISITION_FUNCTIONS.join(', ')})` };
  if (!isSelectionMode(selection)) return { error: `'${selection}' is not a selection mode (${SELECTION_MODES.join(', ')})` };
  const problem = selectionProblem(acquisition, selection);
  if (problem) return { error: problem };
  return { name: strategyName(acquisition, selection), acquisition, selection, ...(selection === 'stochastic' && beta !== undefined ? { beta } : {}) };
}
