/**
 * Where a training step's convolution time goes, per shape, on the loaded backend: a 3 × 3, stride-1, 'same'
 * convolution's forward pass, its input gradient and its weight gradient as TensorFlow computes them (the kernels
 * tfjs' conv2d gradient calls), and three other ways to compute the same weight gradient from ops the project can
 * combine — to show which part of a training-speed gap sits inside libtensorflow's kernels.
 *
 *   npx tsx scripts/bench-conv-grads.ts [--shapes 128x64x64,64x64x64,32x128x128,16x256x256,8x512x512,256x16x16,128x128x32,256x32x16] [--batch 4] [--repeat 4]
 *
 * A shape is SIZExINxOUT (square maps). Times are the best of --repeat after two warm-up calls, in ms.
 * Weight-gradient alternatives (each printed with its largest difference to TensorFlow's, relative to its largest value):
 * - taps: one matrix product per kernel tap, (shifted input)ᵀ · output gradient, stacked;
 * - tiles: the maps cut into 2 × 2 tiles (with a one-pixel halo) stacked along the batch, then TensorFlow's kernel
 *   on the smaller maps ('valid');
 * - swap: a forward convolution with batch and channels swapped, the output gradient as the (map-sized) kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../ml/backend';
import { benchOptions, intOption, printCommand } from './benchArgs';

const USAGE = 'npx tsx scripts/bench-conv-grads.ts [--shapes SIZExINxOUT,…] [--batch 4] [--repeat 4]';

interface Shape {
  size: number;
  inChannels: number;
  outChannels: number;
}

function parseShapes(text: string): Shape[] {
  return text.split(',').map((item) => {
    const parts = item.split('x').map(Number);
    if (parts.length !== 3 || !parts.every((n) => Number.isInteger(n) && n > 0)) {
      throw new Error(`A shape is SIZExINxOUT (e.g. 128x64x64), got '${item}'.`);
    }
    const [size, inChannels, outChannels] = parts;
    if (size % 2 !== 0) throw new Error(`The 2 × 2 tiling needs an even map size, got ${size}.`);
    return { size, inChannels, outChannels };
  });
}

function bestMs(repeat: number, fn: () => tf.Tensor): number {
  for (let i = 0; i < 2; i++) tf.tidy(fn);
  let best = Infinity;
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    tf.tidy(fn);
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

function relativeDifference(reference: tf.Tensor, other: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(reference, other))).dataSync()[0] / tf.max(tf.abs(reference)).dataSync()[0]);
}

async function main(): Promise<void> {
  const values = benchOptions(USAGE, {
    shapes: { type: 'string', default: '128x64x64,64x64x64,32x128x128,16x256x256,8x512x512,256x16x16,128x128x32,256x32x16' },
    batch: { type: 'string', default: '4' },
    repeat: { type: 'string', default: '4' },
  });
  const shapes = parseShapes(values.shapes!);
  const [batch, repeat] = [intOption(USAGE, 'batch', values.batch), intOption(USAGE, 'repeat', values.repeat)];
  printCommand('bench-conv-grads.ts');
  const backend = await initBackend();
  console.log(`backend ${backend}; 3 × 3 convolution, stride 1, 'same', batch ${batch}; best of ${repeat}, ms\n`);
  console.log('| shape | forward | input gradient | weight gradient | taps | tiles 2 × 2 | swap |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');

  for (const { size, inChannels: ci, outChannels: co } of shapes) {
    const x = tf.randomNormal([batch, size, size, ci], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, ci, co], 0, 1, 'float32', 2) as tf.Tensor4D;
    const dy = tf.randomNormal([batch, size, size, co], 0, 1, 'float32', 3) as tf.Tensor4D;
    const weightGradient = (input: tf.Tensor4D, outputGradient: tf.Tensor4D, pad: 'same' | 'valid') =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: input, dy: outputGradient },
        { strides: 1, pad, dataFormat: 'NHWC', filterShape: [3, 3, ci, co] }) as tf.Tensor;
    const inputGradient = () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: x.shape }) as tf.Tensor;
    const padded = () => tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    const taps = () => {
      const xp = padded();
      const g = dy.reshape([-1, co]);
      const parts: tf.Tensor[] = [];
      for (let kh = 0; kh < 3; kh++) {
        for (let kw = 0; kw < 3; kw++) parts.push(tf.matMul(xp.slice([0, kh, kw, 0], [batch, size, size, ci]).reshape([-1, ci]), g, true, false));
      }
      return tf.stack(parts).reshape([3, 3, ci, co]);
    };
    const tiles = () => {
      const half = size / 2;
      const xp = padded();
      const xTiles: tf.Tensor[] = [];
      for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) xTiles.push(xp.slice([0, i * half, j * half, 0], [batch, half + 2, half + 2, ci]));
      const dyTiles = dy.reshape([batch, 2, half, 2, half, co]).transpose([1, 3, 0, 2, 4, 5]).reshape([4 * batch, half, half, co]) as tf.Tensor4D;
      return weightGradient(tf.concat(xTiles, 0) as tf.Tensor4D, dyTiles, 'valid');
    };
    const swap = () => {
      const input = padded().transpose([3, 1, 2, 0]) as tf.Tensor4D; // [ci, size + 2, size + 2, batch]
      const kernel = dy.transpose([1, 2, 0, 3]) as tf.Tensor4D; // [size, size, batch, co]
      return tf.conv2d(input, kernel, 1, 'valid').transpose([1, 2, 0, 3]); // [ci, 3, 3, co] → [3, 3, ci, co]
    };

    const reference = weightGradient(x, dy, 'same');
    const cell = (fn: () => tf.Tensor) => {
      const ms = bestMs(repeat, fn);
      const result = fn();
      const diff = relativeDifference(reference, result);
      result.dispose();
      return `${ms.toFixed(1)} (${diff.toExponential(0)})`;
    };
    const row = [
      `${size}² × ${ci} → ${co}`,
      bestMs(repeat, () => tf.conv2d(x, w, 1, 'same')).toFixed(1),
      bestMs(repeat, inputGradient).toFixed(1),
      bestMs(repeat, () => weightGradient(x, dy, 'same')).toFixed(1),
      cell(taps),
      cell(tiles),
      cell(swap),
    ];
    console.log(`| ${row.join(' | ')} |`);
    tf.dispose([x, w, dy, reference]);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
