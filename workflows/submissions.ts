/**
 * The active-learning workflow's rules for mask submissions, pure so they can be tested alone:
 * - `checkSubmission` is the update's validator. What it refuses never reaches the workflow history, so a tool that
 *   resends (the same masks, to a closed phase, garbage) cannot grow it: the history grows only with masks that
 *   change what the run holds.
 * - `applySubmission` is the handler: new masks are received, a different mask for an image already received
 *   replaces it (recorded), the same mask again changes nothing. A frame marked unusable (no mask) counts as
 *   answered: its mask, if one came, is dropped, and the workflow puts a reserve frame in its place.
 */
import {
  type LabelRequest, type LabelsSubmission, runKeys, SUBMISSION_REJECTIONS, type SubmissionOutcome, type SubmittedLabel, UNUSABLE_FRAME,
} from '../contracts';

/** Replacements kept in the state (status shows them); the count covers all. */
export const REPLACEMENTS_KEPT = 20;

function fail(message: string): never {
  throw new Error(message);
}

/** Throws (refusing the update, outside the history) unless the submission can change the pending request. */
export function checkSubmission(runId: string, currentPhase: number, pending: LabelRequest | undefined, submission: LabelsSubmission): void {
  if (!submission || typeof submission !== 'object' || !Array.isArray(submission.items) || !Number.isInteger(submission.phase)) {
    fail('a submission is { phase, items: [{ id, maskKey, contentHash, foreground, source }] }');
  }
  if (!pending || pending.closed) {
    const closed = pending?.closed && pending.phase === submission.phase;
    fail(closed
      ? `${SUBMISSION_REJECTIONS.notWaiting}: phase ${pending.phase} has closed (its masks are being merged); masks for it arrive too late`
      : `${SUBMISSION_REJECTIONS.notWaiting}: no labelling request is open (phase ${currentPhase})`);
  }
  if (submission.phase !== pending.phase) {
    fail(`${SUBMISSION_REJECTIONS.notWaiting}: the submission is for phase ${submission.phase}, but phase ${pending.phase} is waiting for labels`);
  }
  if (submission.items.length === 0) fail('the submission has no items');
  const prefix = runKeys.phaseLabelsPrefix(runId, pending.phase);
  const seen = new Map<string, string>();
  for (const item of submission.items) {
    if (!item || typeof item.id !== 'string' || typeof item.maskKey !== 'string' || typeof item.contentHash !== 'string'
      || !Number.isInteger(item.foreground) || typeof item.source !== 'string') {
      fail('each item needs id, maskKey, contentHash, foreground and source; send masks with `labels submit` or POST /labels');
    }
    if (!pending.ids.includes(item.id)) fail(`'${item.id}' was not requested in phase ${pending.phase}`);
    if (item.unusable) {
      if (item.contentHash !== UNUSABLE_FRAME || item.maskKey !== '') fail(`'${item.id}' is marked unusable and cannot carry a mask as well`);
    } else if (!item.maskKey.startsWith(prefix)) {
      fail(`the mask of '${item.id}' is not a checked label of this phase (send it through the labels path)`);
    }
    const earlier = seen.get(item.id);
    if (earlier !== undefined && earlier !== item.contentHash) fail(`two different masks for '${item.id}' in one submission`);
    seen.set(item.id, item.contentHash);
  }
  const unusable = new Set(pending.unusable ?? []);
  const changes = submission.items.some((item) => (item.unusable ? !unusable.has(item.id)
    : unusable.has(item.id) || !pending.received.some((r) => r.id === item.id && r.contentHash === item.contentHash)));
  if (!changes) fail(`${SUBMISSION_REJECTIONS.alreadyReceived}: every mask in this submission was already received`);
}

/** Applies a checked submission to the pending request (mutates it) and says what happened. */
export function applySubmission(pending: LabelRequest, submission: LabelsSubmission, nowMs: number): Omit<SubmissionOutcome, 'remaining'> {
  const outcome = { accepted: [] as string[], replaced: [] as string[], duplicates: [] as string[], rejected: [] as SubmissionOutcome['rejected'] };
  const unique = new Map<string, SubmittedLabel>();
  for (const item of submission.items) unique.set(item.id, item);
  for (const item of unique.values()) {
    if (item.unusable) {
      if (pending.unusable?.includes(item.id)) {
        outcome.duplicates.push(item.id);
        continue;
      }
      pending.received = pending.received.filter((r) => r.id !== item.id);
      pending.unusable = [...(pending.unusable ?? []), item.id];
      outcome.accepted.push(item.id);
      continue;
    }
    // A mask for a frame marked unusable before: the doctor changed their mind.
    if (pending.unusable?.includes(item.id)) pending.unusable = pending.unusable.filter((id) => id !== item.id);
    const existing = pending.received.find((r) => r.id === item.id);
    if (existing?.contentHash === item.contentHash) {
      outcome.duplicates.push(item.id);
      continue;
    }
    const label: SubmittedLabel = {
      id: item.id, maskKey: item.maskKey, contentHash: item.contentHash, foreground: item.foreground, source: item.source,
      ...(item.annotator !== undefined ? { annotator: item.annotator } : {}),
      ...(item.leadTimeS !== undefined ? { leadTimeS: item.leadTimeS } : {}),
    };
    if (existing) {
      pending.received = pending.received.map((r) => (r.id === item.id ? label : r));
      pending.replacedCount = (pending.replacedCount ?? 0) + 1;
      pending.replacements = [...(pending.replacements ?? []), { id: item.id, atMs: nowMs, source: item.source, annotator: item.annotator }]
        .slice(-REPLACEMENTS_KEPT);
      outcome.replaced.push(item.id);
    } else {
      pending.received = [...pending.received, label];
      outcome.accepted.push(item.id);
    }
  }
  return outcome;
}

export function remainingIds(pending: LabelRequest): string[] {
  const answered = new Set([...pending.received.map((r) => r.id), ...(pending.unusable ?? [])]);
  return pending.ids.filter((id) => !answered.has(id));
}

/** Frames marked unusable that no reserve frame has replaced yet (the reserve is used in order). */
export function unreplacedUnusable(pending: LabelRequest): string[] {
  return (pending.unusable ?? []).filter((id) => !(pending.replacementOf ?? {})[id]);
}
