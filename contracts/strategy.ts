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
  /** The strategy `auto`: its candidates (scoring and the uncertainty model use `acquisition`, an uncertainty function). */
  auto?: AutoChoice;
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

/** `mfe`, `random:stratified`, `mfe:stochastic`, `auto` → a strategy, or a message saying what is wrong. */
export function parseStrategy(text: string, beta?: number): Strategy | { error: string } {
  const [choice, semi, ...extra] = text.split('+');
  if (extra.length > 0) return { error: `'${text}' has more than one '+'; write <function>[:<selection>][+<semi-supervised mode>]` };
  if (semi !== undefined && (!isSemiSupervisedMode(semi) || semi === 'none')) {
    return { error: `'+${semi}' is not a semi-supervised mode (${SEMI_SUPERVISED_MODES.filter((m) => m !== 'none').join(', ')})` };
  }
  if (choice === AUTO_STRATEGY) {
    return {
      name: semi ? `${AUTO_STRATEGY}+${semi}` : AUTO_STRATEGY, acquisition: 'mfe', selection: 'top-k', auto: defaultAuto(),
      ...(semi ? { semiSupervised: semi as Exclude<SemiSupervisedMode, 'none'> } : {}),
    };
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

/** One strategy `auto` tries: a function and a selection mode (no semi-supervision of its own: the run's applies). */
export interface StrategyChoice {
  name: string;
  acquisition: AcquisitionFunction;
  selection: SelectionMode;
  beta?: number;
}

/**
 * The strategy `auto` (the paper's §IV.C.3 suggestion): in its first `explorePhases` phases each request is split
 * among the candidates; once their frames' masks are back, the candidate whose frames the phase's segmentation model
 * got most wrong (mean 1 − IoU against the doctors' masks: the most informative picks) selects every later batch.
 * Decided from the run's own labels, never from the test split.
 */
export interface AutoChoice {
  candidates: StrategyChoice[];
  explorePhases: number;
}

export const AUTO_STRATEGY = 'auto';
/** One of each kind: random (the hard baseline), uncertainty with size strata (ClaSP-like), uncertainty with diversity (BADGE-like). */
export const DEFAULT_AUTO_CANDIDATES = ['random', 'mfe:clasp', 'mfe:badge'] as const;
export const DEFAULT_AUTO_PHASES = 2;

/** `random,mfe:clasp,…` → auto's candidates, or a message saying what is wrong. */
export function parseAutoCandidates(names: readonly string[], beta?: number): StrategyChoice[] | { error: string } {
  const candidates: StrategyChoice[] = [];
  for (const name of names) {
    if (name === AUTO_STRATEGY || name.includes('+')) return { error: `'${name}' cannot be one of auto's candidates: give <function>[:<selection>] (the run's --semi-supervised applies to all)` };
    const parsed = parseStrategy(name, beta);
    if ('error' in parsed) return parsed;
    if (candidates.some((c) => c.name === parsed.name)) return { error: `'${parsed.name}' is given twice` };
    candidates.push({ name: parsed.name, acquisition: parsed.acquisition, selection: parsed.selection, ...(parsed.beta !== undefined ? { beta: parsed.beta } : {}) });
  }
  if (candidates.length < 2) return { error: 'auto needs at least two candidates to choose between' };
  return candidates;
}

/** Auto with the default candidates and exploration phases. */
export function defaultAuto(): AutoChoice {
  const candidates = parseAutoCandidates(DEFAULT_AUTO_CANDIDATES);
  if ('error' in candidates) throw new Error(candidates.error);
  return { candidates, explorePhases: DEFAULT_AUTO_PHASES };
}
