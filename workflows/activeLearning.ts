/**
 * Active learning, one phase per run (continueAsNew between phases):
 *   train the pair (segmentation without dropout, uncertainty with dropout) → evaluate on the validation and test
 *   splits → stop? → MC-sample and score the pool → select K → the segmentation model's drafts of the K images →
 *   publish a labelling request → wait for masks → close the phase → merge (each mask verified) → next phase.
 * Lists of ids live in MinIO; the state holds their keys and counts, whatever the pool size. The state is also
 * written to `runs/<id>/state.json` at every phase boundary, so `--resume-from` can continue a run that failed.
 */
import {
  allHandlersFinished, ApplicationFailure, condition, continueAsNew, log, setCurrentDetails, setHandler,
  upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import {
  ACQUISITION_FUNCTIONS, type ActiveLearningInput, type ActiveLearningResult, type ActiveLearningState, type ActiveLearningStatus,
  type InvalidSubmission, isAcquisitionFunction, isEvaluationSplit, type LabelsSubmission, needsUncertaintyModel, type PhaseRecord,
  runKeys, SCORE_BLOCK, type StopReason, type SubmissionOutcome,
} from '../contracts';
import { historyQuery, SA, statusQuery, stopSignal, submitLabelsUpdate } from '../contracts/messages';
import { activityProxies, bestEffortActivityProxies } from './proxies';
import { applySubmission, checkSubmission, remainingIds } from './submissions';

const MAX_INVALID_KEPT = 20;

/** Pool images per scoring shard unless the input says otherwise. */
export const DEFAULT_SCORE_SHARD_SIZE = 4 * SCORE_BLOCK;

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
  const runId = workflowInfo().workflowId;
  const { light, accel } = activityProxies(input.taskQueues, input.timeouts);

  // Handlers are registered before the first await, so queries work from the first moment; the keys of a fresh
  // run are filled in by initActiveLearning just below.
  const state: ActiveLearningState = input.state ?? {
    phase: 0, labelledKey: '', labelledCount: 0, poolKey: '', poolCount: 0, testKey: '', testCount: 0,
    history: [], invalid: [], stopRequested: false,
  };
  let stage = 'starting';
  let stopReason: StopReason | undefined;
  /** The split the stop rule reads: validation when the dataset has one, unless the input says test. */
  const stopSplit = () => (input.stopOn === 'test' || !state.valKey || !state.valCount ? 'test' : 'validation');

  const status = (): ActiveLearningStatus => ({
    stage,
    phase: state.phase,
    labelledCount: state.labelledCount,
    poolCount: state.poolCount,
    lastIoU: state.history.at(-1)?.iou,
    lastValIoU: state.history.at(-1)?.valIoU,
    stopOn: stopSplit(),
    pending: state.pending && {
      phase: state.pending.phase,
      requestKey: state.pending.requestKey,
      requested: state.pending.ids.length,
      received: state.pending.received.length,
      remaining: remainingIds(state.pending),
      reminders: state.pending.reminders,
      overdue: state.pending.overdue,
      closed: state.pending.closed,
      replaced: state.pending.replacedCount ?? 0,
      replacements: state.pending.replacements ?? [],
    },
    invalid: state.invalid,
    done: stopReason !== undefined,
    stopReason,
    resumedFrom: state.resumedFrom,
  });
  const publish = (next: string) => {
    stage = next;
    const best = Math.max(0, ...state.history.map((h) => (stopSplit() === 'validation' ? h.valIoU ?? h.iou : h.iou)));
    upsertSearchAttributes([
      { key: SA.stage, value: `al-${stage}` },
      { key: SA.dataset, value: input.datasetId },
      { key: SA.phase, value: state.phase },
      { key: SA.labelledCount, value: state.labelledCount },
      { key: SA.bestIoU, value: best },
      { key: SA.acquisition, value: input.acquisition },
    ]);
    const last = state.history.at(-1);
    const pending = status().pending;
    setCurrentDetails([
      `**Active learning** (${input.acquisition}) — phase ${state.phase}, ${stage}`,
      `labelled ${state.labelledCount}, pool ${state.poolCount}, validation ${state.valCount ?? 0}, test ${state.testCount}`,
      last ? `last IoU: validation ${last.valIoU?.toFixed(4) ?? '—'}, test ${last.iou.toFixed(4)} (target ${input.targetIoU} on ${stopSplit()})` : 'no evaluation yet',
      pending ? `waiting for ${pending.remaining.length} of ${pending.requested} masks (request ${pending.requestKey}, reminders ${pending.reminders})` : '',
    ].filter(Boolean).join('\n\n'));
  };

  const recordInvalid = (entries: InvalidSubmission[]) => {
    state.invalid = [...state.invalid, ...entries].slice(-MAX_INVALID_KEPT);
  };

  // Masks arrive checked and stored (labelling/submit.ts); the handler only records them, so it finishes within
  // the workflow task that delivers it. What the validator refuses stays out of the history.
  const receive = (submission: LabelsSubmission): SubmissionOutcome => {
    const applied = applySubmission(state.pending!, submission, Date.now());
    publish(stage);
    return { ...applied, remaining: remainingIds(state.pending!) };
  };

  setHandler(statusQuery, status);
  setHandler(historyQuery, () => state.history);
  setHandler(stopSignal, () => {
    state.stopRequested = true;
  });
  setHandler(submitLabelsUpdate, receive, {
    validator: (submission) => checkSubmission(runId, state.phase, state.pending, submission),
  });

  if (!input.state) {
    Object.assign(state, await light.initActiveLearning({ runId, datasetId: input.datasetId, resumeFrom: input.resumeFrom, initialSeed: input.initialSeed }));
  }

  const finish = async (reason: StopReason): Promise<ActiveLearningResult> => {
    stopReason = reason;
    publish('done');
    await condition(allHandlersFinished);
    await light.writeRunCheckpoint({ runId, datasetId: input.datasetId, state });
    const report = await light.writeActiveLearningReport({
      runId, datasetId: input.datasetId, acquisition: input.acquisition, history: state.history, stopReason: reason,
      targetIoU: input.targetIoU, stopOn: stopSplit(), labelledKey: state.labelledKey,
    });
    return { stopReason: reason, history: state.history, reportKey: report.reportKey, labelledKey: state.labelledKey };
  };

  if (state.stopRequested) return finish('stopped');

  // 1. Train the pair, in parallel.
  publish('training');
  // The best epoch on the validation split is what a phase keeps (when the dataset has one).
  const common = {
    runId, datasetId: input.datasetId, trainItemsKey: state.labelledKey, model: input.model, hyper: input.hyper,
    ...(state.valKey && state.valCount ? { valIdsKey: state.valKey } : {}),
  };
  const trainStarted = Date.now();
  const [seg, unc] = await Promise.all([
    accel.trainSegmentationModel({ ...common, outputPrefix: runKeys.segmentationModel(runId, state.phase), dropout: { strategy: 'none', rate: 0 } }),
    needsUncertaintyModel(input.acquisition)
      ? accel.trainSegmentationModel({ ...common, outputPrefix: runKeys.uncertaintyModel(runId, state.phase), dropout: input.dropout, hyper: { ...input.hyper, seed: input.hyper.seed + 1 } })
      : Promise.resolve(undefined),
  ]);
  const trainMs = Date.now() - trainStarted;

  // 2. Evaluate the segmentation model: validation (what the stop rule reads) and test (reported only).
  publish('evaluating');
  const evaluate = (idsKey: string) => accel.evaluateSegmentationModel({ datasetId: input.datasetId, modelKey: seg.modelKey, idsKey, batchSize: input.hyper.batchSize });
  const [validation, test] = await Promise.all([
    state.valKey && state.valCount ? evaluate(state.valKey) : Promise.resolve(undefined),
    evaluate(state.testKey),
  ]);
  const record: PhaseRecord = {
    phase: state.phase, labelled: state.labelledCount, iou: test.iou, dice: test.dice, valIoU: validation?.iou, valDice: validation?.dice,
    acquisition: input.acquisition, trainMs, segResumedFromEpoch: seg.resumedFromEpoch, segAttempts: seg.attempt,
  };
  state.history = [...state.history, record];
  publish('evaluated');
  log.info('phase evaluated', { phase: state.phase, valIoU: validation?.iou, testIoU: test.iou, labelled: state.labelledCount });

  // 3. Stop?
  const stopIoU = stopSplit() === 'validation' ? validation!.iou : test.iou;
  if (stopIoU >= input.targetIoU) return finish('target-reached');
  if (state.labelledCount >= input.maxLabelled) return finish('budget-spent');
  if (state.poolCount === 0) return finish('pool-empty');
  if (state.phase + 1 >= input.maxPhases) return finish('max-phases');
  if (state.stopRequested) return finish('stopped');

  // 4. Score the pool and select K.
  publish('scoring');
  const scoreStarted = Date.now();
  const k = Math.min(input.labelsPerPhase, state.poolCount, input.maxLabelled - state.labelledCount);
  // In shards, one activity each, so several accelerator workers score one pool; dropout is seeded from the run's
  // seed and phase, so a run's selections repeat.
  const scoreRequest = {
    runId, phase: state.phase, datasetId: input.datasetId, poolKey: state.poolKey, modelKey: unc?.modelKey,
    acquisition: input.acquisition, reduce: input.reduce, samples: input.mcSamples, mode: input.mcMode,
    batchSize: input.hyper.batchSize, seed: input.hyper.seed + state.phase,
  };
  const shardSize = input.scoreShardSize ?? DEFAULT_SCORE_SHARD_SIZE;
  const shards = Math.ceil(state.poolCount / shardSize);
  await Promise.all(Array.from({ length: shards }, (_, shard) => accel.scorePoolShard({ ...scoreRequest, shard, shardSize })));
  const scored = await light.mergeScoreShards({ runId, phase: state.phase, shards });
  const selection = await light.selectForLabelling({
    scoresKey: scored.scoresKey, datasetId: input.datasetId, k, maxPerGroup: input.maxPerGroup,
    selection: input.selection, beta: input.selectionBeta, seed: input.hyper.seed, phase: state.phase,
  });
  record.scoreMs = Date.now() - scoreStarted;

  // 5. The segmentation model's drafts of the selected images, then the labelling request (doctors correct drafts).
  const drafts = input.oracle ? undefined
    : await accel.predictMasks({ runId, phase: state.phase, datasetId: input.datasetId, modelKey: seg.modelKey, ids: selection.ids, batchSize: input.hyper.batchSize });
  const request = await light.publishLabellingRequest({
    runId, phase: state.phase, datasetId: input.datasetId, ids: selection.ids, scoresKey: scored.scoresKey, predictionsPrefix: drafts?.prefix,
    maskLabel: input.maskLabel,
  });
  state.pending = { phase: state.phase, requestKey: request.requestKey, ids: selection.ids, received: [], requestedAtMs: Date.now(), reminders: 0, overdue: false };
  publish('waiting-labels');
  // Label Studio is one way in among others (CLI, POST /labels): the push runs beside the wait, and if Label Studio
  // cannot take the tasks the run says so in its status and keeps waiting.
  const pushing = input.labelStudio && !input.oracle
    ? bestEffortActivityProxies(input.taskQueues.light).pushToLabelStudio({ requestKey: request.requestKey, project: input.labelStudio.project })
      .then(() => undefined, (error: unknown) => {
        const reason = `Label Studio did not take the request: ${(error as { cause?: Error }).cause?.message ?? (error as Error).message}`;
        recordInvalid([{ phase: state.phase, reason }]);
        log.warn('label studio push failed', { phase: state.phase, reason });
      })
    : Promise.resolve();

  // 6. Wait for the masks: the oracle answers at once in benchmark mode; doctors may take days.
  const waitStarted = Date.now();
  const pending = state.pending;
  const complete = () => pending.received.length >= pending.ids.length;
  if (input.oracle) {
    const answer = await light.oracleLabels({ datasetId: input.datasetId, ids: selection.ids, withHashes: true });
    receive({ phase: state.phase, items: answer.items.map((item) => ({ ...item, contentHash: item.contentHash!, foreground: item.foreground!, source: 'oracle' })) });
  }
  for (;;) {
    while (!complete() && !state.stopRequested) {
      const answered = await condition(() => complete() || state.stopRequested, input.reminderEveryMs);
      if (!answered) {
        pending.reminders += 1;
        pending.overdue = true;
        log.warn('labelling request overdue', { phase: state.phase, requestKey: pending.requestKey, reminders: pending.reminders });
        await light.recordReminder({ runId, phase: state.phase, requestKey: pending.requestKey, reminders: pending.reminders, remaining: remainingIds(pending) });
        publish('waiting-labels');
      }
    }
    // Close the phase: from here on submissions are refused (naming this phase), and none is half-handled.
    pending.closed = true;
    await pushing;
    await condition(allHandlersFinished);
    if (pending.received.length === 0) return finish('stopped');

    // 7. Merge: every mask is verified against what was accepted; one that changed since goes back to the doctors.
    publish('merging');
    const merged = await light.mergePhaseLabels({
      runId, phase: state.phase, datasetId: input.datasetId, labelledKey: state.labelledKey, poolKey: state.poolKey, items: pending.received,
    });
    if (merged.invalid.length === 0) {
      record.waitMs = Date.now() - waitStarted;
      record.received = pending.received.length;
      record.replaced = pending.replacedCount ?? 0;
      const next: ActiveLearningState = {
        ...state,
        phase: state.phase + 1,
        labelledKey: merged.labelledKey!,
        labelledCount: merged.labelledCount!,
        poolKey: merged.poolKey!,
        poolCount: merged.poolCount!,
        pending: undefined,
      };
      Object.assign(state, next);
      await light.writeRunCheckpoint({ runId, datasetId: input.datasetId, state });
      if (state.stopRequested) return finish('stopped');
      return continueAsNew<typeof activeLearning>({ ...input, state });
    }
    const bad = new Set(merged.invalid.map((i) => i.id));
    pending.received = pending.received.filter((r) => !bad.has(r.id));
    recordInvalid(merged.invalid.map((i) => ({ phase: state.phase, id: i.id, reason: i.reason })));
    pending.closed = false;
    log.warn('masks changed after they were accepted; asking for them again', { phase: state.phase, ids: [...bad] });
    publish('waiting-labels');
  }
}
