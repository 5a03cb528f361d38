/**
 * Names and payload types shared by workflows, activities, the worker and the CLI.
 * Imported by workflow code: no Node built-ins, no I/O.
 */

export interface TaskQueues {
  /** Workflows and light I/O activities. */
  light: string;
  /** Training, MC sampling and evaluation: scale out by adding workers here, one per GPU. */
  accel: string;
}

export const DEFAULT_TASK_QUEUES: TaskQueues = { light: 'echo-al-light', accel: 'echo-al-accel' };

export interface RoundTripInput {
  message: string;
  taskQueues?: TaskQueues;
}

export interface RoundTripResult {
  key: string;
  bytes: number;
}
