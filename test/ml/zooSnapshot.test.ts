/**
 * Every architecture × encoder at depths 5 and 3 rebuilds with the parameter count and the exact topology (layer
 * classes, names, configurations, connections) recorded in test/fixtures/zoo/param-counts.json by
 * scripts/zoo-snapshot.ts. A refactor of the zoo must leave this green; an intended change of structure regenerates
 * the fixture and names the entries that changed.
 */
import * as fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../ml/backend';
import { listArchitectures } from '../../ml/zoo';
import { SNAPSHOT_SETTINGS, snapshotEntry, snapshotKey, snapshotKeys, type Snapshot } from '../../scripts/zoo-snapshot';

const fixture = JSON.parse(fs.readFileSync(new URL('../fixtures/zoo/param-counts.json', import.meta.url), 'utf8')) as {
  settings: typeof SNAPSHOT_SETTINGS;
  entries: Snapshot;
};

beforeAll(async () => {
  await initBackend(undefined, () => {});
});

describe('zoo snapshot: counts and structure of every configuration', () => {
  it('the fixture was made with these settings and covers exactly the registered architectures × encoders', () => {
    expect(fixture.settings).toEqual(SNAPSHOT_SETTINGS);
    expect(Object.keys(fixture.entries).sort()).toEqual(snapshotKeys().map(([a, e, d]) => snapshotKey(a, e, d)).sort());
  });

  for (const depth of SNAPSHOT_SETTINGS.depths) {
    for (const arch of listArchitectures()) {
      it(`${arch} at depth ${depth}: every encoder rebuilds identically`, () => {
        const keys = snapshotKeys().filter(([a, , d]) => a === arch && d === depth);
        const actual = Object.fromEntries(keys.map(([a, e, d]) => [snapshotKey(a, e, d), snapshotEntry(a, e, d)]));
        const expected = Object.fromEntries(keys.map(([a, e, d]) => [snapshotKey(a, e, d), fixture.entries[snapshotKey(a, e, d)]]));
        expect(actual).toEqual(expected);
      });
    }
  }
});
