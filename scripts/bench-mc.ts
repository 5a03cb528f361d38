/**
 * Naive vs fast Monte Carlo dropout: time to score a pool of N images at S×S with T passes, for 'head' and
 * 'decoder' dropout, on the loaded backend. Both modes run with the same dropout seed, so their scores must
 * agree; the script prints the largest difference as a check.
 *
 *   npx tsx scripts/bench-mc.ts [--pool 200] [--size 256] [--T 30] [--batch 4] [--repeat 1] [--strategies head,decoder]
 *
 * With --repeat N each mode runs N times, alternating, and the fastest run counts (robust to other load).
 * Beside naive/fast it times one deterministic forward pass over the same pool (model.predict, same batches,
 * loading included), alternating with the others, and prints each mode as "× one forward pass".
 *
 * Model: the zoo's Unet + resnet34 (classes 1) when ml/zoo/index.ts exists, else a self-built U-Net with a
 * ResNet-34 encoder and smp's Unet decoder (16–256 channels), which has the same structure and size.
 */
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { UNCERTAINTY_FUNCTIONS } from '../contracts/names';
import { initBackend } from '../ml/backend';
import { MCDropout } from '../ml/layers/mcDropout';
import { mcScorePool, type MCMode, type MCNet } from '../ml/mcSampling';
import type { DropoutStrategy, ModelConfig } from '../ml/types';

interface BenchArgs {
  pool: number;
  size: number;
  T: number;
  batch: number;
  repeat: number;
  strategies: DropoutStrategy[];
}

function parseArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = { pool: 200, size: 256, T: 30, batch: 4, repeat: 1, strategies: ['head', 'decoder'] };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`Flag ${flag} needs a value.`);
    if (flag === '--strategies') {
      args.strategies = value.split(',') as DropoutStrategy[];
      continue;
    }
    const key = { '--pool': 'pool', '--size': 'size', '--T': 'T', '--batch': 'batch', '--repeat': 'repeat' }[flag] as
      | 'pool' | 'size' | 'T' | 'batch' | 'repeat' | undefined;
    const n = Number(value);
    if (!key || !(Number.isInteger(n) && n > 0)) {
      throw new Error(`Unknown flag or bad value '${flag} ${value}'; use --pool N --size N --T N --batch N --repeat N --strategies head,decoder.`);
    }
    args[key] = n;
  }
  if (args.size % 32 !== 0) throw new Error(`--size must be a multiple of 32 (5 encoder stages), got ${args.size}.`);
  return args;
}

/** conv-BN-ReLU, the building block of the ResNet stem and of the Unet decoder. */
function convBnRelu(x: tf.SymbolicTensor, filters: number, name: string, kernelSize = 3, strides = 1): tf.SymbolicTensor {
  const conv = tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, name: `${name}_conv` });
  const bn = tf.layers.batchNormalization({ name: `${name}_bn` });
  return tf.layers.reLU({ name: `${name}_relu` }).apply(bn.apply(conv.apply(x))) as tf.SymbolicTensor;
}

function basicBlock(x: tf.SymbolicTensor, filters: number, strides: number, name: string): tf.SymbolicTensor {
  const inChannels = x.shape[3]!;
  const h = convBnRelu(x, filters, `${name}_a`, 3, strides);
  const conv = tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, name: `${name}_b_conv` });
  const y = tf.layers.batchNormalization({ name: `${name}_b_bn` }).apply(conv.apply(h)) as tf.SymbolicTensor;
  let shortcut = x;
  if (strides !== 1 || inChannels !== filters) {
    const down = tf.layers.conv2d({ filters, kernelSize: 1, strides, useBias: false, name: `${name}_down_conv` });
    shortcut = tf.layers.batchNormalization({ name: `${name}_down_bn` }).apply(down.apply(x)) as tf.SymbolicTensor;
  }
  const sum = tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as tf.SymbolicTensor;
  return tf.layers.reLU({ name: `${name}_out` }).apply(sum) as tf.SymbolicTensor;
}

/** ResNet-34 features at strides 2, 4, 8, 16, 32. */
function resnet34Encoder(input: tf.SymbolicTensor): tf.SymbolicTensor[] {
  const stem = convBnRelu(input, 64, 'stem', 7, 2);
  let x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'stem_pool' }).apply(stem) as tf.SymbolicTensor;
  const features = [stem];
  const stages: [number, number][] = [[64, 3], [128, 4], [256, 6], [512, 3]];
  stages.forEach(([filters, blocks], s) => {
    for (let b = 0; b < blocks; b++) x = basicBlock(x, filters, b === 0 && s > 0 ? 2 : 1, `layer${s + 1}_${b}`);
    features.push(x);
  });
  return features;
}

/**
 * smp-style Unet over the ResNet-34 features, sigmoid head, MCDropout per strategy, and its MC split:
 * 'head' → prefix = everything before the last dropout; 'decoder' → prefix = the encoder (5 outputs).
 */
function ownUnet(size: number, strategy: DropoutStrategy, rate = 0.3): MCNet {
  const input = tf.input({ shape: [size, size, 3] });
  const features = resnet34Encoder(input);
  const decoderChannels = [256, 128, 64, 32, 16];
  const layersOf = new Map<string, tf.layers.Layer>();
  const layer = <L extends tf.layers.Layer>(name: string, make: () => L): L => {
    if (!layersOf.has(name)) layersOf.set(name, make());
    return layersOf.get(name) as L;
  };
  const dropout = (name: string) => layer(name, () => new MCDropout({ rate, name }));
  const decoderConv = (x: tf.SymbolicTensor, filters: number, name: string, withDropout: boolean) => {
    const conv = layer(`${name}_conv`, () => tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, name: `${name}_conv` }));
    const bn = layer(`${name}_bn`, () => tf.layers.batchNormalization({ name: `${name}_bn` }));
    const relu = layer(`${name}_relu`, () => tf.layers.reLU({ name: `${name}_relu` }));
    const y = relu.apply(bn.apply(conv.apply(x))) as tf.SymbolicTensor;
    return withDropout ? (dropout(`${name}_dropout`).apply(y) as tf.SymbolicTensor) : y;
  };
  // The decoder as a function of the encoder features, so the tail can replay it on its own inputs.
  const decoder = (feats: tf.SymbolicTensor[], stopBeforeHeadDropout: boolean): tf.SymbolicTensor => {
    const skips = feats.slice(0, -1).reverse();
    let x = feats[feats.length - 1];
    decoderChannels.forEach((filters, i) => {
      x = layer(`dec${i}_up`, () => tf.layers.upSampling2d({ size: [2, 2], name: `dec${i}_up` })).apply(x) as tf.SymbolicTensor;
      if (skips[i]) x = layer(`dec${i}_cat`, () => tf.layers.concatenate({ name: `dec${i}_cat` })).apply([x, skips[i]]) as tf.SymbolicTensor;
      x = decoderConv(x, filters, `dec${i}_a`, strategy === 'decoder');
      x = decoderConv(x, filters, `dec${i}_b`, strategy === 'decoder');
    });
    return stopBeforeHeadDropout ? x : headTail(x);
  };
  const headTail = (x: tf.SymbolicTensor): tf.SymbolicTensor => {
    const y = strategy === 'head' ? (dropout('head_dropout').apply(x) as tf.SymbolicTensor) : x;
    const head = layer('head', () => tf.layers.conv2d({ filters: 1, kernelSize: 3, padding: 'same', activation: 'sigmoid', name: 'head' }));
    return head.apply(y) as tf.SymbolicTensor;
  };
  const model = tf.model({ inputs: input, outputs: decoder(features, false) });
  return {
    model,
    mcSplit: () => {
      if (strategy === 'head') {
        const beforeDropout = decoder(features, true);
        const tailInput = tf.input({ shape: beforeDropout.shape.slice(1) as number[] });
        return { prefix: tf.model({ inputs: input, outputs: beforeDropout }), tail: tf.model({ inputs: tailInput, outputs: headTail(tailInput) }) };
      }
      const tailInputs = features.map((f) => tf.input({ shape: f.shape.slice(1) as number[] }));
      return { prefix: tf.model({ inputs: input, outputs: features }), tail: tf.model({ inputs: tailInputs, outputs: decoder(tailInputs, false) }) };
    },
  };
}

async function buildNet(size: number, strategy: DropoutStrategy): Promise<{ net: MCNet; source: string }> {
  const zooIndex = new URL('../ml/zoo/index.ts', import.meta.url);
  if (existsSync(zooIndex)) {
    const zoo = (await import(zooIndex.href)) as { buildModel: (config: ModelConfig) => MCNet };
    const config: ModelConfig = {
      arch: 'Unet', encoder: 'resnet34', encoderDepth: 5, inputShape: [size, size, 3], classes: 1,
      dropout: { strategy, rate: 0.3 }, seed: 1,
    };
    return { net: zoo.buildModel(config), source: 'ml/zoo buildModel(Unet, resnet34, classes 1)' };
  }
  return { net: ownUnet(size, strategy), source: 'self-built U-Net (ResNet-34 encoder, smp Unet decoder 256-128-64-32-16), ml/zoo not available' };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const backend = await initBackend();
  const ids = Array.from({ length: args.pool }, (_, i) => `img-${i}`);
  // Images seeded by id, so both modes (and every repeat) score the same pool.
  const load = async (batch: string[]) =>
    tf.tidy(() => tf.stack(batch.map((id) => tf.randomUniform([args.size, args.size, 3], 0, 1, 'float32', id))) as tf.Tensor4D);
  const pool = { ids, load };
  console.log(
    `backend ${backend}; pool ${args.pool} images at ${args.size}×${args.size}, T = ${args.T}, batch ${args.batch}, best of ${args.repeat}`,
  );

  for (const strategy of args.strategies) {
    const { net, source } = await buildNet(args.size, strategy);
    const params = net.model.countParams();
    console.log(`\n[${strategy}] ${source}; ${(params / 1e6).toFixed(2)} M parameters`);
    // Warm-up: the first call of a graph pays one-off kernel and allocation costs.
    await mcScorePool({ net, pool: { ids: ids.slice(0, 1), load: pool.load }, samples: 1, functions: ['mfe'], mode: 'naive' });
    await mcScorePool({ net, pool: { ids: ids.slice(0, 1), load: pool.load }, samples: 1, functions: ['mfe'], mode: 'fast' });

    const timings = new Map<MCMode, { ms: number; scores: number[] }>();
    let forwardMs = Infinity;
    const forwardPass = async () => {
      const started = performance.now();
      for (let start = 0; start < ids.length; start += args.batch) {
        const images = await load(ids.slice(start, start + args.batch));
        const probs = net.model.predict(images) as tf.Tensor;
        await probs.data();
        tf.dispose([images, probs]);
      }
      return performance.now() - started;
    };
    await forwardPass();
    for (let run = 0; run < args.repeat; run++) for (const mode of ['forward', 'fast', 'naive'] as const) {
      if (mode === 'forward') {
        forwardMs = Math.min(forwardMs, await forwardPass());
        continue;
      }
      const started = performance.now();
      const results = await mcScorePool({
        net, pool, samples: args.T, batchSize: args.batch, functions: [...UNCERTAINTY_FUNCTIONS], mode, dropoutSeed: 1,
        onProgress: (p) => void process.stdout.write(`\r  ${mode}: ${p.imagesDone}/${p.imagesTotal} images, ${(p.elapsedMs / 1000).toFixed(1)} s`),
      });
      const ms = performance.now() - started;
      process.stdout.write('\n');
      if (ms < (timings.get(mode)?.ms ?? Infinity)) {
        timings.set(mode, { ms, scores: results.flatMap((r) => [r.scores.cfe, r.scores.mfe, r.scores.mi, r.scores.std]) });
      }
    }
    const naive = timings.get('naive')!;
    const fast = timings.get('fast')!;
    const maxDiff = Math.max(...naive.scores.map((s, i) => Math.abs(s - fast.scores[i])));
    const perForward = (ms: number) => `${(ms / forwardMs).toFixed(2)}× one forward pass`;
    console.log(`  one forward pass: ${forwardMs.toFixed(0)} ms per pool (${(forwardMs / args.pool).toFixed(0)} ms/image)`);
    console.log(`  naive MC: ${naive.ms.toFixed(0)} ms per pool (${(naive.ms / args.pool).toFixed(0)} ms/image), ${perForward(naive.ms)}`);
    console.log(`  fast MC:  ${fast.ms.toFixed(0)} ms per pool (${(fast.ms / args.pool).toFixed(0)} ms/image), ${perForward(fast.ms)}`);
    console.log(`  speed-up: ${(naive.ms / fast.ms).toFixed(1)}× naive/fast   (max |naive − fast| score difference, same masks: ${maxDiff.toExponential(1)})`);
    net.model.dispose();
  }
}

await main();
