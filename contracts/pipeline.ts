/** Search, then active learning with the best trial, as child workflows. */
import type { ActiveLearningInput, ActiveLearningResult } from './activeLearning';
import type { SearchInput, SearchResult } from './search';

export interface PipelineInput {
  search?: SearchInput;
  /** Active-learning settings; its `model` and `hyper.learningRate/batchSize` are replaced by the search's best trial unless `useGivenModel`. */
  activeLearning: ActiveLearningInput;
  useGivenModel?: boolean;
}

export interface PipelineResult {
  search?: SearchResult;
  /** Absent when the pipeline was stopped during the search. */
  activeLearning?: ActiveLearningResult;
}
