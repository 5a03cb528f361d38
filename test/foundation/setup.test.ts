import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { ensureTool, findTool, SetupError } from '../../scripts/tools';

const savedEnv = { ...process.env };
afterEach(() => {
  process.env = { ...savedEnv };
});

describe('tool lookup and installation errors', () => {
  it('names a wrong *_BIN path and how to fix it', () => {
    process.env.TEMPORAL_BIN = '/nonexistent/temporal';
    expect(() => ensureTool('temporal')).toThrow(SetupError);
    expect(() => ensureTool('temporal')).toThrow('TEMPORAL_BIN=/nonexistent/temporal does not exist; fix the path or unset TEMPORAL_BIN.');
  });

  it('replaces a corrupt binary in the tools folder, and says when Go is missing to rebuild it', () => {
    const tools = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-tools-'));
    fs.mkdirSync(path.join(tools, 'bin'));
    fs.writeFileSync(path.join(tools, 'bin', 'minio'), 'not a binary', { mode: 0o755 });
    delete process.env.MINIO_BIN;
    process.env.PATH = '/nonexistent';
    expect(() => ensureTool('minio', tools)).toThrow(/Building MinIO needs 'go', which is not installed\. Install Go/);
    expect(fs.existsSync(path.join(tools, 'bin', 'minio'))).toBe(false);
    fs.rmSync(tools, { recursive: true, force: true });
  });

  it('says when python3/pip is missing for the Temporal CLI', () => {
    const tools = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-tools-'));
    delete process.env.TEMPORAL_BIN;
    process.env.PATH = '/nonexistent';
    expect(() => ensureTool('temporal', tools)).toThrow(/needs 'python3', which is not installed/);
    fs.rmSync(tools, { recursive: true, force: true });
  });
});

describe('TensorFlow backend selection', () => {
  const pick = (backend: string) => spawnSync(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['-e',
    "import('./ml/backend.ts').then(async (m) => { console.log('PICKED ' + await m.initBackend(undefined, () => {})); })"], {
    cwd: projectRoot, encoding: 'utf8', env: { ...process.env, TF_BACKEND: backend }, timeout: 120_000,
  }).stdout;

  it('loads the native tfjs-node backend that setup built', () => {
    expect(pick('auto')).toContain('PICKED tfjs-node');
  });

  it('honours TF_BACKEND=cpu and rejects an unknown value', () => {
    expect(pick('cpu')).toContain('PICKED cpu');
    expect(pick('tpu')).not.toContain('PICKED');
  });
});

describe('optional components: Label Studio and Orthanc only for the commands that run them', () => {
  const scripts = (JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

  it('npm run demo installs without Label Studio and Orthanc; npm test, test:e2e and setup with them', () => {
    expect(scripts.demo).toMatch(/^bash scripts\/bootstrap\.sh && /);
    for (const name of ['test', 'test:e2e', 'setup']) expect(scripts[name], name).toMatch(/^bash scripts\/bootstrap\.sh --label-studio --pacs( && |$)/);
    expect(fs.readFileSync(path.join(projectRoot, 'scripts', 'bootstrap.sh'), 'utf8')).toContain('npx tsx scripts/setup.ts "$@"');
  });

  // The real setup script on an empty tools folder, with the other tools given by their *_BIN variables and no
  // python3 on PATH: installing Label Studio would fail at once ("needs 'python3'") instead of taking minutes.
  const setup = (args: string[]) => {
    const tools = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-tools-'));
    const bins = { TEMPORAL_BIN: findTool('temporal'), TEMPORAL_TEST_SERVER_BIN: findTool('temporal-test-server'), MINIO_BIN: findTool('minio') };
    for (const [name, bin] of Object.entries(bins)) expect(bin, `${name}: run npm run setup first`).toBeTruthy();
    const env: NodeJS.ProcessEnv = { ...savedEnv, ...bins, ECHO_TOOLS_DIR: tools, PATH: '/nonexistent' };
    delete env.LABEL_STUDIO_BIN;
    delete env.LABEL_STUDIO_ENABLE;
    delete env.ORTHANC_BIN;
    delete env.ORTHANC_ENABLE;
    const result = spawnSync(process.execPath, [path.join(projectRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'scripts/setup.ts', ...args], {
      cwd: projectRoot, encoding: 'utf8', env, timeout: 120_000,
    });
    const labelStudioDir = fs.existsSync(path.join(tools, 'label-studio'));
    const orthancDir = fs.existsSync(path.join(tools, 'orthanc'));
    fs.rmSync(tools, { recursive: true, force: true });
    return { ...result, labelStudioDir, orthancDir };
  };

  it('without --label-studio and --pacs (the demo) touches neither Label Studio nor Orthanc', () => {
    const result = setup([]);
    expect(result.stderr).not.toContain('setup error');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('[tools] label-studio: not needed by this command');
    expect(result.stdout).toContain('[tools] orthanc: not needed by this command');
    expect(result.labelStudioDir).toBe(false);
    expect(result.orthancDir).toBe(false);
  });

  it('with --pacs installs Orthanc, and says what to install when apt is not there', () => {
    const result = setup(['--pacs']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/Downloading the Orthanc packages needs 'apt-get', which is not installed\..*apt-get install orthanc orthanc-dicomweb/s);
    expect(result.orthancDir).toBe(false);
  });

  it('with --label-studio (npm test) installs it, and refuses an unknown argument', () => {
    const result = setup(['--label-studio']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/Creating the Label Studio venv needs 'python3', which is not installed/);
    const bad = setup(['--labelstudio']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('unknown argument --labelstudio; usage: setup [--label-studio] [--pacs]');
  });
});
