/** Tiny nets and synthetic data for the trainer tests (not a test file itself). */
import * as tf from '@tensorflow/tfjs';
import { MCDropout } from '../../ml/layers/mcDropout';
import { SeededRng } from '../../ml/train/rng';
import type { SegDataset } from '../../ml/train/trainer';

export const SIZE = 32;

/**
 * conv → batch-norm → conv → MC dropout → 1×1 head, seeded initialisers and fixed layer names, so two calls build
 * identical models (dropout masks are seeded per layer name).
 */
export function tinyNet(classes = 1, seed = 1, headBias = 0): tf.LayersModel {
  const input = tf.input({ shape: [SIZE, SIZE, 1] });
  let x = tf.layers.conv2d({ name: 'c1', filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn1', momentum: 0.8 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'r1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ name: 'c2', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }).apply(x) as tf.SymbolicTensor;
  x = new MCDropout({ rate: 0.2, name: 'drop' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.conv2d({
    name: 'head',
    filters: classes,
    kernelSize: 1,
    activation: classes === 1 ? 'sigmoid' : 'softmax',
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }),
    biasInitializer: tf.initializers.constant({ value: headBias }),
  }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** Bright discs of random position and radius on a noisy background; masks are the discs. */
export function discDataset(n: number, seed: number, classes = 1): SegDataset {
  const rng = new SeededRng(seed);
  const img = new Float32Array(n * SIZE * SIZE);
  const mask = new Float32Array(n * SIZE * SIZE);
  for (let i = 0; i < n; i++) {
    const r = 5 + rng.int(5);
    const cy = r + rng.int(SIZE - 2 * r);
    const cx = r + rng.int(SIZE - 2 * r);
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const k = i * SIZE * SIZE + y * SIZE + x;
        const inside = (y - cy) ** 2 + (x - cx) ** 2 <= r * r ? 1 : 0;
        mask[k] = inside;
        img[k] = Math.min(1, Math.max(0, 0.25 + 0.45 * inside + 0.12 * rng.normal()));
      }
    }
  }
  const images = tf.tensor4d(img, [n, SIZE, SIZE, 1]);
  const binary = tf.tensor4d(mask, [n, SIZE, SIZE, 1]);
  if (classes === 1) return { images, masks: binary };
  const masks = tf.tidy(() => tf.concat([tf.sub(1, binary), binary], 3)) as tf.Tensor4D;
  binary.dispose();
  return { images, masks };
}

export function disposeDataset(d: SegDataset): void {
  tf.dispose([d.images, d.masks]);
}
