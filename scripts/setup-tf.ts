/**
 * Makes the native TensorFlow addon load.
 *
 * Route 1: the addon already loads (nothing to do).
 * Route 2: the package's own installer, which downloads libtensorflow from Google's CDN (works with internet).
 * Route 3 (offline): take libtensorflow from the official TensorFlow pip wheel, which ships the same C API in
 *          libtensorflow_cc.so.2, place it where the binding expects it, and build the addon from source.
 * When all fail, the project still runs on the pure-JS backend, with a loud warning at start-up.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { loadConfig, loadSetupConfig, projectRoot } from '../config';
import { SetupError } from './tools';

/** TensorFlow release whose wheel provides libtensorflow. tfjs-node 4.22 was written against 2.9; the C API it uses is stable. */
export const TF_WHEEL_VERSION = loadSetupConfig().tfWheelVersion;

type Flavour = 'cpu' | 'gpu';
const packageOf: Record<Flavour, string> = { cpu: '@tensorflow/tfjs-node', gpu: '@tensorflow/tfjs-node-gpu' };
const wheelOf: Record<Flavour, string> = { cpu: 'tensorflow-cpu', gpu: 'tensorflow' };

const require = createRequire(import.meta.url);

function packageDir(flavour: Flavour): string | undefined {
  try {
    return path.dirname(require.resolve(`${packageOf[flavour]}/package.json`));
  } catch {
    return undefined;
  }
}

/** Loads the addon in a child process, so a crash or a missing symbol cannot take this process down. */
export function addonLoads(flavour: Flavour): { ok: boolean; detail: string } {
  const probe = `require(${JSON.stringify(packageOf[flavour])}); const tf = require('@tensorflow/tfjs'); ` +
    `const r = tf.add(tf.scalar(1), tf.scalar(2)).dataSync()[0]; if (tf.getBackend() !== 'tensorflow' || r !== 3) process.exit(3);`;
  const result = spawnSync(process.execPath, ['-e', probe], { cwd: projectRoot, encoding: 'utf8', timeout: 120_000 });
  const lastLine = (result.stderr || '').trim().split('\n').filter((l) => /Error|error:/.test(l)).slice(-1)[0] ?? '';
  return { ok: result.status === 0, detail: lastLine };
}

function tryPackageInstaller(flavour: Flavour, dir: string): boolean {
  console.log(`[tf] trying ${packageOf[flavour]}'s own installer (downloads libtensorflow)…`);
  const args = flavour === 'gpu' ? ['scripts/install.js', 'gpu', 'download'] : ['scripts/install.js'];
  const result = spawnSync(process.execPath, args, { cwd: dir, stdio: 'pipe', encoding: 'utf8', timeout: 600_000 });
  if (result.status !== 0) {
    console.log('[tf] the download route failed (no route to the CDN?); using the TensorFlow pip wheel instead.');
    return false;
  }
  return addonLoads(flavour).ok;
}

function python(args: string[], what: string): void {
  const result = spawnSync('python3', args, { stdio: 'inherit' });
  if (result.error) throw new SetupError(`${what} needs python3 with pip, which is not installed (Debian: apt-get install python3-pip).`);
  if (result.status !== 0) throw new SetupError(`${what} failed; check that the PyPI registry is reachable (pip config, proxy) and try again.`);
}

/** Downloads the wheel once and unpacks the two libraries and the C API headers into the tools folder. */
function ensureLibtensorflow(flavour: Flavour, toolsDir: string): string {
  const root = path.join(toolsDir, `libtensorflow-${flavour}-${TF_WHEEL_VERSION}`);
  const marker = path.join(root, '.complete');
  if (fs.existsSync(marker)) return root;
  fs.rmSync(root, { recursive: true, force: true });
  const wheels = path.join(toolsDir, 'wheels');
  const spec = `${wheelOf[flavour]}==${TF_WHEEL_VERSION}`;
  console.log(`[tf] downloading ${spec} from PyPI (about 230 MB, once)…`);
  python(['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:',
    '--python-version', '3.11', '--platform', 'manylinux_2_17_x86_64', '--platform', 'manylinux_2_27_x86_64', '-d', wheels, spec], `Downloading ${spec}`);
  const wheel = fs.readdirSync(wheels).find((f) => f.startsWith(`${wheelOf[flavour].replace('-', '_')}-${TF_WHEEL_VERSION}-`) && f.endsWith('.whl'));
  if (!wheel) throw new SetupError(`pip reported success but no ${spec} wheel is in ${wheels}; delete that folder and retry.`);
  console.log(`[tf] unpacking libtensorflow from ${wheel}…`);
  const extract = [
    'import sys, zipfile, os',
    'wheel, dest = sys.argv[1], sys.argv[2]',
    "want = ('tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2')",
    "inc = ('tensorflow/include/tensorflow/c/', 'tensorflow/include/tensorflow/core/platform/', 'tensorflow/include/tsl/', 'tensorflow/include/xla/tsl/')",
    'with zipfile.ZipFile(wheel) as z:',
    '    for n in z.namelist():',
    '        if n in want: z.extract(n, os.path.join(dest, "raw"))',
    '        elif n.startswith(inc): z.extract(n, os.path.join(dest, "raw"))',
  ].join('\n');
  python(['-c', extract, path.join(wheels, wheel), root], 'Unpacking the TensorFlow wheel');
  const raw = path.join(root, 'raw', 'tensorflow');
  fs.mkdirSync(path.join(root, 'lib'), { recursive: true });
  for (const lib of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']) {
    fs.renameSync(path.join(raw, lib), path.join(root, 'lib', lib));
  }
  fs.renameSync(path.join(raw, 'include'), path.join(root, 'include'));
  fs.rmSync(path.join(root, 'raw'), { recursive: true, force: true });
  fs.writeFileSync(marker, `${spec}\n`);
  return root;
}

function buildAddonAgainst(flavour: Flavour, dir: string, libRoot: string): void {
  const deps = path.join(dir, 'deps');
  fs.rmSync(deps, { recursive: true, force: true });
  fs.mkdirSync(path.join(deps, 'lib'), { recursive: true });
  fs.symlinkSync(path.join(libRoot, 'include'), path.join(deps, 'include'));
  const link = (target: string, name: string) => fs.symlinkSync(target, path.join(deps, 'lib', name));
  link(path.join(libRoot, 'lib', 'libtensorflow_cc.so.2'), 'libtensorflow_cc.so.2');
  link(path.join(libRoot, 'lib', 'libtensorflow_framework.so.2'), 'libtensorflow_framework.so.2');
  // The binding links -ltensorflow; the wheel names the same C API libtensorflow_cc.
  link('libtensorflow_cc.so.2', 'libtensorflow.so');
  link('libtensorflow_cc.so.2', 'libtensorflow.so.2');
  link('libtensorflow_framework.so.2', 'libtensorflow_framework.so');
  const preGyp = require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp', { paths: [dir] });
  console.log('[tf] building the tfjs-node addon from source (needs make, g++, python3)…');
  const result = spawnSync(process.execPath, [preGyp, 'install', '--build-from-source'], { cwd: dir, encoding: 'utf8' });
  if (result.status !== 0) {
    const tail = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-8).join('\n');
    throw new SetupError(`Building the tfjs-node addon failed. Is a C++ toolchain installed (Debian: apt-get install build-essential python3)?\n${tail}`);
  }
}

export function setupTensorflow(flavour: Flavour): boolean {
  const dir = packageDir(flavour);
  if (!dir) {
    console.log(`[tf] ${packageOf[flavour]} is not installed; skipping.`);
    return false;
  }
  if (addonLoads(flavour).ok) {
    console.log(`[tf] ${packageOf[flavour]} loads.`);
    return true;
  }
  if (!loadSetupConfig().tfSkipDownload && tryPackageInstaller(flavour, dir)) {
    console.log(`[tf] ${packageOf[flavour]} loads (libtensorflow from the package installer).`);
    return true;
  }
  const libRoot = ensureLibtensorflow(flavour, loadConfig().toolsDir);
  buildAddonAgainst(flavour, dir, libRoot);
  const check = addonLoads(flavour);
  if (!check.ok) throw new SetupError(`The addon built against TensorFlow ${TF_WHEEL_VERSION} does not load: ${check.detail}`);
  console.log(`[tf] ${packageOf[flavour]} loads (libtensorflow ${TF_WHEEL_VERSION} from the ${wheelOf[flavour]} wheel).`);
  return true;
}

function hasNvidiaGpu(): boolean {
  return spawnSync('nvidia-smi', ['-L'], { stdio: 'ignore' }).status === 0;
}

export function setupBackends(): void {
  const mode = loadConfig().tf.backend;
  if ((mode === 'auto' && hasNvidiaGpu()) || mode === 'gpu') {
    try {
      if (setupTensorflow('gpu')) return;
    } catch (error) {
      console.warn(`[tf] GPU backend unavailable: ${(error as Error).message}`);
    }
  }
  if (mode === 'cpu') return;
  try {
    setupTensorflow('cpu');
  } catch (error) {
    console.warn(`\n[tf] WARNING: native TensorFlow could not be set up: ${(error as Error).message}\n` +
      '[tf] The project will run on the pure-JS backend, which is hundreds of times slower.\n');
  }
}
