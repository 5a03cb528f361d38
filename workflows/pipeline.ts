/**
 * EDNAS search, then active learning with the best trial's architecture and hyper-parameters, as child workflows.
 * On a dataset without enough masks an active-learning child first gathers them (`<id>-al`, bootstrapOnly); search
 * and active learning then run on the dataset they make.
 */
import { executeChild, getExternalWorkflowHandle, patched, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { bestTrial, childIds, type PipelineInput, type PipelineResult } from '../contracts';
import { activeLearning } from './activeLearning';
import { SA, stopSignal } from '../contracts/messages';
import { lightActivityProxies } from './proxies';
import { search } from './search';

/** Patch id: pipelines on datasets without enough masks gather them first. */
export const COLD_START = 'pipeline-cold-start';

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
  let labelling: PipelineResult['labelling'];
  if (patched(COLD_START) && !al.bootstrappedFrom) {
    const bootstrap = { initialCount: al.initialCount, evalFramesPerVideo: al.evalFramesPerVideo, seed: al.hyper.seed };
    if (await lightActivityProxies(al.taskQueues.light).datasetNeedsLabels({ datasetId: al.datasetId, bootstrap })) {
      upsertSearchAttributes([{ key: SA.stage, value: 'pipeline-labelling' }, { key: SA.dataset, value: al.datasetId }]);
      runningChild = childIds.activeLearning(workflowId);
      labelling = await executeChild(activeLearning, { workflowId: runningChild, args: [{ ...al, bootstrapOnly: true }], taskQueue: al.taskQueues.light });
      runningChild = undefined;
      if (!labelling.labelledDatasetId || stopRequested) {
        upsertSearchAttributes([{ key: SA.stage, value: 'pipeline-stopped' }]);
        return { labelling };
      }
      const datasetId = labelling.labelledDatasetId;
      al = { ...al, datasetId, bootstrappedFrom: al.datasetId };
      if (input.search) input = { ...input, search: { ...input.search, datasetId } };
    }
  }
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
    return { ...(labelling ? { labelling } : {}), search: searchResult };
  }
  upsertSearchAttributes([{ key: SA.stage, value: 'pipeline-active-learning' }]);
  runningChild = childIds.activeLearning(workflowId);
  const activeLearningResult = await executeChild(activeLearning, { workflowId: runningChild, args: [al], taskQueue: al.taskQueues.light });
  upsertSearchAttributes([{ key: SA.stage, value: 'pipeline-done' }]);
  return { ...(labelling ? { labelling } : {}), search: searchResult, activeLearning: activeLearningResult };
}
