/**
 * Doctors' DICOM SEGs polled from a real Orthanc: `labels sync --dicomweb` finds the SEGs of the studies a run asked
 * frames of, submits the doctors' (MANUAL) ones, leaves a model's (AUTOMATIC) SEG and a SEG of frames not asked for
 * alone, never retrieves SEGs of other studies, and the run merges exactly the drawings cut to the region and halved.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { type LabelledItem, runKeys } from '../../contracts';
import { statusQuery, stopSignal } from '../../contracts/messages';
import { dicomItemFrame, dicomUidHash } from '../../data/import/dicom';
import { normaliseMaskBytes } from '../../data/masks';
import { activeLearning } from '../../workflows';
import { fakeIdentity, sopClass, transferSyntax, writeDicom } from '../data/dicomFixtures';
import { doctorsSeg, echo, type EchoStudy, expectedMask, writeEchoStudies } from '../data/segFixtures';
import { type RunningWorkers, startWorkers, testConfig, tinyActiveLearning, waitFor } from '../helpers';
import { startTestOrthanc, uploadInstance } from './helpers';

const config = testConfig('seg-labels-sync');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-seg-sync-'));
const salt = 'seg-sync-test-salt';

function cli(args: string[]): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], {
      cwd: projectRoot, timeout: 120_000,
      env: { ...process.env, DICOM_ID_SALT: salt, TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel },
    }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}

describe('labels sync --dicomweb', () => {
  let pacs: Awaited<ReturnType<typeof startTestOrthanc>>;
  let running: RunningWorkers;
  let workflowId: string;
  let studies: EchoStudy[];

  beforeAll(async () => {
    pacs = await startTestOrthanc();
    const dir = path.join(scratch, 'studies');
    const masks = path.join(scratch, 'masks');
    studies = await writeEchoStudies(dir, masks, 6);
    running = await startWorkers(config);
    const imported = await cli(['dataset', 'import', '--format', 'dicom', '--dir', dir, '--masks', masks, '--size', String(echo.size), '--initial', '4',
      '--test-videos', '1', '--val-videos', '1', '--json']);
    expect(imported.status, imported.err).toBe(0);
    const { datasetId } = JSON.parse(imported.out) as { datasetId: string };
    workflowId = `test-seg-sync-${Date.now()}`;
    await running.client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId, args: [tinyActiveLearning(config, datasetId, { oracle: false, labelsPerPhase: 2, maxPhases: 2 })],
    });
  });

  afterAll(async () => {
    await running?.client.workflow.getHandle(workflowId).signal(stopSignal, {}).catch(() => undefined);
    await running?.stop();
    await pacs?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('submits the doctors\' SEGs of the requested frames from the archive, leaves the others alone, and the run merges them', async () => {
    const handle = running.client.workflow.getHandle(workflowId);
    const pending = await waitFor(async () => (await handle.query(statusQuery)).pending, 'the labelling request');
    const byHash = new Map(studies.map((s) => [dicomUidHash(salt, s.identity.instanceUid), s]));
    const requested = pending.remaining.map((id) => {
      const frame = dicomItemFrame(id)!;
      return { id, study: byHash.get(frame.instanceHash)!, frame: frame.frame };
    });
    expect(requested).toHaveLength(2);
    const requestedStudies = [...new Set(requested.map((r) => r.study))];
    const first = requested[0];
    const unrequestedFrame = [1, 2, 3, 4].find((f) => !requested.some((r) => r.study === first.study && r.frame === f))!;

    // The archive: the requested studies with the doctors' SEGs, a model's SEG of the same frames, a SEG of a frame
    // nobody asked for, and a study outside the dataset with its own SEG.
    for (const study of requestedStudies) {
      await uploadInstance(pacs.orthanc, study.bytes);
      const frames = requested.filter((r) => r.study === study).map((r) => r.frame);
      await uploadInstance(pacs.orthanc, doctorsSeg(study, frames));
      await uploadInstance(pacs.orthanc, doctorsSeg(study, frames, false));
    }
    await uploadInstance(pacs.orthanc, doctorsSeg(first.study, [unrequestedFrame]));
    const identity = fakeIdentity(9, 1, 1);
    const { bytes } = await writeDicom({ transferSyntax: transferSyntax.explicit, photometric: 'MONOCHROME2', sopClass: sopClass.usMultiFrame, rows: echo.rows, columns: echo.columns, frames: 2, identity });
    const outsider: EchoStudy = { number: 9, identity, bytes };
    await uploadInstance(pacs.orthanc, outsider.bytes);
    await uploadInstance(pacs.orthanc, doctorsSeg(outsider, [1]));

    const sync = await cli(['labels', 'sync', workflowId, '--dicomweb', pacs.orthanc.dicomWebUrl, '--json']);
    expect(sync.status, sync.err).toBe(0);
    const { segs } = JSON.parse(sync.out) as { segs: Array<{ seg: string; outcome?: { accepted: string[] }; skipped?: string; rejected?: string }> };
    // The outsider's SEG is not even retrieved: its study is not one the run asked frames of.
    expect(segs).toHaveLength(2 * requestedStudies.length + 1);
    expect(segs.filter((s) => s.rejected)).toEqual([]);
    expect(segs.filter((s) => s.skipped).map((s) => s.skipped).sort()).toEqual([
      ...requestedStudies.map(() => 'an automatic segmentation (a model\'s), not a doctor\'s'), 'none of its frames was requested in phase 0',
    ].sort());
    expect(segs.flatMap((s) => s.outcome?.accepted ?? []).sort()).toEqual(requested.map((r) => r.id).sort());
    expect(sync.out).not.toContain(first.study.identity.instanceUid);

    const labelled = await waitFor(async () => (await running.store.exists(runKeys.labelled(workflowId, 1)))
      ? running.store.getJson<LabelledItem[]>(runKeys.labelled(workflowId, 1)) : undefined, 'the merged labelled set', 60_000);
    for (const { id, study, frame } of requested) {
      const item = labelled.find((l) => l.id === id)!;
      const stored = await normaliseMaskBytes(await running.store.getBytes(item.maskKey), { size: [echo.size, echo.size] });
      if (!stored.ok) throw new Error(stored.reason);
      expect(stored.mask).toEqual(expectedMask(study.number, frame));
    }
  });
});
