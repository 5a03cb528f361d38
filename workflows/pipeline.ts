/** EDNAS search, then active learning with the best trial's architecture and hyper-parameters, as child workflows. */
import { executeChild, getExternalWorkflowHandle, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { bestTrial, childIds, type PipelineInput, type PipelineResult } from '../contracts';
import { activeLearning } from './activeLearning';
import { SA, stopSignal } from '../contracts/messages';
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
    runningChild = childIds.search(workflowId);
    searchResult = await executeChild(search, { workflowId: runningChild, args: [input.search], taskQueue: input.search.taskQueues.light });
    runningChild = undefined;
    const best = bestTrial(searchResult.leaderboard);
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
  runningChild = childIds.activeLearning(workflowId);
  const activeLearningResult = await executeChild(activeLearning, { workflowId: runningChild, args: [al], taskQueue: al.taskQueues.light });
  upsertSearchAttributes([{ key: SA.stage, value: 'pipeline-done' }]);
  return { search: searchResult, activeLearning: activeLearningResult };
}
