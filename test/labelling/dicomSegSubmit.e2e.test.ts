/**
 * Doctors' masks as DICOM SEG, end to end: a dataset imported from DICOM (the real CLI, a private salt, frames cut to
 * the ultrasound region and halved), a human-labelled run on the real worker asks for frames, the masks come back as
 * SEG objects (as a viewer saves them) through `labels submit --dir`, and the run merges them: the stored masks are
 * exactly the drawings cut and halved. A SEG of a frame that was not requested is refused (exit 2), nothing stored.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeys } from '../../contracts';
import { statusQuery } from '../../contracts/messages';
import { doctorsSeg, type EchoStudy } from '../data/segFixtures';
import { testConfig, waitFor } from '../helpers';
import { type SegLabelRun, startSegLabelRun } from './segLabelRun';

const config = testConfig('dicom-seg-labels');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-seg-labels-'));
const salt = 'seg-labels-test-salt';

describe('labels submit --dir with DICOM SEG files', () => {
  let run: SegLabelRun;

  beforeAll(async () => {
    run = await startSegLabelRun(config, scratch, salt, 'test-seg-labels');
  });

  afterAll(async () => {
    await run?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('refuses a SEG of a frame not requested (exit 2, nothing stored), then merges the requested frames\' SEG masks exactly', async () => {
    const { running, workflowId, cli } = run;
    const handle = running.client.workflow.getHandle(workflowId);
    const requested = await run.requestedFrames();
    expect(requested).toHaveLength(2);
    expect(requested.every((r) => r.study !== undefined)).toBe(true);
    const segDir = (name: string, extra?: { study: EchoStudy; frame: number }) => {
      const dir = path.join(scratch, name);
      fs.mkdirSync(dir);
      for (const study of new Set(requested.map((r) => r.study))) {
        const frames = requested.filter((r) => r.study === study).map((r) => r.frame);
        if (extra?.study === study) frames.push(extra.frame);
        fs.writeFileSync(path.join(dir, `seg-study${study.number}.dcm`), doctorsSeg(study, frames));
      }
      return dir;
    };
    const storedLabels = () => running.store.list(runKeys.phaseLabelsPrefix(workflowId, 0));

    const first = requested[0];
    const unrequestedFrame = [1, 2, 3, 4].find((f) => !requested.some((r) => r.study === first.study && r.frame === f))!;
    const refused = await cli(['labels', 'submit', workflowId, '--dir', segDir('refused', { study: first.study, frame: unrequestedFrame })]);
    expect(refused.status, refused.out + refused.err).toBe(2);
    expect(refused.err).toMatch(new RegExp(`seg-study${first.study.number}\\.dcm was refused: SEG frame \\d \\(source i[0-9a-f]{16} frame ${unrequestedFrame}\\) is not among the frames phase 0 requested`));
    expect(refused.err).not.toContain(first.study.identity.instanceUid);
    expect(await storedLabels()).toEqual([]);
    // The refusal is recorded beside the run, without the file's name, where `status` shows it.
    const status = await cli(['status', workflowId]);
    expect(status.out).toMatch(/rejected .* from cli: {2}— DICOM SEG: SEG frame \d \(source i[0-9a-f]{16} frame \d\) is not among the frames phase 0 requested/);
    expect(status.out).not.toContain('seg-study');

    const accepted = await cli(['labels', 'submit', workflowId, '--dir', segDir('accepted'), '--json']);
    expect(accepted.status, accepted.err).toBe(0);
    expect((JSON.parse(accepted.out) as { accepted: string[] }).accepted.sort()).toEqual(requested.map((r) => r.id).sort());

    await run.expectMergedDrawings(requested);
    await waitFor(async () => ((await handle.query(statusQuery)).phase >= 1 ? true : undefined), 'the next phase', 60_000);
  });
});
