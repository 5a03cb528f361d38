/** Finding, installing and configuring Label Studio: the errors a user can hit, and reuse of a working install. */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import {
  ensureLabelStudio, installedVersion, LABEL_STUDIO_VERSION, labelStudioSettingsFromEnv, labelStudioVenv, startLabelStudio,
} from '../../scripts/labelStudio';
import { SetupError } from '../../scripts/tools';
import { labelStudioBin } from './helpers';

const savedPath = process.env.PATH;
const scratch: string[] = [];
afterEach(() => {
  process.env.PATH = savedPath;
  for (const dir of scratch.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-ls-setup-'));
  scratch.push(dir);
  return dir;
}

describe('Label Studio installation', () => {
  it('reuses the working install and reads its version without starting a server', () => {
    const bin = labelStudioBin();
    const settings = labelStudioSettingsFromEnv();
    if (!settings.bin) expect(bin).toBe(path.join(labelStudioVenv(loadConfig().toolsDir), 'bin', 'label-studio'));
    const started = Date.now();
    expect(ensureLabelStudio(loadConfig().toolsDir, settings.bin)).toBe(bin);
    expect(installedVersion(bin)).toBe(LABEL_STUDIO_VERSION);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('names a wrong LABEL_STUDIO_BIN and how to fix it', () => {
    expect(() => ensureLabelStudio(tempDir(), '/nonexistent/label-studio')).toThrow(SetupError);
    expect(() => ensureLabelStudio(tempDir(), '/nonexistent/label-studio'))
      .toThrow('LABEL_STUDIO_BIN=/nonexistent/label-studio does not exist; fix the path or unset LABEL_STUDIO_BIN.');
    const fake = path.join(tempDir(), 'label-studio');
    fs.writeFileSync(fake, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    expect(() => ensureLabelStudio(tempDir(), fake)).toThrow(/does not work \(its Python cannot import label_studio\)/);
  });

  it('says when python3 is missing to create the venv', () => {
    process.env.PATH = '/nonexistent';
    expect(() => ensureLabelStudio(tempDir())).toThrow(/Creating the Label Studio venv needs 'python3', which is not installed\. Install python3/);
  });

  it('refuses a taken port, a short token and a user name that is not an e-mail address before starting anything', async () => {
    const base = { bin: '/nonexistent', port: 1, dataDir: tempDir(), username: 'doctor@example.org', password: 'pw-123456', token: 'long-enough-token' };
    await expect(startLabelStudio({ ...base, token: 'short' })).rejects.toThrow(/at least 8 characters/);
    await expect(startLabelStudio({ ...base, username: 'doctor' })).rejects.toThrow(/must be an e-mail address/);
    const squatter = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    try {
      const port = (squatter.address() as net.AddressInfo).port;
      await expect(startLabelStudio({ ...base, port })).rejects.toThrow(`Port ${port} on 127.0.0.1 is taken`);
    } finally {
      squatter.close();
    }
  });

  it('reads its settings from the environment (through config.ts) and rejects a bad port', () => {
    const withEnv = <T>(vars: Record<string, string | undefined>, read: () => T): T => {
      const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
      Object.assign(process.env, vars);
      for (const [k, v] of Object.entries(vars)) if (v === undefined) delete process.env[k];
      try {
        return read();
      } finally {
        for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
    };
    expect(withEnv({ LABEL_STUDIO_PORT: undefined, LABEL_STUDIO_BIN: undefined }, labelStudioSettingsFromEnv)).toMatchObject({ port: 8080, username: 'admin@echo-al.local' });
    expect(withEnv({ LABEL_STUDIO_PORT: '18080', LABEL_STUDIO_BIN: '/opt/ls' }, labelStudioSettingsFromEnv)).toMatchObject({ port: 18080, bin: '/opt/ls' });
    expect(() => withEnv({ LABEL_STUDIO_PORT: 'eighty' }, labelStudioSettingsFromEnv)).toThrow('LABEL_STUDIO_PORT=eighty is not a positive integer');
  });
});
