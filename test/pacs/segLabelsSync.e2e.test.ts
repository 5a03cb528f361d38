/**
 * Doctors' DICOM SEGs polled from a real Orthanc: `labels sync --dicomweb` finds the SEGs of the studies a run asked
 * frames of, submits the doctors' (MANUAL) ones, leaves a model's (AUTOMATIC) SEG and a SEG of frames not asked for
 * alone, never retrieves SEGs of other studies, and the run merges exactly the drawings cut to the region and halved.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeIdentity, sopClass, transferSyntax, writeDicom } from '../data/dicomFixtures';
import { doctorsSeg, echo, type EchoStudy } from '../data/segFixtures';
import { testConfig } from '../helpers';
import { type SegLabelRun, startSegLabelRun } from '../labelling/segLabelRun';
import { startTestOrthanc, uploadInstance } from './helpers';

const config = testConfig('seg-labels-sync');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-seg-sync-'));
const salt = 'seg-sync-test-salt';

describe('labels sync --dicomweb', () => {
  let pacs: Awaited<ReturnType<typeof startTestOrthanc>>;
  let run: SegLabelRun;

  beforeAll(async () => {
    pacs = await startTestOrthanc();
    run = await startSegLabelRun(config, scratch, salt, 'test-seg-sync');
  });

  afterAll(async () => {
    await run?.stop();
    await pacs?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('submits the doctors\' SEGs of the requested frames from the archive, leaves the others alone, and the run merges them', async () => {
    const { workflowId, cli } = run;
    const requested = await run.requestedFrames();
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

    await run.expectMergedDrawings(requested);
  });
});
