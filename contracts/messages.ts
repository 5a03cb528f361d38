/**
 * Signals, queries, updates and search attributes of the workflows: defined once here, where the workflows, the CLI
 * and the labelling paths (labelling/submit.ts) all import them.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import {
  type ActiveLearningStatus, type LabelsSubmission, type LeaderboardRow, type PhaseRecord, SEARCH_ATTRIBUTES, type SearchProgress,
  type SubmissionOutcome,
} from './index';

/** Masks for the waiting phase, answered synchronously (accepted, replaced, duplicates) — or refused by its validator. */
export const submitLabelsUpdate = defineUpdate<SubmissionOutcome, [LabelsSubmission]>('submitLabels');
export const stopSignal = defineSignal<[{ reason?: string }]>('stop');
export const statusQuery = defineQuery<ActiveLearningStatus>('status');
export const historyQuery = defineQuery<PhaseRecord[]>('history');
export const leaderboardQuery = defineQuery<LeaderboardRow[]>('leaderboard');
export const searchProgressQuery = defineQuery<SearchProgress>('searchProgress');

type Attributes = typeof SEARCH_ATTRIBUTES;
const key = <K extends keyof Attributes>(k: K): ReturnType<typeof defineSearchAttributeKey<Attributes[K]['type']>> =>
  defineSearchAttributeKey(SEARCH_ATTRIBUTES[k].name, SEARCH_ATTRIBUTES[k].type);

export const SA = {
  stage: key('stage'),
  dataset: key('dataset'),
  phase: key('phase'),
  labelledCount: key('labelledCount'),
  bestIoU: key('bestIoU'),
  acquisition: key('acquisition'),
};
