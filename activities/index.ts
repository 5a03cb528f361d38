/**
 * Activity factory: activities that need clients (MinIO, config) close over them.
 * The light worker registers `lightActivities`, the accelerator worker `accelActivities`; workflows import only
 * the two types (`LightActivities`, `AccelActivities`), so an accelerator activity cannot be called on the light queue.
 */
import type { LabelStudioConnection } from '../labelling/labelStudioBridge';
import type { ObjectStore } from '../store/objectStore';
import { benchmarkAccelActivities, benchmarkLightActivities } from './benchmark';
import { labellingActivities } from './labelling';
import { predictAccelActivities, predictLightActivities } from './predict';
import { pseudoLabelActivities } from './pseudoLabels';
import { roundTripActivities } from './roundTrip';
import { searchActivities } from './search';
import { trainingActivities } from './training';

export interface ActivityDeps {
  store: ObjectStore;
  /** Where requests are pushed for runs connected to Label Studio (LABEL_STUDIO_URL / _TOKEN, LABELS_PUBLIC_URL). */
  labelStudio?: LabelStudioConnection;
}

export function lightActivities(deps: ActivityDeps) {
  return {
    ...roundTripActivities(deps.store), ...labellingActivities(deps.store, deps.labelStudio), ...searchActivities(deps.store),
    ...benchmarkLightActivities(deps.store), ...predictLightActivities(deps.store),
  };
}

export function accelActivities(deps: ActivityDeps) {
  return {
    ...trainingActivities(deps.store), ...pseudoLabelActivities(deps.store), ...benchmarkAccelActivities(deps.store), ...predictAccelActivities(deps.store),
  };
}

export type LightActivities = ReturnType<typeof lightActivities>;
export type AccelActivities = ReturnType<typeof accelActivities>;
