/** A real Orthanc (with DICOMweb) for one test file: its own free port and a temporary storage folder. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config';
import { ensureOrthanc, type RunningOrthanc, startOrthanc } from '../../scripts/orthanc';
import { freePort } from '../ports';

/** Installs Orthanc into the tools folder when missing (as `services:start --pacs` does) and starts a fresh one. */
export async function startTestOrthanc(): Promise<{ orthanc: RunningOrthanc; dataDir: string; stop: () => Promise<void> }> {
  const config = loadConfig();
  const install = ensureOrthanc(config.toolsDir, config.orthanc);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-orthanc-'));
  const orthanc = await startOrthanc({ install, port: await freePort(), dataDir, logFile: path.join(dataDir, 'orthanc.log') });
  return {
    orthanc, dataDir,
    stop: async () => {
      await orthanc.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Stores one DICOM file in Orthanc through its REST API (`POST /instances`), as a modality or a viewer would. */
export async function uploadInstance(orthanc: RunningOrthanc, bytes: Uint8Array): Promise<void> {
  const response = await fetch(`${orthanc.url}/instances`, { method: 'POST', headers: { 'Content-Type': 'application/dicom' }, body: bytes });
  if (!response.ok) throw new Error(`Orthanc refused the upload: ${response.status} ${await response.text()}`);
  await response.body?.cancel();
}
