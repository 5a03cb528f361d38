import fs from 'node:fs';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../helpers';
import { historiesDir, readHistory } from '../historyFixtures';

/**
 * Histories recorded from real runs (RECORD_HISTORIES=1 npm test -- test/workflows) are replayed against the
 * current workflow code: a change that breaks determinism for runs already in flight fails here.
 */
// Older releases' histories stay, so runs started by them keep replaying: '.v1' was recorded before per-phase labels
// (it replays through workflows/legacy/activeLearningV1); '.v2' before validation-based search, ASHA and sharded
// scoring (search through workflows/legacy/searchV1, active learning through its unpatched single scorePool branch).
const expected = ['activeLearning-human', 'activeLearning-oracle', 'pipeline', 'search']
  .flatMap((name) => [`${name}.bin`, `${name}.v1.bin`, `${name}.v2.bin`]).sort();

describe('replay of recorded workflow histories', () => {
  it('has a recorded history for each workflow', () => {
    expect(fs.readdirSync(historiesDir).filter((f) => f.endsWith('.bin')).sort()).toEqual(expected);
  });

  for (const file of expected) {
    it(`replays ${file} without non-determinism`, async () => {
      const { history, workflowId } = readHistory(file);
      expect(history.events!.length).toBeGreaterThan(10);
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId);
    });
  }
});
