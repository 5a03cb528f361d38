/** Signals, queries, updates and search attributes of the workflows, beside them as constants. */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type {
  ActiveLearningStatus, LabelsSubmission, LeaderboardRow, PhaseRecord, SubmissionOutcome,
} from '../shared';

export const labelsSubmittedSignal = defineSignal<[LabelsSubmission]>('labelsSubmitted');
/** Same payload as the signal, with a synchronous accept/reject answer for labelling tools. */
export const submitLabelsUpdate = defineUpdate<SubmissionOutcome, [LabelsSubmission]>('submitLabels');
export const stopSignal = defineSignal<[{ reason?: string }]>('stop');
export const statusQuery = defineQuery<ActiveLearningStatus>('status');
export const historyQuery = defineQuery<PhaseRecord[]>('history');
export const leaderboardQuery = defineQuery<LeaderboardRow[]>('leaderboard');
export const searchProgressQuery = defineQuery<{ completed: number; failed: number; running: number; maxTrials: number }>('searchProgress');

export const SA = {
  stage: defineSearchAttributeKey('EchoStage', 'KEYWORD'),
  dataset: defineSearchAttributeKey('EchoDataset', 'KEYWORD'),
  phase: defineSearchAttributeKey('EchoPhase', 'INT'),
  labelledCount: defineSearchAttributeKey('EchoLabelledCount', 'INT'),
  bestIoU: defineSearchAttributeKey('EchoBestIoU', 'DOUBLE'),
  acquisition: defineSearchAttributeKey('EchoAcquisition', 'KEYWORD'),
};
