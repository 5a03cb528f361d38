/**
 * In-memory stand-ins for the activities of an active-learning run: just enough state (labelled count, pool, phase)
 * for the workflow's logic to be exercised, with scripted IoUs, and a log of every call in order.
 */
import type { AccelActivities, LightActivities } from '../../../activities';

type Fn<T> = T extends (...args: infer A) => infer R ? (...args: A) => R : never;
type Subset<T, K extends keyof T> = { [P in K]: Fn<T[P]> };

export type StubLight = Subset<LightActivities,
  'initActiveLearning' | 'writeRunCheckpoint' | 'mergeScoreShards' | 'selectForLabelling' | 'publishLabellingRequest' | 'oracleLabels'
  | 'recordReminder' | 'mergePhaseLabels' | 'writeActiveLearningReport' | 'pushToLabelStudio' | 'extendLabellingRequest' | 'completeBootstrap'
  | 'datasetNeedsLabels'>;
export type StubAccel = Subset<AccelActivities, 'trainSegmentationModel' | 'evaluateSegmentationModel' | 'scorePoolShard' | 'predictMasks' | 'makePseudoLabels' | 'judgeCandidatePicks'>;

export interface AlScript {
  initial: number;
  pool: number;
  /** Validation and test IoU of phase n's segmentation model. */
  valIoU: (phase: number) => number;
  testIoU: (phase: number) => number;
  /** Validation and test IoU of phase n's segmentation model trained again from scratch (default: as `valIoU` / `testIoU`). */
  scratchIoU?: (phase: number) => number;
  /** Ids whose merge check fails the first time (the stored mask changed after it was accepted). */
  changedAfterAcceptance?: string[];
  /**
   * The dataset `unlabelled` has no masks: a run on it first asks for these frames (validation, test, initial) with
   * these reserve frames; their masks make the dataset `labelled`, which has `initial` labelled frames.
   */
  /** The strategy auto: the segmentation model's error (1 − IoU) on each frame a candidate picked (default 0.5). */
  pickError?: (candidate: string) => number;
  bootstrap?: { unlabelled: string; labelled: string; frames: { id: string; purpose: 'validation' | 'test' | 'initial' }[]; reserve: { id: string; purpose: 'validation' | 'test' | 'initial' }[] };
}

export interface AlWorld {
  light: StubLight;
  accel: StubAccel;
  /** Every activity call, `name` or `name:phase`, in the order they were made. */
  calls: string[];
}

export const poolId = (n: number) => `img-${String(n).padStart(3, '0')}`;

export function alWorld(script: AlScript): AlWorld {
  const calls: string[] = [];
  let labelled = script.initial;
  let pool = Array.from({ length: script.pool }, (_, i) => poolId(i));
  let changed = new Set(script.changedAfterAcceptance ?? []);
  const phaseOf = (key: string) => Number(/phase-(\d+)/.exec(key)?.[1] ?? -1);
  const light: StubLight = {
    async initActiveLearning(input) {
      calls.push(`initActiveLearning:${input.datasetId}${input.firstPhase ? `:from-phase-${input.firstPhase}` : ''}`);
      if (script.bootstrap && input.datasetId === script.bootstrap.unlabelled) {
        return { bootstrap: { frames: script.bootstrap.frames, reserve: script.bootstrap.reserve } };
      }
      return {
        ...(input.firstPhase ? { phase: input.firstPhase, labelledKey: `labelled/phase-${input.firstPhase}` } : {}),
        labelledKey: 'labelled/phase-0', labelledCount: labelled, poolKey: 'pool/phase-0', poolCount: pool.length,
        testKey: 'test', testCount: 10, valKey: 'val', valCount: 5,
      };
    },
    async writeRunCheckpoint(input) {
      calls.push(`writeRunCheckpoint:${input.state.phase}`);
    },
    async mergeScoreShards(input) {
      calls.push(`mergeScoreShards:${input.phase}`);
      return { scoresKey: `scores/phase-${input.phase}`, scored: pool.length };
    },
    async selectForLabelling(input) {
      if (input.parts) {
        // Each part takes the next frames of the pool, in part order.
        calls.push(`selectForLabelling:${phaseOf(input.scoresKey)}:${input.parts.map((p) => `${p.name}=${p.k}`).join(',')}`);
        let next = 0;
        const picks = Object.fromEntries(input.parts.map((p) => [p.name, pool.slice(next, (next += p.k))]));
        return { ids: Object.values(picks).flat(), picks };
      }
      calls.push(`selectForLabelling:${phaseOf(input.scoresKey)}`);
      return { ids: pool.slice(0, input.k) };
    },
    async publishLabellingRequest(input) {
      calls.push(`publishLabellingRequest:${input.phase}`);
      return { requestKey: `runs/${input.runId}/phase-${input.phase}/request.json` };
    },
    async oracleLabels(input) {
      calls.push('oracleLabels');
      return { items: input.ids.map((id) => ({ id, maskKey: `masks/${id}`, contentHash: `hash-${id}`, foreground: 100 })) };
    },
    async recordReminder(input) {
      calls.push(`recordReminder:${input.phase}:${input.reminders}`);
    },
    async mergePhaseLabels(input) {
      calls.push(`mergePhaseLabels:${input.phase}`);
      const invalid = input.items.filter((item) => changed.has(item.id)).map((item) => ({ id: item.id, reason: `the stored mask of '${item.id}' changed` }));
      if (invalid.length > 0) {
        changed = new Set();
        return { invalid };
      }
      const merged = new Set(input.items.map((item) => item.id));
      labelled += merged.size;
      pool = pool.filter((id) => !merged.has(id));
      return {
        invalid: [], labelledKey: `labelled/phase-${input.phase + 1}`, labelledCount: labelled, poolKey: `pool/phase-${input.phase + 1}`, poolCount: pool.length,
      };
    },
    async writeActiveLearningReport(input) {
      calls.push(`writeActiveLearningReport:${input.stopReason}`);
      return { reportKey: `runs/${input.runId}/report.json`, markdownKey: `runs/${input.runId}/report.md` };
    },
    async pushToLabelStudio() {
      calls.push('pushToLabelStudio');
      return { projectId: 1, tasks: 0 };
    },
    async extendLabellingRequest(input) {
      calls.push(`extendLabellingRequest:${input.ids.join(',')}`);
      return { added: input.ids.length };
    },
    async completeBootstrap(input) {
      calls.push(`completeBootstrap:${input.items.map((i) => i.id).sort().join(',')}|unusable:${input.unusable.join(',')}`);
      return { invalid: [], datasetId: script.bootstrap!.labelled };
    },
    async datasetNeedsLabels(input) {
      calls.push(`datasetNeedsLabels:${input.datasetId}`);
      return script.bootstrap?.unlabelled === input.datasetId;
    },
  };
  const accel: StubAccel = {
    async trainSegmentationModel(req) {
      calls.push(`train:${req.dropout.strategy === 'none' ? 'seg' : 'unc'}:${phaseOf(req.outputPrefix)}${req.outputPrefix.endsWith('-scratch') ? ':scratch' : ''}${req.initFrom ? `:from:${req.initFrom}` : ''}`
        + `${req.extraItemsKey ? `:extra:${req.extraItemsKey}` : ''}${req.unlabelledKey ? `:unlabelled:${req.unlabelledKey}` : ''}`);
      return { modelKey: req.outputPrefix, params: 1, epochsRun: req.hyper.epochs, finalLoss: 0.1, ms: 1, resumedFromEpoch: 0, attempt: 1 };
    },
    async evaluateSegmentationModel(input) {
      const phase = phaseOf(input.modelKey);
      const split = input.idsKey === 'val' ? 'val' : 'test';
      calls.push(`evaluate:${split}:${phase}`);
      const iou = input.modelKey.endsWith('-scratch') && script.scratchIoU ? script.scratchIoU(phase)
        : split === 'val' ? script.valIoU(phase) : script.testIoU(phase);
      return { iou, dice: (2 * iou) / (1 + iou), images: split === 'val' ? 5 : 10 };
    },
    async scorePoolShard(input) {
      calls.push(`scorePoolShard:${input.phase}:${input.shard}${input.functions ? `:${input.acquisition}:${input.functions.join('+')}${input.features ? ':features' : ''}${input.areas ? ':areas' : ''}` : ''}`);
      return { shardKey: `scores/phase-${input.phase}/shard-${input.shard}`, scored: Math.min(input.shardSize, pool.length - input.shard * input.shardSize) };
    },
    async makePseudoLabels(input) {
      // As many as half the labelled count, never one of the frames just requested.
      const count = Math.min(input.maxCount, pool.filter((id) => !input.exclude.includes(id)).length, Math.floor(labelled / 2));
      calls.push(`makePseudoLabels:${input.phase}:${input.fn}:exclude:${input.exclude.join(',')}:max:${input.maxCount}`);
      return { itemsKey: `runs/${input.runId}/phase-${input.phase}/pseudo-labels.json`, count, threshold: 0.1, validationFrames: 5, validationIoU: 0.85 };
    },
    async judgeCandidatePicks(input) {
      calls.push(`judge:${phaseOf(input.modelKey)}:${Object.entries(input.picks).map(([name, ids]) => `${name}=${ids.length}`).join(',')}`);
      const received = new Set(input.items.map((i) => i.id));
      return {
        errors: Object.fromEntries(Object.entries(input.picks).map(([name, ids]) => {
          const frames = ids.filter((id) => received.has(id)).length;
          return [name, { frames, errorSum: frames * (script.pickError?.(name) ?? 0.5) }];
        })),
      };
    },
    async predictMasks(input) {
      calls.push(`predictMasks:${input.phase}`);
      return { prefix: `runs/${input.runId}/phase-${input.phase}/predictions/`, predicted: input.ids.length };
    },
  };
  return { light, accel, calls };
}
