/**
 * EDNAS: search over architectures × encoders × learning rates × batch sizes, configurations sampled without
 * replacement from a seeded permutation of the space. Each job is one training activity on the accelerator queue;
 * a failed trial is recorded, not fatal. Trials train on every labelled training image and are ranked on the
 * validation split; only the winners are then measured on the test split, for the report.
 * - scheduler 'random' (the paper): every configuration trains `epochs`;
 * - scheduler 'asha': asynchronous successive halving over epochs (workflows/asha.ts); a promoted configuration
 *   continues from its checkpoint in MinIO.
 * The run continues as new every `trialsPerRun` jobs; every trial is stored in MinIO, the state keeps the top 20.
 */
import {
  ApplicationFailure, continueAsNew, log, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import {
  type AshaSettings, bestTrial, datasetKeys, LEADERBOARD_SIZE, rankingScore, rankTrials, type SearchInput, type SearchResult,
  type SearchState, spaceSize, type TrialResult, type TrialSpec,
} from '../contracts';
import { type AshaJob, DEFAULT_ETA, jobEpochs, markPromoted, nextJob, recordResult, rungEpochs } from './asha';
import { leaderboardQuery, SA, searchProgressQuery, stopSignal } from '../contracts/messages';
import { activityProxies } from './proxies';
import { permutedIndex } from './rng';

/** Winners measured on the test split once the search ends. */
export const WINNERS_TESTED = 3;

/**
 * Trial i: the given extra trials first, then the configurations of a seeded permutation of the space — no
 * configuration twice, and the same seed gives the same trials however runs are split.
 */
export function trialAt(input: Pick<SearchInput, 'seed' | 'space' | 'extraTrials'>, index: number): TrialSpec {
  const extra = input.extraTrials ?? [];
  if (index < extra.length) return { ...extra[index], index };
  const { space } = input;
  let rest = permutedIndex(index - extra.length, spaceSize(space), input.seed >>> 0);
  const pick = <T>(list: readonly T[]): T => {
    const value = list[rest % list.length];
    rest = Math.floor(rest / list.length);
    return value;
  };
  return { index, arch: pick(space.archs), encoder: pick(space.encoders), learningRate: pick(space.learningRates), batchSize: pick(space.batchSizes) };
}

function validate(input: SearchInput): void {
  const fail = (message: string): never => {
    throw ApplicationFailure.nonRetryable(message, 'InvalidInput');
  };
  for (const [name, list] of Object.entries(input.space)) {
    if (!Array.isArray(list) || list.length === 0) fail(`search space '${name}' is empty`);
  }
  if (!(input.maxTrials >= 1)) fail('maxTrials must be ≥ 1');
  const configurations = spaceSize(input.space) + (input.extraTrials?.length ?? 0);
  if (input.maxTrials > configurations) fail(`maxTrials ${input.maxTrials} is more than the ${configurations} configurations of the space`);
  if (!(input.concurrency >= 1)) fail('concurrency must be ≥ 1');
  if (!(input.trialsPerRun >= 1)) fail('trialsPerRun must be ≥ 1');
  if (input.epochBudget !== undefined && !(input.epochBudget >= 1)) fail('epochBudget must be ≥ 1');
  if (input.scheduler === 'asha') {
    const a = input.asha;
    if (!a || !(a.eta >= 2) || !(Number.isInteger(a.minEpochs) && a.minEpochs >= 1) || !(Number.isInteger(a.maxEpochs) && a.maxEpochs >= a.minEpochs)) {
      fail('asha needs eta ≥ 2 and whole epochs 1 ≤ minEpochs ≤ maxEpochs');
    }
  }
}

export async function search(input: SearchInput): Promise<SearchResult> {
  validate(input);
  const searchId = workflowInfo().workflowId;
  const { light, accel } = activityProxies(input.taskQueues, input.timeouts);
  const asha: AshaSettings | undefined = input.scheduler === 'asha'
    ? { eta: input.asha?.eta ?? DEFAULT_ETA, minEpochs: input.asha!.minEpochs, maxEpochs: input.asha!.maxEpochs }
    : undefined;

  const state: SearchState = input.state ?? { nextIndex: 0, completed: 0, failed: 0, startedAtMs: Date.now(), top: [], epochsSpent: 0, rungs: [] };
  state.epochsSpent ??= 0;
  state.rungs ??= [];
  state.jobsThisRun = 0;
  let running = 0;
  let stopRequested = false;
  /** The latest result of every trial that has one (a promotion replaces its earlier rung's). */
  const latest = new Map<number, TrialResult>(state.top.map((t) => [t.index, t]));

  setHandler(leaderboardQuery, () => rankTrials(state.top));
  // Stop: no new job starts; those in flight finish and the leaderboard is written.
  setHandler(stopSignal, () => {
    stopRequested = true;
  });
  setHandler(searchProgressQuery, () => ({
    completed: state.completed, failed: state.failed, running, maxTrials: input.maxTrials,
    epochsSpent: state.epochsSpent, epochBudget: input.epochBudget, scheduler: input.scheduler ?? 'random',
  }));

  const publish = () => {
    const best = bestTrial(state.top);
    upsertSearchAttributes([
      { key: SA.stage, value: 'search' },
      { key: SA.dataset, value: input.datasetId },
      ...(best ? [{ key: SA.bestIoU, value: rankingScore(best) }] : []),
    ]);
    setCurrentDetails(`**EDNAS search** (${input.scheduler ?? 'random'}) — ${state.completed} / ${input.maxTrials} configurations, ` +
      `${state.epochsSpent} epochs${input.epochBudget ? ` of ${input.epochBudget}` : ''} (${state.failed} failed)` +
      (best ? `, best validation IoU ${rankingScore(best).toFixed(4)}: ${best.arch} + ${best.encoder}, lr ${best.learningRate}, batch ${best.batchSize}` : ''));
  };
  publish();

  const timeLeft = () => input.maxWallTimeMs === undefined || Date.now() - state.startedAtMs < input.maxWallTimeMs;
  const budgetLeft = (epochs: number) => input.epochBudget === undefined || state.epochsSpent! + epochs <= input.epochBudget;
  const specs = new Map<number, TrialSpec>();
  const specOf = (index: number) => {
    if (!specs.has(index)) specs.set(index, trialAt(input, index));
    return specs.get(index)!;
  };

  /** The next job, or none: stopped, out of time, trials or epochs, or (ASHA) nothing to promote yet. */
  const next = (): AshaJob | undefined => {
    if (stopRequested || !timeLeft() || state.jobsThisRun! >= input.trialsPerRun) return undefined;
    if (!asha) return state.nextIndex < input.maxTrials && budgetLeft(input.epochs) ? { kind: 'new', rung: 0 } : undefined;
    const job = nextJob(state.rungs!, asha, state.nextIndex < input.maxTrials);
    return job && budgetLeft(jobEpochs(asha, job)) ? job : undefined;
  };

  const runJob = async (job: AshaJob): Promise<void> => {
    const index = job.kind === 'new' ? state.nextIndex++ : job.index;
    if (job.kind === 'promote') state.rungs = markPromoted(state.rungs!, job.rung - 1, index);
    const spec = specOf(index);
    const epochs = asha ? rungEpochs(asha, job.rung) : input.epochs;
    state.epochsSpent! += asha ? jobEpochs(asha, job) : input.epochs;
    state.jobsThisRun! += 1;
    running += 1;
    let result: TrialResult;
    const started = Date.now();
    try {
      const outcome = await accel.runSearchTrial({
        searchId, datasetId: input.datasetId, trial: spec, encoderDepth: input.encoderDepth, widthScale: input.widthScale,
        ...(input.initWeights ? { initWeights: input.initWeights } : {}), epochs, augment: input.augment, seed: input.seed + spec.index,
      });
      result = { ...spec, status: 'ok', ...outcome, rung: job.rung };
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause;
      result = { ...spec, status: 'failed', ms: Date.now() - started, rung: job.rung, error: cause?.message ?? String(error) };
      log.warn('search trial failed', { index, rung: job.rung, error: result.error });
    }
    running -= 1;
    if (result.status === 'failed' && job.kind === 'promote') {
      // The configuration keeps its result from the rung below; it is not promoted again.
      publish();
      return;
    }
    await light.recordTrial({ searchId, result });
    if (job.kind === 'new') {
      if (result.status === 'ok') state.completed += 1;
      else state.failed += 1;
    }
    if (result.status === 'ok' && asha) state.rungs = recordResult(state.rungs!, job.rung, index, result.valIoU!);
    latest.set(index, result);
    state.top = rankTrials([...latest.values()]).slice(0, LEADERBOARD_SIZE).map(({ rank: _rank, ...t }) => t);
    for (const key of [...latest.keys()]) if (!state.top.some((t) => t.index === key)) latest.delete(key);
    publish();
  };

  // A bounded pool: at most `concurrency` jobs in flight; an ASHA worker that finds nothing to do waits for a result.
  const inFlight = new Set<Promise<void>>();
  for (;;) {
    const job = next();
    if (!job) {
      if (inFlight.size === 0) break;
      await Promise.race(inFlight);
      continue;
    }
    const promise: Promise<void> = runJob(job).finally(() => inFlight.delete(promise));
    inFlight.add(promise);
    if (inFlight.size >= input.concurrency) await Promise.race(inFlight);
  }

  const moreWork = () => {
    if (stopRequested || !timeLeft()) return false;
    if (!asha) return state.nextIndex < input.maxTrials && budgetLeft(input.epochs);
    const job = nextJob(state.rungs!, asha, state.nextIndex < input.maxTrials);
    return job !== undefined && budgetLeft(jobEpochs(asha, job));
  };
  if (state.jobsThisRun! >= input.trialsPerRun && moreWork()) {
    await continueAsNew<typeof search>({ ...input, state });
  }

  // The winners, measured on the test split for the report (the ranking is already fixed by validation).
  const testKey = datasetKeys.split(input.datasetId, 'test');
  for (const winner of rankTrials(state.top).filter((t) => t.status === 'ok' && t.modelKey).slice(0, WINNERS_TESTED)) {
    const test = await accel.evaluateSegmentationModel({ datasetId: input.datasetId, modelKey: winner.modelKey!, idsKey: testKey, batchSize: winner.batchSize });
    const { rank: _rank, ...trial } = winner;
    const tested: TrialResult = { ...trial, testIoU: test.iou, testDice: test.dice };
    await light.recordTrial({ searchId, result: tested });
    state.top = state.top.map((t) => (t.index === tested.index ? tested : t));
  }
  const written = await light.writeLeaderboard({ searchId, datasetId: input.datasetId });
  upsertSearchAttributes([{ key: SA.stage, value: 'search-done' }]);
  return { leaderboard: written.top, leaderboardKey: written.jsonKey, markdownKey: written.markdownKey, trials: state.nextIndex, failed: state.failed };
}
