/**
 * Picks the fastest TensorFlow.js backend that loads: tfjs-node-gpu (CUDA) → tfjs-node (native CPU) → pure-JS cpu.
 * Everything else imports '@tensorflow/tfjs'; the native packages register their backend into that same engine.
 */
import * as tf from '@tensorflow/tfjs';
import { loadConfig } from '../config';
import { BACKEND_PREFERENCES, type BackendPreference, isBackendPreference } from '../contracts/names';
import { importNativePackage, nativeAddonBuilt, type NativePackage } from './nativeLoad';

export type BackendName = 'tfjs-node-gpu' | 'tfjs-node' | 'cpu';
export type { BackendPreference };

let loaded: BackendName | undefined;

/**
 * TensorFlow's thread pools: intra-op (the threads one kernel — a convolution, oneDNN's primitives — splits its work
 * over) and inter-op (independent kernels at once; tfjs runs kernels one after another, so it matters little).
 * libtensorflow reads TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS when it creates its pools; config.ts turns
 * unset or 0 into the CPU count (TensorFlow's own default) and they are passed on explicitly, so every process (and
 * the PyTorch comparison in scripts/bench-torch.ts) knows the numbers. oneDNN runs on the intra-op pool (its
 * threadpool runtime), so OMP_NUM_THREADS does not apply.
 */
export function tfThreadCounts(): { intraOp: number; interOp: number } {
  const { tf: settings } = loadConfig();
  return { intraOp: settings.intraOpThreads, interOp: settings.interOpThreads };
}

async function tryImport(specifier: NativePackage, log: (line: string) => void): Promise<boolean> {
  if (!nativeAddonBuilt(specifier)) return false;
  // libtensorflow reads these from the environment when it loads. Its C++ start-up notices (oneDNN, CPU features)
  // go to stderr on every load: the default keeps warnings and errors. It turns oneDNN on by itself only on CPUs
  // with AVX-512-class features; without oneDNN the CPU kernels have no gradient for grouped convolutions (ResNeXt,
  // RegNet, DPN …), so the default turns it on everywhere.
  const { tf: settings } = loadConfig();
  process.env.TF_CPP_MIN_LOG_LEVEL = settings.cppMinLogLevel;
  process.env.TF_ENABLE_ONEDNN_OPTS = settings.enableOneDnn;
  // oneDNN's AVX-512 kernels corrupted the heap of a worker whose MC scoring an outage had cut off (issue 20: every
  // run of the chaos test's scoring outage on an AVX-512 machine aborted; none with AVX2 kernels). oneDNN reads the
  // cap once, when it first looks at the CPU; 'ALL' lifts it.
  process.env.ONEDNN_MAX_CPU_ISA = settings.oneDnnMaxIsa;
  const threads = tfThreadCounts();
  process.env.TF_NUM_INTRAOP_THREADS = String(threads.intraOp);
  process.env.TF_NUM_INTEROP_THREADS = String(threads.interOp);
  return importNativePackage(specifier, (reason) => log(`!!! WARNING: ${reason}; a signal during a matrix product can corrupt this process's heap (ml/signalGuard.ts).`));
}

/**
 * Loads and activates a backend once per process and returns its name.
 * `TF_BACKEND` (auto | gpu | node | cpu) overrides the preference.
 */
export async function initBackend(
  preference: BackendPreference = loadConfig().tf.backend,
  log: (line: string) => void = (line) => console.log(line),
): Promise<BackendName> {
  if (loaded) return loaded;
  if (!isBackendPreference(preference)) throw new Error(`TF_BACKEND=${String(preference)} is not one of ${BACKEND_PREFERENCES.join(', ')}.`);
  if ((preference === 'auto' || preference === 'gpu') && (await tryImport('@tensorflow/tfjs-node-gpu', log))) {
    loaded = 'tfjs-node-gpu';
  } else if (preference !== 'cpu' && (await tryImport('@tensorflow/tfjs-node', log))) {
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
  const threads = loaded === 'cpu' ? '' : `, TensorFlow threads intra-op ${process.env.TF_NUM_INTRAOP_THREADS} / inter-op ${process.env.TF_NUM_INTEROP_THREADS}`;
  log(`[tf] backend: ${loaded} (tfjs ${tf.version.tfjs}${threads})`);
  return loaded;
}

export function currentBackend(): BackendName | undefined {
  return loaded;
}
