/**
 * Orthanc, a small open-source PACS with the DICOMweb plugin, as a local opt-in component: the stand-in for a
 * hospital's archive in development and tests (`dataset import --format dicomweb`). Find or install it, start it with
 * a generated configuration and its storage in a folder of ours, wait until it answers, stop it.
 *
 * Lookup order: `ORTHANC_BIN` (with `ORTHANC_DICOMWEB_PLUGIN`) → `<tools>/orthanc/root` → unpack Debian's `orthanc` and
 * `orthanc-dicomweb` there: `apt-get download` of them and of the libraries this machine lacks (the packages
 * `apt-get install -s` would add), then `dpkg -x`; no root needed, the system is not changed. It runs with
 * LD_LIBRARY_PATH on the unpacked libraries and DCMDICTPATH on the unpacked DICOM dictionary (the Debian build reads
 * it from /usr/share/libdcmtk17 otherwise). Without apt (not Debian/Ubuntu), an `Orthanc` already installed at
 * /usr/sbin/Orthanc is used, else the error says what to install.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { OrthancConfig } from '../config';
import { portInUse, stopProcessGroup } from './labelStudio';
import { SetupError } from './tools';

/** The Debian packages unpacked into the tools folder (their library dependencies come along as needed). */
export const ORTHANC_PACKAGES = ['orthanc', 'orthanc-dicomweb'] as const;
const SYSTEM_BIN = '/usr/sbin/Orthanc';
/** Written once every package is unpacked, so a half-finished install is never taken for a working one. */
const INSTALLED_MARKER = '.echo-al-orthanc-installed';

/** How to run one Orthanc: the executable, its DICOMweb plugin and the environment it needs. */
export interface OrthancInstall {
  bin: string;
  dicomWebPlugin: string;
  env: NodeJS.ProcessEnv;
  version: string;
}

export function orthancRoot(toolsDir: string): string {
  return path.join(toolsDir, 'orthanc', 'root');
}

/** The version `Orthanc --version` prints (first line, e.g. "Orthanc 1.10.1"), or undefined when it does not run. */
function versionOf(bin: string, env: NodeJS.ProcessEnv): string | undefined {
  const result = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
  if (result.status !== 0) return undefined;
  return /Orthanc\s+(\S+)/.exec(result.stdout)?.[1];
}

/** The environment an unpacked Orthanc needs: its libraries and, when unpacked too, the DCMTK dictionary. */
function unpackedEnv(root: string): NodeJS.ProcessEnv {
  const libDirs: string[] = [];
  for (const base of [path.join(root, 'usr', 'lib'), path.join(root, 'lib')]) {
    if (!fs.existsSync(base)) continue;
    libDirs.push(base);
    for (const entry of fs.readdirSync(base, { withFileTypes: true })) if (entry.isDirectory() && entry.name.includes('-linux-')) libDirs.push(path.join(base, entry.name));
  }
  const env: NodeJS.ProcessEnv = { LD_LIBRARY_PATH: [...libDirs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
  const share = path.join(root, 'usr', 'share');
  const dcmtk = fs.existsSync(share) ? fs.readdirSync(share).find((name) => /^libdcmtk\d+$/.test(name)) : undefined;
  if (dcmtk && fs.existsSync(path.join(share, dcmtk, 'dicom.dic'))) env.DCMDICTPATH = path.join(share, dcmtk, 'dicom.dic');
  return env;
}

function unpackedInstall(root: string): OrthancInstall | undefined {
  const bin = path.join(root, 'usr', 'sbin', 'Orthanc');
  const dicomWebPlugin = path.join(root, 'usr', 'share', 'orthanc', 'plugins', 'libOrthancDicomWeb.so');
  if (!fs.existsSync(path.join(root, INSTALLED_MARKER)) || !fs.existsSync(bin) || !fs.existsSync(dicomWebPlugin)) return undefined;
  const env = unpackedEnv(root);
  const version = versionOf(bin, env);
  return version ? { bin, dicomWebPlugin, env, version } : undefined;
}

/** The packages `apt-get install` would add on this machine for Orthanc: the two packages and the libraries missing here. */
function packagesToUnpack(): string[] {
  const result = spawnSync('apt-get', ['install', '--simulate', '--no-install-recommends', ...ORTHANC_PACKAGES], { encoding: 'utf8', timeout: 120_000 });
  if (result.error || result.status !== 0) return [...ORTHANC_PACKAGES];
  const names = [...result.stdout.matchAll(/^Inst (\S+)/gm)].map((m) => m[1]);
  return names.length > 0 ? names : [...ORTHANC_PACKAGES];
}

function run(cmd: string, args: string[], cwd: string, what: string): void {
  const result = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') throw new SetupError(`${what} needs '${cmd}', which is not installed.`);
  if (result.status !== 0) throw new SetupError(`${what} failed (${cmd} exited with ${result.status ?? result.signal}).`);
}

function unpack(root: string): void {
  const packages = packagesToUnpack();
  console.log(`Unpacking Orthanc (Debian packages ${packages.join(', ')}) into ${root} (≈40 MB, once)…`);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const downloads = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-orthanc-debs-'));
  // apt downloads as its own unprivileged user when run as root: it must be able to write here.
  fs.chmodSync(downloads, 0o755);
  try {
    run('apt-get', ['download', ...packages], downloads, 'Downloading the Orthanc packages');
    for (const deb of fs.readdirSync(downloads).filter((f) => f.endsWith('.deb'))) run('dpkg', ['-x', path.join(downloads, deb), root], downloads, `Unpacking ${deb}`);
  } finally {
    fs.rmSync(downloads, { recursive: true, force: true });
  }
  fs.writeFileSync(path.join(root, INSTALLED_MARKER), `${packages.join('\n')}\n`);
}

const installFix = `Install it from your distribution (Debian/Ubuntu: apt-get install ${ORTHANC_PACKAGES.join(' ')}) and set ORTHANC_BIN=${SYSTEM_BIN}, `
  + 'or run the official orthancteam/orthanc image and point --url at it.';

/** A working Orthanc with its DICOMweb plugin, installing it into `<toolsDir>/orthanc/root` when nothing else has one. */
export function ensureOrthanc(toolsDir: string, settings: Pick<OrthancConfig, 'bin' | 'dicomWebPlugin'>): OrthancInstall {
  if (settings.bin) {
    if (!fs.existsSync(settings.bin)) throw new SetupError(`ORTHANC_BIN=${settings.bin} does not exist; fix the path or unset ORTHANC_BIN.`);
    const version = versionOf(settings.bin, {});
    if (!version) throw new SetupError(`ORTHANC_BIN=${settings.bin} does not work (\`--version\` failed); point it at a working Orthanc or unset it.`);
    if (!fs.existsSync(settings.dicomWebPlugin)) {
      throw new SetupError(`The DICOMweb plugin ${settings.dicomWebPlugin} does not exist; install orthanc-dicomweb or set ORTHANC_DICOMWEB_PLUGIN to its libOrthancDicomWeb.so.`);
    }
    return { bin: settings.bin, dicomWebPlugin: settings.dicomWebPlugin, env: {}, version };
  }
  const root = orthancRoot(toolsDir);
  const existing = unpackedInstall(root);
  if (existing) return existing;
  try {
    unpack(root);
  } catch (error) {
    // The whole `<tools>/orthanc` folder: it holds nothing else.
    fs.rmSync(path.dirname(root), { recursive: true, force: true });
    if (fs.existsSync(SYSTEM_BIN) && fs.existsSync(settings.dicomWebPlugin)) {
      const version = versionOf(SYSTEM_BIN, {});
      if (version) return { bin: SYSTEM_BIN, dicomWebPlugin: settings.dicomWebPlugin, env: {}, version };
    }
    throw new SetupError(`${(error as Error).message} Orthanc could not be unpacked into ${root}. ${installFix}`);
  }
  const installed = unpackedInstall(root);
  if (!installed) throw new SetupError(`Orthanc was unpacked into ${root} but does not start (\`Orthanc --version\` failed; a library may be missing). ${installFix}`);
  return installed;
}

/** The configuration file Orthanc starts with: HTTP on `port` for this machine only, no DICOM port, DICOMweb on. */
export function orthancConfiguration(options: { port: number; storageDir: string; dicomWebPlugin: string }): Record<string, unknown> {
  return {
    Name: 'echo-al',
    HttpPort: options.port,
    StorageDirectory: options.storageDir,
    IndexDirectory: options.storageDir,
    // Orthanc 1.10 cannot bind one address: refusing every client that is not this machine keeps it local, so no
    // user is needed.
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomServerEnabled: false,
    Plugins: [options.dicomWebPlugin],
    DicomWeb: { Enable: true, Root: '/dicom-web/' },
  };
}

export interface OrthancStartOptions {
  install: OrthancInstall;
  port: number;
  /** Holds the configuration file and the storage (`storage/`). */
  dataDir: string;
  logFile: string;
  /** Called with the pid as soon as the process exists (to write a pid file before waiting). */
  onSpawn?: (pid: number) => void;
}

export interface RunningOrthanc {
  pid: number;
  url: string;
  /** The DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web. */
  dicomWebUrl: string;
  version: string;
  stop(): Promise<void>;
}

/** Orthanc's version when an Orthanc with a working DICOMweb plugin answers at `url`. */
export async function orthancVersion(url: string): Promise<string | undefined> {
  try {
    const system = await fetch(`${url}/system`, { signal: AbortSignal.timeout(2000) });
    if (!system.ok) return undefined;
    const { Version: version } = (await system.json()) as { Version?: string };
    const qido = await fetch(`${url}/dicom-web/studies?limit=1`, { headers: { Accept: 'application/dicom+json' }, signal: AbortSignal.timeout(2000) });
    await qido.body?.cancel();
    return qido.ok && typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}

function logTail(logFile: string, lines = 8): string {
  if (!fs.existsSync(logFile)) return '(no log)';
  return fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
}

/** Starts Orthanc in its own process group, waits until it and its DICOMweb plugin answer, and returns how to stop it. */
export async function startOrthanc(options: OrthancStartOptions): Promise<RunningOrthanc> {
  const url = `http://127.0.0.1:${options.port}`;
  if (await portInUse('127.0.0.1', options.port)) {
    throw new SetupError(`Port ${options.port} on 127.0.0.1 is taken; stop what holds it or set ORTHANC_PORT to a free port.`);
  }
  const storageDir = path.join(options.dataDir, 'storage');
  fs.mkdirSync(storageDir, { recursive: true, mode: 0o700 });
  const configFile = path.join(options.dataDir, 'orthanc.json');
  fs.writeFileSync(configFile, `${JSON.stringify(orthancConfiguration({ port: options.port, storageDir, dicomWebPlugin: options.install.dicomWebPlugin }), null, 2)}\n`);
  const log = fs.openSync(options.logFile, 'a');
  const child = spawn(options.install.bin, [configFile], {
    detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...options.install.env },
  });
  fs.closeSync(log);
  if (child.pid === undefined) throw new SetupError(`Could not start ${options.install.bin}.`);
  const pid = child.pid;
  child.unref();
  options.onSpawn?.(pid);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const version = await orthancVersion(url);
    if (version) return { pid, url, dicomWebUrl: `${url}/dicom-web`, version, stop: () => stopProcessGroup(pid) };
    if (exited) throw new SetupError(`Orthanc exited during start-up; last lines of ${options.logFile}:\n${logTail(options.logFile)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stopProcessGroup(pid);
  throw new SetupError(`Orthanc did not answer at ${url} within 60 s; see ${options.logFile}.`);
}
