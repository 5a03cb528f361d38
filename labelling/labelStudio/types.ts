/** The parts of Label Studio's JSON (1.23) that this project reads or writes. */

/** One region of an annotation or prediction. */
export interface LsResult {
  id?: string;
  type: string;
  from_name: string;
  to_name: string;
  original_width?: number;
  original_height?: number;
  image_rotation?: number;
  origin?: string;
  value: Record<string, unknown>;
}

export interface LsBrushValue {
  format: 'rle';
  rle: number[];
  brushlabels: string[];
}

export interface LsPolygonValue {
  points: [number, number][];
  polygonlabels: string[];
  closed?: boolean;
}

/** What `POST /api/predictions/` takes besides the task id. */
export interface LsPredictionInput {
  model_version: string;
  score: number;
  result: LsResult[];
}

export interface LsPrediction extends LsPredictionInput {
  id: number;
  task: number;
}

/** An annotation as the REST API and the webhooks return it. */
export interface LsAnnotation {
  id: number;
  task?: number;
  project?: number;
  result: LsResult[];
  /** True when the annotator skipped the task. */
  was_cancelled?: boolean;
  ground_truth?: boolean;
  /** A user id, or the user object in some exports. */
  completed_by?: number | { id?: number; email?: string } | null;
  /** Seconds the annotator spent. */
  lead_time?: number | null;
  created_at?: string;
  updated_at?: string;
}

export interface LsTask<Data = Record<string, unknown>> {
  id: number;
  data: Data;
  project?: number;
  annotations?: LsAnnotation[];
  predictions?: LsPrediction[];
  total_annotations?: number;
  cancelled_annotations?: number;
}

export interface LsProject {
  id: number;
  title: string;
  label_config: string;
  description?: string;
}

export type LsWebhookAction = 'ANNOTATION_CREATED' | 'ANNOTATION_UPDATED' | 'ANNOTATIONS_CREATED' | 'ANNOTATIONS_DELETED' | 'TASKS_CREATED' | 'TASKS_DELETED';

export interface LsWebhook {
  id: number;
  project: number | null;
  url: string;
  headers: Record<string, string>;
  actions: LsWebhookAction[];
  send_payload: boolean;
  send_for_all_actions: boolean;
  is_active: boolean;
}

/** The body Label Studio POSTs to a webhook for ANNOTATION_CREATED / ANNOTATION_UPDATED. */
export interface LsAnnotationWebhookBody<Data = Record<string, unknown>> {
  action: LsWebhookAction;
  annotation: LsAnnotation;
  task: LsTask<Data>;
  project?: { id: number; title?: string };
}
