/**
 * FROZEN: the benchmark workflow as released before seeds and strategies (version 1). Runs that started on it replay
 * and finish here. Do not change the commands this code issues; see workflows/benchmark.ts.
 *
 * The paper's experiment, unattended: optional EDNAS search, then one oracle-mode active-learning run per
 * acquisition function (child workflows, same seed, so phase 0 is identical) beside a full-data baseline,
 * then a report with learning curves, phase tables and the leaderboard.
 */
import {
  executeChild, getExternalWorkflowHandle, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import { bestTrial, type BenchmarkInput, type BenchmarkResult, childIds } from '../../contracts';
import { activeLearning } from '../activeLearning';
import { SA, stopSignal } from '../../contracts/messages';
import { activityProxies } from '../proxies';
import { search } from '../search';

export async function benchmarkV1(input: BenchmarkInput): Promise<BenchmarkResult> {
  const { workflowId } = workflowInfo();
  const { light, accel } = activityProxies(input.taskQueues, input.activeLearning.timeouts);
  const startedAt = Date.now();
  // Stop: forwarded to every running child (they finish their current step and return); the report is still written.
  const runningChildren = new Set<string>();
  let stopRequested = false;
  setHandler(stopSignal, async (request) => {
    stopRequested = true;
    await Promise.all([...runningChildren].map((id) => getExternalWorkflowHandle(id).signal(stopSignal, request)));
  });
  const durationsMs: Record<string, number> = {};
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

  stage('active-learning', `active learning with ${input.acquisitions.join(', ')}${input.baseline ? ' and the full-data baseline' : ''}`);
  const runs = input.acquisitions.map(async (acquisition) => {
    const runId = childIds.benchmarkRun(workflowId, acquisition);
    const started = Date.now();
    runningChildren.add(runId);
    // A stop that arrived during the search reaches the child through its input's state.
    const args = stopRequested ? { ...al, acquisition, maxPhases: 1 } : { ...al, acquisition };
    const result = await executeChild(activeLearning, { workflowId: runId, args: [args], taskQueue: input.taskQueues.light });
    runningChildren.delete(runId);
    durationsMs[`al-${acquisition}`] = Date.now() - started;
    return { acquisition, runId, result };
  });
  const baselineRun = input.baseline
    ? (async () => {
      const started = Date.now();
      const outcome = await accel.trainBaseline({ runId: workflowId, datasetId: input.datasetId, model: al.model, hyper: al.hyper });
      durationsMs.baseline = Date.now() - started;
      return outcome;
    })()
    : Promise.resolve(undefined);
  const [finished, baseline] = await Promise.all([Promise.all(runs), baselineRun]);

  stage('report', 'writing the report');
  const report = await light.writeBenchmarkReport({
    benchmarkId: workflowId, title: input.title, datasetId: input.datasetId, targetIoU: al.targetIoU, seed: input.seed, searchId,
    runs: finished.map(({ acquisition, runId, result }) => ({ acquisition, runId, history: result.history, stopReason: result.stopReason })),
    baseline, startedAtMs: startedAt, finishedAtMs: Date.now(), durationsMs,
    model: `${al.model.arch} + ${al.model.encoder} (depth ${al.model.encoderDepth ?? 'the architecture\'s default'}, width ×${al.model.widthScale ?? 1})`,
    settings: {
      labelsPerPhase: al.labelsPerPhase, epochs: al.hyper.epochs, batchSize: al.hyper.batchSize, learningRate: al.hyper.learningRate,
      mcSamples: al.mcSamples, mcMode: al.mcMode, dropout: `${al.dropout.strategy} ${al.dropout.rate}`, maxPhases: al.maxPhases,
    },
  });
  stage('done', `report at ${report.markdownKey}`);
  return {
    reportKey: report.markdownKey,
    reportPrefix: report.prefix,
    curves: finished.map(({ acquisition, runId, result }) => ({
      acquisition, runId, labelled: result.history.map((h) => h.labelled), iou: result.history.map((h) => h.iou), stopReason: result.stopReason,
    })),
    baseline,
  };
}
