/**
 * FROZEN: the search workflow as released before validation ranking and successive halving (version 1). Runs that
 * started on it replay and finish here. Do not change the commands this code issues; see workflows/search.ts.
 *
 * EDNAS: seeded random search over architectures × encoders × learning rates × batch sizes.
 * Each trial is one training activity on the accelerator queue; a failed trial is recorded, not fatal.
 * The run continues as new every `trialsPerRun` trials; every trial is stored in MinIO, the state keeps the top 20.
 */
import {
  ApplicationFailure, continueAsNew, log, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import {
  bestTrial, LEADERBOARD_SIZE, rankTrials, type SearchInput, type SearchResult, type SearchState, type TrialResult,
  type TrialSpec,
} from '../../contracts';
import { leaderboardQuery, SA, searchProgressQuery, stopSignal } from '../../contracts/messages';
import { activityProxies } from '../proxies';
import { pick, seededRandom } from '../rng';

/** Trial i is drawn from its own stream, so the same seed gives the same trials however runs are split. */
export function trialAtV1(input: Pick<SearchInput, 'seed' | 'space' | 'extraTrials'>, index: number): TrialSpec {
  const extra = input.extraTrials ?? [];
  if (index < extra.length) return { ...extra[index], index };
  const random = seededRandom(input.seed * 7919 + index);
  return {
    index,
    arch: pick(input.space.archs, random),
    encoder: pick(input.space.encoders, random),
    learningRate: pick(input.space.learningRates, random),
    batchSize: pick(input.space.batchSizes, random),
  };
}

function validate(input: SearchInput): void {
  const { space } = input;
  for (const [name, list] of Object.entries(space)) {
    if (!Array.isArray(list) || list.length === 0) throw ApplicationFailure.nonRetryable(`search space '${name}' is empty`, 'InvalidInput');
  }
  if (!(input.maxTrials >= 1)) throw ApplicationFailure.nonRetryable('maxTrials must be ≥ 1', 'InvalidInput');
  if (!(input.concurrency >= 1)) throw ApplicationFailure.nonRetryable('concurrency must be ≥ 1', 'InvalidInput');
  if (!(input.trialsPerRun >= 1)) throw ApplicationFailure.nonRetryable('trialsPerRun must be ≥ 1', 'InvalidInput');
}

export async function searchV1(input: SearchInput): Promise<SearchResult> {
  validate(input);
  const searchId = workflowInfo().workflowId;
  const { light, accel } = activityProxies(input.taskQueues, input.timeouts);

  const state: SearchState = input.state ?? { nextIndex: 0, completed: 0, failed: 0, startedAtMs: Date.now(), top: [] };
  const runStartIndex = state.nextIndex;
  let running = 0;
  let stopRequested = false;

  setHandler(leaderboardQuery, () => rankTrials(state.top));
  // Stop: no new trial starts; those in flight finish and the leaderboard is written.
  setHandler(stopSignal, () => {
    stopRequested = true;
  });
  setHandler(searchProgressQuery, () => ({ completed: state.completed, failed: state.failed, running, maxTrials: input.maxTrials }));

  const publish = () => {
    const best = bestTrial(state.top);
    upsertSearchAttributes([
      { key: SA.stage, value: 'search' },
      { key: SA.dataset, value: input.datasetId },
      ...(best?.iou !== undefined ? [{ key: SA.bestIoU, value: best.iou }] : []),
    ]);
    setCurrentDetails(`**EDNAS search** — ${state.completed} / ${input.maxTrials} trials done (${state.failed} failed)` +
      (best ? `, best IoU ${best.iou?.toFixed(4)}: ${best.arch} + ${best.encoder}, lr ${best.learningRate}, batch ${best.batchSize}` : ''));
  };
  publish();

  const timeLeft = () => input.maxWallTimeMs === undefined || Date.now() - state.startedAtMs < input.maxWallTimeMs;
  const mayStart = () => !stopRequested && state.nextIndex < input.maxTrials && state.nextIndex - runStartIndex < input.trialsPerRun && timeLeft();

  const runTrial = async (spec: TrialSpec): Promise<void> => {
    running += 1;
    let result: TrialResult;
    const started = Date.now();
    try {
      const outcome = await accel.runSearchTrial({
        searchId,
        datasetId: input.datasetId,
        trial: spec,
        encoderDepth: input.encoderDepth,
        widthScale: input.widthScale,
        epochs: input.epochs,
        augment: input.augment,
        seed: input.seed + spec.index,
      });
      result = { ...spec, status: 'ok', ...outcome };
    } catch (error) {
      const cause = (error as { cause?: { message?: string; type?: string } }).cause;
      result = { ...spec, status: 'failed', ms: Date.now() - started, error: cause?.message ?? String(error) };
      log.warn('search trial failed', { index: spec.index, error: result.error });
    }
    running -= 1;
    await light.recordTrial({ searchId, result });
    if (result.status === 'ok') state.completed += 1;
    else state.failed += 1;
    state.top = rankTrials([...state.top, result]).slice(0, LEADERBOARD_SIZE).map(({ rank: _rank, ...t }) => t);
    publish();
  };

  // A bounded pool: at most `concurrency` trials in flight.
  const inFlight = new Set<Promise<void>>();
  while (mayStart()) {
    const spec = trialAtV1(input, state.nextIndex);
    state.nextIndex += 1;
    const promise: Promise<void> = runTrial(spec).finally(() => inFlight.delete(promise));
    inFlight.add(promise);
    if (inFlight.size >= input.concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);

  if (!stopRequested && state.nextIndex < input.maxTrials && timeLeft()) {
    await continueAsNew<(input: SearchInput) => Promise<SearchResult>>({ ...input, state });
  }
  const written = await light.writeLeaderboard({ searchId, datasetId: input.datasetId });
  upsertSearchAttributes([{ key: SA.stage, value: 'search-done' }]);
  return { leaderboard: written.top, leaderboardKey: written.jsonKey, markdownKey: written.markdownKey, trials: state.nextIndex, failed: state.failed };
}
