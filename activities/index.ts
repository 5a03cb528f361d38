/**
 * Activity factory: activities that need clients (MinIO, config) close over them.
 * Workflows import only the type: `proxyActivities<ReturnType<typeof createActivities>>`.
 */
import type { ObjectStore } from '../store/objectStore';
import { roundTripActivities } from './roundTrip';

export interface ActivityDeps {
  store: ObjectStore;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...roundTripActivities(deps.store),
  };
}

export type Activities = ReturnType<typeof createActivities>;
