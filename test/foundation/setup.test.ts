import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { ensureTool, SetupError } from '../../scripts/tools';

const savedEnv = { ...process.env };
afterEach(() => {
  process.env = { ...savedEnv };
});

describe('tool lookup and installation errors', () => {
  it('names a wrong *_BIN path and how to fix it', () => {
    process.env.TEMPORAL_BIN = '/nonexistent/temporal';
    expect(() => ensureTool('temporal')).toThrow(SetupError);
    expect(() => ensureTool('temporal')).toThrow('TEMPORAL_BIN=/nonexistent/temporal does not exist; fix the path or unset TEMPORAL_BIN.');
  });

  it('replaces a corrupt binary in the tools folder, and says when Go is missing to rebuild it', () => {
    const tools = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-tools-'));
    fs.mkdirSync(path.join(tools, 'bin'));
    fs.writeFileSync(path.join(tools, 'bin', 'minio'), 'not a binary', { mode: 0o755 });
    delete process.env.MINIO_BIN;
    process.env.PATH = '/nonexistent';
    expect(() => ensureTool('minio', tools)).toThrow(/Building MinIO needs 'go', which is not installed\. Install Go/);
    expect(fs.existsSync(path.join(tools, 'bin', 'minio'))).toBe(false);
    fs.rmSync(tools, { recursive: true, force: true });
  });

  it('says when python3/pip is missing for the Temporal CLI', () => {
    const tools = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-tools-'));
    delete process.env.TEMPORAL_BIN;
    process.env.PATH = '/nonexistent';
    expect(() => ensureTool('temporal', tools)).toThrow(/needs 'python3', which is not installed/);
    fs.rmSync(tools, { recursive: true, force: true });
  });
});

describe('TensorFlow backend selection', () => {
  const pick = (backend: string) => spawnSync(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['-e',
    "import('./ml/backend.ts').then(async (m) => { console.log('PICKED ' + await m.initBackend(undefined, () => {})); })"], {
    cwd: projectRoot, encoding: 'utf8', env: { ...process.env, TF_BACKEND: backend }, timeout: 120_000,
  }).stdout;

  it('loads the native tfjs-node backend that setup built', () => {
    expect(pick('auto')).toContain('PICKED tfjs-node');
  });

  it('honours TF_BACKEND=cpu and rejects an unknown value', () => {
    expect(pick('cpu')).toContain('PICKED cpu');
    expect(pick('tpu')).not.toContain('PICKED');
  });
});
