/**
 * Active learning, one phase per run (continueAsNew between phases):
 *   train the pair (segmentation without dropout, uncertainty with dropout) → evaluate on the validation and test
 *   splits → stop? → MC-sample and score the pool → select K → the segmentation model's drafts of the K images →
 *   publish a labelling request → wait for masks → close the phase → merge (each mask verified) → next phase.
 * On a dataset without enough masks the run first asks doctors for the validation, test and initial frames; their
 * masks make a labelled dataset, on which the run continues (as new) from phase 1.
 * Lists of ids live in MinIO; the state holds their keys and counts, whatever the pool size. The state is also
 * written to `runs/<id>/state.json` at every phase boundary, so `--resume-from` can continue a run that failed.
 * The steps are in workflows/al/steps.ts, the run's state, status and handlers in workflows/al/run.ts.
 */
import { ApplicationFailure, continueAsNew, patched } from '@temporalio/workflow';
import {
  ACQUISITION_FUNCTIONS, type ActiveLearningInput, type ActiveLearningResult, type BootstrapRequestPlan, isAcquisitionFunction, isEvaluationSplit, type LabelRequest,
  isSelectionMode, isSemiSupervisedMode, SCORE_BLOCK, SEMI_SUPERVISED_MODES, selectionProblem,
} from '../contracts';
import { type AlRun, openRun } from './al/run';
import {
  answerFromOracle, completeBootstrap, evaluatePhase, finish, makePseudoLabels, mergeLabels, pseudoLabelling, requestBootstrapLabels, requestLabels,
  retryWarmFromScratch, scoreAndSelect, stopRule, trainPair, waitAndClose,
} from './al/steps';

/** Versioning marker: warm-started phases whose model fell on validation are retried from scratch (runs started before replay without). */
export const WARM_START_RETRY = 'al-warm-start-retry';

function validate(input: ActiveLearningInput): void {
  const fail = (message: string) => {
    throw ApplicationFailure.nonRetryable(message, 'InvalidInput');
  };
  if (!(input.labelsPerPhase >= 1)) fail('labelsPerPhase must be ≥ 1');
  if (!(input.mcSamples >= 1)) fail('mcSamples must be ≥ 1');
  if (!(input.targetIoU > 0 && input.targetIoU <= 1)) fail('targetIoU must be in (0, 1]');
  if (!(input.maxLabelled >= 1)) fail('maxLabelled must be ≥ 1');
  if (!(input.maxPhases >= 1)) fail('maxPhases must be ≥ 1');
  if (!(input.reminderEveryMs >= 1000)) fail('reminderEveryMs must be at least 1000');
  if (!isAcquisitionFunction(input.acquisition)) fail(`unknown acquisition function '${input.acquisition}'; use one of ${ACQUISITION_FUNCTIONS.join(', ')}`);
  if (input.stopOn !== undefined && !isEvaluationSplit(input.stopOn)) fail(`stopOn must be 'validation' or 'test'`);
  if (input.scoreShardSize !== undefined && !(input.scoreShardSize > 0 && input.scoreShardSize % SCORE_BLOCK === 0)) {
    fail(`scoreShardSize must be a positive multiple of ${SCORE_BLOCK}`);
  }
  const pairing = selectionProblem(input.acquisition, input.selection);
  if (pairing) fail(pairing);
  if (input.initialCount !== undefined && !(Number.isInteger(input.initialCount) && input.initialCount >= 1)) fail('initialCount must be a whole number ≥ 1');
  if (input.semiSupervised !== undefined && !isSemiSupervisedMode(input.semiSupervised)) {
    fail(`unknown semi-supervised mode '${input.semiSupervised}'; use one of ${SEMI_SUPERVISED_MODES.join(', ')}`);
  }
  if (input.auto) {
    if (!(input.auto.candidates.length >= 2)) fail('auto needs at least two candidates to choose between');
    if (!(Number.isInteger(input.auto.explorePhases) && input.auto.explorePhases >= 1)) fail('auto.explorePhases must be a whole number ≥ 1');
    for (const c of input.auto.candidates) {
      if (!isAcquisitionFunction(c.acquisition) || !isSelectionMode(c.selection)) fail(`auto candidate '${c.name}' is not <function>[:<selection>]`);
      const problem = selectionProblem(c.acquisition, c.selection);
      if (problem) fail(`auto candidate '${c.name}': ${problem}`);
    }
  }
  if (input.pseudoLabelIoU !== undefined && !(input.pseudoLabelIoU > 0 && input.pseudoLabelIoU <= 1)) fail('pseudoLabelIoU must be in (0, 1]');
  if (input.evalFramesPerVideo !== undefined && !(Number.isInteger(input.evalFramesPerVideo) && input.evalFramesPerVideo >= 1)) {
    fail('evalFramesPerVideo must be a whole number ≥ 1');
  }
}

/** A request closed (stopped) before any mask or unusable mark came. */
const nothingAnswered = (pending: LabelRequest) => pending.received.length === 0 && !pending.unusable?.length;

/** The first request of a run on a dataset without enough masks; the run continues as new on the dataset they make. */
async function bootstrap(run: AlRun, plan: BootstrapRequestPlan): Promise<ActiveLearningResult> {
  const { input, state } = run;
  if (input.oracle) {
    throw ApplicationFailure.nonRetryable(`oracle mode answers from the dataset's own masks, and dataset '${input.datasetId}' lacks the ones this run needs`, 'InvalidInput');
  }
  const { pushing } = await requestBootstrapLabels(run, plan);
  for (;;) {
    await waitAndClose(run, pushing);
    if (nothingAnswered(state.pending!)) return finish(run, 'stopped');
    const datasetId = await completeBootstrap(run);
    if (datasetId === undefined) continue;
    if (input.bootstrapOnly) return { ...(await finish(run, 'labelled')), labelledDatasetId: datasetId };
    if (state.stopRequested) return finish(run, 'stopped');
    return continueAsNew<typeof activeLearning>({ ...input, datasetId, bootstrappedFrom: input.datasetId, state: undefined });
  }
}

export async function activeLearning(input: ActiveLearningInput): Promise<ActiveLearningResult> {
  validate(input);
  const run = openRun(input);
  const { state } = run;
  if (!input.state) {
    const fresh = !input.resumeFrom && input.initialSeed === undefined;
    const start = await run.light.initActiveLearning({
      runId: run.runId, datasetId: input.datasetId, resumeFrom: input.resumeFrom, initialSeed: input.initialSeed,
      ...(fresh && !input.bootstrappedFrom
        ? { bootstrap: { initialCount: input.initialCount, evalFramesPerVideo: input.evalFramesPerVideo, seed: input.hyper.seed } } : {}),
      ...(input.bootstrappedFrom ? { firstPhase: 1 } : {}),
    });
    const { bootstrap: plan, ...keys } = start;
    if (plan) return bootstrap(run, plan);
    Object.assign(state, keys);
  }
  if (state.stopRequested) return finish(run, 'stopped');

  let pair = await trainPair(run);
  let record = await evaluatePhase(run, pair);
  if (input.warmStart && patched(WARM_START_RETRY)) ({ pair, record } = await retryWarmFromScratch(run, pair, record));
  const reason = stopRule(run, record);
  if (reason) return finish(run, reason);

  const selection = await scoreAndSelect(run, pair, record);
  const { pushing } = await requestLabels(run, pair, selection);
  const waitStarted = Date.now();
  // Pseudo-labels for the next phase are made while doctors label (only with --semi-supervised pseudo-label).
  const pseudo = pseudoLabelling(input) ? makePseudoLabels(run, pair, selection) : undefined;
  if (input.oracle) await answerFromOracle(run);
  for (;;) {
    await waitAndClose(run, pushing);
    if (nothingAnswered(state.pending!)) return finish(run, 'stopped');
    if (await mergeLabels(run, record, waitStarted)) break;
  }
  if (pseudo) await pseudo;
  if (state.stopRequested) return finish(run, 'stopped');
  return continueAsNew<typeof activeLearning>({ ...input, state });
}
