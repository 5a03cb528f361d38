/**
 * Every setting a user can touch, read from environment variables with local-use defaults. This is the only
 * module that reads `process.env`; the README's table lists each variable. Keep the two in step.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BACKEND_PREFERENCES, type BackendPreference, isBackendPreference, isLogLevelName, isOnnxProvider, isWorkerRole, LOG_LEVELS,
  type LogLevelName, ONNX_PROVIDERS, type OnnxProvider, WORKER_ROLES, type WorkerRole,
} from './contracts/names';

export const projectRoot = path.dirname(fileURLToPath(import.meta.url));

function env(name: string, fallback: string): string {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

function optionalEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
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

/** A thread count: unset, empty or 0 means the CPU count. */
function envThreads(name: string): number {
  const cpus = os.availableParallelism();
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '' || raw === '0') return cpus;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name}=${raw} must be a non-negative integer (0 or unset: the CPU count, ${cpus}).`);
  return value;
}

function envFlag(name: string, fallback: boolean): boolean {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
  throw new Error(`${name}=${raw} is not a flag; use 1 or 0.`);
}

function envChoice<T extends string>(name: string, fallback: T, allowed: readonly T[], is: (v: unknown) => v is T): T {
  const raw = env(name, fallback);
  if (!is(raw)) throw new Error(`${name}=${raw} is not one of ${allowed.join(', ')}.`);
  return raw;
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
  /** host[:port] that presigned URLs handed to people and tools use (`MINIO_PUBLIC_ENDPOINT`); default the endpoint. */
  publicEndpoint?: string;
}

export interface WorkerConfig {
  /** Which task queues this process serves. */
  role: WorkerRole;
  /** With role `all`, serve the accelerator queue from a child process. */
  split: boolean;
  accelConcurrency: number;
  lightConcurrency: number;
  logLevel: LogLevelName;
}

export interface TensorFlowConfig {
  backend: BackendPreference;
  /** Passed to libtensorflow through its own variables when the native backend loads. */
  cppMinLogLevel: string;
  enableOneDnn: string;
  /** oneDNN's instruction-set cap (`ONEDNN_MAX_CPU_ISA`): AVX2 by default, 'ALL' for none. */
  oneDnnMaxIsa: string;
  /** TensorFlow's intra-op pool (threads one kernel splits its work over) and inter-op pool; the CPU count by default. */
  intraOpThreads: number;
  interOpThreads: number;
}

export interface LabelsConfig {
  /** Bearer token of the labels server (`LABELS_TOKEN`). */
  token?: string;
  /** Shared secret Label Studio's webhook deliveries carry (`LABELS_WEBHOOK_SECRET`). */
  webhookSecret?: string;
  /** The labels server's address as Label Studio reaches it, e.g. http://labels:8787 (`LABELS_PUBLIC_URL`). */
  publicUrl?: string;
}

export interface LabelStudioConfig {
  /** Label Studio's address, e.g. http://127.0.0.1:8080 (`LABEL_STUDIO_URL`); unset: no Label Studio. */
  url?: string;
  /** An API token of a Label Studio user (`LABEL_STUDIO_TOKEN`, or `LABEL_STUDIO_USER_TOKEN` of the local service). */
  token?: string;
  /** Local service only: its port, first user and token (`LABEL_STUDIO_PORT`, `_USERNAME`, `_PASSWORD`, `_USER_TOKEN`). */
  port: number;
  username: string;
  password: string;
  userToken: string;
  /** `services:start` also starts Label Studio (`LABEL_STUDIO_ENABLE=1`). */
  enableLocal: boolean;
  bin?: string;
}

export interface OrthancConfig {
  /** The local Orthanc's HTTP port (`ORTHANC_PORT`); it answers only on 127.0.0.1 (remote access off). */
  port: number;
  /** `services:start` also starts Orthanc (`ORTHANC_ENABLE=1`, like `--pacs`). */
  enableLocal: boolean;
  /** An `Orthanc` executable to use instead of the one unpacked into `<tools>/orthanc` (`ORTHANC_BIN`, e.g. /usr/sbin/Orthanc). */
  bin?: string;
  /** The DICOMweb plugin that `ORTHANC_BIN` loads (`ORTHANC_DICOMWEB_PLUGIN`). */
  dicomWebPlugin: string;
}

export interface WeightsConfig {
  /** Where `--encoder-weights imagenet` downloads from (`ECHO_WEIGHTS_HUB`, default Hugging Face; a mirror's address works too). */
  hub: string;
  /** Where downloaded weights are kept (`ECHO_WEIGHTS_CACHE`, default `.cache/` in the project). */
  cacheDir: string;
}

export interface ProjectConfig {
  temporal: TemporalConfig;
  minio: MinioConfig;
  labels: LabelsConfig;
  labelStudio: LabelStudioConfig;
  orthanc: OrthancConfig;
  taskQueues: { light: string; accel: string };
  worker: WorkerConfig;
  tf: TensorFlowConfig;
  /** ONNX Runtime's execution provider for `predict --engine onnx` (`ONNX_PROVIDER`, default cpu). */
  onnxProvider: OnnxProvider;
  weights: WeightsConfig;
  /** Print stack traces of CLI errors. */
  debug: boolean;
  /**
   * Secret mixed into the hashes that replace DICOM identifiers (`DICOM_ID_SALT`); unset: one is generated once and
   * kept in `<data dir>/dicom-salt` (readable by this user only). The same salt gives the same dataset ids.
   */
  dicomSalt?: string;
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
      publicEndpoint: optionalEnv('MINIO_PUBLIC_ENDPOINT'),
    },
    labels: {
      token: optionalEnv('LABELS_TOKEN'),
      webhookSecret: optionalEnv('LABELS_WEBHOOK_SECRET'),
      publicUrl: optionalEnv('LABELS_PUBLIC_URL'),
    },
    labelStudio: {
      url: optionalEnv('LABEL_STUDIO_URL'),
      token: optionalEnv('LABEL_STUDIO_TOKEN'),
      port: envInt('LABEL_STUDIO_PORT', 8080),
      // Local-use defaults only, like MinIO's: the local service binds 127.0.0.1.
      username: env('LABEL_STUDIO_USERNAME', 'admin@echo-al.local'),
      password: env('LABEL_STUDIO_PASSWORD', 'echo-al-local-secret'),
      userToken: env('LABEL_STUDIO_USER_TOKEN', 'echo-al-local-label-studio-token'),
      enableLocal: envFlag('LABEL_STUDIO_ENABLE', false),
      bin: optionalEnv('LABEL_STUDIO_BIN'),
    },
    orthanc: {
      port: envInt('ORTHANC_PORT', 8042),
      enableLocal: envFlag('ORTHANC_ENABLE', false),
      bin: optionalEnv('ORTHANC_BIN'),
      // Where Debian's orthanc-dicomweb package puts it.
      dicomWebPlugin: env('ORTHANC_DICOMWEB_PLUGIN', '/usr/share/orthanc/plugins/libOrthancDicomWeb.so'),
    },
    taskQueues: {
      light: env('TASK_QUEUE_LIGHT', 'echo-al-light'),
      accel: env('TASK_QUEUE_ACCEL', 'echo-al-accel'),
    },
    worker: {
      role: envChoice('WORKER_ROLE', 'all', WORKER_ROLES, isWorkerRole),
      split: envFlag('WORKER_SPLIT', true),
      accelConcurrency: envInt('ACCEL_CONCURRENCY', 1),
      lightConcurrency: envInt('LIGHT_CONCURRENCY', 8),
      logLevel: envChoice('LOG_LEVEL', 'WARN', LOG_LEVELS, isLogLevelName),
    },
    tf: {
      backend: envChoice('TF_BACKEND', 'auto', BACKEND_PREFERENCES, isBackendPreference),
      cppMinLogLevel: env('TF_CPP_MIN_LOG_LEVEL', '1'),
      enableOneDnn: env('TF_ENABLE_ONEDNN_OPTS', '1'),
      oneDnnMaxIsa: env('ONEDNN_MAX_CPU_ISA', 'AVX2'),
      intraOpThreads: envThreads('TF_NUM_INTRAOP_THREADS'),
      interOpThreads: envThreads('TF_NUM_INTEROP_THREADS'),
    },
    onnxProvider: envChoice('ONNX_PROVIDER', 'cpu', ONNX_PROVIDERS, isOnnxProvider),
    weights: {
      hub: env('ECHO_WEIGHTS_HUB', 'https://huggingface.co').replace(/\/+$/, ''),
      cacheDir: path.resolve(projectRoot, env('ECHO_WEIGHTS_CACHE', '.cache')),
    },
    debug: envFlag('ECHO_DEBUG', false),
    dicomSalt: optionalEnv('DICOM_ID_SALT'),
    dataDir: path.resolve(projectRoot, env('ECHO_DATA_DIR', '.data')),
    toolsDir: path.resolve(projectRoot, env('ECHO_TOOLS_DIR', '.tools')),
  };
}

/** Settings of the one-off setup scripts (installing tools and libtensorflow). */
export interface SetupConfig {
  /** Binaries to use instead of looking them up (`TEMPORAL_BIN`, `TEMPORAL_TEST_SERVER_BIN`, `MINIO_BIN`). */
  bins: Record<'temporal' | 'temporal-test-server' | 'minio', string | undefined>;
  tfWheelVersion: string;
  /** Skip tfjs-node's own CDN download and go straight to the pip wheel. */
  tfSkipDownload: boolean;
  /** The path searched for binaries. */
  path: string;
}

export function loadSetupConfig(): SetupConfig {
  return {
    bins: { temporal: optionalEnv('TEMPORAL_BIN'), 'temporal-test-server': optionalEnv('TEMPORAL_TEST_SERVER_BIN'), minio: optionalEnv('MINIO_BIN') },
    tfWheelVersion: env('TF_WHEEL_VERSION', '2.18.1'),
    tfSkipDownload: envFlag('TF_SKIP_DOWNLOAD', false),
    path: env('PATH', ''),
  };
}
