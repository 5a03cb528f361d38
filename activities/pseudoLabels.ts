/**
 * Semi-supervised training on the pool (`--semi-supervised pseudo-label`): after a phase, the frames of the pool its
 * models are sure about get the segmentation model's mask as a training label for the next phase. "Sure" is set on
 * the validation split (uncertainty against real IoU, ml/pseudoLabels.ts), never on the test split; frames requested
 * from doctors are never pseudo-labelled; pseudo-labels are training data only (never evaluated on, never merged).
 */
import { Context } from '@temporalio/activity';
import { type LabelledItem, type PseudoLabelOutcome, type PseudoLabelRequest, runKeys, SCORE_BLOCK, type UncertaintyFunction } from '../contracts';
import { type DatasetManifest, loadTensors } from '../data/manifest';
import { mcScorePool } from '../ml/mcSampling';
import { choosePseudoLabelled, pseudoLabelThreshold, type ScoredFrame } from '../ml/pseudoLabels';
import { evaluateModel } from '../ml/train/trainer';
import type { SegmentationNet } from '../ml/zoo';
import type { ScoresDocument } from '../ml/uncertaintyMap';
import type { ObjectStore } from '../store/objectStore';
import { jsonOrFail, manifestOrFail } from './datasets';
import { blockDropoutSeed, loadTrained, storePredictedMasks } from './training';

/** Images per loaded chunk. */
const CHUNK = 32;

/** MC uncertainty of `ids` under the uncertainty model, seeded per block like the pool's scoring. */
async function uncertaintyOf(store: ObjectStore, manifest: DatasetManifest, net: SegmentationNet, ids: string[], input: PseudoLabelRequest, beat: () => void): Promise<ScoredFrame[]> {
  const scored: ScoredFrame[] = [];
  for (let offset = 0; offset < ids.length; offset += SCORE_BLOCK) {
    const results = await mcScorePool({
      net,
      pool: { ids: ids.slice(offset, offset + SCORE_BLOCK), load: async (batch) => (await loadTensors(store, manifest, batch, { masks: 'none' })).images },
      functions: [input.fn], samples: input.samples, batchSize: input.batchSize, reduce: input.reduce, mode: input.mode,
      dropoutSeed: blockDropoutSeed(input.seed, offset / SCORE_BLOCK), onProgress: beat,
    });
    scored.push(...results.map((r) => ({ id: r.id, score: r.scores[input.fn]! })));
  }
  return scored;
}

/** The segmentation model's IoU of each validation frame against its real mask. */
async function validationIoU(store: ObjectStore, manifest: DatasetManifest, net: SegmentationNet, ids: string[], batchSize: number, beat: () => void): Promise<Map<string, number>> {
  const iou = new Map<string, number>();
  for (let start = 0; start < ids.length; start += CHUNK) {
    const chunk = ids.slice(start, start + CHUNK);
    const { images, masks } = await loadTensors(store, manifest, chunk, { masks: 'require' });
    try {
      evaluateModel(net.model, { images, masks: masks! }, batchSize).perImageIoU.forEach((v, i) => iou.set(chunk[i], v));
    } finally {
      images.dispose();
      masks?.dispose();
    }
    beat();
  }
  return iou;
}

/** The pool's scores under `fn` from the phase's scores document, when it holds them for every pool frame. */
function poolScoresFrom(doc: ScoresDocument | undefined, fn: UncertaintyFunction, pool: string[]): ScoredFrame[] | undefined {
  if (!doc || !doc.functions.includes(fn)) return undefined;
  const byId = new Map(doc.items.map((item) => [item.id, item.scores[fn]]));
  const scored = pool.map((id) => ({ id, score: byId.get(id) }));
  return scored.every((s) => typeof s.score === 'number') ? scored as ScoredFrame[] : undefined;
}

export function pseudoLabelActivities(store: ObjectStore) {
  return {
    async makePseudoLabels(input: PseudoLabelRequest): Promise<PseudoLabelOutcome> {
      const ctx = Context.current();
      const beat = () => ctx.heartbeat();
      const manifest = await manifestOrFail(store, input.datasetId);
      const valIds = await jsonOrFail<string[]>(store, input.valKey, 'validation id list');
      const pool = await jsonOrFail<string[]>(store, input.poolKey, 'pool id list');
      const itemsKey = runKeys.pseudoLabels(input.runId, input.phase);
      const uncertainty = await loadTrained(store, input.uncertaintyModelKey);
      const segmentation = await loadTrained(store, input.segmentationModelKey);
      try {
        const valScores = await uncertaintyOf(store, manifest, uncertainty, valIds, input, beat);
        const ious = await validationIoU(store, manifest, segmentation, valIds, input.batchSize, beat);
        const validation = valScores.map((v) => ({ ...v, iou: ious.get(v.id)! }));
        await store.putJson(runKeys.validationScores(input.runId, input.phase), { fn: input.fn, frames: validation });
        const threshold = pseudoLabelThreshold(validation, input.targetIoU);
        if (threshold === undefined || input.maxCount <= 0) {
          await store.putJson(itemsKey, []);
          return { itemsKey, count: 0, validationFrames: validation.length };
        }
        const taken = validation.filter((v) => v.score <= threshold);
        const validationIoUMean = taken.reduce((a, v) => a + v.iou, 0) / taken.length;
        const phaseScores = input.scoresKey ? await jsonOrFail<ScoresDocument>(store, input.scoresKey, 'scores') : undefined;
        const poolScores = poolScoresFrom(phaseScores, input.fn, pool) ?? await uncertaintyOf(store, manifest, uncertainty, pool, input, beat);
        const ids = choosePseudoLabelled(poolScores, threshold, input.maxCount, input.exclude);
        const keys = await storePredictedMasks(store, manifest, segmentation, { runId: input.runId, phase: input.phase, ids, batchSize: input.batchSize }, beat);
        const items: LabelledItem[] = ids.map((id, i) => ({ id, maskKey: keys[i] }));
        await store.putJson(itemsKey, items);
        return { itemsKey, count: items.length, threshold, validationFrames: validation.length, validationIoU: validationIoUMean };
      } finally {
        uncertainty.model.dispose();
        segmentation.model.dispose();
      }
    },
  };
}
