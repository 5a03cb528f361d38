/**
 * Every object key and child-workflow id, built in one place. One bucket holds everything:
 *   datasets/<id>/…                 what an importer wrote (manifest last)
 *   runs/<run id>/…                 what a run wrote: labelled sets, phases, models, labels, reports
 *   weights/<sha256>/…              PyTorch weights a run's models start from (model.safetensors, smp's config.json)
 * Pure string builders: imported by workflows, activities and the CLI.
 */
import type { SplitName } from './names';

const pad4 = (n: number) => String(n).padStart(4, '0');

export const datasetKeys = {
  prefix: (datasetId: string) => `datasets/${datasetId}/`,
  manifest: (datasetId: string) => `datasets/${datasetId}/manifest.json`,
  items: (datasetId: string) => `datasets/${datasetId}/items.json`,
  split: (datasetId: string, split: SplitName) => `datasets/${datasetId}/splits/${split}.json`,
  importSummary: (datasetId: string) => `datasets/${datasetId}/import-summary.json`,
  image: (datasetId: string, itemId: string) => `datasets/${datasetId}/images/${itemId}.bin`,
  mask: (datasetId: string, itemId: string) => `datasets/${datasetId}/masks/${itemId}.png`,
};

/** PyTorch weights uploaded for `--encoder-weights` / `--init-weights`, content-addressed by their sha256. */
export const weightsKeys = {
  file: (sha256: string) => `weights/${sha256}/model.safetensors`,
  smpConfig: (sha256: string) => `weights/${sha256}/config.json`,
};

/** A trained model's objects under its prefix (`modelKey`): configuration, final weights, epoch checkpoints. */
export const modelKeys = {
  config: (modelKey: string) => `${modelKey}/config.json`,
  finalWeights: (modelKey: string) => `${modelKey}/final`,
  checkpoints: (modelKey: string) => `${modelKey}/checkpoints`,
};

/** The files of one checkpoint (ml/train/checkpoint.ts); meta.json is written last and marks it complete. */
export const CHECKPOINT_FILES = ['model.json', 'weights.bin', 'optimizer.json', 'optimizer.bin', 'meta.json'] as const;
export type CheckpointFile = (typeof CHECKPOINT_FILES)[number];

/** A checkpoint's objects under its prefix, and a training run's checkpoints under its checkpoints prefix. */
export const checkpointKeys = {
  file: (prefix: string, file: CheckpointFile) => `${prefix.replace(/\/+$/, '')}/${file}`,
  /** Every epoch checkpoint starts with this; the epoch is zero-padded, so keys sort by epoch. */
  epochPrefix: (checkpointsPrefix: string) => `${checkpointsPrefix}/epoch-`,
  epoch: (checkpointsPrefix: string, epoch: number) => `${checkpointsPrefix}/epoch-${pad4(epoch)}`,
  /** The best validation epoch's weights. */
  best: (checkpointsPrefix: string) => `${checkpointsPrefix}/best`,
};

/** What MC scoring writes under a prefix (a run's phase, a prediction's output): scores and uncertainty maps. */
export const scoringKeys = {
  scores: (prefix: string) => `${prefix.replace(/\/+$/, '')}/scores.json`,
  /** Ids are URI-encoded so any id (with slashes, spaces) is one flat key. */
  map: (prefix: string, id: string) => `${prefix.replace(/\/+$/, '')}/maps/${encodeURIComponent(id)}.png`,
  mapsPrefix: (prefix: string) => `${prefix.replace(/\/+$/, '')}/maps/`,
};

/** Keys of an active-learning run (and of the other runs' outputs under `runs/<id>/`). */
export const runKeys = {
  prefix: (runId: string) => `runs/${runId}/`,
  phase: (runId: string, phase: number) => `runs/${runId}/phase-${phase}`,
  segmentationModel: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/model-seg`,
  uncertaintyModel: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/model-unc`,
  /** A warm-started phase's pair trained again from scratch (its warm segmentation model fell on validation). */
  segmentationModelFromScratch: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/model-seg-scratch`,
  uncertaintyModelFromScratch: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/model-unc-scratch`,
  labelled: (runId: string, phase: number) => `runs/${runId}/labelled/phase-${phase}.json`,
  pool: (runId: string, phase: number) => `runs/${runId}/pool/phase-${phase}.json`,
  request: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/request.json`,
  requestImage: (runId: string, phase: number, id: string) => `runs/${runId}/phase-${phase}/images/${id}.png`,
  uploadsPrefix: (runId: string) => `runs/${runId}/uploads/`,
  upload: (runId: string, phase: number, id: string) => `runs/${runId}/uploads/phase-${phase}/${id}.png`,
  phaseLabelsPrefix: (runId: string, phase: number) => `runs/${runId}/labels/phase-${phase}/`,
  /** A checked mask, named by its content hash: storing the same mask twice is one object. */
  phaseLabel: (runId: string, phase: number, id: string, contentHash: string) => `runs/${runId}/labels/phase-${phase}/${id}-${contentHash.slice(0, 16)}.png`,
  uploadsPhasePrefix: (runId: string, phase: number) => `runs/${runId}/uploads/phase-${phase}/`,
  predictionsPrefix: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/predictions/`,
  prediction: (runId: string, phase: number, id: string) => `runs/${runId}/phase-${phase}/predictions/${id}.png`,
  checkpoint: (runId: string) => `runs/${runId}/state.json`,
  /** A phase's validation frames with their uncertainty and the segmentation model's IoU (what sets the pseudo-label threshold). */
  validationScores: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/validation-scores.json`,
  /** The pseudo-labels a phase made for the next one's training: [{ id, maskKey }] (masks under its predictions). */
  pseudoLabels: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/pseudo-labels.json`,
  /** The masks a phase merged, with who sent each (source, annotator, lead time) and its content hash. */
  mergedLabels: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/labels.json`,
  scoreShard: (runId: string, phase: number, shard: number) => `runs/${runId}/phase-${phase}/scores/shard-${pad4(shard)}.json`,
  /** A shard's pooled features (float32, little-endian, one row per scored image in the shard's order). */
  scoreShardFeatures: (runId: string, phase: number, shard: number) => `runs/${runId}/phase-${phase}/scores/shard-${pad4(shard)}.features.bin`,
  /** The phase's pooled features, rows in scores.json's order. */
  scoreFeatures: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/features.bin`,
  reminders: (runId: string, phase: number) => `runs/${runId}/phase-${phase}/reminders.json`,
  reportPrefix: (runId: string) => `runs/${runId}/report/`,
  reportJson: (runId: string) => `runs/${runId}/report/active-learning.json`,
  reportMarkdown: (runId: string) => `runs/${runId}/report/active-learning.md`,
  /** The per-phase time chart the Markdown links by its relative name, `active-learning-time.svg`. */
  reportTimeChart: (runId: string) => `runs/${runId}/report/active-learning-time.svg`,
  baselineModel: (runId: string) => `runs/${runId}/baseline/model`,
  /** The run id under which a benchmark seed's full-data baseline keeps its model (no workflow of its own). */
  baselineRunId: (benchmarkId: string, seed: number) => `${benchmarkId}-s${seed}`,
  roundTrip: (runId: string) => `runs/${runId}/roundtrip.json`,
};

export const searchKeys = {
  trialModel: (searchId: string, index: number) => `runs/${searchId}/trials/trial-${pad4(index)}`,
  trial: (searchId: string, index: number) => `runs/${searchId}/trials/trial-${pad4(index)}.json`,
  trialsPrefix: (searchId: string) => `runs/${searchId}/trials/`,
  leaderboardJson: (searchId: string) => `runs/${searchId}/leaderboard.json`,
  leaderboardMarkdown: (searchId: string) => `runs/${searchId}/leaderboard.md`,
};

/** Ids of the child workflows a pipeline or benchmark starts. */
export const childIds = {
  search: (parentId: string) => `${parentId}-search`,
  activeLearning: (parentId: string) => `${parentId}-al`,
  benchmarkRun: (parentId: string, acquisition: string) => `${parentId}-al-${acquisition}`,
  /** A strategy's run on one seed (the strategy name's ':' becomes '-'). */
  benchmarkSeedRun: (parentId: string, seed: number, strategy: string) => `${parentId}-s${seed}-${strategy.replaceAll(':', '-')}`,
};

/** `rest` below an output root ('' for a folder). */
const under = (root: string, rest: string) => (root ? `${root}/${rest}` : rest);

/**
 * `predict`: what a prediction run keeps under `predict/<id>/` (plan, uploaded frames, an uploaded package as a model,
 * outputs), and the layout of its outputs under any root — `predict/<id>/out` in the store, `--out DIR` on disk.
 */
export const predictKeys = {
  prefix: (predictId: string) => `predict/${predictId}/`,
  /** Named by a hash of its content: a plan never changes under its key, so workers may cache it. */
  plan: (predictId: string, contentHash: string) => `predict/${predictId}/plan-${contentHash.slice(0, 16)}.json`,
  frame: (predictId: string, itemId: string) => `predict/${predictId}/frames/${itemId}.png`,
  /** An uploaded package, named by its weights' hash (batches of another package are never taken for this one's). */
  model: (predictId: string, weightsHash: string) => `predict/${predictId}/model-${weightsHash.slice(0, 16)}`,
  uncertaintyModel: (predictId: string, weightsHash: string) => `predict/${predictId}/model-${weightsHash.slice(0, 16)}-unc`,
  output: (predictId: string) => `predict/${predictId}/out`,
  mask: (root: string, itemId: string) => under(root, `masks/${itemId}.png`),
  overlay: (root: string, itemId: string) => under(root, `overlays/${itemId}.png`),
  /** The uncertainty-map writer's prefix: the maps are `uncertainty/maps/<id>.png`. */
  uncertainty: (root: string) => under(root, 'uncertainty'),
  batchRecord: (root: string, batch: number) => under(root, `batches/batch-${String(batch).padStart(5, '0')}.json`),
  imagesCsv: (root: string) => under(root, 'predictions.csv'),
  videosCsv: (root: string) => under(root, 'videos.csv'),
};
