import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { RoundTripInput, RoundTripResult } from '../shared';

const { writeRoundTripObject } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});

/** The smallest real path through the system: workflow → activity → MinIO → key back to the workflow. */
export async function roundTrip(input: RoundTripInput): Promise<RoundTripResult> {
  const { workflowId } = workflowInfo();
  return writeRoundTripObject({ workflowId, message: input.message });
}
