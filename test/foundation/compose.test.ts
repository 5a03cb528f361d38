import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { projectRoot } from '../../config';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }> | string[];
  ports?: string[];
  deploy?: { resources?: { reservations?: { devices?: { driver: string; capabilities: string[] }[] } } };
}

const MAIN = 'docker-compose.yml';
const LABEL_STUDIO = 'docker-compose.label-studio.yml';
const read = (file: string) => fs.readFileSync(path.join(projectRoot, file), 'utf8');
const compose = parse(read(MAIN), { merge: true }) as { services: Record<string, ComposeService> };
const s = compose.services;
const lsCompose = parse(read(LABEL_STUDIO), { merge: true }) as { services: Record<string, ComposeService> };

/** The variables a header line lists after its label, e.g. `#   required:   A, B, C`; text in parentheses is a remark. */
function headerVariables(label: string): string[] {
  const line = read(MAIN).split('\n').find((l) => l.startsWith('#') && l.includes(label));
  if (!line) throw new Error(`docker-compose.yml's header has no '${label}' line`);
  return line.slice(line.indexOf(label) + label.length).replace(/\([^)]*\)/g, '').split(',').map((v) => v.trim()).filter(Boolean);
}
/** The variables a file requires: `${NAME:?…}`. */
const requiredIn = (file: string) => [...new Set([...read(file).matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1]))].sort();

/**
 * Debian's docker-compose (1.29, Python): the Compose that refused the file before (issue 24, item 7). It is not
 * installed by setup: it needs root (apt), and its PyPI release does not build on Python ≥ 3.11 (PyYAML 5.4.1).
 */
function composeConfig(files: string[], env: Record<string, string>): { status: number | null; stderr: string } {
  const envFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'compose-env-')), 'empty.env');
  fs.writeFileSync(envFile, '');
  const result = spawnSync('docker-compose', ['--env-file', envFile, ...files.flatMap((f) => ['-f', f]), 'config', '--quiet'], {
    cwd: projectRoot, encoding: 'utf8', timeout: 60_000,
    // Only PATH and the variables under test: nothing of the caller's environment may fill a gap.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir(), ...env },
  });
  fs.rmSync(path.dirname(envFile), { recursive: true, force: true });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error('docker-compose is not installed: this test validates the compose files with Debian\'s Compose 1.29 '
      + '(apt-get install docker-compose; on other systems any docker-compose 1.29 on PATH).');
  }
  return { status: result.status, stderr: result.stderr };
}
const value = (name: string) => (name.includes('PASSWORD') ? 'a-password-of-16+' : 'a-token-of-16+-characters');
const envOf = (names: string[]) => Object.fromEntries(names.map((n) => [n, value(n)]));

describe('docker-compose.yml', () => {
  it('declares Temporal on PostgreSQL, the Temporal UI, MinIO and a CPU and a GPU worker', () => {
    expect(Object.keys(s)).toEqual(expect.arrayContaining(['postgresql', 'temporal', 'temporal-ui', 'minio', 'worker-cpu', 'worker-gpu']));
    expect(s.temporal.environment?.DB).toMatch(/^postgres/);
    expect(s.temporal.environment?.POSTGRES_SEEDS).toBe('postgresql');
    expect(s['temporal-ui'].environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it('wires both workers to Temporal and MinIO through the same environment variables the code reads', () => {
    for (const name of ['worker-cpu', 'worker-gpu']) {
      const env = s[name].environment ?? {};
      expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(env.MINIO_ENDPOINT).toBe('minio');
      expect(env.MINIO_ROOT_PASSWORD).toBeTruthy();
      expect(Object.keys(s[name].depends_on ?? {})).toEqual(expect.arrayContaining(['temporal', 'minio']));
      const dockerfile = s[name].build?.dockerfile ?? '';
      expect(fs.existsSync(path.join(projectRoot, dockerfile))).toBe(true);
    }
    expect(s['worker-cpu'].environment?.WORKER_ROLE).toBe('light');
    expect(s['worker-gpu'].environment?.WORKER_ROLE).toBe('accel');
    // The code reads exactly these names (config.ts, worker.ts): a typo here would silently use defaults.
    const configSource = fs.readFileSync(path.join(projectRoot, 'config.ts'), 'utf8');
    for (const name of ['worker-cpu', 'worker-gpu', 'labels']) {
      for (const variable of Object.keys(s[name].environment ?? {})) expect(configSource, `${name}: ${variable}`).toContain(`'${variable}'`);
    }
  });

  it('reserves an NVIDIA GPU for the GPU worker, whose image runs tfjs-node-gpu', () => {
    const devices = s['worker-gpu'].deploy?.resources?.reservations?.devices ?? [];
    expect(devices[0]?.driver).toBe('nvidia');
    expect(devices[0]?.capabilities).toContain('gpu');
    expect(s['worker-gpu'].environment?.TF_BACKEND).toBe('gpu');
    const dockerfile = fs.readFileSync(path.join(projectRoot, s['worker-gpu'].build!.dockerfile), 'utf8');
    expect(dockerfile).toMatch(/FROM nvidia\/cuda:.*cudnn/);
  });

  it('requires every password (no defaults) and publishes admin ports on 127.0.0.1 unless told otherwise', () => {
    const raw = read(MAIN) + read(LABEL_STUDIO);
    for (const secret of ['MINIO_ROOT_PASSWORD', 'POSTGRES_PASSWORD', 'LABELS_TOKEN', 'LABEL_STUDIO_PASSWORD', 'LABEL_STUDIO_TOKEN']) {
      expect(raw).toMatch(new RegExp(`\\$\\{${secret}:\\?`));
      expect(raw, `${secret} has a default`).not.toMatch(new RegExp(`\\$\\{${secret}:-[^}]`));
    }
    for (const [name, service] of [...Object.entries(s), ...Object.entries(lsCompose.services)]) {
      for (const port of service.ports ?? []) expect(port, `${name} publishes ${port}`).toMatch(/^\$\{[A-Z_]*PUBLISH_ADDRESS:-127\.0\.0\.1\}:/);
    }
  });

  it('runs the labels server, and Label Studio (docker-compose.label-studio.yml) wired to it, with presigned URLs on the public endpoint', () => {
    expect(s.labels.environment?.LABELS_TOKEN).toBeTruthy();
    expect(JSON.stringify(s.labels)).toContain('"labels","serve"');
    expect(s['worker-cpu'].environment?.LABELS_PUBLIC_URL).toContain('http://labels:8787');
    for (const name of ['worker-cpu', 'labels']) expect(s[name].environment?.MINIO_PUBLIC_ENDPOINT).toBeTruthy();
    // Not a profile of the main file: Compose interpolates profiled services too (docker/compose#11977).
    expect(s['label-studio']).toBeUndefined();
    const labelStudio = lsCompose.services['label-studio'];
    expect(labelStudio.image).toBe('heartexlabs/label-studio:1.23.2');
    expect(labelStudio.environment?.LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN).toBe('true');
    expect(lsCompose.services['worker-cpu'].environment?.LABEL_STUDIO_URL).toContain('http://label-studio:8080');
    expect(lsCompose.services['worker-cpu'].environment?.LABEL_STUDIO_TOKEN).toContain('LABEL_STUDIO_TOKEN');
  });

  it('registers the search attributes the workflows upsert', async () => {
    const { SEARCH_ATTRIBUTES } = await import('../../scripts/services');
    const command = JSON.stringify(compose.services['temporal-search-attributes']);
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) expect(command).toContain(`${name}=${type}`);
  });
});

describe('docker-compose config (Debian\'s docker-compose 1.29) with exactly the variables the header documents', () => {
  const base = headerVariables('required:');
  const withLabelStudio = headerVariables('with Label Studio also:');
  const sets = [
    { what: 'the default (docker compose up)', files: [MAIN], required: base },
    { what: 'with Label Studio (-f docker-compose.label-studio.yml)', files: [MAIN, LABEL_STUDIO], required: [...base, ...withLabelStudio] },
  ];

  it('documents exactly the variables each file requires', () => {
    expect(base).toEqual(['MINIO_ROOT_PASSWORD', 'POSTGRES_PASSWORD', 'LABELS_TOKEN']);
    expect(withLabelStudio).toEqual(['LABEL_STUDIO_PASSWORD', 'LABEL_STUDIO_TOKEN']);
    expect(requiredIn(MAIN)).toEqual([...base].sort());
    expect(requiredIn(LABEL_STUDIO)).toEqual([...withLabelStudio].sort());
  });

  for (const set of sets) {
    it(`validates ${set.what} with those variables and nothing else`, () => {
      const result = composeConfig(set.files, envOf(set.required));
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    });

    it(`refuses ${set.what} without any one of them, naming it`, () => {
      for (const missing of set.required) {
        const result = composeConfig(set.files, envOf(set.required.filter((n) => n !== missing)));
        expect(result.status, `without ${missing}`).not.toBe(0);
        expect(result.stderr, `without ${missing}`).toMatch(new RegExp(`Missing mandatory value .*: set ${missing}\\b`));
      }
    });
  }
});
