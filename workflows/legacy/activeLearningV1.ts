/**
 * FROZEN: the active-learning workflow as it was released before per-phase labels (version 1). Runs that started on
 * it replay and finish their current phase here; their next phase (continueAsNew) runs the current code. Do not
 * change the commands this code issues; see workflows/activeLearning.ts.
 *
 * Active learning, one phase per run (continueAsNew between phases):
 *   train the pair (segmentation without dropout, uncertainty with dropout) → evaluate on the test set → stop?
 *   → MC-sample and score the pool → select K → publish a labelling request → wait for masks → merge → next phase.
 * Lists of ids live in MinIO; the state holds their keys and counts, whatever the pool size.
 */
import {
  ApplicationFailure, condition, continueAsNew, defineQuery, defineSignal, defineUpdate, log, setCurrentDetails, setHandler,
  upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import {
  ACQUISITION_FUNCTIONS, type ActiveLearningInput, type ActiveLearningResult, type InvalidSubmission, isAcquisitionFunction,
  type LabelledItem, needsUncertaintyModel, type PhaseRecord, runKeys, type StopReason,
} from '../../contracts';
import { historyQuery, SA, stopSignal } from '../../contracts/messages';
import { activityProxies } from '../proxies';

// Version 1's own payloads and messages (same names as today's), kept here so later contract changes leave it alone.
interface LabelsSubmission {
  phase: number;
  items: LabelledItem[];
}

interface SubmissionOutcome {
  accepted: string[];
  rejected: { id?: string; reason: string }[];
  remaining: string[];
}

interface LabelRequest {
  phase: number;
  requestKey: string;
  ids: string[];
  received: LabelledItem[];
  requestedAtMs: number;
  reminders: number;
  overdue: boolean;
}

interface ActiveLearningState {
  phase: number;
  labelledKey: string;
  labelledCount: number;
  poolKey: string;
  poolCount: number;
  testKey: string;
  testCount: number;
  history: PhaseRecord[];
  invalid: InvalidSubmission[];
  pending?: LabelRequest;
  stopRequested: boolean;
}

interface ActiveLearningStatus {
  stage: string;
  phase: number;
  labelledCount: number;
  poolCount: number;
  lastIoU?: number;
  pending?: { phase: number; requestKey: string; requested: number; received: number; remaining: string[]; reminders: number; overdue: boolean };
  invalid: InvalidSubmission[];
  done: boolean;
  stopReason?: StopReason;
}

const labelsSubmittedSignal = defineSignal<[LabelsSubmission]>('labelsSubmitted');
const submitLabelsUpdate = defineUpdate<SubmissionOutcome, [LabelsSubmission]>('submitLabels');
const statusQuery = defineQuery<ActiveLearningStatus>('status');

const MAX_INVALID_KEPT = 20;

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
}

export async function activeLearningV1(input: ActiveLearningInput): Promise<ActiveLearningResult> {
  validate(input);
  const runId = workflowInfo().workflowId;
  const { light, accel } = activityProxies(input.taskQueues, input.timeouts);

  // Handlers are registered before the first await, so queries work from the first moment; the keys of a fresh
  // run are filled in by initActiveLearning just below.
  const state: ActiveLearningState = (input.state as ActiveLearningState | undefined) ?? {
    phase: 0, labelledKey: '', labelledCount: 0, poolKey: '', poolCount: 0, testKey: '', testCount: 0,
    history: [], invalid: [], stopRequested: false,
  };
  let stage = 'starting';
  let stopReason: StopReason | undefined;

  const status = (): ActiveLearningStatus => ({
    stage,
    phase: state.phase,
    labelledCount: state.labelledCount,
    poolCount: state.poolCount,
    lastIoU: state.history.at(-1)?.iou,
    pending: state.pending && {
      phase: state.pending.phase,
      requestKey: state.pending.requestKey,
      requested: state.pending.ids.length,
      received: state.pending.received.length,
      remaining: state.pending.ids.filter((id) => !state.pending!.received.some((r) => r.id === id)),
      reminders: state.pending.reminders,
      overdue: state.pending.overdue,
    },
    invalid: state.invalid,
    done: stopReason !== undefined,
    stopReason,
  });
  const publish = (next: string) => {
    stage = next;
    const best = Math.max(0, ...state.history.map((h) => h.iou));
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
      `labelled ${state.labelledCount}, pool ${state.poolCount}, test ${state.testCount}`,
      last ? `last test IoU ${last.iou.toFixed(4)} (target ${input.targetIoU})` : 'no evaluation yet',
      pending ? `waiting for ${pending.remaining.length} of ${pending.requested} masks (request ${pending.requestKey}, reminders ${pending.reminders})` : '',
    ].filter(Boolean).join('\n\n'));
  };

  const recordInvalid = (entries: InvalidSubmission[]) => {
    state.invalid = [...state.invalid, ...entries].slice(-MAX_INVALID_KEPT);
  };

  // Submissions are validated by an activity (mask exists, right size); one at a time, in arrival order.
  let queue: Promise<unknown> = Promise.resolve();
  const handleSubmission = (submission: LabelsSubmission): Promise<SubmissionOutcome> => {
    const run = async (): Promise<SubmissionOutcome> => {
      const pending = state.pending;
      if (!pending || submission?.phase !== pending.phase) {
        const reason = pending ? `submission is for phase ${submission?.phase}, but phase ${pending.phase} is waiting for labels`
          : `no labelling request is open (phase ${state.phase}, ${stage})`;
        recordInvalid([{ phase: submission?.phase ?? -1, reason }]);
        return { accepted: [], rejected: [{ reason }], remaining: status().pending?.remaining ?? [] };
      }
      const items = Array.isArray(submission.items) ? submission.items : [];
      const fresh: LabelledItem[] = [];
      const rejected: SubmissionOutcome['rejected'] = [];
      for (const item of items) {
        if (!item || typeof item.id !== 'string' || typeof item.maskKey !== 'string') rejected.push({ reason: 'item needs string id and maskKey' });
        else if (!pending.ids.includes(item.id)) rejected.push({ id: item.id, reason: `'${item.id}' was not requested in phase ${pending.phase}` });
        else if (pending.received.some((r) => r.id === item.id && r.maskKey === item.maskKey) || fresh.some((f) => f.id === item.id)) {
          // duplicate: idempotent
        } else fresh.push(item);
      }
      const checked = fresh.length > 0 ? await light.validateLabels({ datasetId: input.datasetId, runId, items: fresh }) : { valid: [], invalid: [] };
      rejected.push(...checked.invalid);
      for (const item of checked.valid) {
        pending.received = [...pending.received.filter((r) => r.id !== item.id), item];
      }
      recordInvalid(rejected.map((r) => ({ phase: pending.phase, id: r.id, reason: r.reason })));
      publish(stage);
      return { accepted: checked.valid.map((v) => v.id), rejected, remaining: status().pending?.remaining ?? [] };
    };
    const result = queue.then(run, run);
    queue = result.catch(() => undefined);
    return result;
  };

  setHandler(statusQuery, status);
  setHandler(historyQuery, () => state.history);
  setHandler(stopSignal, () => {
    state.stopRequested = true;
  });
  setHandler(labelsSubmittedSignal, (submission) => {
    void handleSubmission(submission);
  });
  setHandler(submitLabelsUpdate, (submission) => handleSubmission(submission), {
    validator: (submission) => {
      if (!submission || !Array.isArray(submission.items)) throw new Error('submission needs { phase, items: [{ id, maskKey }] }');
    },
  });

  if (!input.state) Object.assign(state, await light.initActiveLearning({ runId, datasetId: input.datasetId }));

  const finish = async (reason: StopReason): Promise<ActiveLearningResult> => {
    stopReason = reason;
    publish('done');
    const report = await light.writeActiveLearningReport({ runId, datasetId: input.datasetId, acquisition: input.acquisition, history: state.history, stopReason: reason, targetIoU: input.targetIoU, labelledKey: state.labelledKey });
    return { stopReason: reason, history: state.history, reportKey: report.reportKey, labelledKey: state.labelledKey };
  };

  // A request left open by the previous run (continueAsNew while waiting is not used, but a stop may arrive any time).
  if (state.stopRequested) return finish('stopped');

  // 1. Train the pair, in parallel.
  publish('training');
  const common = { runId, datasetId: input.datasetId, trainItemsKey: state.labelledKey, model: input.model, hyper: input.hyper };
  const trainStarted = Date.now();
  const trainsUncertaintyModel = needsUncertaintyModel(input.acquisition);
  const [seg, unc] = await Promise.all([
    accel.trainSegmentationModel({ ...common, outputPrefix: runKeys.segmentationModel(runId, state.phase), dropout: { strategy: 'none', rate: 0 } }),
    trainsUncertaintyModel
      ? accel.trainSegmentationModel({ ...common, outputPrefix: runKeys.uncertaintyModel(runId, state.phase), dropout: input.dropout, hyper: { ...input.hyper, seed: input.hyper.seed + 1 } })
      : Promise.resolve(undefined),
  ]);
  const trainMs = Date.now() - trainStarted;

  // 2. Evaluate the segmentation model on the test set.
  publish('evaluating');
  const evaluation = await accel.evaluateSegmentationModel({ datasetId: input.datasetId, modelKey: seg.modelKey, idsKey: state.testKey, batchSize: input.hyper.batchSize });
  const record: PhaseRecord = {
    phase: state.phase, labelled: state.labelledCount, iou: evaluation.iou, dice: evaluation.dice,
    acquisition: input.acquisition, trainMs, segResumedFromEpoch: seg.resumedFromEpoch, segAttempts: seg.attempt,
  };
  state.history = [...state.history, record];
  publish('evaluated');
  log.info('phase evaluated', { phase: state.phase, iou: evaluation.iou, labelled: state.labelledCount });

  // 3. Stop?
  if (evaluation.iou >= input.targetIoU) return finish('target-reached');
  if (state.labelledCount >= input.maxLabelled) return finish('budget-spent');
  if (state.poolCount === 0) return finish('pool-empty');
  if (state.phase + 1 >= input.maxPhases) return finish('max-phases');
  if (state.stopRequested) return finish('stopped');

  // 4. Score the pool and select K.
  publish('scoring');
  const scoreStarted = Date.now();
  const k = Math.min(input.labelsPerPhase, state.poolCount, input.maxLabelled - state.labelledCount);
  const scored = await accel.scorePool({
    runId, phase: state.phase, datasetId: input.datasetId, poolKey: state.poolKey, modelKey: unc?.modelKey,
    acquisition: input.acquisition, reduce: input.reduce, samples: input.mcSamples, mode: input.mcMode,
    batchSize: input.hyper.batchSize, seed: input.hyper.seed + state.phase,
  });
  const selection = await light.selectForLabelling({ scoresKey: scored.scoresKey, datasetId: input.datasetId, k, maxPerGroup: input.maxPerGroup });
  record.scoreMs = Date.now() - scoreStarted;

  // 5. Publish the labelling request.
  const request = await light.publishLabellingRequest({ runId, phase: state.phase, datasetId: input.datasetId, ids: selection.ids, scoresKey: scored.scoresKey });
  state.pending = { phase: state.phase, requestKey: request.requestKey, ids: selection.ids, received: [], requestedAtMs: Date.now(), reminders: 0, overdue: false };
  publish('waiting-labels');

  // 6. Wait for the masks: the oracle answers at once in benchmark mode; doctors may take days.
  const waitStarted = Date.now();
  const complete = () => state.pending!.received.length >= state.pending!.ids.length;
  if (input.oracle) {
    const answer = await light.oracleLabels({ datasetId: input.datasetId, ids: selection.ids });
    await handleSubmission({ phase: state.phase, items: answer.items });
  }
  while (!complete() && !state.stopRequested) {
    const answered = await condition(() => complete() || state.stopRequested, input.reminderEveryMs);
    if (!answered) {
      state.pending.reminders += 1;
      state.pending.overdue = true;
      log.warn('labelling request overdue', { phase: state.phase, requestKey: state.pending.requestKey, reminders: state.pending.reminders });
      await light.recordReminder({ runId, phase: state.phase, requestKey: state.pending.requestKey, reminders: state.pending.reminders, remaining: status().pending!.remaining });
      publish('waiting-labels');
    }
  }
  await queue;
  record.waitMs = Date.now() - waitStarted;
  if (state.stopRequested && !complete()) {
    // Partial labels are kept: they are merged so that no doctor's work is lost.
    if (state.pending.received.length === 0) return finish('stopped');
  }

  // 7. Merge the new labels and start the next phase as a new run.
  publish('merging');
  const merged = await light.mergeLabels({ runId, phase: state.phase, labelledKey: state.labelledKey, poolKey: state.poolKey, items: state.pending.received });
  const next: ActiveLearningState = {
    ...state,
    phase: state.phase + 1,
    labelledKey: merged.labelledKey,
    labelledCount: merged.labelledCount,
    poolKey: merged.poolKey,
    poolCount: merged.poolCount,
    pending: undefined,
  };
  if (state.stopRequested) {
    Object.assign(state, next);
    return finish('stopped');
  }
  return continueAsNew<(input: ActiveLearningInput) => Promise<ActiveLearningResult>>({ ...input, state: next as ActiveLearningInput['state'] });
}
