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
 * Engines (`--engine` of predict and of runs): fast MC is also timed with its deterministic prefix in ONNX Runtime
 * (the net's prefix converted in-process, export/onnx/session.ts; the tail stays in tfjs with the same seeded masks),
 * with its largest score difference to tfjs' fast MC, and the forward pass (what evaluation runs) on ONNX Runtime
 * too (the model converted in-process). All runs alternate in one process, so the engines meet the same load.
 *
 * `--runs` picks what is timed (default all): forward, forward-onnx, fast, fast-onnx, naive — naive costs T forward
 * passes per image, so leaving it out makes a large pool affordable.
 *
 * Model: the zoo's Unet + resnet34 (1 class).
 */
import * as tf from '@tensorflow/tfjs';
import { MC_DROPOUT_STRATEGIES, UNCERTAINTY_FUNCTIONS } from '../contracts/names';
import { initBackend } from '../ml/backend';
import { type MCProgress, mcScorePool } from '../ml/mcSampling';
import type { DropoutStrategy } from '../ml/types';
import { buildModel, type SegmentationNet } from '../ml/zoo';
import { onnxEngine, onnxMcPrefix } from '../export/onnx/session';
import { benchOptions, intOption, printCommand } from './benchArgs';

const USAGE = 'npx tsx scripts/bench-mc.ts [--pool 200] [--size 256] [--T 30] [--batch 4] [--repeat 1] [--strategies head,decoder] [--runs forward,forward-onnx,fast,fast-onnx,naive]';

const RUNS = ['forward', 'forward-onnx', 'fast', 'fast-onnx', 'naive'] as const;
type Run = (typeof RUNS)[number];

function parseArgs() {
  const values = benchOptions(USAGE, {
    pool: { type: 'string', default: '200' }, size: { type: 'string', default: '256' }, T: { type: 'string', default: '30' },
    batch: { type: 'string', default: '4' }, repeat: { type: 'string', default: '1' }, strategies: { type: 'string', default: 'head,decoder' },
    runs: { type: 'string', default: RUNS.join(',') },
  });
  const size = intOption(USAGE, 'size', values.size, 32);
  if (size % 32 !== 0) throw new Error(`--size must be a multiple of 32 (5 encoder stages), got ${size}.`);
  const strategies = values.strategies!.split(',');
  const unknown = strategies.filter((s) => !(MC_DROPOUT_STRATEGIES as readonly string[]).includes(s));
  if (unknown.length > 0) throw new Error(`--strategies takes ${MC_DROPOUT_STRATEGIES.join(', ')}; got ${unknown.join(', ')}`);
  const runs = values.runs!.split(',');
  const unknownRuns = runs.filter((r) => !(RUNS as readonly string[]).includes(r));
  if (unknownRuns.length > 0) throw new Error(`--runs takes ${RUNS.join(', ')}; got ${unknownRuns.join(', ')}`);
  return {
    runs: RUNS.filter((r) => runs.includes(r)), pool: intOption(USAGE, 'pool', values.pool), size, T: intOption(USAGE, 'T', values.T), batch: intOption(USAGE, 'batch', values.batch),
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
  console.log(
    `backend ${backend}; pool ${args.pool} images at ${args.size}×${args.size}, T = ${args.T}, batch ${args.batch}, best of ${args.repeat}`,
  );

  for (const strategy of args.strategies) {
    const net = buildNet(args.size, strategy);
    const params = net.model.countParams();
    console.log(`\n[${strategy}] Unet + resnet34 (ml/zoo), 1 class; ${(params / 1e6).toFixed(2)} M parameters`);
    const onnxPrefix = await onnxMcPrefix(net);
    const onnxForward = await onnxEngine(net);
    const mc = (mode: 'fast' | 'fast-onnx' | 'naive', ids: string[], samples: number, onProgress?: (p: MCProgress) => void) => mcScorePool({
      net, pool: { ids, load }, samples, batchSize: args.batch, functions: [...UNCERTAINTY_FUNCTIONS], mode: mode === 'fast-onnx' ? 'fast' : mode, dropoutSeed: 1,
      ...(mode === 'fast-onnx' ? { prefix: onnxPrefix.run } : {}), ...(onProgress ? { onProgress } : {}),
    });
    const forwardPass = async (engine: 'tf' | 'onnx', poolIds: string[]) => {
      const started = performance.now();
      for (let start = 0; start < poolIds.length; start += args.batch) {
        const images = await load(poolIds.slice(start, start + args.batch));
        const probs = engine === 'tf' ? net.model.predict(images) as tf.Tensor : await onnxForward.probabilities(images);
        await probs.data();
        tf.dispose([images, probs]);
      }
      return performance.now() - started;
    };
    // Warm-up: the first call of a graph pays one-off kernel and allocation costs.
    for (const run of args.runs) {
      if (run === 'forward' || run === 'forward-onnx') await forwardPass(run === 'forward' ? 'tf' : 'onnx', ids.slice(0, 1));
      else await mc(run, ids.slice(0, 1), 1);
    }
    const timings = new Map<Run, { ms: number; scores: number[] }>();
    for (let repeat = 0; repeat < args.repeat; repeat++) for (const run of args.runs) {
      let ms: number;
      let scores: number[] = [];
      if (run === 'forward' || run === 'forward-onnx') {
        ms = await forwardPass(run === 'forward' ? 'tf' : 'onnx', ids);
      } else {
        const started = performance.now();
        const results = await mc(run, ids, args.T, (p) => void process.stdout.write(`\r  ${run}: ${p.imagesDone}/${p.imagesTotal} images, ${(p.elapsedMs / 1000).toFixed(1)} s`));
        ms = performance.now() - started;
        process.stdout.write('\n');
        scores = results.flatMap((r) => [r.scores.cfe, r.scores.mfe, r.scores.mi, r.scores.std]);
      }
      if (ms < (timings.get(run)?.ms ?? Infinity)) timings.set(run, { ms, scores });
    }
    const forward = timings.get('forward') ?? timings.get('forward-onnx');
    const perPool = (ms: number) => `${ms.toFixed(0)} ms per pool (${(ms / args.pool).toFixed(0)} ms/image)${forward ? `, ${(ms / forward.ms).toFixed(2)}× one tfjs forward pass` : ''}`;
    const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((s, i) => Math.abs(s - b[i]))).toExponential(1);
    const { forward: tfForward, 'forward-onnx': ortForward, fast, 'fast-onnx': fastOnnx, naive } = Object.fromEntries(timings) as Partial<Record<Run, { ms: number; scores: number[] }>>;
    if (tfForward) console.log(`  one forward pass: ${tfForward.ms.toFixed(0)} ms per pool (${(tfForward.ms / args.pool).toFixed(0)} ms/image)`);
    if (ortForward) console.log(`  one forward pass on ONNX Runtime: ${perPool(ortForward.ms)}${tfForward ? `; ${(tfForward.ms / ortForward.ms).toFixed(2)}× tfjs' speed` : ''}`);
    if (naive) console.log(`  naive MC: ${perPool(naive.ms)}`);
    if (fast) console.log(`  fast MC:  ${perPool(fast.ms)}`);
    if (naive && fast) console.log(`  speed-up: ${(naive.ms / fast.ms).toFixed(1)}× naive/fast   (max |naive − fast| score difference, same masks: ${maxDiff(naive.scores, fast.scores)})`);
    if (fastOnnx) {
      console.log(`  fast MC, prefix in ONNX Runtime: ${perPool(fastOnnx.ms)}` +
        `${fast ? `; ${(fast.ms / fastOnnx.ms).toFixed(2)}× tfjs' fast MC speed (max score difference to it, same masks: ${maxDiff(fast.scores, fastOnnx.scores)})` : ''}`);
    }
    onnxForward.dispose();
    onnxPrefix.dispose();
    net.model.dispose();
  }
}

await main();
