/**
 * The light activities of an active-learning run, by concern: set-up (runSetup.ts), the batch (phaseSelection.ts),
 * the labelling request (requests.ts), the merge and the report (phaseMerge.ts).
 */
import type { LabelStudioConnection } from '../labelling/labelStudioBridge';
import type { ObjectStore } from '../store/objectStore';
import { phaseMergeActivities } from './phaseMerge';
import { phaseSelectionActivities } from './phaseSelection';
import { requestActivities } from './requests';
import { runSetupActivities } from './runSetup';

export function labellingActivities(store: ObjectStore, labelStudio?: LabelStudioConnection) {
  return {
    ...runSetupActivities(store), ...phaseSelectionActivities(store), ...requestActivities(store, labelStudio), ...phaseMergeActivities(store),
  };
}
