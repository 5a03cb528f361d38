/**
 * Rejected submissions, kept beside the run (not in its workflow history, which a tool resending bad masks would
 * otherwise grow): `runs/<id>/phase-<n>/rejections/<hash>.json`, one object per distinct refusal (the same refusal
 * again — a poller or a retrying tool — only refreshes its time). `status` shows the latest.
 */
import { createHash } from 'node:crypto';
import { runKeys } from '../contracts';
import type { ObjectStore } from '../store/objectStore';

export interface RejectionRecord {
  at: string;
  phase: number;
  source: string;
  annotator?: string;
  rejected: { id?: string; reason: string }[];
}

const prefix = (runId: string, phase: number) => `${runKeys.phase(runId, phase)}/rejections/`;

export async function recordRejection(store: ObjectStore, runId: string, record: RejectionRecord): Promise<void> {
  const identity = JSON.stringify([record.source, record.annotator ?? '', record.rejected.map((r) => [r.id ?? '', r.reason])]);
  const key = `${prefix(runId, record.phase)}${createHash('sha256').update(identity).digest('hex').slice(0, 24)}.json`;
  await store.putJson(key, record);
}

/** The latest rejections of a phase, newest first. */
export async function latestRejections(store: ObjectStore, runId: string, phase: number, limit = 20): Promise<RejectionRecord[]> {
  const keys = (await store.list(prefix(runId, phase))).filter((k) => k.endsWith('.json'));
  const records = await Promise.all(keys.map((key) => store.getJson<RejectionRecord>(key)));
  return records.sort((a, b) => b.at.localeCompare(a.at)).slice(0, limit);
}
