/**
 * Prediction with a trained segmentation model, one batch at a time, at the images' original size:
 *
 *   frame → crop region → Lanczos-3 to the model's input (export/inference.ts, shared with the package loader) →
 *   probabilities (the engine's: tfjs, or ONNX Runtime on the converted model) → foreground mask → nearest-neighbour back to the crop region, background outside it → mask PNG (0/255),
 *   LV area in pixels (and mm² with a known spacing), optional overlay (the LV contour drawn on the frame) and
 *   optional MC-dropout uncertainty (`mcScorePool`, predictive entropy, masks seeded by seed + batch index; the map
 *   bilinear to the crop region and written by the uncertainty-map writer).
 *
 * A batch writes its images, then its record (`batches/batch-NNNNN.json`, the rows of the CSV) last: a batch whose
 * record exists with the same fingerprint (models, options and the batch's items) is complete and is never redone,
 * whether the work restarts after a crash, a retry or a new run with the same id. The tables (predictions.csv,
 * videos.csv) are built from the records. The same code runs in the CLI (`--local`) and in the accelerator
 * activity; only where frames come from (`FrameSource`) and where outputs go (a `BlobStore`) differ.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import {
  modelKeys, PREDICT_FALLBACK_DROPOUT, type PredictEngine, predictKeys, scoringKeys, type PredictBatchRecord, type PredictionRow, type PredictItem, type PredictModel,
  type PredictOptions, type VideoExtremes,
} from '../contracts';
import { foreground, type GreyFrame, mapToFrame, maskToFrame, modelInput, resizeGrey } from './inference';
import { type BlobStore, MissingKeyError } from '../store/blobStore';
import { type MCPrefixRunner, mcScorePool } from './mcSampling';
import { loadCheckpoint } from './train/checkpoint';
import type { DropoutConfig, ModelConfig } from './types';
import { UncertaintyMapWriter } from './uncertaintyMap';
import { buildModel, type SegmentationNet } from './zoo';

export type { GreyFrame };

/** The uncertainty function of maps and scores: predictive entropy, the default acquisition function. */
export const PREDICT_UNCERTAINTY_FUNCTION = 'mfe' as const;

/** What a frame source gives for an item: the whole frame, or (dataset items) only the crop region, resized. */
export interface LoadedFrame {
  /** The whole original frame (`originalSize`). */
  frame?: GreyFrame;
  /** The crop region as a dataset stores it (cut and resized to the dataset size): the original frame is not kept. */
  region?: GreyFrame;
}

export interface FrameSource {
  load(item: PredictItem): Promise<LoadedFrame>;
}

/**
 * What turns a batch of model inputs into probabilities. The tfjs model is one (`tfEngine`); ONNX Runtime on the
 * model's ONNX export is the other (export/onnx/session.ts: ml may not import export, so it is passed in).
 */
export interface SegmentationEngine {
  name: PredictEngine;
  /** [height, width, channels] the model takes. */
  inputShape: readonly [number, number, number];
  /** [batch, H, W, classes] probabilities of [batch, H, W, channels] inputs; the caller disposes the result. */
  probabilities(inputs: tf.Tensor4D): Promise<tf.Tensor4D>;
  dispose(): void;
}

/** A prefix runner for MC sampling and what releases it. */
export interface MCPrefixEngine {
  run: MCPrefixRunner;
  dispose(): void;
}

/**
 * Builds the engines of loaded models (the nets stay owned by the caller): the segmentation model's, and optionally
 * one for the uncertainty model's MC prefix (absent or undefined: the prefix runs in tfjs).
 */
export interface EngineFactory {
  segmentation(net: SegmentationNet): Promise<SegmentationEngine>;
  mcPrefix?(net: SegmentationNet): Promise<MCPrefixEngine | undefined>;
}

const TF_ENGINES: EngineFactory = { segmentation: async (net) => tfEngine(net) };

/** The tfjs model itself as the engine. */
export function tfEngine(net: SegmentationNet): SegmentationEngine {
  const [height, width, channels] = net.model.inputs[0].shape.slice(1) as number[];
  return {
    name: 'tf',
    inputShape: [height, width, channels],
    probabilities: async (inputs) => net.model.predict(inputs) as tf.Tensor4D,
    dispose: () => undefined,
  };
}

export interface PredictionModels {
  segmentation: SegmentationEngine;
  /** A model with MC dropout (for `--uncertainty`). */
  uncertainty?: SegmentationNet;
  /** Runs the uncertainty model's deterministic prefix outside tfjs, when the engine can. */
  uncertaintyPrefix?: MCPrefixEngine;
  dispose(): void;
}

async function readJson<T>(store: BlobStore, key: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await store.getBytes(key))) as T;
}

/** A stored model's configuration (`<modelKey>/config.json`); a MissingKeyError names a key that is not a model. */
export async function readModelConfig(store: BlobStore, modelKey: string): Promise<ModelConfig> {
  return readJson<ModelConfig>(store, modelKeys.config(modelKey));
}

/**
 * Builds a stored model (config.json) and loads its final weights; with `dropout`, built with that dropout instead
 * (MCDropout layers hold no weights, so a model trained without dropout loads into it unchanged).
 */
export async function loadStoredModel(store: BlobStore, modelKey: string, dropout?: DropoutConfig): Promise<SegmentationNet> {
  const config = await readModelConfig(store, modelKey);
  const net = buildModel(dropout ? { ...config, dropout } : config);
  try {
    await loadCheckpoint(net.model, undefined, store, modelKeys.finalWeights(modelKey), { weightsOnly: true });
  } catch (error) {
    net.model.dispose();
    throw error;
  }
  return net;
}

/**
 * The segmentation model and, when asked for, the model MC dropout samples: `model.uncertaintyKey` if given; else
 * the segmentation model itself when it was trained with dropout; else its weights with `PREDICT_FALLBACK_DROPOUT`.
 */
export async function loadPredictionModels(store: BlobStore, model: PredictModel, withUncertainty: boolean,
  engines: EngineFactory = TF_ENGINES): Promise<PredictionModels> {
  const segmentation = await loadStoredModel(store, model.modelKey);
  let uncertainty: SegmentationNet | undefined;
  let engine: SegmentationEngine | undefined;
  let uncertaintyPrefix: MCPrefixEngine | undefined;
  const disposeNets = () => {
    engine?.dispose();
    uncertaintyPrefix?.dispose();
    segmentation.model.dispose();
    if (uncertainty && uncertainty !== segmentation) uncertainty.model.dispose();
  };
  try {
    if (withUncertainty) {
      if (model.uncertaintyKey) uncertainty = await loadStoredModel(store, model.uncertaintyKey);
      else if (segmentation.config.dropout.strategy === 'none') uncertainty = await loadStoredModel(store, model.modelKey, PREDICT_FALLBACK_DROPOUT);
      else uncertainty = segmentation;
    }
    engine = await engines.segmentation(segmentation);
    if (uncertainty && engines.mcPrefix) uncertaintyPrefix = await engines.mcPrefix(uncertainty);
  } catch (error) {
    disposeNets();
    throw error;
  }
  return { segmentation: engine, uncertainty, uncertaintyPrefix, dispose: disposeNets };
}

/** Frames travel as 16-bit grey: both paths (local files, uploaded PNGs) quantise the same way, so they agree exactly. */
export function toUint16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = Math.round((v < 0 ? 0 : v > 1 ? 1 : v) * 65535);
  }
  return out;
}

export function fromUint16(values: Uint16Array, width: number, height: number): GreyFrame {
  const data = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = values[i] / 65535;
  return { width, height, data };
}

/** A frame as a lossless 16-bit grey PNG (how local frames are uploaded for the workers). */
export async function encodeFramePng(frame: GreyFrame): Promise<Uint8Array> {
  const png = await sharp(toUint16(frame.data), { raw: { width: frame.width, height: frame.height, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

export async function decodeFramePng(bytes: Uint8Array): Promise<GreyFrame> {
  const { data, info } = await sharp(bytes).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  const values = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
  const grey = info.channels === 1 ? values : values.filter((_, i) => i % info.channels === 0);
  return fromUint16(Uint16Array.from(grey), info.width, info.height);
}

async function rawPng(values: Uint8Array, height: number, width: number, channels: 1 | 3): Promise<Uint8Array> {
  const png = await sharp(values, { raw: { width, height, channels } }).png().toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** Contour width of overlays: one pixel up to 300 px frames, then wider so it stays visible. */
function contourRadius(height: number, width: number): number {
  return Math.max(1, Math.round(Math.min(height, width) / 300));
}

/** The overlay colour (orange, as the labelling tools draw the model's drafts). */
const CONTOUR_RGB = [255, 128, 0];

/** RGB bytes of the frame with the mask's boundary band drawn in the contour colour. */
function overlayRgb(frame: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [height, width] = frame.shape;
    const r = contourRadius(height, width);
    const inside = mask.toFloat().expandDims(0).expandDims(3) as tf.Tensor4D;
    // Erosion by a (2r+1)² square = 1 − dilation of the outside; the frame's edge counts as outside.
    const outside = tf.pad(tf.sub(1, inside), [[0, 0], [r, r], [r, r], [0, 0]], 1) as tf.Tensor4D;
    const eroded = tf.sub(1, tf.maxPool(outside, 2 * r + 1, 1, 'valid'));
    const contour = tf.sub(inside, eroded).squeeze([0]).greater(0) as tf.Tensor3D;
    const grey = frame.mul(255).round().clipByValue(0, 255).expandDims(2).tile([1, 1, 3]);
    return tf.where(contour.tile([1, 1, 3]), tf.tensor1d(CONTOUR_RGB).reshape([1, 1, 3]).tile([height, width, 1]), grey).toInt() as tf.Tensor3D;
  });
}

/** The frame an overlay is drawn on: the original, or a dataset's stored region put back in place on black. */
function overlayBackground(loaded: LoadedFrame, item: PredictItem): tf.Tensor2D {
  return tf.tidy(() => {
    if (loaded.frame) return tf.tensor2d(loaded.frame.data, [loaded.frame.height, loaded.frame.width]);
    const region = loaded.region!;
    const [height, width] = item.originalSize;
    const crop = item.crop ?? { x: 0, y: 0, width, height };
    const resized = resizeGrey(tf.tensor2d(region.data, [region.height, region.width]), crop.height, crop.width);
    return tf.pad(resized, [[crop.y, height - crop.y - crop.height], [crop.x, width - crop.x - crop.width]]) as tf.Tensor2D;
  });
}

/** sha256 of what a batch's outputs depend on. */
export function batchFingerprint(model: PredictModel, options: PredictOptions, batch: number, items: readonly PredictItem[]): string {
  const version = 'predict@1';
  // `tf` is left out as it was before requests recorded their engine, so those runs' batches stay complete.
  const { engine, ...rest } = options;
  const used = { ...rest, ...(engine && engine !== 'tf' ? { engine } : {}), ...(options.uncertainty ? {} : { samples: 0, seed: 0 }) };
  const what = items.map(({ id, originalSize, crop, source }) => ({ id, originalSize, crop, source }));
  return createHash('sha256').update(JSON.stringify({ version, model, options: used, batch, what })).digest('hex');
}

/** The batch record, if it exists and belongs to this work. */
export async function completedBatch(out: BlobStore, root: string, batch: number, fingerprint: string): Promise<PredictBatchRecord | undefined> {
  const key = predictKeys.batchRecord(root, batch);
  if (!(await out.exists(key))) return undefined;
  const record = await readJson<PredictBatchRecord>(out, key);
  return record.fingerprint === fingerprint ? record : undefined;
}

/** Images sampled together by MC dropout: small enough that T passes of them stay well inside a heartbeat timeout. */
const MC_IMAGES_PER_STEP = 2;

/** Seeded dropout masks are process-wide: one MC run at a time keeps every batch's masks its own. */
let mcQueue: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
  const run = mcQueue.then(fn, fn);
  mcQueue = run.catch(() => undefined);
  return run;
}

export interface PredictBatchJob {
  batch: number;
  items: readonly PredictItem[];
  models: PredictionModels;
  frames: FrameSource;
  /** Outputs go to `out` under `root` ('' for a folder store). */
  out: BlobStore;
  root: string;
  options: PredictOptions;
  fingerprint: string;
  /** Called between stages (activities heartbeat). */
  onStage?: (stage: string) => void;
}

export interface PredictBatchResult {
  record: PredictBatchRecord;
  computed: boolean;
}

function checkItem(item: PredictItem, loaded: LoadedFrame): void {
  const [height, width] = item.originalSize;
  if (loaded.frame && (loaded.frame.height !== height || loaded.frame.width !== width)) {
    throw new Error(`Image '${item.id}' is ${loaded.frame.width}×${loaded.frame.height}, but its plan says ${width}×${height}.`);
  }
  if (!loaded.frame && !loaded.region) throw new Error(`The frame source gave no pixels for '${item.id}'.`);
}

/** Predicts one batch and writes its outputs and record; a batch already completed is returned as it is. */
export async function predictBatch(job: PredictBatchJob): Promise<PredictBatchResult> {
  const started = Date.now();
  const { items, models, out, root, options } = job;
  const done = await completedBatch(out, root, job.batch, job.fingerprint);
  if (done) return { record: done, computed: false };

  job.onStage?.('loading');
  const loaded = await Promise.all(items.map((item) => job.frames.load(item)));
  items.forEach((item, i) => checkItem(item, loaded[i]));
  const [height, width, channels] = models.segmentation.inputShape;
  job.onStage?.('predicting');
  const inputs = tf.tidy(() => {
    const grey = tf.stack(items.map((item, i) => {
      const { frame, region } = loaded[i];
      return frame ? modelInput(frame, item.crop, [height, width]) : modelInput(region!, undefined, [height, width]);
    })) as tf.Tensor4D;
    return channels === 1 ? grey : (tf.tile(grey, [1, 1, 1, channels]) as tf.Tensor4D);
  });
  const rows: PredictionRow[] = [];
  try {
    const probabilities = await models.segmentation.probabilities(inputs);
    let masks: tf.Tensor2D[];
    try {
      masks = tf.tidy(() => {
        const binary = foreground(probabilities);
        return items.map((item, i) => maskToFrame(binary.slice([i, 0, 0], [1, -1, -1]).squeeze([0]) as tf.Tensor2D, item.originalSize, item.crop));
      });
    } finally {
      probabilities.dispose();
    }
    try {
      job.onStage?.('writing');
      for (const [i, item] of items.entries()) {
        const [frameHeight, frameWidth] = item.originalSize;
        const values = await masks[i].data();
        const bytes = new Uint8Array(values.length);
        let area = 0;
        for (let p = 0; p < values.length; p++) {
          if (values[p]) {
            bytes[p] = 255;
            area += 1;
          }
        }
        const maskKey = predictKeys.mask('', item.id);
        await out.putBytes(predictKeys.mask(root, item.id), await rawPng(bytes, frameHeight, frameWidth, 1), 'image/png');
        const row: PredictionRow = {
          id: item.id, group: item.group, order: item.order, height: frameHeight, width: frameWidth, areaPx: area,
          ...(item.spacing ? { areaMm2: area * item.spacing[0] * item.spacing[1] } : {}),
          mask: maskKey,
        };
        if (options.overlay) {
          const rgb = tf.tidy(() => overlayRgb(overlayBackground(loaded[i], item), masks[i]));
          const pixels = Uint8Array.from(await rgb.data());
          rgb.dispose();
          await out.putBytes(predictKeys.overlay(root, item.id), await rawPng(pixels, frameHeight, frameWidth, 3), 'image/png');
          row.overlay = predictKeys.overlay('', item.id);
        }
        rows.push(row);
      }
    } finally {
      tf.dispose(masks);
    }
    if (options.uncertainty) {
      if (!models.uncertainty) throw new Error('--uncertainty needs an uncertainty model; load the models with withUncertainty.');
      job.onStage?.('sampling');
      const writer = new UncertaintyMapWriter(out, predictKeys.uncertainty(root), PREDICT_UNCERTAINTY_FUNCTION);
      const byId = new Map(items.map((item) => [item.id, item]));
      const position = new Map(items.map((item, i) => [item.id, i]));
      const scores = await oneAtATime(() => mcScorePool({
        net: models.uncertainty!,
        // T passes block the event loop: a few images at a time, with a heartbeat between them.
        pool: { ids: items.map((item) => item.id), load: async (ids) => inputs.slice([position.get(ids[0])!, 0, 0, 0], [ids.length, -1, -1, -1]) },
        functions: [PREDICT_UNCERTAINTY_FUNCTION],
        samples: options.samples,
        batchSize: MC_IMAGES_PER_STEP,
        reduce: 'mean',
        dropoutSeed: options.seed + job.batch,
        ...(models.uncertaintyPrefix ? { prefix: models.uncertaintyPrefix.run } : {}),
        onProgress: (p) => job.onStage?.(`sampling ${p.imagesDone}/${items.length}`),
        maps: {
          fn: PREDICT_UNCERTAINTY_FUNCTION,
          onMap: async (id, map, mapHeight, mapWidth) => {
            const item = byId.get(id)!;
            const full = tf.tidy(() => mapToFrame(tf.tensor2d(map, [mapHeight, mapWidth]), item.originalSize, item.crop));
            const values = Float32Array.from(await full.data());
            full.dispose();
            await writer.onMap(id, values, item.originalSize[0], item.originalSize[1]);
          },
        },
      }));
      scores.forEach(({ id, scores: s }, i) => {
        rows[i].uncertainty = s[PREDICT_UNCERTAINTY_FUNCTION];
        rows[i].uncertaintyMap = scoringKeys.map(predictKeys.uncertainty(''), id);
      });
    }
  } finally {
    inputs.dispose();
  }
  const record: PredictBatchRecord = { batch: job.batch, fingerprint: job.fingerprint, writtenAt: new Date().toISOString(), ms: Date.now() - started, rows };
  await out.putBytes(predictKeys.batchRecord(root, job.batch), new TextEncoder().encode(JSON.stringify(record)), 'application/json');
  return { record, computed: true };
}

/** The items of batch `batch` of a plan. */
export function batchItems(items: readonly PredictItem[], batchSize: number, batch: number): PredictItem[] {
  return items.slice(batch * batchSize, (batch + 1) * batchSize);
}

export function batchCount(imageCount: number, batchSize: number): number {
  return Math.ceil(imageCount / batchSize);
}

/** Per video (group) with at least two frames: the largest LV area (end-diastole candidate) and the smallest (end-systole). */
export function videoExtremes(rows: readonly PredictionRow[]): VideoExtremes[] {
  const groups = new Map<string, PredictionRow[]>();
  for (const row of rows) groups.set(row.group, [...(groups.get(row.group) ?? []), row]);
  const out: VideoExtremes[] = [];
  for (const [group, frames] of groups) {
    if (frames.length < 2) continue;
    const ordered = [...frames].sort((a, b) => a.order - b.order || a.id.localeCompare(b.id));
    // Ties go to the earlier frame.
    const ed = ordered.reduce((best, r) => (r.areaPx > best.areaPx ? r : best));
    const es = ordered.reduce((best, r) => (r.areaPx < best.areaPx ? r : best));
    const pick = (r: PredictionRow) => ({ id: r.id, areaPx: r.areaPx, ...(r.areaMm2 !== undefined ? { areaMm2: r.areaMm2 } : {}) });
    out.push({ group, frames: frames.length, ed: pick(ed), es: pick(es) });
  }
  return out.sort((a, b) => a.group.localeCompare(b.group));
}

function csvField(value: string | number | undefined): string {
  if (value === undefined) return '';
  const text = typeof value === 'number' ? (Number.isInteger(value) ? String(value) : value.toPrecision(8)) : value;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csv(header: readonly string[], lines: readonly (string | number | undefined)[][]): string {
  return [header.join(','), ...lines.map((line) => line.map(csvField).join(','))].join('\n') + '\n';
}

/**
 * predictions.csv: one row per image (plan order) — image, video, frame order, size, LV area in px and mm², the
 * uncertainty score, the ED/ES flag of its video, and its files; videos.csv: one row per video with its ED and ES
 * candidates.
 */
export function predictionTables(rows: readonly PredictionRow[]): { images: string; videos: string; extremes: VideoExtremes[] } {
  const extremes = videoExtremes(rows);
  const flag = new Map<string, string>();
  for (const v of extremes) {
    flag.set(v.es.id, 'ES');
    flag.set(v.ed.id, v.ed.id === v.es.id ? 'ED,ES' : 'ED');
  }
  const images = csv(
    ['image', 'video', 'frame', 'width', 'height', 'lv_area_px', 'lv_area_mm2', 'uncertainty', 'cycle_candidate', 'mask', 'overlay', 'uncertainty_map'],
    rows.map((r) => [r.id, r.group, r.order, r.width, r.height, r.areaPx, r.areaMm2, r.uncertainty, flag.get(r.id), r.mask, r.overlay, r.uncertaintyMap]),
  );
  const videos = csv(
    ['video', 'frames', 'ed_image', 'ed_lv_area_px', 'ed_lv_area_mm2', 'es_image', 'es_lv_area_px', 'es_lv_area_mm2'],
    extremes.map((v) => [v.group, v.frames, v.ed.id, v.ed.areaPx, v.ed.areaMm2, v.es.id, v.es.areaPx, v.es.areaMm2]),
  );
  return { images, videos, extremes };
}

/** Tables were asked for before every batch was predicted. */
export class IncompletePredictionError extends Error {
  override name = 'IncompletePredictionError';
}

/** Reads every batch record under `root` and writes predictions.csv and videos.csv; every batch must be complete. */
export async function writePredictionTables(out: BlobStore, root: string, batches: number): Promise<{ imagesKey: string; videosKey: string; images: number; videos: number }> {
  const rows: PredictionRow[] = [];
  const missing: number[] = [];
  for (let batch = 0; batch < batches; batch++) {
    try {
      rows.push(...(await readJson<PredictBatchRecord>(out, predictKeys.batchRecord(root, batch))).rows);
    } catch (error) {
      if (!(error instanceof MissingKeyError)) throw error;
      missing.push(batch);
    }
  }
  if (missing.length > 0) throw new IncompletePredictionError(`Batches ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''} have no record yet: predict them first.`);
  const tables = predictionTables(rows);
  const imagesKey = predictKeys.imagesCsv(root);
  const videosKey = predictKeys.videosCsv(root);
  await out.putBytes(imagesKey, new TextEncoder().encode(tables.images), 'text/csv');
  await out.putBytes(videosKey, new TextEncoder().encode(tables.videos), 'text/csv');
  return { imagesKey, videosKey, images: rows.length, videos: tables.extremes.length };
}
