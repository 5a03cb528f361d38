/** Datasets made before validation splits: `dataset resplit` carves one from the training videos, keeping the test set. */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, projectRoot } from '../../config';
import { readItems, readManifest, readSplit } from '../../data/manifest';
import { ObjectStore } from '../../store/objectStore';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-resplit-'));

function cli(...args: string[]): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], { cwd: projectRoot, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}

describe('dataset resplit', () => {
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('adds a validation split by video to a dataset without one; same test set, same images', async () => {
    const imported = await cli('dataset', 'import', '--format', 'synthetic', '--dir', path.join(scratch, 'synthetic'), '--videos', '8',
      '--frames-per-video', '3', '--size', '32', '--initial', '4', '--val-share', '0', '--seed', '21', '--json');
    expect(imported.status, imported.err).toBe(0);
    const old = JSON.parse(imported.out) as { datasetId: string; splits: Record<string, number> };
    expect(old.splits.val).toBeUndefined();
    expect((await cli('dataset', 'show', old.datasetId)).out).toContain('no validation split');

    const resplit = await cli('dataset', 'resplit', old.datasetId, '--val-share', '0.25', '--json');
    expect(resplit.status, resplit.err).toBe(0);
    const made = JSON.parse(resplit.out) as { datasetId: string; reused: boolean; splits: Record<string, number> };
    expect(made).toMatchObject({ datasetId: `${old.datasetId}-val25`, reused: false });
    const store = new ObjectStore(loadConfig().minio);
    const manifest = await readManifest(store, made.datasetId);
    const items = new Map((await readItems(store, manifest)).map((i) => [i.id, i]));
    const [test, oldTest, val, initial, pool] = await Promise.all([
      readSplit(store, made.datasetId, 'test'), readSplit(store, old.datasetId, 'test'), readSplit(store, made.datasetId, 'val'),
      readSplit(store, made.datasetId, 'initial'), readSplit(store, made.datasetId, 'pool'),
    ]);
    expect(test.sort()).toEqual(oldTest.sort());
    expect(val.length).toBeGreaterThan(0);
    const groups = (ids: string[]) => new Set(ids.map((id) => items.get(id)!.group));
    for (const g of groups(val)) expect(groups([...initial, ...pool, ...test]).has(g)).toBe(false);
    // The images are the old dataset's objects, not copies.
    expect(items.get(val[0])!.imageKey.startsWith(`datasets/${old.datasetId}/`)).toBe(true);
    expect((await cli('dataset', 'resplit', old.datasetId, '--val-share', '0.25', '--json')).out).toContain('"reused": true');
  });
});
