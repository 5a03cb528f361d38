/** Workflow inputs built from parsed CLI options, checked against the model registries before any service is contacted. */
import type { ProjectConfig } from '../config';
import {
  type AcquisitionFunction, type ActiveLearningInput, type ArchName, type AutoChoice, DEFAULT_TIMEOUTS, parseAutoCandidates, type EvaluationSplit, type LrSchedule, type MCDropoutStrategy, type MCMode,
  type PixelReduction, type PredictEngine, type SearchInput, type SemiSupervisedMode, type SelectionMode, selectionProblem, type SearchScheduler, SEARCH_SPACES, type SearchSpaceName, spaceSize,
} from '../contracts';
import { UsageError } from './context';

export interface SharedTrainingOptions {
  depth?: number;
  width: number;
  seed: number;
  augment: boolean;
}

export interface ModelOptions {
  arch: ArchName;
  encoder: string;
  lr: number;
  batch: number;
}

export interface ActiveLearningOptions {
  epochs: number;
  lrSchedule: LrSchedule;
  earlyStopping?: number;
  warmStart?: boolean;
  semiSupervised: SemiSupervisedMode;
  pseudoLabelIou: number;
  dropout: MCDropoutStrategy;
  dropoutRate: number;
  reduce: PixelReduction;
  mcSamples: number;
  mcMode: MCMode;
  engine: PredictEngine;
  k: number;
  target: number;
  maxLabelled?: number;
  maxPhases: number;
  maxPerGroup?: number;
  stopOn: EvaluationSplit;
  outageWindow: number;
  oracle?: boolean;
  reminder?: number;
  maskLabel?: number;
  labelStudio?: string;
  selection?: SelectionMode;
  beta?: number;
  /** The strategy auto (al and pipeline: `--auto`; benchmark: a strategy named auto) and its candidates. */
  auto?: boolean;
  autoCandidates: string[];
  autoPhases: number;
  initial?: number;
  evalFramesPerVideo?: number;
}

export interface SearchOptions {
  space: SearchSpaceName;
  archs?: ArchName[];
  encoders?: string[];
  lrs?: number[];
  batches?: number[];
  scheduler: SearchScheduler;
  eta: number;
  minEpochs: number;
  maxEpochs?: number;
  epochBudget?: number;
  trials: number;
  wallTime?: number;
  concurrency: number;
  searchEpochs: number;
  trialsPerRun: number;
}

/** The zoo (and TensorFlow.js) load only for commands that need them, so `--help` and usage errors stay fast. */
async function knownEncoders(): Promise<string[]> {
  return (await import('../ml/zoo')).listEncoders();
}

export async function checkEncoders(names: readonly string[], flag: string): Promise<void> {
  const known = await knownEncoders();
  const unknown = names.find((name) => !known.includes(name));
  if (unknown) throw new UsageError(`${flag}: unknown encoder '${unknown}'; \`client.ts models\` lists them`);
}


/** `--auto-candidates` and `--auto-phases` as the strategy auto's choice, or a usage error. */
export function autoChoice(o: Pick<ActiveLearningOptions, 'autoCandidates' | 'autoPhases' | 'beta'>): AutoChoice {
  const candidates = parseAutoCandidates(o.autoCandidates, o.beta);
  if ('error' in candidates) throw new UsageError(`--auto-candidates: ${candidates.error}`);
  return { candidates, explorePhases: o.autoPhases };
}

export async function activeLearningInput(
  datasetId: string, o: SharedTrainingOptions & ModelOptions & ActiveLearningOptions & { acquisition: AcquisitionFunction }, config: ProjectConfig,
): Promise<ActiveLearningInput> {
  await checkEncoders([o.encoder], '--encoder');
  const pairing = selectionProblem(o.acquisition, o.selection);
  if (pairing) throw new UsageError(`--selection ${o.selection}: ${pairing}`);
  const auto = o.auto ? autoChoice(o) : undefined;
  return {
    datasetId,
    model: { arch: o.arch, encoder: o.encoder, ...(o.depth !== undefined ? { encoderDepth: o.depth } : {}), widthScale: o.width },
    dropout: { strategy: o.dropout, rate: o.dropoutRate },
    hyper: {
      epochs: o.epochs, batchSize: o.batch, learningRate: o.lr, seed: o.seed, augment: o.augment,
      ...(o.lrSchedule !== 'constant' ? { lrSchedule: o.lrSchedule } : {}), ...(o.earlyStopping !== undefined ? { earlyStoppingPatience: o.earlyStopping } : {}),
    },
    ...(auto ? { acquisition: 'mfe', auto } : {
      acquisition: o.acquisition,
      ...(o.selection && o.selection !== 'top-k' ? { selection: o.selection, selectionBeta: o.beta } : {}),
    }),
    // On unless --no-warm-start (bench-gain: higher AULC and every seed within 0.01 of the full-data IoU, scratch none).
    ...(o.warmStart !== false ? { warmStart: true } : {}),
    ...(o.semiSupervised !== 'none' ? { semiSupervised: o.semiSupervised, ...(o.semiSupervised === 'pseudo-label' ? { pseudoLabelIoU: o.pseudoLabelIou } : {}) } : {}),
    reduce: o.reduce,
    mcSamples: o.mcSamples,
    mcMode: o.mcMode,
    // Always written: a run recorded without an engine means `tf`.
    engine: o.engine,
    labelsPerPhase: o.k,
    targetIoU: o.target,
    maxLabelled: o.maxLabelled ?? 1_000_000,
    maxPhases: o.maxPhases,
    oracle: Boolean(o.oracle),
    maxPerGroup: o.maxPerGroup,
    reminderEveryMs: o.reminder ?? 86_400_000,
    stopOn: o.stopOn,
    ...(o.maskLabel !== undefined ? { maskLabel: o.maskLabel } : {}),
    ...(o.labelStudio ? { labelStudio: { project: o.labelStudio } } : {}),
    ...(o.initial !== undefined ? { initialCount: o.initial } : {}),
    ...(o.evalFramesPerVideo !== undefined ? { evalFramesPerVideo: o.evalFramesPerVideo } : {}),
    timeouts: { ...DEFAULT_TIMEOUTS, outageWindowMs: o.outageWindow },
    taskQueues: config.taskQueues,
  };
}

export async function searchInput(datasetId: string, o: SharedTrainingOptions & SearchOptions, config: ProjectConfig): Promise<SearchInput> {
  const base = SEARCH_SPACES[o.space];
  const space = { archs: o.archs ?? base.archs, encoders: o.encoders ?? base.encoders, learningRates: o.lrs ?? base.learningRates, batchSizes: o.batches ?? base.batchSizes };
  await checkEncoders(space.encoders, '--encoders');
  const configurations = spaceSize(space);
  if (o.trials > configurations) throw new UsageError(`--trials ${o.trials} is more than the ${configurations} configurations of the space`);
  const maxEpochs = o.maxEpochs ?? o.searchEpochs;
  if (o.scheduler === 'asha' && o.minEpochs > maxEpochs) throw new UsageError(`--min-epochs ${o.minEpochs} is more than --max-epochs ${maxEpochs}`);
  return {
    datasetId,
    seed: o.seed,
    space,
    scheduler: o.scheduler,
    ...(o.scheduler === 'asha' ? { asha: { eta: o.eta, minEpochs: o.minEpochs, maxEpochs } } : {}),
    ...(o.epochBudget !== undefined ? { epochBudget: o.epochBudget } : {}),
    maxTrials: o.trials,
    maxWallTimeMs: o.wallTime,
    concurrency: o.concurrency,
    ...(o.depth !== undefined ? { encoderDepth: o.depth } : {}),
    widthScale: o.width,
    epochs: o.searchEpochs,
    augment: o.augment,
    trialsPerRun: o.trialsPerRun,
    taskQueues: config.taskQueues,
  };
}
