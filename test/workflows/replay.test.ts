import fs from 'node:fs';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import * as workflows from '../../workflows';
import { workflowBundle } from '../helpers';
import { historiesDir, readHistory } from '../historyFixtures';

/**
 * Histories recorded from real runs (RECORD_HISTORIES=1 npm test -- test/workflows) are replayed against the
 * current workflow code: a change that breaks determinism for runs already in flight fails here.
 */
/** One history per workflow the worker serves (two for active learning: oracle and doctors). */
const expected = ['activeLearning-human', 'activeLearning-oracle', 'benchmark', 'pipeline', 'predict', 'roundTrip', 'search'].map((name) => `${name}.bin`).sort();

describe('replay of recorded workflow histories', () => {
  it('has a recorded history for each workflow', () => {
    expect(fs.readdirSync(historiesDir).filter((f) => f.endsWith('.bin')).sort()).toEqual(expected);
    const recorded = new Set(expected.map((file) => file.replace(/(-[a-z]+)?\.bin$/, '')));
    expect(Object.keys(workflows).filter((name) => !recorded.has(name))).toEqual([]);
  });

  for (const file of expected) {
    it(`replays ${file} without non-determinism`, async () => {
      const { history, workflowId } = readHistory(file);
      expect(history.events!.length).toBeGreaterThan(10);
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId);
    });
  }
});
