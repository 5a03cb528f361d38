import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config';
import { ensureLabelStudio, labelStudioSettingsFromEnv, pythonOf, type RunningLabelStudio, startLabelStudio } from '../../scripts/labelStudio';
import { freePort } from '../ports';

let bin: string | undefined;

/** The project's own Label Studio (installed by setup; installed here when missing). */
export function labelStudioBin(): string {
  bin ??= ensureLabelStudio(loadConfig().toolsDir, labelStudioSettingsFromEnv().bin);
  return bin;
}

/** Runs Python code with the Label Studio venv's interpreter, JSON in on stdin, JSON out on stdout. */
export function runLabelStudioPython<T>(code: string, input: unknown): T {
  const result = spawnSync(pythonOf(labelStudioBin()), ['-c', code], {
    input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 120_000,
    env: { ...process.env, PYTHONWARNINGS: 'ignore' },
  });
  if (result.status !== 0) throw new Error(`python failed (${result.status ?? result.signal}): ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as T;
}

/** A small deterministic pseudo-random mask (0/1) with blobs and isolated pixels. */
export function randomMask(width: number, height: number, seed: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inBlob = (x - width / 2) ** 2 + (y - height / 3) ** 2 < (Math.min(width, height) / 3) ** 2;
      mask[y * width + x] = (inBlob ? next() < 0.9 : next() < 0.05) ? 1 : 0;
    }
  }
  return mask;
}

/** The tests' Label Studio user (fixed, so a migrated data folder can be reused). */
export const TEST_LABEL_STUDIO_USER = { username: 'doctor@echo-al.test', password: 'test-password-1', token: 'echo-al-test-label-studio-token-0123456789' };

/**
 * A real Label Studio for one test file, on its own port and data folder. A fresh database takes minutes to migrate
 * on a busy machine, so the first test to need one migrates a template folder once (`<data dir>/label-studio-template`)
 * and every instance starts from a copy of it (a restart: seconds).
 */
export async function startTestLabelStudio(): Promise<{ ls: RunningLabelStudio; dataDir: string; stop: () => Promise<void> }> {
  const template = path.join(loadConfig().dataDir, 'label-studio-template');
  const ready = path.join(template, '.echo-al-migrated');
  if (!fs.existsSync(ready)) {
    fs.rmSync(template, { recursive: true, force: true });
    fs.mkdirSync(template, { recursive: true });
    const started = Date.now();
    const first = await startLabelStudio({ bin: labelStudioBin(), port: await freePort(), dataDir: template, ...TEST_LABEL_STUDIO_USER, startTimeoutMs: 600_000 });
    await first.stop();
    fs.writeFileSync(ready, `${first.version}\n`);
    console.log(`Label Studio ${first.version}: migrated the tests' template database in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-label-studio-'));
  fs.cpSync(template, dataDir, { recursive: true });
  fs.rmSync(path.join(dataDir, 'label-studio.log'), { force: true });
  const ls = await startLabelStudio({ bin: labelStudioBin(), port: await freePort(), dataDir, ...TEST_LABEL_STUDIO_USER, startTimeoutMs: 600_000 });
  return {
    ls, dataDir,
    stop: async () => {
      await ls.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
