import { ApplicationFailure } from '@temporalio/activity';
import { type RoundTripResult, runKeys } from '../contracts';
import type { ObjectStore } from '../store/objectStore';

export function roundTripActivities(store: ObjectStore) {
  return {
    async writeRoundTripObject(input: { workflowId: string; message: string }): Promise<RoundTripResult> {
      if (typeof input.message !== 'string' || input.message.length === 0) {
        throw ApplicationFailure.nonRetryable('message must be a non-empty string', 'InvalidInput');
      }
      const key = runKeys.roundTrip(input.workflowId);
      const body = { message: input.message, writtenAt: new Date().toISOString() };
      await store.putJson(key, body);
      return { key, bytes: await store.size(key) };
    },
  };
}
