/**
 * Starts, checks and stops the local embedded services: the Temporal CLI dev server (SQLite persistence, UI)
 * and MinIO on a local folder; with `start --label-studio` (or LABEL_STUDIO_ENABLE=1) also Label Studio, with
 * `--pacs` (or ORTHANC_ENABLE=1) also Orthanc, a local PACS with DICOMweb.
 * `tsx scripts/services.ts start [--label-studio] [--pacs]|stop|status [--label-studio] [--pacs]`.
 *
 * Starting twice is harmless; a healthy service of the same kind already at the configured address is used as
 * it is; a port held by anything else is an error naming the variable to change.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { loadConfig, type ProjectConfig } from '../config';
import { SEARCH_ATTRIBUTES as WORKFLOW_SEARCH_ATTRIBUTES } from '../contracts/names';
import { LabelStudioClient } from '../labelling/labelStudio/client';
import { ObjectStore } from '../store/objectStore';
import { ensureLabelStudio, labelStudioEnabled, labelStudioSettingsFromEnv, startLabelStudio } from './labelStudio';
import { ensureOrthanc, orthancVersion, startOrthanc } from './orthanc';
import { ensureTool, SetupError } from './tools';

/** The dev server's spelling of each search-attribute type. */
const DEV_SERVER_TYPE = { KEYWORD: 'Keyword', INT: 'Int', DOUBLE: 'Double' } as const;

/** Custom search attributes the workflows upsert (contracts/names.ts); registered when the dev server starts. */
export const SEARCH_ATTRIBUTES: Record<string, string> = Object.fromEntries(
  Object.values(WORKFLOW_SEARCH_ATTRIBUTES).map(({ name, type }) => [name, DEV_SERVER_TYPE[type]]),
);

type ServiceName = 'temporal' | 'minio' | 'label-studio' | 'orthanc';

interface ServicePaths {
  pidFile: string;
  logFile: string;
}

function paths(config: ProjectConfig, name: ServiceName): ServicePaths {
  const runDir = path.join(config.dataDir, 'run');
  fs.mkdirSync(runDir, { recursive: true });
  return { pidFile: path.join(runDir, `${name}.pid`), logFile: path.join(runDir, `${name}.log`) };
}

function hostPort(address: string): { host: string; port: number } {
  const index = address.lastIndexOf(':');
  const port = Number(address.slice(index + 1));
  if (index <= 0 || !Number.isInteger(port)) throw new SetupError(`TEMPORAL_ADDRESS=${address} is not host:port.`);
  return { host: address.slice(0, index), port };
}

function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function ownPid(p: ServicePaths): number | undefined {
  if (!fs.existsSync(p.pidFile)) return undefined;
  const pid = Number(fs.readFileSync(p.pidFile, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 0 && alive(pid)) return pid;
  fs.rmSync(p.pidFile, { force: true });
  return undefined;
}

async function temporalHealthy(config: ProjectConfig): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address: config.temporal.address, connectTimeout: 2000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

async function minioHealthy(config: ProjectConfig): Promise<boolean> {
  const scheme = config.minio.useSSL ? 'https' : 'http';
  try {
    const response = await fetch(`${scheme}://${config.minio.endPoint}:${config.minio.port}/minio/health/live`, {
      signal: AbortSignal.timeout(2000),
    });
    return response.ok;
  } catch {
    return false;
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, logFile: string, pid: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (!alive(pid)) {
      const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
      throw new SetupError(`${what} exited during start-up; last lines of ${logFile}:\n${tail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new SetupError(`${what} did not become healthy within ${timeoutMs / 1000} s; see ${logFile}.`);
}

function launch(bin: string, args: string[], env: NodeJS.ProcessEnv, p: ServicePaths): number {
  const log = fs.openSync(p.logFile, 'a');
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...env } });
  fs.closeSync(log);
  if (child.pid === undefined) throw new SetupError(`Could not start ${bin}.`);
  child.unref();
  fs.writeFileSync(p.pidFile, String(child.pid));
  return child.pid;
}

async function startTemporal(config: ProjectConfig): Promise<string> {
  const p = paths(config, 'temporal');
  const { host, port } = hostPort(config.temporal.address);
  const uiUrl = `http://${host}:${config.temporal.uiPort}`;
  if (ownPid(p) !== undefined && (await temporalHealthy(config))) return `already running at ${config.temporal.address}, UI ${uiUrl}`;
  if (await portOpen(host, port)) {
    if (await temporalHealthy(config)) return `using the Temporal server already at ${config.temporal.address} (not started by this project)`;
    throw new SetupError(`Port ${port} on ${host} is taken by something that is not a Temporal server; stop it or set TEMPORAL_ADDRESS=${host}:<free port>.`);
  }
  if (await portOpen(host, config.temporal.uiPort)) {
    throw new SetupError(`Temporal UI port ${config.temporal.uiPort} is taken; stop what holds it or set TEMPORAL_UI_PORT to a free port.`);
  }
  const bin = ensureTool('temporal', config.toolsDir);
  const dbDir = path.join(config.dataDir, 'temporal');
  fs.mkdirSync(dbDir, { recursive: true });
  const args = ['server', 'start-dev', '--ip', host, '--port', String(port), '--ui-port', String(config.temporal.uiPort),
    '--db-filename', path.join(dbDir, 'temporal.db'), '--namespace', config.temporal.namespace, '--log-level', 'warn'];
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  const pid = launch(bin, args, {}, p);
  await waitFor(() => temporalHealthy(config), 60_000, 'The Temporal dev server', p.logFile, pid);
  return `started at ${config.temporal.address} (pid ${pid}), UI ${uiUrl}, log ${p.logFile}`;
}

async function startMinio(config: ProjectConfig): Promise<string> {
  const p = paths(config, 'minio');
  const { endPoint: host, port, consolePort } = config.minio;
  const store = new ObjectStore(config.minio, { attempts: 1 });
  let message: string;
  if (ownPid(p) !== undefined && (await minioHealthy(config))) {
    message = `already running at ${store.endpoint}`;
  } else if (await portOpen(host, port)) {
    if (!(await minioHealthy(config))) {
      throw new SetupError(`Port ${port} on ${host} is taken by something that is not MinIO; stop it or set MINIO_PORT to a free port.`);
    }
    message = `using the MinIO already at ${store.endpoint} (not started by this project)`;
  } else {
    if (await portOpen(host, consolePort)) {
      throw new SetupError(`MinIO console port ${consolePort} is taken; stop what holds it or set MINIO_CONSOLE_PORT to a free port.`);
    }
    if (config.minio.secretKey.length < 8 || config.minio.accessKey.length < 3) {
      throw new SetupError('MinIO needs MINIO_ROOT_USER of 3+ characters and MINIO_ROOT_PASSWORD of 8+ characters.');
    }
    const bin = ensureTool('minio', config.toolsDir);
    const dataDir = path.join(config.dataDir, 'minio');
    fs.mkdirSync(dataDir, { recursive: true });
    const pid = launch(bin, ['server', dataDir, '--address', `${host}:${port}`, '--console-address', `${host}:${consolePort}`, '--quiet'], {
      MINIO_ROOT_USER: config.minio.accessKey,
      MINIO_ROOT_PASSWORD: config.minio.secretKey,
      MINIO_BROWSER: 'on',
    }, p);
    await waitFor(() => minioHealthy(config), 60_000, 'MinIO', p.logFile, pid);
    message = `started at ${store.endpoint} (pid ${pid}), console http://${host}:${consolePort}, data ${dataDir}, log ${p.logFile}`;
  }
  await store.ensureBucket();
  return `${message}; bucket '${config.minio.bucket}' ready`;
}

/** Label Studio's version when one answers at this URL (health needs no token). */
async function labelStudioVersion(url: string): Promise<string | undefined> {
  try {
    return (await new LabelStudioClient({ url, token: '', timeoutMs: 2000 }).health()).version;
  } catch {
    return undefined;
  }
}

async function startLabelStudioService(config: ProjectConfig): Promise<string> {
  const settings = labelStudioSettingsFromEnv();
  const p = paths(config, 'label-studio');
  const host = '127.0.0.1';
  const url = `http://${host}:${settings.port}`;
  if (ownPid(p) !== undefined && (await labelStudioVersion(url))) return `already running at ${url}`;
  if (await portOpen(host, settings.port)) {
    if (await labelStudioVersion(url)) return `using the Label Studio already at ${url} (not started by this project)`;
    throw new SetupError(`Port ${settings.port} on ${host} is taken by something that is not Label Studio; stop it or set LABEL_STUDIO_PORT to a free port.`);
  }
  const dataDir = path.join(config.dataDir, 'label-studio');
  const started = await startLabelStudio({
    bin: ensureLabelStudio(config.toolsDir, settings.bin), port: settings.port, dataDir, logFile: p.logFile,
    username: settings.username, password: settings.password, token: settings.token,
    onSpawn: (pid) => fs.writeFileSync(p.pidFile, String(pid)),
  });
  return `started at ${url} (pid ${started.pid}), Label Studio ${started.version}, user ${settings.username}, data ${dataDir}, log ${p.logFile}`;
}

async function startOrthancService(config: ProjectConfig): Promise<string> {
  const p = paths(config, 'orthanc');
  const url = `http://127.0.0.1:${config.orthanc.port}`;
  if (ownPid(p) !== undefined && (await orthancVersion(url))) return `already running at ${url}`;
  if (await portOpen('127.0.0.1', config.orthanc.port)) {
    if (await orthancVersion(url)) return `using the Orthanc already at ${url} (not started by this project)`;
    throw new SetupError(`Port ${config.orthanc.port} on 127.0.0.1 is taken by something that is not Orthanc with DICOMweb; stop it or set ORTHANC_PORT to a free port.`);
  }
  const dataDir = path.join(config.dataDir, 'orthanc');
  const started = await startOrthanc({
    install: ensureOrthanc(config.toolsDir, config.orthanc), port: config.orthanc.port, dataDir, logFile: p.logFile,
    onSpawn: (pid) => fs.writeFileSync(p.pidFile, String(pid)),
  });
  return `started at ${url} (pid ${started.pid}), Orthanc ${started.version}, DICOMweb ${started.dicomWebUrl}, data ${dataDir}, log ${p.logFile}`;
}

async function stopService(config: ProjectConfig, name: ServiceName): Promise<string> {
  const p = paths(config, name);
  const pid = ownPid(p);
  if (pid === undefined) return 'not running (nothing started by this project)';
  // The service was started detached, so it leads its own process group: signal the whole group.
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  signalGroup('SIGTERM');
  const deadline = Date.now() + 15_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
  if (alive(pid)) signalGroup('SIGKILL');
  fs.rmSync(p.pidFile, { force: true });
  return `stopped (pid ${pid})`;
}

/** One service on its own (failure tests stop and restart the real services). */
export function restartableService(config: ProjectConfig, name: 'temporal' | 'minio') {
  return {
    stop: () => stopService(config, name),
    start: () => (name === 'temporal' ? startTemporal(config) : startMinio(config)),
  };
}

/** The opt-in components a command asks for. */
export interface OptionalServices {
  labelStudio?: boolean;
  pacs?: boolean;
}

export async function startServices(config = loadConfig(), options: OptionalServices = {}): Promise<void> {
  console.log(`temporal: ${await startTemporal(config)}`);
  console.log(`minio:    ${await startMinio(config)}`);
  if (options.labelStudio) console.log(`label-studio: ${await startLabelStudioService(config)}`);
  if (options.pacs) console.log(`orthanc:  ${await startOrthancService(config)}`);
}

export async function stopServices(config = loadConfig()): Promise<void> {
  console.log(`temporal: ${await stopService(config, 'temporal')}`);
  console.log(`minio:    ${await stopService(config, 'minio')}`);
  // Label Studio is opt-in: mentioned only when this project started it.
  if (fs.existsSync(paths(config, 'label-studio').pidFile)) console.log(`label-studio: ${await stopService(config, 'label-studio')}`);
  if (fs.existsSync(paths(config, 'orthanc').pidFile)) console.log(`orthanc:  ${await stopService(config, 'orthanc')}`);
}

export async function servicesStatus(config = loadConfig(), options: OptionalServices = {}): Promise<boolean> {
  const t = await temporalHealthy(config);
  const m = await minioHealthy(config);
  console.log(`temporal: ${t ? 'healthy' : 'down'} at ${config.temporal.address}, UI http://${hostPort(config.temporal.address).host}:${config.temporal.uiPort}`);
  console.log(`minio:    ${m ? 'healthy' : 'down'} at ${config.minio.endPoint}:${config.minio.port}, bucket '${config.minio.bucket}'`);
  // Shown (and counted) when asked for or started by this project; otherwise status is as before.
  let healthy = t && m;
  if (options.labelStudio || ownPid(paths(config, 'label-studio')) !== undefined) {
    const url = `http://127.0.0.1:${labelStudioSettingsFromEnv().port}`;
    const version = await labelStudioVersion(url);
    console.log(`label-studio: ${version ? `healthy (${version})` : 'down'} at ${url}`);
    healthy &&= version !== undefined;
  }
  if (options.pacs || ownPid(paths(config, 'orthanc')) !== undefined) {
    const url = `http://127.0.0.1:${config.orthanc.port}`;
    const version = await orthancVersion(url);
    console.log(`orthanc:  ${version ? `healthy (Orthanc ${version}, DICOMweb ${url}/dicom-web)` : 'down'} at ${url}`);
    healthy &&= version !== undefined;
  }
  return healthy;
}

async function main(): Promise<void> {
  const command = process.argv[2];
  const config = loadConfig();
  const optional: OptionalServices = {
    labelStudio: process.argv.includes('--label-studio') || labelStudioEnabled(),
    pacs: process.argv.includes('--pacs') || config.orthanc.enableLocal,
  };
  if (command === 'start') await startServices(config, optional);
  else if (command === 'stop') await stopServices(config);
  else if (command === 'status') process.exitCode = (await servicesStatus(config, optional)) ? 0 : 1;
  else {
    console.error('usage: tsx scripts/services.ts start [--label-studio] [--pacs]|stop|status [--label-studio] [--pacs]');
    process.exitCode = 2;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
