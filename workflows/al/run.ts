/**
 * One active-learning run's workflow-side context: its state (carried across continueAsNew), the status the
 * `status` query and the Temporal UI show, and the message handlers — registered before the first await, so
 * queries and submissions work from the run's first moment.
 */
import { setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type {
  ActiveLearningInput, ActiveLearningState, ActiveLearningStatus, EvaluationSplit, InvalidSubmission, LabelPurpose, LabelsSubmission, StopReason,
  SubmissionOutcome,
} from '../../contracts';
import { historyQuery, SA, statusQuery, stopSignal, submitLabelsUpdate } from '../../contracts/messages';
import { activityProxies } from '../proxies';
import { applySubmission, checkSubmission, remainingIds } from '../submissions';

/** Requested frames per purpose. */
function purposeCounts(purposes: Record<string, LabelPurpose>): Partial<Record<LabelPurpose, number>> {
  const counts: Partial<Record<LabelPurpose, number>> = {};
  for (const purpose of Object.values(purposes)) counts[purpose] = (counts[purpose] ?? 0) + 1;
  return counts;
}

/** Invalid submissions kept in the state (the last ones). */
const MAX_INVALID_KEPT = 20;

export interface AlRun {
  readonly input: ActiveLearningInput;
  readonly runId: string;
  readonly light: ReturnType<typeof activityProxies>['light'];
  readonly accel: ReturnType<typeof activityProxies>['accel'];
  readonly state: ActiveLearningState;
  /** Sets the stage and re-publishes the search attributes and the UI's current details. */
  publish(stage: string): void;
  readonly stage: string;
  /** The split the stop rule reads: validation when the dataset has one, unless the input says test. */
  stopSplit(): EvaluationSplit;
  recordInvalid(entries: InvalidSubmission[]): void;
  /** Records checked masks into the pending request (the update handler's work; the oracle's answer too). */
  receive(submission: LabelsSubmission): SubmissionOutcome;
  /** Marks the run done for the status query. */
  markDone(reason: StopReason): void;
}

/** Opens the run: its state (fresh, or carried over), its handlers, its published status. */
export function openRun(input: ActiveLearningInput): AlRun {
  const runId = workflowInfo().workflowId;
  const { light, accel } = activityProxies(input.taskQueues, input.timeouts);
  // The keys of a fresh run are filled in by initActiveLearning before its first phase.
  const state: ActiveLearningState = input.state ?? {
    phase: 0, labelledKey: '', labelledCount: 0, poolKey: '', poolCount: 0, testKey: '', testCount: 0,
    history: [], invalid: [], stopRequested: false,
  };
  let stage = 'starting';
  let stopReason: StopReason | undefined;
  const stopSplit = (): EvaluationSplit => (input.stopOn === 'test' || !state.valKey || !state.valCount ? 'test' : 'validation');

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
      ...(state.pending.purposes ? { purposes: purposeCounts(state.pending.purposes) } : {}),
      ...(state.pending.unusable?.length ? { unusable: state.pending.unusable } : {}),
    },
    invalid: state.invalid,
    done: stopReason !== undefined,
    stopReason,
    resumedFrom: state.resumedFrom,
    ...(input.bootstrappedFrom ? { bootstrappedFrom: input.bootstrappedFrom } : {}),
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

  return {
    input, runId, light, accel, state, publish, stopSplit, receive,
    get stage() {
      return stage;
    },
    recordInvalid(entries) {
      state.invalid = [...state.invalid, ...entries].slice(-MAX_INVALID_KEPT);
    },
    markDone(reason) {
      stopReason = reason;
    },
  };
}
