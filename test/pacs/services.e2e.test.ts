/** `services:start --pacs | status | stop` through the real script, on private ports and a private data folder. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { freePorts, processAlive } from '../ports';

const tsx = path.join(projectRoot, 'node_modules', '.bin', 'tsx');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-pacs-services-'));
let env: Record<string, string>;

function services(args: string[], extra: Record<string, string> = {}): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(tsx, ['scripts/services.ts', ...args], { cwd: projectRoot, env: { ...process.env, ...env, ...extra } });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('close', (status) => resolve({ status, out }));
  });
}

beforeAll(async () => {
  const [temporal, ui, minio, console, orthanc] = await freePorts(5);
  env = {
    ECHO_DATA_DIR: scratch, TEMPORAL_ADDRESS: `127.0.0.1:${temporal}`, TEMPORAL_UI_PORT: String(ui),
    MINIO_PORT: String(minio), MINIO_CONSOLE_PORT: String(console), ORTHANC_PORT: String(orthanc), ORTHANC_ENABLE: '',
  };
});

afterAll(async () => {
  await services(['stop']);
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('services --pacs', () => {
  it('starts Orthanc beside Temporal and MinIO, twice harmlessly; status reports it; stop stops it', async () => {
    const first = await services(['start', '--pacs']);
    expect(first.status, first.out).toBe(0);
    expect(first.out).toMatch(new RegExp(`orthanc: +started at http://127\\.0\\.0\\.1:${env.ORTHANC_PORT} \\(pid \\d+\\), Orthanc 1\\.\\d+`));
    expect(JSON.parse(fs.readFileSync(path.join(scratch, 'orthanc', 'orthanc.json'), 'utf8'))).toMatchObject({
      HttpPort: Number(env.ORTHANC_PORT), StorageDirectory: path.join(scratch, 'orthanc', 'storage'), RemoteAccessAllowed: false, DicomServerEnabled: false,
    });
    const pid = Number(fs.readFileSync(path.join(scratch, 'run', 'orthanc.pid'), 'utf8'));
    expect(processAlive(pid)).toBe(true);

    expect((await services(['start', '--pacs'])).out).toMatch(/orthanc: +already running/);
    const status = await services(['status']);
    expect(status.status).toBe(0);
    expect(status.out).toMatch(/orthanc: +healthy \(Orthanc 1\.\d+/);

    const stop = await services(['stop']);
    expect(stop.out).toMatch(/orthanc: +stopped/);
    expect(processAlive(pid)).toBe(false);
    const after = await services(['status', '--pacs']);
    expect(after.status).toBe(1);
    expect(after.out).toMatch(/orthanc: +down/);
  });

  it('names ORTHANC_PORT when the port is held by something else', async () => {
    const squatter = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(Number(env.ORTHANC_PORT), '127.0.0.1', resolve));
    try {
      const result = await services(['start', '--pacs']);
      expect(result.status).toBe(1);
      expect(result.out).toContain(`Port ${env.ORTHANC_PORT} on 127.0.0.1 is taken by something that is not Orthanc with DICOMweb; stop it or set ORTHANC_PORT to a free port.`);
    } finally {
      squatter.close();
    }
  });
});
