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
  /** The first child's result on a dataset without enough masks (it gathered them, or was stopped). */
  labelling?: ActiveLearningResult;
  search?: SearchResult;
  /** Absent when the pipeline was stopped during the search. */
  activeLearning?: ActiveLearningResult;
}
