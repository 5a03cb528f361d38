/**
 * Where a training step of a zoo model spends its time on the loaded backend: forward vs backward vs optimizer,
 * per variant of the step, alternating, and per kernel (tfjs' own profiler; on tfjs-node every kernel runs
 * synchronously, so its timings are wall time).
 *
 *   npx tsx scripts/bench-profile.ts [--config Unet:resnet34] [--size 256] [--batch 4] [--steps 3] [--rounds 2] [--top 25]
 *
 * Variants: 'stock' (tfjs' kernels and Adam: the project before ml/train/fusedLayers.ts), fused batch-norm / ReLU
 * with tfjs' Adam, with the one-pass JavaScript Adam (ml/train/adam.ts), and 'fused (native Adam)' — TensorFlow's
 * ResourceApplyAdam (ml/train/nativeAdam.ts): what the trainer runs.
 * Phases are timed on their own (median of --steps after a warm-up, per round; the table shows the median over
 * rounds): forward in training mode, forward + gradients, the whole step. Backward = gradients − forward,
 * optimizer = step − gradients. The kernel tables are one profiled step of 'stock' and of 'fused'.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../ml/backend';
import { createTrainStep, type TrainStep } from '../ml/train/step';
import type { ArchName } from '../ml/types';
import { buildModel } from '../ml/zoo';
import { benchOptions, intOption, median, printCommand, timeSteps } from './benchArgs';

const USAGE = 'npx tsx scripts/bench-profile.ts [--config Unet:resnet34] [--size 256] [--batch 4] [--steps 3] [--rounds 2] [--top 25]';

const timeMedian = async (steps: number, fn: () => void) => median(await timeSteps(fn, steps));

async function kernelTable(label: string, top: number, run: () => void): Promise<void> {
  const info = await tf.profile(run);
  const byName = new Map<string, { ms: number; count: number }>();
  let total = 0;
  for (const k of info.kernels) {
    const ms = k.kernelTimeMs as number;
    const entry = byName.get(k.name) ?? { ms: 0, count: 0 };
    entry.ms += ms;
    entry.count += 1;
    byName.set(k.name, entry);
    total += ms;
  }
  console.log(`\n[${label}] ${info.kernels.length} kernel calls in one step, ${total.toFixed(0)} ms in kernels (kernels called inside kernels count twice)`);
  console.log('| kernel | calls | ms | share |\n| --- | --- | --- | --- |');
  for (const [name, e] of [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
    console.log(`| ${name} | ${e.count} | ${e.ms.toFixed(0)} | ${(100 * e.ms / total).toFixed(1)} % |`);
  }
}

async function main(): Promise<void> {
  const values = benchOptions(USAGE, {
    config: { type: 'string', default: 'Unet:resnet34' }, size: { type: 'string', default: '256' },
    batch: { type: 'string', default: '4' }, steps: { type: 'string', default: '3' }, rounds: { type: 'string', default: '2' },
    top: { type: 'string', default: '25' },
  });
  const [size, batch, steps, rounds, top] = (['size', 'batch', 'steps', 'rounds', 'top'] as const).map((name) => intOption(USAGE, name, values[name]));
  const backend = await initBackend(undefined, () => {});
  const [arch, encoder] = values.config!.split(':');
  const net = buildModel({ arch: arch as ArchName, encoder, encoderDepth: 5, inputShape: [size, size, 3], classes: 1, dropout: { strategy: 'none', rate: 0 } });
  const x = tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const y = tf.randomUniform([batch, size, size, 1], 0, 1, 'float32', 2).round() as tf.Tensor4D;
  const variants: [string, TrainStep][] = [
    ['stock', createTrainStep(net.model, { learningRate: 1e-4, fused: false })],
    ['fused layers + tfjs Adam', createTrainStep(net.model, { learningRate: 1e-4, fused: true, adam: 'tfjs' })],
    ['fused layers + one-pass Adam', createTrainStep(net.model, { learningRate: 1e-4, fused: true, adam: 'one-pass' })],
    ['fused (native Adam)', createTrainStep(net.model, { learningRate: 1e-4, fused: true })],
  ];
  printCommand('bench-profile.ts');
  console.log(`backend ${backend}; ${values.config} ${size}×${size}×3, batch ${batch}; median of ${steps} steps per round, ${rounds} rounds alternating`);
  const phases = new Map(variants.map(([name]) => [name, { forward: [] as number[], gradients: [] as number[], step: [] as number[] }]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, step] of variants) {
      const p = phases.get(name)!;
      p.forward.push(await timeMedian(steps, () => tf.tidy(() => void step.forward(x).dataSync())));
      p.gradients.push(await timeMedian(steps, () => tf.tidy(() => void step.gradients(x, y).loss.dataSync())));
      p.step.push(await timeMedian(steps, () => {
        const loss = step.run(x, y);
        loss.dataSync();
        loss.dispose();
      }));
    }
  }
  console.log('\n| variant | forward ms | backward ms | optimizer ms | step ms | img/s |\n| --- | --- | --- | --- | --- | --- |');
  for (const [name] of variants) {
    const p = phases.get(name)!;
    const [f, g, s] = [median(p.forward), median(p.gradients), median(p.step)];
    console.log(`| ${name} | ${f.toFixed(0)} | ${(g - f).toFixed(0)} | ${(s - g).toFixed(0)} | ${s.toFixed(0)} | ${(batch / (s / 1000)).toFixed(2)} |`);
  }
  for (const [name, step] of [variants[0], variants[3]]) {
    await kernelTable(name, top, () => {
      const loss = step.run(x, y);
      loss.dataSync();
      loss.dispose();
    });
  }
  for (const [, step] of variants) step.dispose();
}

await main();
