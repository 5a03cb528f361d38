/**
 * Activity factory: activities that need clients (MinIO, config) close over them.
 * Workflows import only the type: `proxyActivities<ReturnType<typeof createActivities>>`.
 * The light worker registers `lightActivities`, the accelerator worker `accelActivities`.
 */
import type { ObjectStore } from '../store/objectStore';
import { benchmarkAccelActivities, benchmarkLightActivities } from './benchmark';
import { labellingActivities } from './labelling';
import { roundTripActivities } from './roundTrip';
import { searchActivities } from './search';
import { trainingActivities } from './training';

export interface ActivityDeps {
  store: ObjectStore;
}

export function lightActivities(deps: ActivityDeps) {
  return { ...roundTripActivities(deps.store), ...labellingActivities(deps.store), ...searchActivities(deps.store), ...benchmarkLightActivities(deps.store) };
}

export function accelActivities(deps: ActivityDeps) {
  return { ...trainingActivities(deps.store), ...benchmarkAccelActivities(deps.store) };
}

export function createActivities(deps: ActivityDeps) {
  return { ...lightActivities(deps), ...accelActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
