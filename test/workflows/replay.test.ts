import fs from 'node:fs';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../helpers';
import { historiesDir, readHistory } from '../historyFixtures';

/**
 * Histories recorded from real runs (RECORD_HISTORIES=1 npm test -- test/workflows) are replayed against the
 * current workflow code: a change that breaks determinism for runs already in flight fails here.
 */
// '.v1' histories were recorded with the code released before per-phase labels; they replay through workflows/legacy.
const expected = ['activeLearning-human.bin', 'activeLearning-human.v1.bin', 'activeLearning-oracle.bin', 'activeLearning-oracle.v1.bin', 'pipeline.bin', 'pipeline.v1.bin', 'search.bin', 'search.v1.bin'];

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
