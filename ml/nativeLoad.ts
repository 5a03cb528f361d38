/**
 * Loading tfjs' native packages (tfjs-node-gpu, tfjs-node), shared by the backend picker (ml/backend.ts) and the
 * exported-package loader (export/loader.ts): whether a package's addon is built, and its import behind the signal
 * guard (ml/signalGuard.ts), which must be in place before libtensorflow starts its thread pools.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { nativeKernelsActive } from './nativeKernels';
import { blockAsyncSignals, type SignalGuardState } from './signalGuard';

export type NativePackage = '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node';

/**
 * True when the package's native addon has been built. Importing a package whose addon is missing would register
 * its kernels and then fail, leaving duplicate registrations behind, so this is checked first.
 */
export function nativeAddonBuilt(specifier: NativePackage): boolean {
  try {
    const dir = path.dirname(createRequire(import.meta.url).resolve(`${specifier}/package.json`));
    const lib = path.join(dir, 'lib');
    return fs.readdirSync(lib).some((entry) => entry.startsWith('napi-v') && fs.existsSync(path.join(lib, entry, 'tfjs_binding.node')));
  } catch {
    return false;
  }
}

/** Why the signal guard is off in this process, once, for the caller to log; undefined when it is on. */
let guardWarning: string | undefined;

/**
 * Imports a native package (its addon built) with asynchronous signals blocked on this thread first; true when its
 * backend is then active. `onGuardOff` hears once why the guard could not be set.
 */
export async function importNativePackage(specifier: NativePackage, onGuardOff: (reason: string) => void = () => {}): Promise<boolean> {
  if (!nativeAddonBuilt(specifier)) return false;
  const guard: SignalGuardState = await blockAsyncSignals();
  if (!guard.blocked && guardWarning === undefined) {
    guardWarning = guard.reason;
    onGuardOff(guard.reason);
  }
  try {
    await import(specifier);
    return nativeKernelsActive();
  } catch {
    return false;
  }
}
