/**
 * Run in a fresh process by signalGuard.test.ts: loads the native backend the way every process of the project does
 * (ml/backend.ts, signal guard included), computes a fixed set of matrix products and convolutions — TensorFlow runs
 * them through oneDNN's generated GEMM kernels — once as the reference, says "ready", then repeats them until told
 * to stop while the test sends it signals, comparing every result with the reference bit for bit.
 *   tsx test/ml/helpers/gemmUnderSignals.ts <duration ms>
 * Prints one JSON line at the start ({ ready, threads }) and one at the end ({ rounds, mismatches, signals }).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../ml/backend';
import { blocksGuardedSignals, threadSignalMask } from '../../../ml/signalGuard';

const durationMs = Number(process.argv[2] ?? 8000);
const taskIds = () => fs.readdirSync('/proc/self/task').map(Number);
const threadsBefore = new Set(taskIds());
const backend = await initBackend('node', () => {});

// Handlers of the kinds Node installs in a worker: a JS listener, and libuv's SIGCHLD handler (once a child ran).
let signals = 0;
process.on('SIGUSR2', () => { signals += 1; });
process.on('SIGCHLD', () => { signals += 1; });
spawnSync(process.execPath, ['-e', '']);

function digest(): string {
  const hash = createHash('sha256');
  tf.tidy(() => {
    for (const [m, k, n] of [[64, 256, 64], [128, 512, 32], [33, 300, 17], [256, 64, 256]]) {
      hash.update(tf.matMul(tf.randomNormal([m, k], 0, 1, 'float32', m), tf.randomNormal([k, n], 0, 1, 'float32', n)).dataSync());
    }
    const x = tf.randomNormal([4, 32, 32, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
    hash.update(tf.conv2d(x, tf.randomNormal([3, 3, 8, 16], 0, 1, 'float32', 2) as tf.Tensor4D, 1, 'same').dataSync());
  });
  return hash.digest('hex');
}

const reference = digest();
// Every thread, whether it blocks the guarded signals and whether it started with the backend (TensorFlow's pools
// are among those), after the products above made TensorFlow start them.
const threads = taskIds().map((tid) => ({ tid, guarded: blocksGuardedSignals(threadSignalMask(tid)), startedWithBackend: !threadsBefore.has(tid) }));
console.log(JSON.stringify({ ready: true, backend, pid: process.pid, threads }));

let rounds = 0;
let mismatches = 0;
const started = Date.now();
while (Date.now() - started < durationMs) {
  if (digest() !== reference) mismatches += 1;
  rounds += 1;
  // Let the event loop run the signal handlers now and then.
  if (rounds % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
}
await new Promise((resolve) => setImmediate(resolve));
console.log(JSON.stringify({ rounds, mismatches, signals }));
