/**
 * `predict`: a plan's batches on the accelerator queue (a bounded window in flight, so several accelerator workers
 * share the work), then the CSV tables on the light queue. Each batch activity heartbeats per stage and skips a batch
 * whose outputs are already written, so a retry after a crash, or a new run with the same id after a failure,
 * redoes nothing that is done. Progress: the `predictProgress` query. `stop`: no new batch starts; the tables cover
 * the batches done. The run continues as new every `BATCHES_PER_RUN` batches to keep its history short.
 */
import { continueAsNew, defineQuery, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { PredictInput, PredictProgress, PredictResult, PredictState } from '../contracts';
import { SA, stopSignal } from '../contracts/messages';
import { activityProxies } from './proxies';

export const predictProgressQuery = defineQuery<PredictProgress>('predictProgress');

const BATCHES_PER_RUN = 400;
const DEFAULT_PARALLELISM = 2;

export async function predict(input: PredictInput): Promise<PredictResult> {
  const { light, accel } = activityProxies(input.taskQueues, input.timeouts);
  const state: PredictState = input.state ?? { nextBatch: 0, batchesDone: 0, imagesDone: 0, computedBatches: 0, skippedBatches: 0 };
  let stage: PredictProgress['stage'] = 'predicting';
  let stopRequested = false;
  setHandler(predictProgressQuery, () => ({ ...state, stage, batchCount: input.batchCount, imageCount: input.imageCount }));
  setHandler(stopSignal, () => {
    stopRequested = true;
  });
  const publish = () => {
    upsertSearchAttributes([{ key: SA.stage, value: stage === 'done' ? 'predict-done' : 'predict' }]);
    setCurrentDetails(`**Predict** — ${state.imagesDone} / ${input.imageCount} images (${state.batchesDone} / ${input.batchCount} batches; ` +
      `${state.skippedBatches} already written), ${stage}`);
  };
  publish();

  const runEnd = Math.min(input.batchCount, state.nextBatch + BATCHES_PER_RUN);
  const parallelism = Math.max(1, input.parallelism ?? DEFAULT_PARALLELISM);
  const inFlight = new Set<Promise<void>>();
  const runBatch = async (batch: number) => {
    const outcome = await accel.predictImageBatch({ planKey: input.planKey, batch, outputPrefix: input.outputPrefix, model: input.model, options: input.options });
    state.batchesDone += 1;
    state.imagesDone += outcome.images;
    if (outcome.computed) state.computedBatches += 1;
    else state.skippedBatches += 1;
    publish();
  };
  while (state.nextBatch < runEnd && !stopRequested) {
    const promise: Promise<void> = runBatch(state.nextBatch).finally(() => inFlight.delete(promise));
    inFlight.add(promise);
    state.nextBatch += 1;
    if (inFlight.size >= parallelism) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (!stopRequested && state.nextBatch < input.batchCount) {
    await continueAsNew<typeof predict>({ ...input, state });
  }

  stage = 'writing-tables';
  publish();
  // Every batch started has finished: with a stop, the tables cover batches 0 … nextBatch − 1.
  const tables = await light.writePredictionTables({ planKey: input.planKey, outputPrefix: input.outputPrefix, batchCount: state.nextBatch });
  stage = 'done';
  publish();
  return {
    ...tables, outputPrefix: input.outputPrefix, batchCount: input.batchCount, computedBatches: state.computedBatches, skippedBatches: state.skippedBatches,
    ...(stopRequested ? { stopped: true } : {}),
  };
}
