/**
 * What starting points are worth in labels (issue 21, part 4): the same oracle active-learning benchmark — one
 * strategy, S seeds, paired — under different starting points of each phase's models:
 *
 *   scratch              every phase from random weights (the default before warm starts)
 *   warm                 each phase from the previous phase's models (`--warm-start`)
 *   pretrained           every phase's encoder from a model trained on a *different* synthetic set (other seed, other
 *                        heterogeneity): the stand-in for ImageNet weights this machine cannot download, passed the way
 *                        a user passes them (`--encoder-weights <exported package>`)
 *   pretrained+warm      both
 *
 * Printed: per condition AULC (mean test IoU over the common labelled range) with its 95 % interval, the paired AULC
 * difference against scratch, the labels needed to come within 0.01 of each seed's full-data IoU (scratch-trained on
 * every training frame), how often test IoU fell from one phase to the next, and the pairwise penalty matrix; the
 * whole report (charts included) is written to `.data/reports/bench-gain-<id>/`.
 *
 *   npx tsx scripts/bench-gain.ts [--seeds 4] [--videos 20] [--frames 16] [--size 64] [--initial 8] [--k 8] [--phases 6]
 *     [--epochs 10] [--strategy random] [--conditions scratch,warm,pretrained,pretrained+warm]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { benchmarkAccelActivities } from '../activities/benchmark';
import { uploadWeights } from '../cli/weights';
import {
  type ActiveLearningInput, type BaselineOutcome, type BenchmarkInput, type BenchmarkResult, datasetKeys, type ModelChoice, parseStrategy, runKeys, type Strategy, type TrainHyper,
} from '../contracts';
import { importSyntheticEcho } from '../data/import';
import { writeModelPackage } from '../export/package';
import { renderReport, REPORT_FILES, writeReportToFolder } from '../report';
import { fallsText, intervalText } from '../report/markdown';
import { benchmarkStatistics } from '../report/stats';
import type { BenchmarkReportData, SeedRun } from '../report/types';
import { benchmark } from '../workflows';
import { benchOptions, intOption, printCommand } from './benchArgs';
import { startBenchWorkers } from './benchWorkers';

const CONDITIONS = ['scratch', 'warm', 'pretrained', 'pretrained+warm'] as const;
type Condition = (typeof CONDITIONS)[number];
const REFERENCE: Condition = 'scratch';

const USAGE = 'npx tsx scripts/bench-gain.ts [--seeds 4] [--videos 20] [--frames 16] [--size 64] [--initial 8] [--k 8] [--phases 6] ' +
  `[--epochs 10] [--strategy random] [--conditions ${CONDITIONS.join(',')}]`;
const values = benchOptions(USAGE, {
  seeds: { type: 'string', default: '4' }, videos: { type: 'string', default: '20' }, frames: { type: 'string', default: '16' },
  size: { type: 'string', default: '64' }, initial: { type: 'string', default: '8' }, k: { type: 'string', default: '8' },
  phases: { type: 'string', default: '6' }, epochs: { type: 'string', default: '10' }, strategy: { type: 'string', default: 'random' },
  conditions: { type: 'string', default: CONDITIONS.join(',') },
});
const seeds = Array.from({ length: intOption(USAGE, 'seeds', values.seeds, 2) }, (_, i) => i);
const videos = intOption(USAGE, 'videos', values.videos, 5);
const frames = intOption(USAGE, 'frames', values.frames, 2);
const size = intOption(USAGE, 'size', values.size, 32);
const initial = intOption(USAGE, 'initial', values.initial);
const k = intOption(USAGE, 'k', values.k);
const phases = intOption(USAGE, 'phases', values.phases, 2);
const epochs = intOption(USAGE, 'epochs', values.epochs);
const parsed = parseStrategy(values.strategy!);
if ('error' in parsed) {
  console.error(`error: --strategy ${parsed.error}\nusage: ${USAGE}`);
  process.exit(2);
}
const strategy: Strategy = parsed;
const conditions = values.conditions!.split(',').map((c) => c.trim()) as Condition[];
const unknown = conditions.filter((c) => !CONDITIONS.includes(c));
if (unknown.length || !conditions.includes(REFERENCE)) {
  console.error(`error: --conditions takes ${CONDITIONS.join(', ')} and must include ${REFERENCE}; got ${values.conditions}\nusage: ${USAGE}`);
  process.exit(2);
}
printCommand('bench-gain.ts');

// The default demo preset's model and training (the search's usual pick), fixed so only the starting point varies.
const model: ModelChoice = { arch: 'Unet', encoder: 'resnet18', encoderDepth: 4, widthScale: 0.25 };
const hyper: TrainHyper = { epochs, batchSize: 8, learningRate: 0.003, seed: 0, augment: false };

const fmt = (v: number | undefined, digits = 4) => (v === undefined ? '—' : v.toFixed(digits));
const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(4)}`;

async function main(): Promise<void> {
  const { taskQueues, suffix, store, client, stop, config } = await startBenchWorkers('gain');
  const benchId = `bench-gain-${suffix}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-gain-'));
  const started = Date.now();
  try {
    const target = await importSyntheticEcho(store, {
      dir: path.join(tmp, 'target'), videos, framesPerVideo: frames, size, seed: 0, heterogeneity: {}, initialCount: initial, testShare: 0.2,
    });
    console.log(`target set ${target.datasetId}: ${videos} videos × ${frames} frames, ${size}², atypical videos (default heterogeneity)`);

    let pretrained: Awaited<ReturnType<typeof uploadWeights>> | undefined;
    if (conditions.some((c) => c.startsWith('pretrained'))) {
      // Elsewhere: other videos (seed 1000), every video typical; trained on all of its training frames.
      const source = await importSyntheticEcho(store, {
        dir: path.join(tmp, 'source'), videos, framesPerVideo: frames, size, seed: 1000, initialCount: initial, testShare: 0.2,
      });
      const runId = `${benchId}-source`;
      const t0 = Date.now();
      const outcome: BaselineOutcome = await new MockActivityEnvironment().run(() => benchmarkAccelActivities(store).trainBaseline({ runId, datasetId: source.datasetId, model, hyper }));
      console.log(`source set ${source.datasetId} (other seed, no atypical videos): full-data model IoU ${fmt(outcome.iou)} on its own test split, ` +
        `${outcome.labelled} frames, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      const packageDir = path.join(tmp, 'source-model');
      await writeModelPackage(store, { modelKey: runKeys.baselineModel(runId), datasetId: source.datasetId }, packageDir);
      pretrained = await uploadWeights(store, { given: packageDir, scope: 'encoder', flag: '--encoder-weights' }, model);
      console.log(`its encoder, exported and passed as --encoder-weights ${packageDir}: weights ${pretrained.sha256.slice(0, 12)}…`);
    }

    const template: ActiveLearningInput = {
      datasetId: target.datasetId, model, dropout: { strategy: 'head', rate: 0.3 }, hyper, acquisition: strategy.acquisition,
      reduce: 'mean', mcSamples: 12, mcMode: 'fast', labelsPerPhase: k, targetIoU: 0.999, maxLabelled: 100_000, maxPhases: phases,
      oracle: true, reminderEveryMs: 86_400_000, taskQueues,
    };
    const results = new Map<Condition, BenchmarkResult>();
    for (const condition of conditions) {
      const t0 = Date.now();
      const warm = condition.endsWith('warm');
      const withWeights = condition.startsWith('pretrained');
      const input: BenchmarkInput = {
        title: `${benchId} ${condition}`, datasetId: target.datasetId, seed: seeds[0], seeds, strategies: [strategy],
        baseline: condition === REFERENCE, taskQueues,
        activeLearning: {
          ...template, ...(warm ? { warmStart: true } : {}),
          model: withWeights ? { ...model, initWeights: pretrained! } : model,
        },
      };
      const result = await client.workflow.execute(benchmark, { taskQueue: taskQueues.light, workflowId: `${benchId}-${condition.replace('+', '-')}`, args: [input] });
      results.set(condition, result);
      const finals = result.curves.map((c) => c.iou.at(-1) ?? NaN);
      console.log(`${condition}: ${seeds.length} seeds × ${phases} phases in ${((Date.now() - t0) / 60_000).toFixed(1)} min; ` +
        `final test IoU per seed ${finals.map((v) => fmt(v, 3)).join(', ')}`);
    }

    // One report: the conditions as the "strategies" of a paired comparison against scratch, with scratch's baselines.
    const reports = new Map(await Promise.all(conditions.map(async (c) => [c, await store.getJson<BenchmarkReportData>(`${results.get(c)!.reportPrefix}${REPORT_FILES.data}`)] as const)));
    const reference = results.get(REFERENCE)!;
    const seedRun = (condition: Condition, seed: number) => reports.get(condition)!.seeds!.find((r) => r.seed === seed)!;
    const runs: SeedRun[] = seeds.map((seed) => {
      const { baseline } = seedRun(REFERENCE, seed);
      return { seed, ...(baseline ? { baseline } : {}), curves: conditions.map((c) => ({ ...seedRun(c, seed).curves[0], acquisition: c })) };
    });
    const manifest = await store.getJson<{ splits: { counts: { initial: number; pool: number; test: number } } }>(datasetKeys.manifest(target.datasetId));
    const trainingSetSize = manifest.splits.counts.initial + manifest.splits.counts.pool;
    const stats = benchmarkStatistics({ runs, targetIoU: 0.999, trainingSetSize, reference: REFERENCE });

    console.log(`\nfull-data IoU (scratch, every training frame) per seed: ${runs.map((r) => fmt(r.baseline?.iou, 3)).join(', ')}; ` +
      `AULC over labelled ${stats.range?.from}–${stats.range?.to} of ${trainingSetSize} training frames`);
    console.log('| condition | AULC | AULC − scratch (95 % CI, paired) | within 0.01 of full-data IoU: seeds, labels (share) | IoU fell (mean curve; seeds) |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const s of stats.strategies) {
      const reach = s.toBaseline;
      const labels = reach?.labelled ? `${intervalText(reach.labelled, (v) => fmt(v, 1))} (${fmt((100 * reach.labelled.mean) / trainingSetSize, 1)} %)` : 'not reached';
      console.log(`| ${s.strategy} | ${intervalText(s.aulc)} | ${s.vsReference ? intervalText(s.vsReference.aulc, signed) : '(reference)'} | ` +
        `${reach ? `${reach.reached} of ${reach.seeds}` : '—'}, ${labels} | ${fallsText(s.falls)} |`);
    }
    if (stats.penalty) {
      console.log('\npairwise: row beat column significantly at n of m labelled budgets');
      console.log(`| | ${stats.penalty.strategies.join(' | ')} |`);
      stats.penalty.strategies.forEach((a, i) => console.log(`| ${a} | ${stats.penalty!.strategies.map((_, j) => (i === j ? '—' : `${stats.penalty!.wins[i][j]} of ${stats.penalty!.budgets[i][j]}`)).join(' | ')} |`));
    }

    const data: BenchmarkReportData = {
      title: `Starting points: ${conditions.join(', ')} (${strategy.name}, ${seeds.length} seeds)`, benchmarkId: benchId, datasetId: target.datasetId,
      poolSize: manifest.splits.counts.pool, initialSize: manifest.splits.counts.initial, testSize: manifest.splits.counts.test, targetIoU: 0.999,
      curves: [], seeds: runs, reference: REFERENCE,
      metadata: {
        seed: seeds[0], backend: reference.baselines?.[0]?.outcome.backend ?? 'unknown', startedAt: new Date(started).toISOString(),
        finishedAt: new Date().toISOString(), durationsMs: {}, model: `${model.arch} + ${model.encoder} (depth ${model.encoderDepth}, width ×${model.widthScale})`,
        settings: { strategy: strategy.name, labelsPerPhase: k, phases, epochs, videos, frames, size, initial, conditions },
      },
    };
    const dir = path.join(config.dataDir, 'reports', benchId);
    await writeReportToFolder(dir, await renderReport(data));
    console.log(`\nreport: ${path.join(dir, 'report.md')}; wall time ${((Date.now() - started) / 60_000).toFixed(1)} min`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
