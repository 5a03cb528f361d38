/**
 * Picks the fastest TensorFlow.js backend that loads: tfjs-node-gpu (CUDA) → tfjs-node (native CPU) → pure-JS cpu.
 * Everything else imports '@tensorflow/tfjs'; the native packages register their backend into that same engine.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

export type BackendName = 'tfjs-node-gpu' | 'tfjs-node' | 'cpu';
export type BackendPreference = 'auto' | 'gpu' | 'node' | 'cpu';

let loaded: BackendName | undefined;

/**
 * True when the package's native addon has been built. Importing a package whose addon is missing would register
 * its kernels and then fail, leaving duplicate registrations behind, so this is checked first.
 */
function addonBuilt(specifier: string): boolean {
  try {
    const dir = path.dirname(createRequire(import.meta.url).resolve(`${specifier}/package.json`));
    const lib = path.join(dir, 'lib');
    return fs.readdirSync(lib).some((entry) => entry.startsWith('napi-v') && fs.existsSync(path.join(lib, entry, 'tfjs_binding.node')));
  } catch {
    return false;
  }
}

async function tryImport(specifier: string): Promise<boolean> {
  if (!addonBuilt(specifier)) return false;
  // TensorFlow's C++ start-up notices (oneDNN, CPU features) go to stderr on every load; keep warnings and errors.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';
  // TensorFlow turns oneDNN on by itself only on CPUs with AVX-512-class features; without it the CPU kernels have no
  // gradient for grouped convolutions (ResNeXt, RegNet, DPN …) and are slower. On by default everywhere.
  process.env.TF_ENABLE_ONEDNN_OPTS ??= '1';
  try {
    await import(specifier);
    return tf.getBackend() === 'tensorflow';
  } catch {
    return false;
  }
}

/**
 * Loads and activates a backend once per process and returns its name.
 * `TF_BACKEND` (auto | gpu | node | cpu) overrides the preference.
 */
export async function initBackend(
  preference: BackendPreference = (process.env.TF_BACKEND as BackendPreference | undefined) ?? 'auto',
  log: (line: string) => void = (line) => console.log(line),
): Promise<BackendName> {
  if (loaded) return loaded;
  if (!['auto', 'gpu', 'node', 'cpu'].includes(preference)) {
    throw new Error(`TF_BACKEND=${preference} is not one of auto, gpu, node, cpu.`);
  }
  if ((preference === 'auto' || preference === 'gpu') && (await tryImport('@tensorflow/tfjs-node-gpu'))) {
    loaded = 'tfjs-node-gpu';
  } else if (preference !== 'cpu' && (await tryImport('@tensorflow/tfjs-node'))) {
    loaded = 'tfjs-node';
  } else {
    await tf.setBackend('cpu');
    loaded = 'cpu';
    if (preference !== 'cpu') {
      log('!!! WARNING: native TensorFlow did not load; using the pure-JS cpu backend, which is hundreds of times slower.');
      log('!!! Run `npm run setup` to build the native addon (see README, "Compute backend").');
    }
  }
  await tf.ready();
  log(`[tf] backend: ${loaded} (tfjs ${tf.version.tfjs})`);
  return loaded;
}

export function currentBackend(): BackendName | undefined {
  return loaded;
}
