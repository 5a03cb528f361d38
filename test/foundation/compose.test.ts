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
    const configSource = fs.readFileSync(path.join(projectRoot, 'config.ts'), 'utf8') + fs.readFileSync(path.join(projectRoot, 'worker.ts'), 'utf8')
      + fs.readFileSync(path.join(projectRoot, 'ml', 'backend.ts'), 'utf8');
    for (const variable of Object.keys(s['worker-gpu'].environment ?? {})) expect(configSource).toContain(variable);
  });

  it('reserves an NVIDIA GPU for the GPU worker, whose image runs tfjs-node-gpu', () => {
    const devices = s['worker-gpu'].deploy?.resources?.reservations?.devices ?? [];
    expect(devices[0]?.driver).toBe('nvidia');
    expect(devices[0]?.capabilities).toContain('gpu');
    expect(s['worker-gpu'].environment?.TF_BACKEND).toBe('gpu');
    const dockerfile = fs.readFileSync(path.join(projectRoot, s['worker-gpu'].build!.dockerfile), 'utf8');
    expect(dockerfile).toMatch(/FROM nvidia\/cuda:.*cudnn/);
  });

  it('registers the search attributes the workflows upsert', async () => {
    const { SEARCH_ATTRIBUTES } = await import('../../scripts/services');
    const command = JSON.stringify(compose.services['temporal-search-attributes']);
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) expect(command).toContain(`${name}=${type}`);
  });
});
