/**
 * Pure conversions between the project's labelling requests and Label Studio's JSON: request item → task,
 * model mask → prediction, doctor's annotation → mask. No I/O.
 */
import type { LabelPurpose } from '../../contracts';
import { DATA_FIELDS, LV_LABEL, TAGS, UNUSABLE_CHOICE } from './config';
import { polygonToMask, type PercentPoint } from './polygon';
import { ALPHA_THRESHOLD, brushRleToRgba, maskToBrushRle } from './rle';
import type { LsAnnotation, LsBrushValue, LsPolygonValue, LsPredictionInput, LsResult } from './types';

/** The fields of a labelling request item a task needs (the rest, such as upload URLs, never leaves the project). */
export interface TaskSourceItem {
  id: string;
  group?: string;
  score: number;
  imageUrl: string;
  uncertaintyMapUrl?: string;
  /** The set this mask fills (validation, test, initial); absent for a phase's query. */
  purpose?: LabelPurpose;
}

/** How a task's caption names the set its mask fills. */
const PURPOSE_CAPTIONS: Record<LabelPurpose, string> = {
  validation: 'for the validation set',
  test: 'for the test set',
  initial: 'for the initial training set',
  query: 'chosen by the model',
};

export interface TaskContext {
  runId: string;
  phase: number;
}

/** A task's `data`, keyed by the config's field names. */
export interface EchoTaskData {
  image: string;
  uncertainty_map: string;
  caption: string;
  echo_score: number;
  echo_item_id: string;
  echo_group: string;
  echo_run_id: string;
  echo_phase: number;
  /** '' for a phase's query. */
  echo_purpose: string;
}

export interface EchoTask {
  data: EchoTaskData;
}

export class TaskConversionError extends Error {}

function checkUrl(what: string, url: string, itemId: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TaskConversionError(`item '${itemId}': ${what} '${url}' is not an absolute URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TaskConversionError(`item '${itemId}': ${what} must be http(s), not ${parsed.protocol}`);
  }
  // Label Studio shows task data to every annotator: a URL must not carry a login.
  if (parsed.username || parsed.password) {
    throw new TaskConversionError(`item '${itemId}': ${what} carries a user name or password; give a presigned URL instead`);
  }
  return url;
}

/** The Label Studio task for one requested image. Only display URLs and identifiers go in, never upload URLs. */
export function taskFromRequestItem(item: TaskSourceItem, context: TaskContext): EchoTask {
  if (!item.id) throw new TaskConversionError('a request item has no id');
  if (!Number.isFinite(item.score)) throw new TaskConversionError(`item '${item.id}': score ${item.score} is not a number`);
  const mapUrl = item.uncertaintyMapUrl ? checkUrl('uncertaintyMapUrl', item.uncertaintyMapUrl, item.id) : '';
  const caption = `${item.id}${item.purpose ? ` · ${PURPOSE_CAPTIONS[item.purpose]}` : ''} · uncertainty score ${item.score.toPrecision(4)}`
    + ` · run ${context.runId}, phase ${context.phase}${mapUrl ? '' : ' · no uncertainty map for this image'}`;
  const data: EchoTaskData = {
    [DATA_FIELDS.image]: checkUrl('imageUrl', item.imageUrl, item.id),
    [DATA_FIELDS.uncertaintyMap]: mapUrl,
    [DATA_FIELDS.caption]: caption,
    [DATA_FIELDS.score]: item.score,
    [DATA_FIELDS.itemId]: item.id,
    [DATA_FIELDS.group]: item.group ?? '',
    [DATA_FIELDS.runId]: context.runId,
    [DATA_FIELDS.phase]: context.phase,
    [DATA_FIELDS.purpose]: item.purpose ?? '',
  };
  return { data };
}

/** A model's mask (0/1, H×W) as a Label Studio prediction; an empty mask gives a prediction without regions. */
export function predictionFromMask(mask: Uint8Array, width: number, height: number, modelVersion: string, score: number): LsPredictionInput {
  const rle = maskToBrushRle(mask, width, height);
  const empty = !mask.some((v) => v !== 0);
  const value: LsBrushValue = { format: 'rle', rle, brushlabels: [LV_LABEL] };
  const region: LsResult = {
    id: 'model-lv',
    type: 'brushlabels',
    from_name: TAGS.brush,
    to_name: TAGS.image,
    original_width: width,
    original_height: height,
    image_rotation: 0,
    value: value as unknown as Record<string, unknown>,
  };
  return { model_version: modelVersion, score, result: empty ? [] : [region] };
}

export type AnnotationKind = 'brush' | 'polygon' | 'mixed';

export interface AnnotationMasks {
  /** W×H×4; alpha is the union of the regions (brush alpha as drawn, polygons 255). */
  rgba: Uint8Array;
  /** 0/1, H×W: alpha ≥ 128. */
  mask: Uint8Array;
  kind: AnnotationKind;
  regions: number;
  completedBy: number | null;
  completedByEmail?: string;
  /** Seconds the annotator spent, as Label Studio measured. */
  leadTime: number | null;
  updatedAt: string | null;
}

/** An annotation that marks the frame unusable (the config's one choice) instead of outlining it. */
export interface AnnotationUnusable {
  unusable: true;
  completedBy: number | null;
  completedByEmail?: string;
  leadTime: number | null;
  updatedAt: string | null;
}

export type AnnotationConversion = AnnotationMasks | AnnotationUnusable | { error: string };

function provenanceOf(annotation: LsAnnotation): Pick<AnnotationMasks, 'completedBy' | 'completedByEmail' | 'leadTime' | 'updatedAt'> {
  const by = annotation.completed_by;
  const completedBy = typeof by === 'number' ? by : by?.id ?? null;
  const completedByEmail = typeof by === 'object' && by?.email ? by.email : undefined;
  return { completedBy, ...(completedByEmail ? { completedByEmail } : {}), leadTime: annotation.lead_time ?? null, updatedAt: annotation.updated_at ?? null };
}

/** Whether a result is the config's unusable choice, ticked. */
function marksUnusable(result: LsResult): boolean {
  if (String(result.type ?? '').toLowerCase() !== 'choices' || result.from_name !== TAGS.unusable) return false;
  const choices = (result.value ?? {}).choices;
  return Array.isArray(choices) && choices.includes(UNUSABLE_CHOICE);
}

function checkLabels(labels: unknown, key: string, index: number): string | undefined {
  if (!Array.isArray(labels) || labels.length === 0) return `region ${index} has no ${key}`;
  const other = labels.find((l) => l !== LV_LABEL);
  if (other !== undefined) return `region ${index} is labelled '${String(other)}', not '${LV_LABEL}'`;
  return undefined;
}

/**
 * A doctor's annotation as one mask at the image's size (width × height). Every brush and polygon region
 * is unioned. The config's unusable choice (alone) marks the frame unusable. Anything else — no regions, a skipped annotation, another label or region type, another size —
 * is an `{ error }` saying why, so the caller can reject that item and keep the rest.
 */
export function annotationToMasks(annotation: LsAnnotation, width: number, height: number): AnnotationConversion {
  const id = `annotation ${annotation.id}`;
  if (annotation.was_cancelled) return { error: `${id} was skipped (cancelled) by the annotator` };
  const all = annotation.result ?? [];
  const unusable = all.some(marksUnusable);
  // The choice tag with nothing ticked is no region either.
  const results = all.filter((r) => r.from_name !== TAGS.unusable);
  if (unusable) {
    if (results.length > 0) return { error: `${id} marks the frame unusable and outlines it as well; do one or the other` };
    return { unusable: true, ...provenanceOf(annotation) };
  }
  if (results.length === 0) return { error: `${id} has no regions` };
  const rgba = new Uint8Array(width * height * 4);
  let brushes = 0;
  let polygons = 0;
  for (const [index, result] of results.entries()) {
    const type = String(result.type ?? '').toLowerCase();
    if (result.to_name !== TAGS.image) return { error: `${id}: region ${index} is on '${result.to_name}', not the '${TAGS.image}' image` };
    const sizeGiven = result.original_width !== undefined || result.original_height !== undefined;
    if (sizeGiven && (result.original_width !== width || result.original_height !== height)) {
      return { error: `${id}: region ${index} was drawn on a ${result.original_width}×${result.original_height} image; the image is ${width}×${height}` };
    }
    if (result.image_rotation) return { error: `${id}: region ${index} was drawn on an image rotated by ${result.image_rotation}°` };
    const value = result.value ?? {};
    if (type === 'brushlabels' && result.from_name === TAGS.brush) {
      const bad = checkLabels(value.brushlabels, 'brushlabels', index);
      if (bad) return { error: `${id}: ${bad}` };
      const brush = value as unknown as Partial<LsBrushValue>;
      if (!Array.isArray(brush.rle)) return { error: `${id}: brush region ${index} has no RLE (format '${String(brush.format)}')` };
      let regionRgba: Uint8Array;
      try {
        regionRgba = brushRleToRgba(brush.rle, width, height);
      } catch (error) {
        return { error: `${id}: brush region ${index}: ${(error as Error).message}` };
      }
      for (let a = 3; a < rgba.length; a += 4) if (regionRgba[a] > rgba[a]) rgba[a] = regionRgba[a];
      brushes++;
    } else if (type === 'polygonlabels' && result.from_name === TAGS.polygon) {
      const bad = checkLabels(value.polygonlabels, 'polygonlabels', index);
      if (bad) return { error: `${id}: ${bad}` };
      const polygon = value as unknown as Partial<LsPolygonValue>;
      let regionMask: Uint8Array;
      try {
        regionMask = polygonToMask((polygon.points ?? []) as PercentPoint[], width, height);
      } catch (error) {
        return { error: `${id}: polygon region ${index}: ${(error as Error).message}` };
      }
      for (let i = 0; i < regionMask.length; i++) if (regionMask[i]) rgba[i * 4 + 3] = 255;
      polygons++;
    } else {
      return { error: `${id}: region ${index} has type '${result.type}' from '${result.from_name}'; only '${TAGS.brush}' brushes and '${TAGS.polygon}' polygons are read` };
    }
  }
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; i++) {
    const alpha = rgba[i * 4 + 3];
    // Label Studio's convention: every channel carries the alpha.
    rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = alpha;
    mask[i] = alpha >= ALPHA_THRESHOLD ? 1 : 0;
  }
  return { rgba, mask, kind: brushes && polygons ? 'mixed' : brushes ? 'brush' : 'polygon', regions: brushes + polygons, ...provenanceOf(annotation) };
}
