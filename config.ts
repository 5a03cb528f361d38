/**
 * Every setting a user can touch, read from environment variables with local-use defaults.
 * The README lists each variable; keep the two in step.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = path.dirname(fileURLToPath(import.meta.url));

function env(name: string, fallback: string): string {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${name}=${raw} is not a positive integer; unset it or give a number such as ${fallback}.`);
  }
  return value;
}

export interface TemporalConfig {
  address: string;
  namespace: string;
  uiPort: number;
}

export interface MinioConfig {
  endPoint: string;
  port: number;
  consolePort: number;
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
}

export interface ProjectConfig {
  temporal: TemporalConfig;
  minio: MinioConfig;
  taskQueues: { light: string; accel: string };
  dataDir: string;
  toolsDir: string;
}

export function loadConfig(): ProjectConfig {
  return {
    temporal: {
      address: env('TEMPORAL_ADDRESS', '127.0.0.1:7233'),
      namespace: env('TEMPORAL_NAMESPACE', 'default'),
      uiPort: envInt('TEMPORAL_UI_PORT', 8233),
    },
    minio: {
      endPoint: env('MINIO_ENDPOINT', '127.0.0.1'),
      port: envInt('MINIO_PORT', 9000),
      consolePort: envInt('MINIO_CONSOLE_PORT', 9001),
      useSSL: env('MINIO_USE_SSL', 'false') === 'true',
      // Local-use defaults only: a real deployment sets its own credentials.
      accessKey: env('MINIO_ROOT_USER', 'echoal'),
      secretKey: env('MINIO_ROOT_PASSWORD', 'echoal-local-secret'),
      bucket: env('MINIO_BUCKET', 'echo-al'),
      region: env('MINIO_REGION', 'us-east-1'),
    },
    taskQueues: {
      light: env('TASK_QUEUE_LIGHT', 'echo-al-light'),
      accel: env('TASK_QUEUE_ACCEL', 'echo-al-accel'),
    },
    dataDir: path.resolve(projectRoot, env('ECHO_DATA_DIR', '.data')),
    toolsDir: path.resolve(projectRoot, env('ECHO_TOOLS_DIR', '.tools')),
  };
}
