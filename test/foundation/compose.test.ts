import fs from 'node:fs';
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

const compose = parse(fs.readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const s = compose.services;

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
    const raw = fs.readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8');
    for (const secret of ['MINIO_ROOT_PASSWORD', 'POSTGRES_PASSWORD', 'LABELS_TOKEN', 'LABEL_STUDIO_PASSWORD']) {
      expect(raw).toMatch(new RegExp(`\\$\\{${secret}:\\?`));
      expect(raw).not.toMatch(new RegExp(`\\$\\{${secret}:-`));
    }
    for (const [name, service] of Object.entries(s)) {
      for (const port of service.ports ?? []) expect(port, `${name} publishes ${port}`).toMatch(/^\$\{[A-Z_]*PUBLISH_ADDRESS:-127\.0\.0\.1\}:/);
    }
  });

  it('runs the labels server, and Label Studio (profile label-studio) wired to it, with presigned URLs on the public endpoint', () => {
    expect(s.labels.environment?.LABELS_TOKEN).toBeTruthy();
    expect(JSON.stringify(s.labels)).toContain('"labels","serve"');
    expect(s['worker-cpu'].environment?.LABELS_PUBLIC_URL).toContain('http://labels:8787');
    for (const name of ['worker-cpu', 'labels']) expect(s[name].environment?.MINIO_PUBLIC_ENDPOINT).toBeTruthy();
    const labelStudio = s['label-studio'] as ComposeService & { profiles?: string[] };
    expect(labelStudio.profiles).toEqual(['label-studio']);
    expect(labelStudio.image).toBe('heartexlabs/label-studio:1.23.2');
    expect(labelStudio.environment?.LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN).toBe('true');
  });

  it('registers the search attributes the workflows upsert', async () => {
    const { SEARCH_ATTRIBUTES } = await import('../../scripts/services');
    const command = JSON.stringify(compose.services['temporal-search-attributes']);
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) expect(command).toContain(`${name}=${type}`);
  });
});
