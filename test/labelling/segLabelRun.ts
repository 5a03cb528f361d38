/**
 * The run the DICOM SEG label tests share (not a test file itself): generated DICOM studies imported through the real
 * CLI with a private salt, a human-labelled run on the real worker, the frames it requests traced back to their
 * studies through the salted instance hashes, and the check that the run merged exactly the drawings cut and halved.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { expect } from 'vitest';
import type { ProjectConfig } from '../../config';
import { projectRoot } from '../../config';
import { type LabelledItem, runKeys } from '../../contracts';
import { statusQuery, stopSignal } from '../../contracts/messages';
import { dicomItemFrame, dicomUidHash } from '../../data/import/dicom';
import { normaliseMaskBytes } from '../../data/masks';
import { activeLearning } from '../../workflows';
import { echo, type EchoStudy, expectedMask, writeEchoStudies } from '../data/segFixtures';
import { type RunningWorkers, startWorkers, tinyActiveLearning, waitFor } from '../helpers';

export interface RequestedFrame {
  id: string;
  study: EchoStudy;
  frame: number;
}

export interface SegLabelRun {
  running: RunningWorkers;
  workflowId: string;
  studies: EchoStudy[];
  /** The CLI with the run's salt and task queues. */
  cli(args: string[]): Promise<{ status: number; out: string; err: string }>;
  /** Waits for phase 0's request and names each requested frame's study and frame number. */
  requestedFrames(): Promise<RequestedFrame[]>;
  /** Waits for the merged labelled set of phase 1 and checks each requested frame's stored mask against its drawing. */
  expectMergedDrawings(requested: readonly RequestedFrame[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startSegLabelRun(config: ProjectConfig, scratch: string, salt: string, idPrefix: string): Promise<SegLabelRun> {
  const cli = (args: string[]) => new Promise<{ status: number; out: string; err: string }>((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], {
      cwd: projectRoot, timeout: 120_000,
      env: { ...process.env, DICOM_ID_SALT: salt, TASK_QUEUE_LIGHT: config.taskQueues.light, TASK_QUEUE_ACCEL: config.taskQueues.accel },
    }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
  const dir = path.join(scratch, 'studies');
  const masks = path.join(scratch, 'masks');
  const studies = await writeEchoStudies(dir, masks, 6);
  const running = await startWorkers(config);
  const imported = await cli(['dataset', 'import', '--format', 'dicom', '--dir', dir, '--masks', masks, '--size', String(echo.size), '--initial', '4',
    '--test-videos', '1', '--val-videos', '1', '--json']);
  expect(imported.status, imported.err).toBe(0);
  const { datasetId } = JSON.parse(imported.out) as { datasetId: string };
  const workflowId = `${idPrefix}-${Date.now()}`;
  await running.client.workflow.start(activeLearning, {
    taskQueue: config.taskQueues.light, workflowId, args: [tinyActiveLearning(config, datasetId, { oracle: false, labelsPerPhase: 2, maxPhases: 2 })],
  });
  const handle = running.client.workflow.getHandle(workflowId);
  return {
    running, workflowId, studies, cli,
    async requestedFrames() {
      const pending = await waitFor(async () => (await handle.query(statusQuery)).pending, 'the labelling request');
      // Which study and frame each requested id names, through the salted hash of the instance UID.
      const byHash = new Map(studies.map((s) => [dicomUidHash(salt, s.identity.instanceUid), s]));
      return pending.remaining.map((id) => {
        const frame = dicomItemFrame(id)!;
        return { id, study: byHash.get(frame.instanceHash)!, frame: frame.frame };
      });
    },
    async expectMergedDrawings(requested) {
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
    },
    async stop() {
      await handle.signal(stopSignal, {}).catch(() => undefined);
      await running.stop();
    },
  };
}
