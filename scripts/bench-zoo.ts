/**
 * Prints training and inference images/s of model-zoo configurations at 256×256 (batch 4) on the loaded backend.
 *   npx tsx scripts/bench-zoo.ts [--steps 3] [--size 256] [--batch 4] [--configs Unet:resnet34,PAN:timm-regnety_120,DeepLabV3:dpn98]
 * Each configuration gets one warm-up step, then the median of --steps timed steps.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../ml/backend';
import { segmentationLoss } from '../ml/train/losses';
import type { ArchName } from '../ml/types';
import { buildModel } from '../ml/zoo';
import { benchOptions, intOption, median, printCommand, timeSteps } from './benchArgs';

const USAGE = 'npx tsx scripts/bench-zoo.ts [--steps 3] [--size 256] [--batch 4] [--configs ARCH:ENCODER,…]';

async function main(): Promise<void> {
  const values = benchOptions(USAGE, {
    steps: { type: 'string', default: '3' }, size: { type: 'string', default: '256' }, batch: { type: 'string', default: '4' },
    configs: { type: 'string', default: 'Unet:resnet34,PAN:timm-regnety_120,DeepLabV3:dpn98' },
  });
  const steps = intOption(USAGE, 'steps', values.steps);
  const size = intOption(USAGE, 'size', values.size, 32);
  const batch = intOption(USAGE, 'batch', values.batch);
  printCommand('bench-zoo.ts');
  const backend = await initBackend(undefined, () => {});
  console.log(`backend ${backend}; ${size}×${size}×3 input, batch ${batch}, 1 class; median of ${steps} steps after one warm-up`);
  console.log('config                          params        train img/s   infer img/s');
  for (const entry of values.configs!.split(',')) {
    const [arch, encoder] = entry.split(':');
    const net = buildModel({ arch: arch as ArchName, encoder, encoderDepth: 5, inputShape: [size, size, 3], classes: 1, dropout: { strategy: 'none', rate: 0 } });
    const optimizer = tf.train.adam(1e-4);
    const x = tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', 1);
    const y = tf.randomUniform([batch, size, size, 1], 0, 1, 'float32', 2).round() as tf.Tensor4D;
    const trainStep = () => {
      const loss = optimizer.minimize(() => segmentationLoss(y, net.model.apply(x, { training: true }) as tf.Tensor4D), true)!;
      loss.dataSync();
      loss.dispose();
    };
    const inferStep = () => tf.tidy(() => (net.model.predict(x) as tf.Tensor).dataSync());
    const trainMs = median(await timeSteps(trainStep, steps));
    const inferMs = median(await timeSteps(inferStep, steps));
    console.log(`${entry.padEnd(31)} ${net.paramCount.toLocaleString('en-US').padEnd(13)} ${(batch / (trainMs / 1000)).toFixed(2).padStart(11)}   ${(batch / (inferMs / 1000)).toFixed(2).padStart(11)}`);
    x.dispose();
    y.dispose();
    optimizer.dispose();
    net.model.dispose();
  }
}

await main();
