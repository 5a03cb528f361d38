/**
 * The named steps of one active-learning phase (workflows/activeLearning.ts tells the story):
 * train the pair → evaluate → (stop?) → score and select → request labels → wait → merge.
 * Each issues the same activities, in the same order, as the recorded histories expect.
 */
import { allHandlersFinished, condition, log } from '@temporalio/workflow';
import {
  type AcquisitionFunction, type ActiveLearningResult, type BootstrapRequestPlan, DEFAULT_PSEUDO_LABEL_IOU, isUncertaintyFunction, needsUncertaintyModel, selectionNeeds, type PhaseRecord, runKeys, SCORE_BLOCK, type StopReason, type TrainOutcome,
} from '../../contracts';
import { bestEffortActivityProxies } from '../proxies';
import { remainingIds, unreplacedUnusable } from '../submissions';
import { exploring, judgePhase, meanErrors, phaseChoices, splitK } from './auto';
import type { AlRun } from './run';

/** Pool images per scoring shard unless the input says otherwise. */
export const DEFAULT_SCORE_SHARD_SIZE = 4 * SCORE_BLOCK;

export interface TrainedPair {
  seg: TrainOutcome;
  /** Absent for acquisition functions that need no uncertainty model ('random'). */
  unc?: TrainOutcome;
  trainMs: number;
  /** Started from the previous phase's models. */
  warm: boolean;
}

/**
 * 1. The segmentation model (no dropout) and the uncertainty model (with dropout), in parallel; from the previous
 * phase's models with warm starts, unless `start` is 'scratch' (the retry of `retryWarmFromScratch`).
 */
export async function trainPair(run: AlRun, start: 'default' | 'scratch' = 'default'): Promise<TrainedPair> {
  const { input, state, runId } = run;
  run.publish(start === 'scratch' ? 'training-from-scratch' : 'training');
  // The best epoch on the validation split is what a phase keeps (when the dataset has one).
  const common = {
    runId, datasetId: input.datasetId, trainItemsKey: state.labelledKey, model: input.model, hyper: input.hyper,
    ...(state.valKey && state.valCount ? { valIdsKey: state.valKey } : {}),
  };
  const started = Date.now();
  const scratch = start === 'scratch';
  const from = input.warmStart && !scratch ? state.previousModels : undefined;
  const [seg, unc] = await Promise.all([
    run.accel.trainSegmentationModel({
      ...common, outputPrefix: (scratch ? runKeys.segmentationModelFromScratch : runKeys.segmentationModel)(runId, state.phase),
      dropout: { strategy: 'none', rate: 0 }, ...(from ? { initFrom: from.seg } : {}),
      ...(state.pseudoLabels?.count ? { extraItemsKey: state.pseudoLabels.key } : {}),
      ...(input.semiSupervised === 'mean-teacher' ? { unlabelledKey: state.poolKey } : {}),
    }),
    // Pseudo-labelling needs the uncertainty model's judgement even when the acquisition is random.
    needsUncertainty(run) || pseudoLabelling(input)
      ? run.accel.trainSegmentationModel({
        ...common, outputPrefix: (scratch ? runKeys.uncertaintyModelFromScratch : runKeys.uncertaintyModel)(runId, state.phase),
        dropout: input.dropout, hyper: { ...input.hyper, seed: input.hyper.seed + 1 },
        ...(from?.unc ? { initFrom: from.unc } : {}),
      })
      : Promise.resolve(undefined),
  ]);
  const pair: TrainedPair = { seg, unc, trainMs: Date.now() - started, warm: from !== undefined };
  rememberForWarmStart(run, pair);
  return pair;
}

/** Whether this phase's selection scores with the uncertainty model (auto: any strategy in play does). */
function needsUncertainty(run: AlRun): boolean {
  const { input, state } = run;
  return input.auto ? phaseChoices(input, state).some((c) => needsUncertaintyModel(c.acquisition)) : needsUncertaintyModel(input.acquisition);
}

/** The next phase warm-starts from this pair (with warm starts). */
function rememberForWarmStart(run: AlRun, pair: TrainedPair): void {
  if (run.input.warmStart) run.state.previousModels = { seg: pair.seg.modelKey, ...(pair.unc ? { unc: pair.unc.modelKey } : {}) };
}

/** 2. The segmentation model on the validation split (what the stop rule reads) and the test split (reported only). */
export async function evaluatePhase(run: AlRun, pair: TrainedPair): Promise<PhaseRecord> {
  const record = await evaluatePair(run, pair);
  run.state.history = [...run.state.history, record];
  run.publish('evaluated');
  log.info('phase evaluated', { phase: record.phase, valIoU: record.valIoU, testIoU: record.iou, labelled: record.labelled });
  return record;
}

/**
 * 2b. A warm-started pair whose segmentation model did worse on validation than the previous phase's — as one that
 * started from a model collapsed to background does, whatever labels are added — is trained again from scratch, and
 * the phase keeps the better of the two on validation (test only reports). Without a validation split: no retry.
 */
export async function retryWarmFromScratch(run: AlRun, pair: TrainedPair, record: PhaseRecord): Promise<{ pair: TrainedPair; record: PhaseRecord }> {
  const { state } = run;
  const previous = state.history.at(-2);
  if (!pair.warm || record.valIoU === undefined || previous?.valIoU === undefined || record.valIoU >= previous.valIoU) return { pair, record };
  log.info('warm start fell on validation; training the pair again from scratch', { phase: state.phase, warm: record.valIoU, previous: previous.valIoU });
  const scratch = await trainPair(run, 'scratch');
  const scratchRecord = await evaluatePair(run, scratch);
  const keepScratch = scratchRecord.valIoU! > record.valIoU;
  const kept = keepScratch ? scratch : pair;
  const keptRecord: PhaseRecord = {
    ...(keepScratch ? scratchRecord : record), trainMs: pair.trainMs + scratch.trainMs,
    warmRetry: { warmValIoU: record.valIoU, scratchValIoU: scratchRecord.valIoU!, kept: keepScratch ? 'scratch' : 'warm' },
  };
  state.history = [...state.history.slice(0, -1), keptRecord];
  rememberForWarmStart(run, kept);
  run.publish('evaluated');
  return { pair: kept, record: keptRecord };
}

/** The pair's segmentation model on validation and test, as the phase's record (not yet in the history). */
async function evaluatePair(run: AlRun, pair: TrainedPair): Promise<PhaseRecord> {
  const { input, state } = run;
  run.publish('evaluating');
  const evaluate = (idsKey: string) => run.accel.evaluateSegmentationModel({
    datasetId: input.datasetId, modelKey: pair.seg.modelKey, idsKey, batchSize: input.hyper.batchSize, ...engineOf(input),
  });
  const [validation, test] = await Promise.all([
    state.valKey && state.valCount ? evaluate(state.valKey) : Promise.resolve(undefined),
    evaluate(state.testKey),
  ]);
  const record: PhaseRecord = {
    phase: state.phase, labelled: state.labelledCount, iou: test.iou, dice: test.dice, valIoU: validation?.iou, valDice: validation?.dice,
    acquisition: input.acquisition, trainMs: pair.trainMs, segResumedFromEpoch: pair.seg.resumedFromEpoch, segAttempts: pair.seg.attempt,
    ...(test.videos !== undefined ? { testVideos: test.videos } : {}),
    ...(test.iouHalfWidth !== undefined ? { testIoUHalfWidth: test.iouHalfWidth } : {}),
    ...(state.pseudoLabels?.count ? { pseudoLabels: state.pseudoLabels.count } : {}),
  };
  return record;
}

/** 3. Why the run stops after this phase's evaluation, if it does (`maxPhases` counts trained phases). */
export function stopRule(run: AlRun, record: PhaseRecord): StopReason | undefined {
  const { input, state } = run;
  const stopIoU = run.stopSplit() === 'validation' ? record.valIoU! : record.iou;
  if (stopIoU >= input.targetIoU) return 'target-reached';
  if (state.labelledCount >= input.maxLabelled) return 'budget-spent';
  if (state.poolCount === 0) return 'pool-empty';
  if (state.history.length >= input.maxPhases) return 'max-phases';
  if (state.stopRequested) return 'stopped';
  return undefined;
}

/** 4. Score the pool (`scoreInShards`), then select K: a run's selections repeat, as its dropout is seeded. */
export async function scoreAndSelect(run: AlRun, pair: TrainedPair, record: PhaseRecord): Promise<{ ids: string[]; scoresKey: string; reserve: string[] }> {
  const { input, state, runId } = run;
  run.publish('scoring');
  const started = Date.now();
  const k = Math.min(input.labelsPerPhase, state.poolCount, input.maxLabelled - state.labelledCount);
  if (input.auto) return scoreAndSelectAuto(run, pair, record, k, started);
  const scoresKey = await scoreInShards(run, pair, { acquisition: input.acquisition, needs: selectionNeeds(input.selection) });
  const selection = await run.light.selectForLabelling({
    scoresKey, datasetId: input.datasetId, k, maxPerGroup: input.maxPerGroup,
    selection: input.selection, beta: input.selectionBeta, seed: input.hyper.seed, phase: state.phase,
  });
  record.scoreMs = Date.now() - started;
  return { ids: selection.ids, scoresKey, reserve: selection.reserve ?? [] };
}

/**
 * MC-samples and scores the pool in shards, one activity each (so several accelerator workers score one pool;
 * dropout is seeded from the run's seed and phase), and puts them together: the phase's scores key.
 */
async function scoreInShards(
  run: AlRun, pair: TrainedPair, what: { acquisition: AcquisitionFunction; functions?: AcquisitionFunction[]; needs: { features: boolean; areas: boolean } },
): Promise<string> {
  const { input, state, runId } = run;
  const request = {
    runId, phase: state.phase, datasetId: input.datasetId, poolKey: state.poolKey, modelKey: pair.unc?.modelKey,
    acquisition: what.acquisition, ...(what.functions ? { functions: what.functions } : {}), reduce: input.reduce, samples: input.mcSamples, mode: input.mcMode,
    batchSize: input.hyper.batchSize, seed: input.hyper.seed + state.phase,
    ...(what.needs.features ? { features: true } : {}), ...(what.needs.areas ? { areas: true } : {}), ...engineOf(input),
  };
  const shardSize = input.scoreShardSize ?? DEFAULT_SCORE_SHARD_SIZE;
  const shards = Math.ceil(state.poolCount / shardSize);
  await Promise.all(Array.from({ length: shards }, (_, shard) => run.accel.scorePoolShard({ ...request, shard, shardSize })));
  return (await run.light.mergeScoreShards({ runId, phase: state.phase, shards })).scoresKey;
}

/**
 * 4 (auto). While exploring, K split among the candidates (each picks its share by its own function and mode from one
 * scoring of every function they use); then the chosen candidate alone. The picks wait in the state for their masks.
 */
async function scoreAndSelectAuto(run: AlRun, pair: TrainedPair, record: PhaseRecord, k: number, started: number): Promise<{ ids: string[]; scoresKey: string; reserve: string[] }> {
  const { input, state } = run;
  const parts = splitK(k, phaseChoices(input, state), state.phase);
  const functions = [...new Set(parts.map((p) => p.choice.acquisition))];
  const needs = parts.map((p) => selectionNeeds(p.choice.selection)).reduce((a, b) => ({ features: a.features || b.features, areas: a.areas || b.areas }));
  const scoresKey = await scoreInShards(run, pair, { acquisition: functions.find((fn) => fn !== 'random') ?? 'random', functions, needs });
  const selection = await run.light.selectForLabelling({
    scoresKey, datasetId: input.datasetId, k, maxPerGroup: input.maxPerGroup, seed: input.hyper.seed, phase: state.phase,
    parts: parts.map((p) => ({ name: p.choice.name, acquisition: p.choice.acquisition, selection: p.choice.selection, beta: p.choice.beta, k: p.k })),
  });
  if (exploring(input, state)) {
    state.auto = { ...(state.auto ?? { tallies: {}, judgedPhases: 0 }), picks: selection.picks, judgeModelKey: pair.seg.modelKey };
    record.auto = { picked: Object.fromEntries(Object.entries(selection.picks ?? {}).map(([name, ids]) => [name, ids.length])) };
  } else {
    record.auto = { selectedBy: state.auto!.chosen! };
  }
  record.scoreMs = Date.now() - started;
  return { ids: selection.ids, scoresKey, reserve: selection.reserve ?? [] };
}

/**
 * 7 (auto). An explored phase's picks judged once their masks are merged: the phase's segmentation model's error on
 * each candidate's frames joins its tally, and after the last explored phase the candidate with the highest mean
 * error is chosen (workflows/al/auto.ts).
 */
async function judgeAutoPicks(run: AlRun, record: PhaseRecord, received: { id: string; maskKey: string }[]): Promise<void> {
  const { input, state } = run;
  const auto = state.auto!;
  const judged = await run.accel.judgeCandidatePicks({
    datasetId: input.datasetId, modelKey: auto.judgeModelKey!, picks: auto.picks!, items: received.map(({ id, maskKey }) => ({ id, maskKey })),
    batchSize: input.hyper.batchSize,
  });
  const { picks: _picks, judgeModelKey: _model, ...rest } = auto;
  state.auto = judgePhase(input.auto!, rest, judged.errors);
  record.auto = { ...record.auto, error: meanErrors(judged.errors) };
  if (state.auto.chosen) log.info('auto chose its strategy', { phase: state.phase, chosen: state.auto.chosen, meanError: meanErrors(state.auto.tallies) });
}

/**
 * 5. The segmentation model's drafts of the selected images (doctors correct drafts), then the labelling request;
 * returns the Label Studio push, which runs beside the wait (one way in among others: CLI, POST /labels) — if Label
 * Studio cannot take the tasks, the run says so in its status and keeps waiting.
 */
export async function requestLabels(run: AlRun, pair: TrainedPair, selection: { ids: string[]; scoresKey: string; reserve: string[] }): Promise<{ pushing: Promise<void> }> {
  const { input, state, runId } = run;
  const drafts = input.oracle ? undefined
    : await run.accel.predictMasks({ runId, phase: state.phase, datasetId: input.datasetId, modelKey: pair.seg.modelKey, ids: selection.ids, batchSize: input.hyper.batchSize });
  const request = await run.light.publishLabellingRequest({
    runId, phase: state.phase, datasetId: input.datasetId, ids: selection.ids, scoresKey: selection.scoresKey, predictionsPrefix: drafts?.prefix,
    maskLabel: input.maskLabel,
  });
  state.pending = { phase: state.phase, requestKey: request.requestKey, ids: selection.ids, received: [], requestedAtMs: Date.now(), reminders: 0, overdue: false };
  if (selection.reserve.length > 0) state.pending.reserve = selection.reserve.map((id) => ({ id }));
  run.publish('waiting-labels');
  return { pushing: pushToLabelStudio(run) };
}

/** The request's push to the run's Label Studio project, beside the wait (resolved at once without one). */
function pushToLabelStudio(run: AlRun): Promise<void> {
  const { input, state } = run;
  if (!input.labelStudio || input.oracle) return Promise.resolve();
  return bestEffortActivityProxies(input.taskQueues.light).pushToLabelStudio({ requestKey: state.pending!.requestKey, project: input.labelStudio.project })
    .then(() => undefined, (error: unknown) => {
      const reason = `Label Studio did not take the request: ${(error as { cause?: Error }).cause?.message ?? (error as Error).message}`;
      run.recordInvalid([{ phase: state.phase, reason }]);
      log.warn('label studio push failed', { phase: state.phase, reason });
    });
}

/**
 * A run on a dataset without enough masks: its first request asks for the validation, test and initial frames
 * (initActiveLearning's plan); the frames it does not use stay in reserve for ones doctors mark unusable.
 */
export async function requestBootstrapLabels(run: AlRun, plan: BootstrapRequestPlan): Promise<{ pushing: Promise<void> }> {
  const { input, state, runId } = run;
  const purposes = Object.fromEntries(plan.frames.map((f) => [f.id, f.purpose]));
  const ids = plan.frames.map((f) => f.id);
  const request = await run.light.publishLabellingRequest({ runId, phase: state.phase, datasetId: input.datasetId, ids, purposes, maskLabel: input.maskLabel });
  state.pending = {
    phase: state.phase, requestKey: request.requestKey, ids, received: [], requestedAtMs: Date.now(), reminders: 0, overdue: false,
    purposes, reserve: plan.reserve,
  };
  run.publish('waiting-labels');
  return { pushing: pushToLabelStudio(run) };
}

/**
 * Puts reserve frames in the place of frames doctors marked unusable (the same purpose for the first request),
 * adds them to the published request and pushes it again to Label Studio. A frame with no reserve left is not
 * replaced: the request shrinks.
 */
async function replaceUnusable(run: AlRun): Promise<void> {
  const pending = run.state.pending!;
  const replacementOf = { ...(pending.replacementOf ?? {}) };
  const added: string[] = [];
  for (const id of unreplacedUnusable(pending)) {
    const purpose = pending.purposes?.[id];
    const index = (pending.reserve ?? []).findIndex((r) => r.purpose === purpose && !pending.ids.includes(r.id));
    if (index < 0) {
      replacementOf[id] = '';
      continue;
    }
    const [next] = pending.reserve!.splice(index, 1);
    replacementOf[id] = next.id;
    added.push(next.id);
    pending.ids = [...pending.ids, next.id];
    if (purpose) pending.purposes = { ...pending.purposes, [next.id]: purpose };
  }
  pending.replacementOf = replacementOf;
  if (added.length === 0) return;
  await run.light.extendLabellingRequest({ requestKey: pending.requestKey, ids: added, ...(pending.purposes ? { purposes: pending.purposes } : {}) });
  run.publish('waiting-labels');
  await pushToLabelStudio(run);
}

/**
 * The run's engine for evaluation and scoring requests, only when it recorded one: a run recorded without one sends
 * the same requests as before (its activities then read `tf`), so its history replays unchanged without a patch.
 */
function engineOf(input: AlRun['input']): { engine?: AlRun['input']['engine'] } {
  return input.engine ? { engine: input.engine } : {};
}

/** Whether the run trains on pseudo-labels of the pool (`--semi-supervised pseudo-label`). */
export function pseudoLabelling(input: AlRun['input']): boolean {
  return input.semiSupervised === 'pseudo-label';
}

/**
 * 5b. Pseudo-labels for the next phase (beside the wait for doctors): the pool frames this phase's uncertainty model
 * is sure about — sure as measured on the validation split — with the segmentation model's masks, at most as many as
 * the real masks; never a frame just requested. Without a validation split there is nothing to measure sureness on:
 * no pseudo-labels.
 */
export async function makePseudoLabels(run: AlRun, pair: TrainedPair, selection: { ids: string[]; scoresKey: string }): Promise<void> {
  const { input, state, runId } = run;
  if (!pseudoLabelling(input) || !pair.unc || !state.valKey || !state.valCount) {
    state.pseudoLabels = undefined;
    return;
  }
  const made = await run.accel.makePseudoLabels({
    runId, phase: state.phase, datasetId: input.datasetId, valKey: state.valKey, poolKey: state.poolKey, scoresKey: selection.scoresKey,
    exclude: selection.ids, uncertaintyModelKey: pair.unc.modelKey, segmentationModelKey: pair.seg.modelKey,
    fn: isUncertaintyFunction(input.acquisition) ? input.acquisition : 'mfe', reduce: input.reduce, samples: input.mcSamples, mode: input.mcMode,
    batchSize: input.hyper.batchSize, seed: input.hyper.seed + state.phase, targetIoU: input.pseudoLabelIoU ?? DEFAULT_PSEUDO_LABEL_IOU,
    maxCount: state.labelledCount,
  });
  state.pseudoLabels = { key: made.itemsKey, count: made.count };
  log.info('pseudo-labels made', { phase: state.phase, count: made.count, threshold: made.threshold, validationIoU: made.validationIoU });
}

/** 6a. Benchmark mode: the oracle answers the request at once with the dataset's own masks. */
export async function answerFromOracle(run: AlRun): Promise<void> {
  const { input, state } = run;
  const ids = state.pending!.ids;
  const answer = await run.light.oracleLabels({ datasetId: input.datasetId, ids, withHashes: true });
  run.receive({ phase: state.phase, items: answer.items.map((item) => ({ ...item, contentHash: item.contentHash!, foreground: item.foreground!, source: 'oracle' })) });
}

/**
 * 6b. Waits until every requested mask is in or a stop is requested — doctors may take days; a reminder is recorded
 * each `reminderEveryMs` — then closes the request: later submissions are refused (naming the phase), and none is
 * left half-handled.
 */
export async function waitAndClose(run: AlRun, pushing: Promise<void>): Promise<void> {
  const { input, state, runId } = run;
  const pending = state.pending!;
  const complete = () => remainingIds(pending).length === 0 && unreplacedUnusable(pending).length === 0;
  while (!complete() && !state.stopRequested) {
    const answered = await condition(() => complete() || state.stopRequested || unreplacedUnusable(pending).length > 0, input.reminderEveryMs);
    if (unreplacedUnusable(pending).length > 0) {
      await replaceUnusable(run);
      continue;
    }
    if (!answered) {
      pending.reminders += 1;
      pending.overdue = true;
      log.warn('labelling request overdue', { phase: state.phase, requestKey: pending.requestKey, reminders: pending.reminders });
      await run.light.recordReminder({ runId, phase: state.phase, requestKey: pending.requestKey, reminders: pending.reminders, remaining: remainingIds(pending) });
      run.publish('waiting-labels');
    }
  }
  pending.closed = true;
  await pushing;
  await condition(allHandlersFinished);
}

/**
 * 7. Merges the received masks into the next phase's labelled set and pool, each verified against what was accepted.
 * True when merged (the state moves to the next phase); false when some mask changed since it was accepted: those go
 * back to the doctors and the request reopens.
 */
export async function mergeLabels(run: AlRun, record: PhaseRecord, waitStarted: number): Promise<boolean> {
  const { input, state, runId } = run;
  const pending = state.pending!;
  run.publish('merging');
  const merged = await run.light.mergePhaseLabels({
    runId, phase: state.phase, datasetId: input.datasetId, labelledKey: state.labelledKey, poolKey: state.poolKey, items: pending.received,
    ...(pending.unusable?.length ? { unusable: pending.unusable } : {}),
  });
  if (merged.invalid.length === 0) {
    if (state.auto?.picks) await judgeAutoPicks(run, record, pending.received.filter((r) => !r.unusable));
    record.waitMs = Date.now() - waitStarted;
    record.received = pending.received.length;
    record.replaced = pending.replacedCount ?? 0;
    Object.assign(state, {
      phase: state.phase + 1,
      labelledKey: merged.labelledKey!,
      labelledCount: merged.labelledCount!,
      poolKey: merged.poolKey!,
      poolCount: merged.poolCount!,
      pending: undefined,
    });
    await run.light.writeRunCheckpoint({ runId, datasetId: input.datasetId, state });
    return true;
  }
  reopen(run, merged.invalid);
  return false;
}

/** Masks that changed after they were accepted go back to the doctors: the request reopens for them. */
function reopen(run: AlRun, invalid: { id: string; reason: string }[]): void {
  const { state } = run;
  const pending = state.pending!;
  const bad = new Set(invalid.map((i) => i.id));
  pending.received = pending.received.filter((r) => !bad.has(r.id));
  run.recordInvalid(invalid.map((i) => ({ phase: state.phase, id: i.id, reason: i.reason })));
  pending.closed = false;
  log.warn('masks changed after they were accepted; asking for them again', { phase: state.phase, ids: [...bad] });
  run.publish('waiting-labels');
}

/**
 * The first request's masks make a new dataset (the evaluation and initial sets labelled); its id, or undefined when
 * some mask changed after it was accepted (the request reopens for those).
 */
export async function completeBootstrap(run: AlRun): Promise<string | undefined> {
  const { input, state, runId } = run;
  const pending = state.pending!;
  run.publish('merging');
  const made = await run.light.completeBootstrap({
    runId, datasetId: input.datasetId, requestKey: pending.requestKey, items: pending.received, unusable: pending.unusable ?? [],
  });
  if (made.invalid.length > 0) {
    reopen(run, made.invalid);
    return undefined;
  }
  return made.datasetId!;
}

/** The end of a run: state and report written once every handler has finished. */
export async function finish(run: AlRun, reason: StopReason): Promise<ActiveLearningResult> {
  const { input, state, runId } = run;
  run.markDone(reason);
  run.publish('done');
  await condition(allHandlersFinished);
  await run.light.writeRunCheckpoint({ runId, datasetId: input.datasetId, state });
  const report = await run.light.writeActiveLearningReport({
    runId, datasetId: input.datasetId, acquisition: input.acquisition, history: state.history, stopReason: reason,
    targetIoU: input.targetIoU, stopOn: run.stopSplit(), labelledKey: state.labelledKey,
  });
  return { stopReason: reason, history: state.history, reportKey: report.reportKey, labelledKey: state.labelledKey };
}
