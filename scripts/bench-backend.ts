/**
 * Prints ms per training step of a fixed U-Net (256×256×1, batch 4, ~1.9 M parameters, Adam, Dice+BCE-like loss)
 * on each TensorFlow.js backend that loads. Each backend runs in its own process.
 *   npx tsx scripts/bench-backend.ts [--steps 5] [--include-cpu]
 * The pure-JS cpu backend takes many minutes per step, so it runs only with --include-cpu (one step).
 */
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { type BackendPreference, initBackend } from '../ml/backend';
import { benchOptions, intOption, median, printCommand, timeSteps } from './benchArgs';

const USAGE = 'npx tsx scripts/bench-backend.ts [--steps 5] [--include-cpu]';

function fixedUnet(size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 1] });
  const block = (x: tf.SymbolicTensor, filters: number) => {
    let y = x;
    for (let i = 0; i < 2; i += 1) {
      y = tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false }).apply(y) as tf.SymbolicTensor;
      y = tf.layers.batchNormalization().apply(y) as tf.SymbolicTensor;
      y = tf.layers.reLU().apply(y) as tf.SymbolicTensor;
    }
    return y;
  };
  const widths = [32, 64, 128, 256];
  const skips: tf.SymbolicTensor[] = [];
  let x: tf.SymbolicTensor = input;
  for (const w of widths.slice(0, -1)) {
    x = block(x, w);
    skips.push(x);
    x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  }
  x = block(x, widths[widths.length - 1]);
  for (const [i, w] of widths.slice(0, -1).reverse().entries()) {
    x = tf.layers.upSampling2d({ size: [2, 2] }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.concatenate().apply([x, skips[skips.length - 1 - i]]) as tf.SymbolicTensor;
    x = block(x, w);
  }
  const output = tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

async function benchOne(preference: BackendPreference, steps: number): Promise<void> {
  const backend = await initBackend(preference, () => {});
  if ((preference === 'gpu' && backend !== 'tfjs-node-gpu') || (preference === 'node' && backend !== 'tfjs-node')) {
    console.log(JSON.stringify({ preference, loaded: false }));
    return;
  }
  const size = 256;
  const batch = 4;
  const model = fixedUnet(size);
  const optimizer = tf.train.adam(1e-4);
  const x = tf.randomUniform([batch, size, size, 1], 0, 1, 'float32', 1);
  const y = tf.randomUniform([batch, size, size, 1], 0, 1, 'float32', 2).round();
  const step = () => {
    const loss = optimizer.minimize(() => {
      const p = (model.apply(x, { training: true }) as tf.Tensor).clipByValue(1e-7, 1 - 1e-7);
      return tf.losses.logLoss(y, p) as tf.Scalar;
    }, true);
    const value = loss!.dataSync()[0];
    loss!.dispose();
    return value;
  };
  // One warm-up step pays the kernels' and the graph's set-up.
  const times = await timeSteps(step, steps);
  console.log(JSON.stringify({ preference, loaded: true, backend, params: model.countParams(), steps, medianMs: median(times), minMs: Math.min(...times) }));
}

async function main(): Promise<void> {
  const values = benchOptions(USAGE, { steps: { type: 'string', default: '5' }, 'include-cpu': { type: 'boolean', default: false }, child: { type: 'string' } });
  const steps = intOption(USAGE, 'steps', values.steps);
  if (values.child) return benchOne(values.child as BackendPreference, steps);
  printCommand('bench-backend.ts');
  const preferences: BackendPreference[] = ['gpu', 'node', ...(values['include-cpu'] ? ['cpu' as const] : [])];
  console.log(`Fixed U-Net 256×256×1, batch 4, Adam; ms per training step (median of ${steps} after one warm-up step)`);
  for (const preference of preferences) {
    const result = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--child', preference, '--steps', preference === 'cpu' ? '1' : String(steps)], { encoding: 'utf8' });
    const line = result.stdout.trim().split('\n').pop() ?? '';
    try {
      const r = JSON.parse(line) as { loaded: boolean; backend: string; params: number; medianMs: number; minMs: number };
      console.log(r.loaded ? `  ${r.backend.padEnd(14)} ${r.medianMs.toFixed(0).padStart(8)} ms/step (min ${r.minMs.toFixed(0)} ms), ${r.params.toLocaleString()} params`
        : `  ${preference.padEnd(14)} not loaded`);
    } catch {
      console.log(`  ${preference.padEnd(14)} failed: ${result.stderr.trim().split('\n').slice(-1)[0]}`);
    }
  }
}

await main();
