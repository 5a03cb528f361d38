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
 * Engines (`predict --engine`): fast MC is also timed with its deterministic prefix in ONNX Runtime (the net's
 * prefix converted in-process, export/onnx/session.ts; the tail stays in tfjs with the same seeded masks), with its
 * largest score difference to tfjs' fast MC.
 *
 * Model: the zoo's Unet + resnet34 (1 class).
 */
import * as tf from '@tensorflow/tfjs';
import { MC_DROPOUT_STRATEGIES, UNCERTAINTY_FUNCTIONS } from '../contracts/names';
import { initBackend } from '../ml/backend';
import { mcScorePool, type MCMode } from '../ml/mcSampling';
import type { DropoutStrategy } from '../ml/types';
import { buildModel, type SegmentationNet } from '../ml/zoo';
import { onnxMcPrefix } from '../export/onnx/session';
import { benchOptions, intOption, printCommand } from './benchArgs';

const USAGE = 'npx tsx scripts/bench-mc.ts [--pool 200] [--size 256] [--T 30] [--batch 4] [--repeat 1] [--strategies head,decoder]';

function parseArgs() {
  const values = benchOptions(USAGE, {
    pool: { type: 'string', default: '200' }, size: { type: 'string', default: '256' }, T: { type: 'string', default: '30' },
    batch: { type: 'string', default: '4' }, repeat: { type: 'string', default: '1' }, strategies: { type: 'string', default: 'head,decoder' },
  });
  const size = intOption(USAGE, 'size', values.size, 32);
  if (size % 32 !== 0) throw new Error(`--size must be a multiple of 32 (5 encoder stages), got ${size}.`);
  const strategies = values.strategies!.split(',');
  const unknown = strategies.filter((s) => !(MC_DROPOUT_STRATEGIES as readonly string[]).includes(s));
  if (unknown.length > 0) throw new Error(`--strategies takes ${MC_DROPOUT_STRATEGIES.join(', ')}; got ${unknown.join(', ')}`);
  return {
    pool: intOption(USAGE, 'pool', values.pool), size, T: intOption(USAGE, 'T', values.T), batch: intOption(USAGE, 'batch', values.batch),
    repeat: intOption(USAGE, 'repeat', values.repeat), strategies: strategies as DropoutStrategy[],
  };
}

/** The zoo's Unet + resnet34 (1 class) with MC dropout where the strategy puts it. */
function buildNet(size: number, strategy: DropoutStrategy): SegmentationNet {
  return buildModel({
    arch: 'Unet', encoder: 'resnet34', encoderDepth: 5, inputShape: [size, size, 3], classes: 1, dropout: { strategy, rate: 0.3 }, seed: 1,
  });
}

async function main(): Promise<void> {
  const args = parseArgs();
  printCommand('bench-mc.ts');
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
    const net = buildNet(args.size, strategy);
    const params = net.model.countParams();
    console.log(`\n[${strategy}] Unet + resnet34 (ml/zoo), 1 class; ${(params / 1e6).toFixed(2)} M parameters`);
    // Warm-up: the first call of a graph pays one-off kernel and allocation costs.
    await mcScorePool({ net, pool: { ids: ids.slice(0, 1), load: pool.load }, samples: 1, functions: ['mfe'], mode: 'naive' });
    await mcScorePool({ net, pool: { ids: ids.slice(0, 1), load: pool.load }, samples: 1, functions: ['mfe'], mode: 'fast' });

    const onnxPrefix = await onnxMcPrefix(net);
    await mcScorePool({ net, pool: { ids: ids.slice(0, 1), load: pool.load }, samples: 1, functions: ['mfe'], mode: 'fast', prefix: onnxPrefix.run });
    type Run = MCMode | 'fast-onnx';
    const timings = new Map<Run, { ms: number; scores: number[] }>();
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
    for (let run = 0; run < args.repeat; run++) for (const mode of ['forward', 'fast', 'fast-onnx', 'naive'] as const) {
      if (mode === 'forward') {
        forwardMs = Math.min(forwardMs, await forwardPass());
        continue;
      }
      const started = performance.now();
      const results = await mcScorePool({
        net, pool, samples: args.T, batchSize: args.batch, functions: [...UNCERTAINTY_FUNCTIONS], mode: mode === 'fast-onnx' ? 'fast' : mode, dropoutSeed: 1,
        ...(mode === 'fast-onnx' ? { prefix: onnxPrefix.run } : {}),
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
    const fastOnnx = timings.get('fast-onnx')!;
    const onnxDiff = Math.max(...fast.scores.map((s, i) => Math.abs(s - fastOnnx.scores[i])));
    console.log(`  fast MC, prefix in ONNX Runtime: ${fastOnnx.ms.toFixed(0)} ms per pool (${(fastOnnx.ms / args.pool).toFixed(0)} ms/image), ${perForward(fastOnnx.ms)}; ` +
      `${(fast.ms / fastOnnx.ms).toFixed(2)}× tfjs' fast MC (max score difference to it, same masks: ${onnxDiff.toExponential(1)})`);
    onnxPrefix.dispose();
    net.model.dispose();
  }
}

await main();
