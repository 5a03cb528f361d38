/**
 * Doctors' masks as DICOM SEG, end to end: a dataset imported from DICOM (the real CLI, a private salt, frames cut to
 * the ultrasound region and halved), a human-labelled run on the real worker asks for frames, the masks come back as
 * SEG objects (as a viewer saves them) through `labels submit --dir`, and the run merges them: the stored masks are
 * exactly the drawings cut and halved. A SEG of a frame that was not requested is refused (exit 2), nothing stored.
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
import { doctorsSeg, echo, type EchoStudy, expectedMask, writeEchoStudies } from '../data/segFixtures';
import { type RunningWorkers, startWorkers, testConfig, tinyActiveLearning, waitFor } from '../helpers';

const config = testConfig('dicom-seg-labels');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-seg-labels-'));
const salt = 'seg-labels-test-salt';

function cli(args: string[]): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], {
      cwd: projectRoot, timeout: 120_000,
      env: { ...process.env, DICOM_ID_SALT: salt, TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel },
    }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}

describe('labels submit --dir with DICOM SEG files', () => {
  let running: RunningWorkers;
  let workflowId: string;
  let studies: EchoStudy[];

  beforeAll(async () => {
    const dir = path.join(scratch, 'studies');
    const masks = path.join(scratch, 'masks');
    studies = await writeEchoStudies(dir, masks, 6);
    running = await startWorkers(config);
    const imported = await cli(['dataset', 'import', '--format', 'dicom', '--dir', dir, '--masks', masks, '--size', String(echo.size), '--initial', '4',
      '--test-videos', '1', '--val-videos', '1', '--json']);
    expect(imported.status, imported.err).toBe(0);
    const { datasetId } = JSON.parse(imported.out) as { datasetId: string };
    workflowId = `test-seg-labels-${Date.now()}`;
    await running.client.workflow.start(activeLearning, {
      taskQueue: config.taskQueues.light, workflowId, args: [tinyActiveLearning(config, datasetId, { oracle: false, labelsPerPhase: 2, maxPhases: 2 })],
    });
  });

  afterAll(async () => {
    await running?.client.workflow.getHandle(workflowId).signal(stopSignal, {}).catch(() => undefined);
    await running?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('refuses a SEG of a frame not requested (exit 2, nothing stored), then merges the requested frames\' SEG masks exactly', async () => {
    const handle = running.client.workflow.getHandle(workflowId);
    const pending = await waitFor(async () => (await handle.query(statusQuery)).pending, 'the labelling request');
    // Which study and frame each requested id names, through the salted hash of the instance UID.
    const byHash = new Map(studies.map((s) => [dicomUidHash(salt, s.identity.instanceUid), s]));
    const requested = pending.remaining.map((id) => {
      const frame = dicomItemFrame(id)!;
      return { id, study: byHash.get(frame.instanceHash)!, frame: frame.frame };
    });
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

    // The run merges them into its next labelled set: the stored masks are the drawings cut to the region and halved.
    const labelled = await waitFor(async () => (await running.store.exists(runKeys.labelled(workflowId, 1)))
      ? running.store.getJson<LabelledItem[]>(runKeys.labelled(workflowId, 1)) : undefined, 'the merged labelled set', 60_000);
    for (const { id, study, frame } of requested) {
      const item = labelled.find((l) => l.id === id);
      expect(item?.maskKey, id).toContain(runKeys.phaseLabelsPrefix(workflowId, 0));
      const stored = await normaliseMaskBytes(await running.store.getBytes(item!.maskKey), { size: [echo.size, echo.size] });
      if (!stored.ok) throw new Error(stored.reason);
      expect(stored.mask).toEqual(expectedMask(study.number, frame));
    }
    await waitFor(async () => ((await handle.query(statusQuery)).phase >= 1 ? true : undefined), 'the next phase', 60_000);
  });
});
