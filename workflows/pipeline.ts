/** EDNAS search, then active learning with the best trial's architecture and hyper-parameters, as child workflows. */
import { executeChild, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { PipelineInput, PipelineResult } from '../shared';
import { activeLearning } from './activeLearning';
import { SA } from './messages';
import { search } from './search';

export async function pipeline(input: PipelineInput): Promise<PipelineResult> {
  const { workflowId } = workflowInfo();
  let al = input.activeLearning;
  let searchResult: PipelineResult['search'];
  if (input.search) {
    upsertSearchAttributes([{ key: SA.stage, value: 'pipeline-search' }, { key: SA.dataset, value: input.search.datasetId }]);
    searchResult = await executeChild(search, { workflowId: `${workflowId}-search`, args: [input.search], taskQueue: input.search.taskQueues.light });
    const best = searchResult.leaderboard.find((row) => row.status === 'ok');
    if (best && !input.useGivenModel) {
      al = {
        ...al,
        model: { ...al.model, arch: best.arch, encoder: best.encoder },
        hyper: { ...al.hyper, learningRate: best.learningRate, batchSize: best.batchSize },
      };
    }
  }
  upsertSearchAttributes([{ key: SA.stage, value: 'pipeline-active-learning' }]);
  const activeLearningResult = await executeChild(activeLearning, { workflowId: `${workflowId}-al`, args: [al], taskQueue: al.taskQueues.light });
  upsertSearchAttributes([{ key: SA.stage, value: 'pipeline-done' }]);
  return { search: searchResult, activeLearning: activeLearningResult };
}
