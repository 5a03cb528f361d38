/**
 * The paper's experiment, unattended, with error bars: optional EDNAS search, then for every seed one oracle-mode
 * active-learning run per strategy (child workflows; per seed its own initial set, training and selection seeds,
 * shared by all strategies: a paired comparison) and that seed's full-data baseline, then a report with mean
 * learning curves and 95 % bands, labels-to-target, areas under the curves, paired differences against random, and a
 * verdict per strategy.
 */
import {
  executeChild, getExternalWorkflowHandle, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import {
  type BaselineOutcome, bestTrial, type BenchmarkInput, type BenchmarkResult, childIds, runKeys,
} from '../contracts';
import { activeLearning } from './activeLearning';
import { SA, stopSignal } from '../contracts/messages';
import { activityProxies } from './proxies';
import { search } from './search';

export async function benchmark(input: BenchmarkInput): Promise<BenchmarkResult> {
  const { workflowId } = workflowInfo();
  const { light, accel } = activityProxies(input.taskQueues, input.activeLearning.timeouts);
  const startedAt = Date.now();
  const seeds = input.seeds ?? [input.seed];
  const { strategies } = input;
  // Stop: forwarded to every running child (they finish their current step and return); the report is still written.
  const runningChildren = new Set<string>();
  let stopRequested = false;
  setHandler(stopSignal, async (request) => {
    stopRequested = true;
    await Promise.all([...runningChildren].map((id) => getExternalWorkflowHandle(id).signal(stopSignal, request)));
  });
  const durationsMs: Record<string, number> = {};
  let done = 0;
  const total = seeds.length * strategies.length;
  const stage = (name: string, details: string) => {
    upsertSearchAttributes([{ key: SA.stage, value: `benchmark-${name}` }, { key: SA.dataset, value: input.datasetId }]);
    setCurrentDetails(`**Benchmark** ${input.title}: ${details}`);
  };

  let al = { ...input.activeLearning, oracle: true, datasetId: input.datasetId, taskQueues: input.taskQueues };
  let searchId: string | undefined;
  if (input.search) {
    stage('search', 'EDNAS search running');
    searchId = childIds.search(workflowId);
    const searchStarted = Date.now();
    runningChildren.add(searchId);
    const result = await executeChild(search, { workflowId: searchId, args: [{ ...input.search, datasetId: input.datasetId, taskQueues: input.taskQueues }], taskQueue: input.taskQueues.light });
    runningChildren.delete(searchId);
    durationsMs.search = Date.now() - searchStarted;
    const best = bestTrial(result.leaderboard);
    if (best) {
      al = { ...al, model: { ...al.model, arch: best.arch, encoder: best.encoder }, hyper: { ...al.hyper, learningRate: best.learningRate, batchSize: best.batchSize } };
    }
  }

  stage('active-learning', `${strategies.map((s) => s.name).join(', ')} × ${seeds.length} seed(s)${input.baseline ? ', and the full-data baselines' : ''}`);
  const runs = seeds.flatMap((seed) => strategies.map(async (strategy) => {
    const runId = childIds.benchmarkSeedRun(workflowId, seed, strategy.name);
    const started = Date.now();
    runningChildren.add(runId);
    const args = {
      ...al, acquisition: strategy.acquisition, selection: strategy.selection, selectionBeta: strategy.beta,
      ...(strategy.semiSupervised ? { semiSupervised: strategy.semiSupervised } : {}),
      ...(strategy.auto ? { auto: strategy.auto } : {}),
      hyper: { ...al.hyper, seed }, initialSeed: seed,
      // A stop that arrived before this child started reaches it through its input.
      ...(stopRequested ? { maxPhases: 1 } : {}),
    };
    const result = await executeChild(activeLearning, { workflowId: runId, args: [args], taskQueue: input.taskQueues.light });
    runningChildren.delete(runId);
    durationsMs[`s${seed}-${strategy.name}`] = Date.now() - started;
    done += 1;
    stage('active-learning', `${done} of ${total} runs done`);
    return { acquisition: strategy.name, runId, result, seed };
  }));
  const baselines = input.baseline
    ? seeds.map(async (seed) => {
      const started = Date.now();
      const outcome: BaselineOutcome = await accel.trainBaseline({
        runId: runKeys.baselineRunId(workflowId, seed), datasetId: input.datasetId, model: al.model, hyper: { ...al.hyper, seed },
      });
      durationsMs[`baseline-s${seed}`] = Date.now() - started;
      return { seed, outcome };
    })
    : [];
  const [finished, baselineOutcomes] = await Promise.all([Promise.all(runs), Promise.all(baselines)]);

  stage('report', 'writing the report');
  const report = await light.writeBenchmarkReport({
    benchmarkId: workflowId, title: input.title, datasetId: input.datasetId, targetIoU: al.targetIoU, seed: seeds[0], searchId,
    runs: finished.map(({ acquisition, runId, result, seed }) => ({ acquisition, runId, history: result.history, stopReason: result.stopReason, seed })),
    baselines: baselineOutcomes, startedAtMs: startedAt, finishedAtMs: Date.now(), durationsMs,
    model: `${al.model.arch} + ${al.model.encoder} (depth ${al.model.encoderDepth ?? 'the architecture\'s default'}, width ×${al.model.widthScale ?? 1})`,
    settings: {
      seeds, strategies: strategies.map((s) => s.name), labelsPerPhase: al.labelsPerPhase, epochs: al.hyper.epochs, batchSize: al.hyper.batchSize,
      learningRate: al.hyper.learningRate, mcSamples: al.mcSamples, mcMode: al.mcMode, dropout: `${al.dropout.strategy} ${al.dropout.rate}`,
      maxPhases: al.maxPhases, stopOn: al.stopOn ?? 'validation',
    },
  });
  stage('done', `report at ${report.markdownKey}`);
  return {
    reportKey: report.markdownKey,
    reportPrefix: report.prefix,
    curves: finished.map(({ acquisition, runId, result, seed }) => ({
      acquisition, runId, seed, labelled: result.history.map((h) => h.labelled), iou: result.history.map((h) => h.iou), stopReason: result.stopReason,
    })),
    baselines: baselineOutcomes,
  };
}
