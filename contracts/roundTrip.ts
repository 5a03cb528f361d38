/** The smallest end-to-end check: workflow → activity → MinIO. */
import type { TaskQueues } from './common';

export interface RoundTripInput {
  message: string;
  taskQueues?: TaskQueues;
}

export interface RoundTripResult {
  key: string;
  bytes: number;
}
