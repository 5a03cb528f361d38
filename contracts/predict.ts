/**
 * `predict` and `export`: a trained segmentation model applied to new images (a folder of PNG/JPEG, a CAMUS folder,
 * DICOM files, or a dataset's items), at their original size; and the self-contained package a model leaves in.
 * The plan (every image and where it comes from) is an object in the store; payloads carry its key.
 */
import type { ActivityTimeouts, DropoutChoice, TaskQueues } from './common';
import type { ArchName, PredictEngine } from './names';

/** Folder formats `predict --input` reads (`--format`; detected when absent). */
export const PREDICT_INPUT_FORMATS = ['png', 'camus', 'dicom'] as const;
export type PredictInputFormat = (typeof PREDICT_INPUT_FORMATS)[number];

/** A region of the original frame, in original pixels (the ultrasound region a DICOM frame is cut to). */
export interface PixelRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where an image's pixels are. */
export type PredictSource =
  /** The full original frame as a 16-bit grey PNG in the object store (a local input uploaded for the workers), and its hash. */
  | { kind: 'stored-frame'; key: string; sha256: string }
  /** A dataset item: its stored image is the crop region, already resized to the dataset size. */
  | { kind: 'dataset'; datasetId: string; itemId: string }
  /**
   * A local file (only in the CLI process, `--local`): a PNG/JPEG/TIFF, or one frame (1-based) of a DICOM or CAMUS
   * volume; `stamp` (size and modification time) tells a changed file from the one predicted before.
   */
  | { kind: 'file'; path: string; format: PredictInputFormat; frame: number; stamp: string };

export interface PredictItem {
  /** File-name-safe id: outputs are `<id>.png`. */
  id: string;
  /** The video (or patient view) the frame belongs to: end-diastole / end-systole candidates are per group. */
  group: string;
  /** Position of the frame in its group (frame number for videos), for ordering. */
  order: number;
  /** [height, width] of the whole original frame: every output has this size. */
  originalSize: [number, number];
  /** The part of the frame the model sees; outside it every output pixel is background. Absent: the whole frame. */
  crop?: PixelRegion;
  /** [row, column] mm per pixel, when the source records it. */
  spacing?: [number, number];
  source: PredictSource;
}

/** `predict/<id>/plan.json` (or the local equivalent): every image, in batch order. */
export interface PredictPlan {
  predictId: string;
  createdAt: string;
  /** Images per batch: a batch is the unit of work, of heartbeats and of resumption. */
  batchSize: number;
  /** What was given (`--input DIR` as a folder name, or `--dataset ID`), for the summary. */
  description: string;
  items: PredictItem[];
}

/** The models a prediction uses. */
export interface PredictModel {
  /** The segmentation model's prefix: `config.json` + `final/` (the layout every trained model has). */
  modelKey: string;
  /**
   * The model MC dropout samples for `--uncertainty`: one trained with dropout (an active-learning phase's
   * `model-unc`), or absent: the segmentation model's own weights with `PREDICT_FALLBACK_DROPOUT` before its head.
   */
  uncertaintyKey?: string;
}

/** Dropout added to a model trained without it, when no uncertainty model exists (the CLI's default rate). */
export const PREDICT_FALLBACK_DROPOUT: DropoutChoice<'head'> = { strategy: 'head', rate: 0.2 };

export interface PredictOptions {
  /** MC-dropout uncertainty: a map PNG per image and a score (mean predictive entropy, `mfe`). */
  uncertainty: boolean;
  /** The LV contour drawn on the frame. */
  overlay: boolean;
  /** Stochastic passes per image. */
  samples: number;
  /** Dropout masks are seeded (seed + batch index): the same inputs give the same maps, locally and on workers. */
  seed: number;
  /**
   * What computes the segmentation probabilities (and the MC prefix with uncertainty; the stochastic tail runs in
   * tfjs either way). The CLI always writes it; absent in requests recorded before it did, which means `tf`
   * (`recordedEngine`).
   */
  engine?: PredictEngine;
}

/** The predict workflow's input. */
export interface PredictInput {
  planKey: string;
  batchCount: number;
  imageCount: number;
  /** Outputs go under this prefix (`predict/<id>/out`), laid out as `predictOutputKeys` says. */
  outputPrefix: string;
  model: PredictModel;
  options: PredictOptions;
  /** Batches in flight at once (one per accelerator worker that should share the work). */
  parallelism?: number;
  taskQueues: TaskQueues;
  timeouts?: ActivityTimeouts;
  /** Carried across continueAsNew. */
  state?: PredictState;
}

export interface PredictState {
  nextBatch: number;
  batchesDone: number;
  imagesDone: number;
  /** Batches computed by this run, and batches found already written (a restart with the same id) and skipped. */
  computedBatches: number;
  skippedBatches: number;
}

/** The `predictProgress` query. */
export interface PredictProgress extends PredictState {
  stage: 'predicting' | 'writing-tables' | 'done';
  batchCount: number;
  imageCount: number;
}

export interface PredictBatchRequest {
  planKey: string;
  batch: number;
  outputPrefix: string;
  model: PredictModel;
  options: PredictOptions;
}

export interface PredictBatchOutcome {
  batch: number;
  images: number;
  /** False when the batch's outputs were already written by an earlier attempt or run (nothing was redone). */
  computed: boolean;
  ms: number;
}

export interface PredictTablesRequest {
  planKey: string;
  outputPrefix: string;
  batchCount: number;
}

export interface PredictTablesOutcome {
  imagesCsvKey: string;
  videosCsvKey: string;
  images: number;
  videos: number;
}

export interface PredictResult extends PredictTablesOutcome {
  outputPrefix: string;
  batchCount: number;
  computedBatches: number;
  skippedBatches: number;
  /** Stopped (`client.ts stop`) before every batch was predicted: the tables cover the batches done. */
  stopped?: boolean;
}

/** One image's results (kept in its batch's record; the CSV is built from them). */
export interface PredictionRow {
  id: string;
  group: string;
  order: number;
  height: number;
  width: number;
  /** LV pixels of the mask at the original size. */
  areaPx: number;
  /** `areaPx` × row spacing × column spacing, when the spacing is known. */
  areaMm2?: number;
  /** Mean MFE over the model's input pixels (with `--uncertainty`). */
  uncertainty?: number;
  /** Output files, relative to the output root. */
  mask: string;
  overlay?: string;
  uncertaintyMap?: string;
}

/** `batches/batch-NNNN.json`: written last for a batch, so its presence means the batch's files are complete. */
export interface PredictBatchRecord {
  batch: number;
  /** sha256 of what determines the outputs (models, options, the batch's items): a record of other work is not reused. */
  fingerprint: string;
  writtenAt: string;
  ms: number;
  rows: PredictionRow[];
}

/** End-diastole (largest LV area) and end-systole (smallest) candidates of one video. */
export interface VideoExtremes {
  group: string;
  frames: number;
  ed: { id: string; areaPx: number; areaMm2?: number };
  es: { id: string; areaPx: number; areaMm2?: number };
}

/** `metadata.json`'s `format` (and the ONNX file's `echo-al.metadata`'s): what tells a package of this project's. */
export const MODEL_PACKAGE_FORMAT = 'echo-al-segmentation-model';

/** Everything a package's `metadata.json` says (see export/package.ts). */
export interface ModelPackageMetadata {
  format: typeof MODEL_PACKAGE_FORMAT;
  formatVersion: 1;
  architecture: ArchName;
  encoder: string;
  encoderDepth: number;
  widthScale: number;
  /** [height, width, channels] the model takes. */
  inputShape: [number, number, number];
  classes: number;
  input: {
    height: number;
    width: number;
    channels: number;
    /** How pixels must be given. */
    normalisation: string;
    /** How images of another size are brought to the input size (the loader does it). */
    resize: string;
  };
  output: { activation: 'sigmoid' | 'softmax'; threshold: number; description: string };
  /** The full model configuration, for rebuilding with the zoo (`ml/zoo` buildModel). */
  config: Record<string, unknown>;
  /** Where the model came from; null when unknown. */
  source: {
    modelKey: string;
    runId: string | null;
    phase: number | null;
    datasetId: string | null;
    labelledCount: number | null;
    validationIoU: number | null;
    testIoU: number | null;
  };
  code: { version: string; gitCommit: string | null };
  exportedAt: string;
  /** A model trained with dropout for MC uncertainty, in `uncertainty/` (active-learning runs have one per phase). */
  uncertainty: { path: string; dropout: { strategy: string; rate: number } } | null;
}
