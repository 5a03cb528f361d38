/** EDNAS search, then active learning with the best trial's architecture and hyper-parameters, as child workflows. */
import { executeChild, getExternalWorkflowHandle, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { PipelineInput, PipelineResult } from '../shared';
import { activeLearning } from './activeLearning';
import { SA, stopSignal } from './messages';
import { search } from './search';

export async function pipeline(input: PipelineInput): Promise<PipelineResult> {
  const { workflowId } = workflowInfo();
  let al = input.activeLearning;
  // Stop: forwarded to the child that is running; a stage not started yet is skipped.
  let stopRequested = false;
  let runningChild: string | undefined;
  setHandler(stopSignal, async (request) => {
    stopRequested = true;
    if (runningChild) await getExternalWorkflowHandle(runningChild).signal(stopSignal, request);
  });
  let searchResult: PipelineResult['search'];
  if (input.search) {
    upsertSearchAttributes([{ key: SA.stage, value: 'pipeline-search' }, { key: SA.dataset, value: input.search.datasetId }]);
    runningChild = `${workflowId}-search`;
    searchResult = await executeChild(search, { workflowId: runningChild, args: [input.search], taskQueue: input.search.taskQueues.light });
    runningChild = undefined;
    const best = searchResult.leaderboard.find((row) => row.status === 'ok');
    if (best && !input.useGivenModel) {
      al = {
        ...al,
        model: { ...al.model, arch: best.arch, encoder: best.encoder },
        hyper: { ...al.hyper, learningRate: best.learningRate, batchSize: best.batchSize },
      };
    }
  }
  if (stopRequested) {
    upsertSearchAttributes([{ key: SA.stage, value: 'pipeline-stopped' }]);
    return { search: searchResult };
  }
  upsertSearchAttributes([{ key: SA.stage, value: 'pipeline-active-learning' }]);
  runningChild = `${workflowId}-al`;
  const activeLearningResult = await executeChild(activeLearning, { workflowId: runningChild, args: [al], taskQueue: al.taskQueues.light });
  upsertSearchAttributes([{ key: SA.stage, value: 'pipeline-done' }]);
  return { search: searchResult, activeLearning: activeLearningResult };
}
