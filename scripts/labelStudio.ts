/**
 * Label Studio, the doctors' labelling tool, as a local component: find or install it (a Python venv in the
 * tools folder), start it on 127.0.0.1 with its data in a folder of ours, wait until it is healthy, stop it.
 *
 * Lookup order: `LABEL_STUDIO_BIN` → `<tools>/label-studio/venv/bin/label-studio` → install there
 * (`python3 -m venv` + `pip install label-studio==<version>`, ≈1 GB, a few minutes, once).
 * `label-studio --version` starts a server, so the check imports the package with the venv's Python instead.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LabelStudioClient } from '../labelling/labelStudio/client';
import { loadConfig } from '../config';
import { SetupError } from './tools';

export const LABEL_STUDIO_VERSION = '1.23.2';

/** Written into the venv once pip has finished, so a half-finished install is never taken for a working one. */
const INSTALLED_MARKER = `.echo-al-label-studio-${LABEL_STUDIO_VERSION}`;

export function labelStudioVenv(toolsDir: string): string {
  return path.join(toolsDir, 'label-studio', 'venv');
}

/** The Python interpreter that runs a `label-studio` entry point: its shebang, else `python` beside it. */
export function pythonOf(bin: string): string {
  try {
    const head = fs.readFileSync(bin, 'utf8').slice(0, 400);
    const match = /^#!\s*(\S+)/.exec(head);
    if (match && fs.existsSync(match[1])) return match[1];
  } catch {
    // not readable as text: fall back to the folder's interpreter
  }
  return path.join(path.dirname(bin), 'python');
}

/** The installed label_studio version as its own Python reports it, or undefined when that fails. */
export function installedVersion(bin: string): string | undefined {
  const result = spawnSync(pythonOf(bin), ['-c', 'import label_studio; print(label_studio.__version__)'], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, PYTHONWARNINGS: 'ignore' },
  });
  if (result.status !== 0) return undefined;
  return result.stdout.trim().split('\n').pop();
}

function run(cmd: string, args: string[], what: string, fix: string): void {
  const result = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new SetupError(`${what} needs '${cmd}', which is not installed. ${fix}`);
  }
  if (result.status !== 0) throw new SetupError(`${what} failed (${cmd} exited with ${result.status ?? result.signal}). ${fix}`);
}

function install(venv: string): void {
  console.log(`Installing Label Studio ${LABEL_STUDIO_VERSION} into ${venv} (≈1 GB, a few minutes, once)…`);
  fs.rmSync(venv, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(venv), { recursive: true });
  run('python3', ['-m', 'venv', venv], 'Creating the Label Studio venv',
    'Install python3 with its venv module (Debian: apt-get install python3-venv), or set LABEL_STUDIO_BIN to a label-studio you already have.');
  run(path.join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `label-studio==${LABEL_STUDIO_VERSION}`],
    `Installing label-studio==${LABEL_STUDIO_VERSION} from PyPI`,
    'Check that the PyPI registry is reachable and the disk has ≈1.5 GB free, or set LABEL_STUDIO_BIN to a label-studio you already have.');
  fs.writeFileSync(path.join(venv, INSTALLED_MARKER), `${new Date().toISOString()}\n`);
}

/**
 * Path of a working `label-studio`, installing it into `<toolsDir>/label-studio/venv` when nothing else has one.
 * `bin` is the `LABEL_STUDIO_BIN` setting, if any.
 */
export function ensureLabelStudio(toolsDir: string, bin?: string): string {
  if (bin) {
    if (!fs.existsSync(bin)) throw new SetupError(`LABEL_STUDIO_BIN=${bin} does not exist; fix the path or unset LABEL_STUDIO_BIN.`);
    const version = installedVersion(bin);
    if (!version) throw new SetupError(`LABEL_STUDIO_BIN=${bin} does not work (its Python cannot import label_studio); point it at a working label-studio or unset it.`);
    if (version !== LABEL_STUDIO_VERSION) console.warn(`LABEL_STUDIO_BIN is Label Studio ${version}; this project is tested with ${LABEL_STUDIO_VERSION}.`);
    return bin;
  }
  const venv = labelStudioVenv(toolsDir);
  const venvBin = path.join(venv, 'bin', 'label-studio');
  if (fs.existsSync(venvBin)) {
    if (fs.existsSync(path.join(venv, INSTALLED_MARKER)) && installedVersion(venvBin) === LABEL_STUDIO_VERSION) return venvBin;
    console.warn(`${venv} is incomplete, broken or another version; reinstalling.`);
  }
  install(venv);
  const version = installedVersion(venvBin);
  if (version !== LABEL_STUDIO_VERSION) {
    throw new SetupError(`Installed Label Studio into ${venv} but its Python reports ${version ?? 'an import error'}; delete ${venv} and try again.`);
  }
  return venvBin;
}

export interface LabelStudioStartOptions {
  /** The `label-studio` to run (from `ensureLabelStudio`). */
  bin: string;
  port: number;
  /** SQLite database, media and its secret key live here; re-starting on the same folder keeps everything. */
  dataDir: string;
  /** The admin user (an e-mail address) created on the first start. */
  username: string;
  password: string;
  /** API token of that user; fixed on the first start (Label Studio keeps the first one and ignores ≤ 5 characters). */
  token: string;
  /** Default `<dataDir>/label-studio.log`. */
  logFile?: string;
  /** Default 600 s: a first start migrates a fresh database (≈30 s on an idle machine, over 3 min on a busy one). */
  startTimeoutMs?: number;
  /** How long Label Studio waits for a webhook receiver; its default is 1 s and it never retries. Default 10 s. */
  webhookTimeoutSeconds?: number;
  /** Called with the pid as soon as the process exists (e.g. to write a pid file before the long wait). */
  onSpawn?: (pid: number) => void;
}

export interface RunningLabelStudio {
  url: string;
  token: string;
  pid: number;
  version: string;
  /** Stops its whole process group (SIGTERM, then SIGKILL after 15 s). */
  stop(): Promise<void>;
}

export function portInUse(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
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

/** Stops a process group started detached (the leader's pid is the group id). */
export async function stopProcessGroup(pid: number, graceMs = 15_000): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
  if (alive(pid)) signal('SIGKILL');
}

/**
 * The environment Label Studio runs with: only what a process needs from ours (no credentials of other
 * services leak in, and generic names it also reads — HOST, PORT, USERNAME, PASSWORD — cannot steer it),
 * no outbound calls, classic API tokens on, webhooks to loopback allowed, sign-up only by invitation.
 */
function labelStudioEnv(options: LabelStudioStartOptions): NodeJS.ProcessEnv {
  const inherited: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR']) if (process.env[name] !== undefined) inherited[name] = process.env[name];
  return {
    ...inherited,
    LABEL_STUDIO_BASE_DATA_DIR: options.dataDir,
    LABEL_STUDIO_USERNAME: options.username,
    LABEL_STUDIO_PASSWORD: options.password,
    LABEL_STUDIO_USER_TOKEN: options.token,
    LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN: 'true',
    LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK: 'true',
    // Webhooks and the ML backend are the labels server on this machine (loopback), which Label Studio refuses by default.
    SSRF_PROTECTION_ENABLED: 'false',
    ML_BLOCK_LOCAL_IP: 'false',
    LATEST_VERSION_CHECK: 'false',
    COLLECT_ANALYTICS: 'false',
    SENTRY_DSN: '',
    FRONTEND_SENTRY_DSN: '',
    WEBHOOK_TIMEOUT: String(options.webhookTimeoutSeconds ?? 10),
    PYTHONUNBUFFERED: '1',
  };
}

function logTail(logFile: string, lines = 8): string {
  if (!fs.existsSync(logFile)) return '(no log)';
  return fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
}

/**
 * Starts Label Studio on 127.0.0.1:<port> in its own process group, waits until `/health` answers and the
 * token works, and returns how to reach and stop it. The process outlives this one unless stopped.
 */
export async function startLabelStudio(options: LabelStudioStartOptions): Promise<RunningLabelStudio> {
  const host = '127.0.0.1';
  const url = `http://${host}:${options.port}`;
  if (options.token.length < 8) throw new SetupError('The Label Studio API token must have at least 8 characters (Label Studio silently ignores short ones).');
  if (!options.username.includes('@')) throw new SetupError(`The Label Studio user name must be an e-mail address, not '${options.username}'.`);
  if (!options.password) throw new SetupError('The Label Studio password must not be empty.');
  // Label Studio moves to the next free port by itself when its port is taken; refuse instead of guessing.
  if (await portInUse(host, options.port)) {
    throw new SetupError(`Port ${options.port} on ${host} is taken; stop what holds it or choose another port for Label Studio (LABEL_STUDIO_PORT).`);
  }
  fs.mkdirSync(options.dataDir, { recursive: true });
  const logFile = options.logFile ?? path.join(options.dataDir, 'label-studio.log');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const log = fs.openSync(logFile, 'a');
  const child = spawn(options.bin, ['start', '--no-browser', '--internal-host', host, '--port', String(options.port), '--data-dir', options.dataDir], {
    detached: true, stdio: ['ignore', log, log], env: labelStudioEnv(options), cwd: options.dataDir,
  });
  fs.closeSync(log);
  const pid = child.pid;
  if (pid === undefined) throw new SetupError(`Could not start ${options.bin}.`);
  child.unref();
  options.onSpawn?.(pid);
  const stop = () => stopProcessGroup(pid);
  const client = new LabelStudioClient({ url, token: options.token, timeoutMs: 5000 });
  const deadline = Date.now() + (options.startTimeoutMs ?? 600_000);
  try {
    let version: string | undefined;
    while (version === undefined) {
      if (!alive(pid) || child.exitCode !== null) {
        throw new SetupError(`Label Studio exited during start-up; last lines of ${logFile}:\n${logTail(logFile)}`);
      }
      if (Date.now() > deadline) throw new SetupError(`Label Studio did not become healthy at ${url} within ${(options.startTimeoutMs ?? 600_000) / 1000} s; see ${logFile}.`);
      try {
        version = (await client.health()).version;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    try {
      await client.whoami();
    } catch (error) {
      throw new SetupError(`Label Studio is up at ${url} but the API token does not work (${(error as Error).message}); `
        + `the token is fixed when ${options.dataDir} is first used: use that one, or start on a fresh data folder.`);
    }
    return { url, token: options.token, pid, version, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface LabelStudioSettings {
  port: number;
  username: string;
  password: string;
  token: string;
  bin?: string;
}

/** LABEL_STUDIO_ENABLE=1 (or true): start Label Studio with the local services. */
/** `services:start` starts Label Studio too (LABEL_STUDIO_ENABLE=1, read through config.ts). */
export function labelStudioEnabled(): boolean {
  return loadConfig().labelStudio.enableLocal;
}

/**
 * Settings of the local Label Studio service (config.ts: LABEL_STUDIO_PORT, LABEL_STUDIO_USERNAME,
 * LABEL_STUDIO_PASSWORD, LABEL_STUDIO_USER_TOKEN, LABEL_STUDIO_BIN). The defaults are for local use only.
 */
export function labelStudioSettingsFromEnv(): LabelStudioSettings {
  const { labelStudio } = loadConfig();
  return {
    port: labelStudio.port, username: labelStudio.username, password: labelStudio.password, token: labelStudio.userToken,
    ...(labelStudio.bin ? { bin: labelStudio.bin } : {}),
  };
}
