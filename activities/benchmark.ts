/** The benchmark's own activities: the full-data baseline (accelerator) and the report (light). */
import { readSplit } from '../data/manifest';
import { currentBackend } from '../ml/backend';
import { curveFromHistory, writeReport } from '../report';
import type { BenchmarkReportData } from '../report/types';
import {
  type BaselineOutcome, type BaselineRequest, type BenchmarkReportRequest, type LeaderboardRow, runKeys, searchKeys,
} from '../contracts';
import type { ObjectStore } from '../store/objectStore';
import { itemsById, loadLabelled, manifestOrFail } from './datasets';
import { evaluateOn, loadValidation, trainWithCheckpoints } from './training';

export function benchmarkAccelActivities(store: ObjectStore) {
  return {
    /**
     * Trains on the whole training set (initial + pool, all labelled), keeping the best epoch on the validation split
     * when the dataset has one, and scores it on the test split (the full-data reference line of the report).
     */
    async trainBaseline(input: BaselineRequest): Promise<BaselineOutcome> {
      const manifest = await manifestOrFail(store, input.datasetId);
      const items = await itemsById(store, manifest);
      const ids = [...(await readSplit(store, input.datasetId, 'initial')), ...(await readSplit(store, input.datasetId, 'pool'))];
      const labelled = ids.flatMap((id) => {
        const maskKey = items.get(id)?.maskKey;
        return maskKey ? [{ id, maskKey }] : [];
      });
      const data = await loadLabelled(store, manifest, labelled);
      const val = manifest.splits.valKey && manifest.splits.counts.val ? await loadValidation(store, manifest, manifest.splits.valKey) : undefined;
      let outcome;
      try {
        outcome = await trainWithCheckpoints(store, {
          outputPrefix: runKeys.baselineModel(input.runId), model: input.model, dropout: { strategy: 'none', rate: 0 }, hyper: input.hyper,
          inputShape: [manifest.size[0], manifest.size[1], 1],
        }, data, val);
      } finally {
        data.images.dispose();
        data.masks.dispose();
        val?.images.dispose();
        val?.masks.dispose();
      }
      const evaluation = await evaluateOn(store, manifest, outcome.modelKey, manifest.splits.testKey, input.hyper.batchSize);
      return { iou: evaluation.iou, dice: evaluation.dice, labelled: labelled.length, ms: outcome.ms, backend: currentBackend() ?? 'unknown' };
    },
  };
}

const baselineOf = (b: BaselineOutcome) => ({ iou: b.iou, dice: b.dice, labelled: b.labelled });

/** Runs without a seed (one run per strategy): curves and a baseline; with seeds: one entry per seed, each with its curves and baseline. */
function reportRuns(input: BenchmarkReportRequest): Pick<BenchmarkReportData, 'curves' | 'baseline' | 'seeds'> {
  if (!input.runs.some((r) => r.seed !== undefined)) {
    return { curves: input.runs.map(curveFromHistory), baseline: input.baseline && baselineOf(input.baseline) };
  }
  const seeds = [...new Set(input.runs.map((r) => r.seed!))].sort((a, b) => a - b);
  return {
    curves: [],
    seeds: seeds.map((seed) => {
      const baseline = input.baselines?.find((b) => b.seed === seed)?.outcome;
      return {
        seed, curves: input.runs.filter((r) => r.seed === seed).map(curveFromHistory),
        ...(baseline ? { baseline: baselineOf(baseline) } : {}),
      };
    }),
  };
}

export function benchmarkLightActivities(store: ObjectStore) {
  return {
    async writeBenchmarkReport(input: BenchmarkReportRequest): Promise<{ markdownKey: string; prefix: string }> {
      const manifest = await manifestOrFail(store, input.datasetId);
      const leaderboard = input.searchId
        ? (await store.getJson<{ rows: LeaderboardRow[] }>(searchKeys.leaderboardJson(input.searchId))).rows
        : undefined;
      const prefix = runKeys.reportPrefix(input.benchmarkId);
      const { markdownKey } = await writeReport(store, prefix, {
        title: input.title,
        benchmarkId: input.benchmarkId,
        datasetId: input.datasetId,
        poolSize: manifest.splits.counts.pool,
        initialSize: manifest.splits.counts.initial,
        testSize: manifest.splits.counts.test,
        targetIoU: input.targetIoU,
        ...reportRuns(input),
        leaderboard,
        metadata: {
          seed: input.seed,
          backend: input.baseline?.backend ?? input.baselines?.[0]?.outcome.backend ?? 'see the accelerator worker log',
          startedAt: new Date(input.startedAtMs).toISOString(),
          finishedAt: new Date(input.finishedAtMs).toISOString(),
          durationsMs: input.durationsMs,
          model: input.model,
          settings: input.settings,
        },
      });
      return { markdownKey, prefix };
    },
  };
}
