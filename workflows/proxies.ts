/**
 * The one place workflows get activity stubs from: light activities on the light queue, accelerator activities on
 * the accelerator queue, each typed with only its own queue's activities and with one retry policy per queue.
 */
import { type ActivityOptions, proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { AccelActivities, LightActivities } from '../activities';
import { type ActivityTimeouts, DEFAULT_OUTAGE_WINDOW_MS, DEFAULT_TIMEOUTS, type TaskQueues } from '../contracts';

/** Failures that another attempt cannot fix: bad input, a diverged configuration, a model too big for the device. */
export const NON_RETRYABLE_ERRORS = ['InvalidInput', 'Diverged', 'OutOfMemory'];

const INITIAL_RETRY_MS = 1000;
const MAX_RETRY_INTERVAL_MS = 60_000;

/**
 * Everything else (object store or Temporal unreachable, a worker lost, a timeout) is retried with backoff from 1 s
 * to 1 min between attempts, for as long as the outage window: enough attempts that their waits add up to it.
 */
export function retryPolicy(outageWindowMs = DEFAULT_OUTAGE_WINDOW_MS): RetryPolicy {
  let waited = 0;
  let interval = INITIAL_RETRY_MS;
  let attempts = 1;
  while (waited < outageWindowMs) {
    waited += interval;
    interval = Math.min(interval * 2, MAX_RETRY_INTERVAL_MS);
    attempts += 1;
  }
  return {
    initialInterval: INITIAL_RETRY_MS, backoffCoefficient: 2, maximumInterval: MAX_RETRY_INTERVAL_MS, maximumAttempts: attempts,
    nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
  };
}

export function lightActivityOptions(taskQueue?: string, timeouts: ActivityTimeouts = DEFAULT_TIMEOUTS): ActivityOptions {
  return {
    ...(taskQueue ? { taskQueue } : {}),
    startToCloseTimeout: '10 minutes',
    retry: retryPolicy(timeouts.outageWindowMs),
  };
}

export function accelActivityOptions(taskQueue: string, timeouts: ActivityTimeouts = DEFAULT_TIMEOUTS): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: timeouts.trainAttemptMs,
    heartbeatTimeout: timeouts.heartbeatMs,
    retry: retryPolicy(timeouts.outageWindowMs),
  };
}

/** Stubs for both queues. Without task queues (the round trip) light activities run on the workflow's own queue. */
export function activityProxies(taskQueues: TaskQueues, timeouts?: ActivityTimeouts) {
  return {
    light: proxyActivities<LightActivities>(lightActivityOptions(taskQueues.light, timeouts)),
    accel: proxyActivities<AccelActivities>(accelActivityOptions(taskQueues.accel, timeouts)),
  };
}

export function lightActivityProxies(taskQueue?: string) {
  return proxyActivities<LightActivities>(lightActivityOptions(taskQueue));
}

/**
 * Best-effort light activities (pushing a request to Label Studio): retried for 15 minutes, not the outage window,
 * because the run does not depend on them (masks also arrive through the CLI and POST /labels).
 */
export function bestEffortActivityProxies(taskQueue: string) {
  return proxyActivities<LightActivities>({
    taskQueue,
    startToCloseTimeout: '5 minutes',
    scheduleToCloseTimeout: '15 minutes',
    retry: { initialInterval: INITIAL_RETRY_MS, backoffCoefficient: 2, maximumInterval: MAX_RETRY_INTERVAL_MS, nonRetryableErrorTypes: NON_RETRYABLE_ERRORS },
  });
}
