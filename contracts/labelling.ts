/** What doctors and labelling tools see and send: the labelling request and mask submissions. */
import type { LabelPurpose } from './names';

export interface LabellingRequestItem {
  id: string;
  group: string;
  /** The set this mask fills (absent: a phase's query, as before purposes existed). */
  purpose?: LabelPurpose;
  score: number;
  imageKey: string;
  imageUrl: string;
  uncertaintyMapKey?: string;
  uncertaintyMapUrl?: string;
  /** The phase's segmentation model's mask of this image (0/255 PNG, the image's size): a draft to correct. */
  predictionKey?: string;
  predictionUrl?: string;
  /** Where a labelling tool may PUT the mask (PNG, the image's size). */
  maskUploadKey: string;
  maskUploadUrl: string;
}

/** `runs/<id>/phase-<n>/request.json`. */
export interface LabellingRequest {
  runId: string;
  phase: number;
  datasetId: string;
  createdAt: string;
  /** [height, width] of the images, and of the masks expected back. */
  size: [number, number];
  /** Grey value of the structure when masks come as multi-label maps (the run's `maskLabel`). */
  maskLabel?: number;
  items: LabellingRequestItem[];
}

/** Who sent a mask, and how (recorded with each label). */
export interface LabelProvenance {
  /** 'cli', 'http', 'label-studio', 'oracle', … */
  source: string;
  /** The annotator as the tool names them (Label Studio's `completed_by`). */
  annotator?: string;
  /** Seconds the annotator spent (Label Studio's `lead_time`). */
  leadTimeS?: number;
}

/**
 * A mask the submission path has checked and stored: the canonical 0/255 PNG under the run's per-phase label
 * prefix, named by its content hash, with the foreground pixel count the merge verifies.
 */
export interface SubmittedLabel extends LabelProvenance {
  id: string;
  /** '' for a frame marked unusable. */
  maskKey: string;
  /** sha256 of the 0/1 mask and its size (`data/masks.ts` maskContentHash); `UNUSABLE_FRAME` for a frame marked unusable. */
  contentHash: string;
  foreground: number;
  /** The doctor cannot label this frame (no LV visible, off-axis): it leaves the pool and is replaced in the request. */
  unusable?: true;
}

/** The content hash a frame marked unusable carries instead of a mask's. */
export const UNUSABLE_FRAME = 'unusable';

export interface LabelsSubmission {
  phase: number;
  items: SubmittedLabel[];
}

export interface SubmissionOutcome {
  /** Ids newly received. */
  accepted: string[];
  /** Ids whose earlier mask this submission replaced. */
  replaced: string[];
  /** Ids already received with exactly this mask: nothing changed. */
  duplicates: string[];
  rejected: { id?: string; reason: string }[];
  remaining: string[];
}

/** Messages of update-validator rejections the submission path turns into answers (see labelling/submit.ts). */
export const SUBMISSION_REJECTIONS = {
  /** Every item was already received with the same mask: an idempotent success, kept out of the history. */
  alreadyReceived: 'already received',
  /** No request is open, or another phase's is. */
  notWaiting: 'not waiting',
} as const;
