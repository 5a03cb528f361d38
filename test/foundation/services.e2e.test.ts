import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { processAlive } from '../ports';

const tsx = path.join(projectRoot, 'node_modules', '.bin', 'tsx');

function services(command: string, env: Record<string, string> = {}) {
  const result = spawnSync(tsx, ['scripts/services.ts', command], {
    cwd: projectRoot, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000,
  });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-services-'));
// A second, private pair of services on other ports, so the shared ones used by the other tests stay up.
const isolated = {
  ECHO_DATA_DIR: scratch,
  TEMPORAL_ADDRESS: '127.0.0.1:17233',
  TEMPORAL_UI_PORT: '18233',
  MINIO_PORT: '19000',
  MINIO_CONSOLE_PORT: '19001',
};

afterAll(() => {
  services('stop', isolated);
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('local services scripts', () => {
  it('start twice is harmless, status reports healthy, stop leaves no process behind', () => {
    const first = services('start', isolated);
    expect(first.out).toContain('temporal: started at 127.0.0.1:17233');
    expect(first.out).toMatch(/minio: +started at http:\/\/127.0.0.1:19000/);
    expect(first.status).toBe(0);
    const pids = ['temporal', 'minio'].map((s) => Number(fs.readFileSync(path.join(scratch, 'run', `${s}.pid`), 'utf8')));
    expect(pids.every(processAlive)).toBe(true);

    const second = services('start', isolated);
    expect(second.status).toBe(0);
    expect(second.out).toContain('temporal: already running');
    expect(second.out).toContain('already running at http://127.0.0.1:19000');

    expect(services('status', isolated).status).toBe(0);

    const stop = services('stop', isolated);
    expect(stop.out).toMatch(/temporal: stopped/);
    expect(stop.out).toMatch(/minio: +stopped/);
    expect(pids.some(processAlive)).toBe(false);
    expect(services('status', isolated).status).toBe(1);
  });

  it('a port held by something else gives one clear line naming the variable to change', async () => {
    const squatter = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(19100, '127.0.0.1', resolve));
    try {
      const result = services('start', { ...isolated, TEMPORAL_ADDRESS: '127.0.0.1:19100' });
      expect(result.status).toBe(1);
      expect(result.out).toContain('Port 19100 on 127.0.0.1 is taken by something that is not a Temporal server');
      expect(result.out).toContain('TEMPORAL_ADDRESS');
      expect(result.out).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      squatter.close();
    }
  });
});
