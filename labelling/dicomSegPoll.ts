/**
 * Doctors' DICOM SEG objects polled from the hospital's archive over DICOMweb (`labels sync --dicomweb`): QIDO-RS finds
 * the SEG instances (Modality SEG, optionally narrowed by more query parameters), those of the studies the waiting
 * phase asked frames of are retrieved with WADO-RS, and each goes on its own through the SEG matching
 * (./dicomSegLabels.ts) and the one submission path (./submit.ts), so a bad SEG does not hold back the good ones.
 *
 * The archive holds every SEG ever made: a SEG none of whose frames the phase requested (an earlier phase's, another
 * study's) and a model's SEG (Segment Algorithm Type AUTOMATIC, as `predict` writes) are left alone, not refused.
 * Studies are recognised by the salted hash of their UID (the items' split group), so no UID needs to be kept.
 * Outcomes name a SEG by `seg-<salted hash of its SOP Instance UID>`.
 */
import type { Client } from '@temporalio/client';
import type { SubmissionOutcome } from '../contracts';
import { dicomStudyGroup, dicomUidHash } from '../data/import/dicom';
import type { DicomWebClient } from '../data/import/dicomwebClient';
import { readItems } from '../data/manifest';
import type { ObjectStore } from '../store/objectStore';
import { matchSegFiles, recordSegRefusals } from './dicomSegLabels';
import { pendingRequest, SubmissionError, submitMasks } from './submit';

/** The source recorded with masks and refusals that came from the archive. */
export const DICOMWEB_SOURCE = 'dicomweb';

export interface SegPollOutcome {
  /** `seg-<hash>`. */
  seg: string;
  outcome?: SubmissionOutcome;
  rejected?: string;
  skipped?: string;
}

export interface SegPollOptions {
  salt: string;
  /** The segment to take from SEGs with several: its number or label. */
  segment?: string | number;
  /** More QIDO-RS parameters for the SEG search, e.g. StudyDate=20240101-. */
  query?: URLSearchParams;
}

export async function pollDicomWebSegs(client: Client, store: ObjectStore, pacs: DicomWebClient, workflowId: string, options: SegPollOptions): Promise<SegPollOutcome[]> {
  const { request } = await pendingRequest(client, store, workflowId);
  const items = await readItems(store, request.datasetId);
  const requestedIds = new Set(request.items.map((i) => i.id));
  const studies = new Set(items.filter((i) => requestedIds.has(i.id) && i.splitGroup).map((i) => i.splitGroup!));
  const query = new URLSearchParams(options.query);
  query.set('Modality', 'SEG');
  const segs = (await pacs.searchInstances(query, 'searching SEG instances')).filter((ref) => studies.has(dicomStudyGroup(options.salt, ref.study)));

  const outcomes: SegPollOutcome[] = [];
  for (const [index, ref] of segs.entries()) {
    const name = `seg-${dicomUidHash(options.salt, ref.instance)}`;
    const bytes = await pacs.retrieveInstance(ref, `SEG ${index + 1} of ${segs.length}`);
    const matched = await matchSegFiles(request, items, [{ name, bytes }], { ...options, source: DICOMWEB_SOURCE, onlyDoctorsForRequest: true });
    if (matched.skipped.length > 0) {
      outcomes.push({ seg: name, skipped: matched.skipped[0].reason });
      continue;
    }
    if (matched.refused.length > 0) {
      await recordSegRefusals(store, workflowId, request.phase, DICOMWEB_SOURCE, matched.refused);
      outcomes.push({ seg: name, rejected: matched.refused[0].reason });
      continue;
    }
    try {
      outcomes.push({ seg: name, outcome: await submitMasks(client, store, workflowId, matched.uploads, { phase: request.phase, source: DICOMWEB_SOURCE }) });
    } catch (error) {
      if (!(error instanceof SubmissionError)) throw error;
      outcomes.push({ seg: name, rejected: error.message });
    }
  }
  return outcomes;
}
