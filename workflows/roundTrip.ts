import { workflowInfo } from '@temporalio/workflow';
import type { RoundTripInput, RoundTripResult } from '../contracts';
import { lightActivityProxies } from './proxies';

/** The smallest real path through the system: workflow → activity → MinIO → key back to the workflow. */
export async function roundTrip(input: RoundTripInput): Promise<RoundTripResult> {
  const { workflowId } = workflowInfo();
  return lightActivityProxies(input.taskQueues?.light).writeRoundTripObject({ workflowId, message: input.message });
}
