/**
 * A strategy: how each phase's batch is chosen — an acquisition function and a selection mode (and β for stochastic
 * selection), and whether the pool's sure frames train as pseudo-labels. Named `<function>` for top-K (`mfe`, `random`),
 * `<function>:<mode>` otherwise (`random:stratified`, `mfe:stochastic`), with `+pseudo-label` when it uses the pool
 * (`mfe:clasp+pseudo-label`). Pure.
 */
import {
  ACQUISITION_FUNCTIONS, type AcquisitionFunction, isAcquisitionFunction, isSelectionMode, isSemiSupervisedMode, SELECTION_MODES, type SelectionMode, selectionNeeds,
  SEMI_SUPERVISED_MODES, type SemiSupervisedMode,
} from './names';

export interface Strategy {
  name: string;
  acquisition: AcquisitionFunction;
  selection: SelectionMode;
  /** Stochastic selection: probability ∝ score^beta (default 1). */
  beta?: number;
  /** Absent: 'none'. */
  semiSupervised?: Exclude<SemiSupervisedMode, 'none'>;
}

export const DEFAULT_BETA = 1;

/** Why a function and a selection mode do not go together (the modes that read the model's features or areas need one). */
export function selectionProblem(acquisition: AcquisitionFunction, selection: SelectionMode | undefined): string | undefined {
  const needs = selectionNeeds(selection);
  return acquisition === 'random' && (needs.features || needs.areas)
    ? `selection '${selection}' reads the uncertainty model's ${needs.features ? 'features' : 'predicted areas'}; use it with an uncertainty function (e.g. mfe:${selection}), not random`
    : undefined;
}

export function strategyName(acquisition: AcquisitionFunction, selection: SelectionMode, semiSupervised?: SemiSupervisedMode): string {
  const base = selection === 'top-k' ? acquisition : `${acquisition}:${selection}`;
  return semiSupervised && semiSupervised !== 'none' ? `${base}+${semiSupervised}` : base;
}

/** `mfe`, `random:stratified`, `mfe:stochastic` → a strategy, or a message saying what is wrong. */
export function parseStrategy(text: string, beta?: number): Strategy | { error: string } {
  const [choice, semi, ...extra] = text.split('+');
  if (extra.length > 0) return { error: `'${text}' has more than one '+'; write <function>[:<selection>][+<semi-supervised mode>]` };
  if (semi !== undefined && (!isSemiSupervisedMode(semi) || semi === 'none')) {
    return { error: `'+${semi}' is not a semi-supervised mode (${SEMI_SUPERVISED_MODES.filter((m) => m !== 'none').join(', ')})` };
  }
  const [acquisition, selection = 'top-k', ...rest] = choice.split(':');
  if (rest.length > 0) return { error: `'${text}' has more than one ':'; write <function>[:<selection>]` };
  if (!isAcquisitionFunction(acquisition)) return { error: `'${acquisition}' is not an acquisition function (${ACQUISITION_FUNCTIONS.join(', ')})` };
  if (!isSelectionMode(selection)) return { error: `'${selection}' is not a selection mode (${SELECTION_MODES.join(', ')})` };
  const problem = selectionProblem(acquisition, selection);
  if (problem) return { error: problem };
  return {
    name: strategyName(acquisition, selection, semi as SemiSupervisedMode | undefined), acquisition, selection,
    ...(selection === 'stochastic' && beta !== undefined ? { beta } : {}),
    ...(semi ? { semiSupervised: semi as Exclude<SemiSupervisedMode, 'none'> } : {}),
  };
}
