/**
 * Active learning, one phase per run (continueAsNew between phases):
 *   train the pair (segmentation without dropout, uncertainty with dropout) → evaluate on the validation and test
 *   splits → stop? → MC-sample and score the pool → select K → the segmentation model's drafts of the K images →
 *   publish a labelling request → wait for masks → close the phase → merge (each mask verified) → next phase.
 * Lists of ids live in MinIO; the state holds their keys and counts, whatever the pool size. The state is also
 * written to `runs/<id>/state.json` at every phase boundary, so `--resume-from` can continue a run that failed.
 * The steps are in workflows/al/steps.ts, the run's state, status and handlers in workflows/al/run.ts.
 */
import { ApplicationFailure, continueAsNew } from '@temporalio/workflow';
import {
  ACQUISITION_FUNCTIONS, type ActiveLearningInput, type ActiveLearningResult, isAcquisitionFunction, isEvaluationSplit, SCORE_BLOCK,
} from '../contracts';
import { openRun } from './al/run';
import { answerFromOracle, evaluatePhase, finish, mergeLabels, requestLabels, scoreAndSelect, stopRule, trainPair, waitAndClose } from './al/steps';

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
}

export async function activeLearning(input: ActiveLearningInput): Promise<ActiveLearningResult> {
  validate(input);
  const run = openRun(input);
  const { state } = run;
  if (!input.state) {
    Object.assign(state, await run.light.initActiveLearning({
      runId: run.runId, datasetId: input.datasetId, resumeFrom: input.resumeFrom, initialSeed: input.initialSeed,
    }));
  }
  if (state.stopRequested) return finish(run, 'stopped');

  const pair = await trainPair(run);
  const record = await evaluatePhase(run, pair);
  const reason = stopRule(run, record);
  if (reason) return finish(run, reason);

  const selection = await scoreAndSelect(run, pair, record);
  const { pushing } = await requestLabels(run, pair, selection);
  const waitStarted = Date.now();
  if (input.oracle) await answerFromOracle(run);
  for (;;) {
    await waitAndClose(run, pushing);
    if (state.pending!.received.length === 0) return finish(run, 'stopped');
    if (await mergeLabels(run, record, waitStarted)) break;
  }
  if (state.stopRequested) return finish(run, 'stopped');
  return continueAsNew<typeof activeLearning>({ ...input, state });
}
