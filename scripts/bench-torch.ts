/**
 * The project against PyTorch + segmentation_models_pytorch on the same models, in one run, alternating:
 * training img/s (Adam, Dice + BCE, batch statistics) and inference img/s (eval mode), and the ratio project/PyTorch.
 * Inference is timed for both of the project's engines (`predict --engine`): tfjs, and ONNX Runtime
 * (onnxruntime-node, CPU) on the same model converted in-process by export/onnx, as predict runs it.
 *
 *   npx tsx scripts/bench-torch.ts [--configs Unet:resnet34,PAN:timm-regnety_120] [--size 256] [--batch 4]
 *                                  [--steps 3] [--rounds 3] [--stock] [--breakdown] [--infer-only] [--python PATH]
 *
 * Each round times, per configuration and in this order, PyTorch training, project training, (with --stock: the
 * project's stock tfjs path, i.e. before the fused kernels), PyTorch inference, project inference with tfjs, project
 * inference with ONNX Runtime — each one warm-up step then the median of --steps — so load from other processes hits
 * every side alike. The table shows the median over rounds and the range. --infer-only leaves training out.
 *
 * --breakdown: after the rounds, one profiled training step per side, split into convolution forward, convolution
 * backward (input and filter gradients), batch norm (forward + backward), the optimizer, and everything else (loss,
 * element-wise ops, dispatch: the step's wall time less the rest). PyTorch's side comes from torch.profiler (the
 * outermost ATen op of each kind), the project's from tfjs' profiler (kernel wall times; on tfjs-node kernels run
 * synchronously) with the optimizer timed on its own. It shows which part of the gap is inside libtensorflow's
 * kernels and which is the project's.
 *
 * Threads: TensorFlow runs a kernel's work on its intra-op pool and independent kernels on its inter-op pool; both
 * default to the CPU count. ml/backend.ts passes TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS (default: the
 * CPU count) to TensorFlow, and this script gives PyTorch the same numbers (torch.set_num_threads,
 * torch.set_num_interop_threads); ONNX Runtime's session gets the intra-op count (export/onnx/session.ts).
 *
 * PyTorch comes from `.tools/torch-venv` (or --python); when that venv is missing it is created and
 * torch + segmentation-models-pytorch 0.6.0 are installed from PyPI (a few GB; only this script needs it).
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../export/onnx';
import { createOnnxSession } from '../export/onnx/session';
import { INPUT_NAME, OUTPUT_NAME } from '../export/onnx/proto';
import { packageMetadata } from '../export/package';
import { initBackend, tfThreadCounts } from '../ml/backend';
import { createTrainStep, type TrainStep } from '../ml/train/step';
import type { ArchName } from '../ml/types';
import { buildModel } from '../ml/zoo';
import { benchOptions, intOption, median, printCommand, timeSteps, timeStepsSync } from './benchArgs';
import { torchPython } from './torchVenv';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = 'npx tsx scripts/bench-torch.ts [--configs ARCH:ENCODER,…] [--size 256] [--batch 4] [--steps 3] [--rounds 3] [--stock] [--breakdown] [--infer-only] [--python PATH]';

/** The Python worker (scripts/bench_torch.py): one JSON command per line in, one JSON reply per line out. */
class TorchWorker {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly replies: AsyncIterator<string>;

  constructor(python: string, threads: { intra: number; inter: number }) {
    this.child = spawn(python, [path.join(root, 'scripts', 'bench_torch.py'), '--intra', String(threads.intra), '--inter', String(threads.inter)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.replies = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async ask<T>(command: Record<string, unknown>): Promise<T> {
    this.child.stdin.write(`${JSON.stringify(command)}\n`);
    const line = await this.replies.next();
    if (line.done) throw new Error(`The PyTorch worker exited (code ${this.child.exitCode}) on ${JSON.stringify(command)}.`);
    const reply = JSON.parse(line.value) as T & { error?: string };
    if (reply.error) throw new Error(`PyTorch: ${reply.error}`);
    return reply;
  }

  close(): void {
    this.child.stdin.end();
  }
}

/** Where one training step's time goes (ms). */
interface Breakdown {
  wallMs: number;
  convForwardMs: number;
  convBackwardMs: number;
  batchNormMs: number;
  optimizerMs: number;
}

const CONV_FORWARD = /^(Conv2D|DepthwiseConv2dNative|FusedConv2D)$/;
const CONV_BACKWARD = /^(Conv2DBackprop(Filter|Input)|DepthwiseConv2dNativeBackprop(Filter|Input))$/;
const BATCH_NORM = /BatchNorm/;

/** Sums tfjs profiler kernel times by category; `into` accumulates over several profiled calls. */
function addKernels(kernels: readonly { name: string; kernelTimeMs: unknown }[], into: Breakdown, optimizer: boolean): void {
  for (const kernel of kernels) {
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    if (optimizer) into.optimizerMs += ms;
    else if (CONV_FORWARD.test(kernel.name)) into.convForwardMs += ms;
    else if (CONV_BACKWARD.test(kernel.name)) into.convBackwardMs += ms;
    else if (BATCH_NORM.test(kernel.name)) into.batchNormMs += ms;
  }
}

/** One profiled step of the project: forward + backward under tfjs' profiler, then the optimizer's update timed whole. */
async function projectBreakdown(step: TrainStep, x: tf.Tensor4D, y: tf.Tensor4D): Promise<Breakdown> {
  const out: Breakdown = { wallMs: 0, convForwardMs: 0, convBackwardMs: 0, batchNormMs: 0, optimizerMs: 0 };
  step.run(x, y).dispose();
  let grads: tf.NamedTensorMap = {};
  let start = performance.now();
  const backward = await tf.profile(() => {
    const { loss, grads: g } = step.gradients(x, y);
    loss.dataSync();
    loss.dispose();
    grads = g;
  });
  out.wallMs += performance.now() - start;
  addKernels(backward.kernels, out, false);
  start = performance.now();
  // Kernels run synchronously on tfjs-node: the update is complete when applyGradients returns.
  step.optimizer.applyGradients(grads);
  const optimizerMs = performance.now() - start;
  out.wallMs += optimizerMs;
  out.optimizerMs = optimizerMs;
  tf.dispose(Object.values(grads));
  return out;
}

function breakdownRows(entry: string, torch: Breakdown, project: Breakdown): string[] {
  const rest = (b: Breakdown) => b.wallMs - b.convForwardMs - b.convBackwardMs - b.batchNormMs - b.optimizerMs;
  const row = (label: string, t: number, p: number) => `| ${entry} | ${label} | ${t.toFixed(0)} | ${p.toFixed(0)} | ${(p - t).toFixed(0)} | ${(p / t).toFixed(2)}× |`;
  return [
    row('convolution forward', torch.convForwardMs, project.convForwardMs),
    row('convolution backward', torch.convBackwardMs, project.convBackwardMs),
    row('batch norm (fwd + bwd)', torch.batchNormMs, project.batchNormMs),
    row('optimizer (Adam)', torch.optimizerMs, project.optimizerMs),
    row('everything else', rest(torch), rest(project)),
    row('**whole step**', torch.wallMs, project.wallMs),
  ];
}

const timed = (steps: number, fn: () => void): number => median(timeStepsSync(fn, steps));

interface Side {
  train: number[];
  infer: number[];
}

/**
 * ONNX Runtime's inference of a zoo model: converted in-process, as `predict --engine onnx` does, and fed the same
 * input; the output is read back into JavaScript (as predict reads it) inside the timed step.
 */
async function onnxInference(net: ReturnType<typeof buildModel>, x: tf.Tensor4D): Promise<{ run: () => Promise<void>; release: () => Promise<void> }> {
  const session = await createOnnxSession(exportOnnx(net.model, net.config, packageMetadata(net.config, { modelKey: 'bench-torch' }, undefined)));
  const input = new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape);
  return {
    run: async () => {
      const out = (await session.run({ [INPUT_NAME]: input }))[OUTPUT_NAME];
      if (!((out.data as Float32Array).length > 0)) throw new Error('ONNX Runtime gave an empty output');
    },
    release: () => session.release(),
  };
}

async function main(): Promise<void> {
  const values = benchOptions(USAGE, {
    configs: { type: 'string', default: 'Unet:resnet34,PAN:timm-regnety_120' },
    size: { type: 'string', default: '256' }, batch: { type: 'string', default: '4' },
    steps: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' },
    stock: { type: 'boolean', default: false }, breakdown: { type: 'boolean', default: false }, 'infer-only': { type: 'boolean', default: false },
    python: { type: 'string' },
  });
  const train = !values['infer-only'];
  const [size, batch, steps, rounds] = (['size', 'batch', 'steps', 'rounds'] as const).map((name) => intOption(USAGE, name, values[name]));
  const backend = await initBackend(undefined, () => {});
  const { intraOp: intra, interOp: inter } = tfThreadCounts();
  const threads = { intra, inter };
  const worker = new TorchWorker(torchPython(values.python), threads);
  const info = await worker.ask<{ torch: string; smp: string; intra: number; inter: number }>({ cmd: 'info' });
  printCommand('bench-torch.ts');
  console.log(`project: ${backend}, tfjs ${tf.version.tfjs}, TF threads intra ${threads.intra} / inter ${threads.inter}; ` +
    `onnxruntime-node ${ort.env.versions.common} (CPU, intra-op ${threads.intra}); PyTorch ${info.torch}, smp ${info.smp}, threads intra ${info.intra} / inter ${info.inter}`);
  console.log(`${size}×${size}×3, batch ${batch}, 1 class, Adam lr 1e-4, Dice + BCE; per round 1 warm-up + median of ${steps} steps; ${rounds} rounds, alternating\n`);

  const rows: string[] = [];
  const breakdowns: string[] = [];
  for (const entry of values.configs!.split(',')) {
    const [arch, encoder] = entry.split(':');
    const torchParams = (await worker.ask<{ params: number }>({ cmd: 'build', arch, encoder, size, batch, channels: 3, lr: 1e-4 })).params;
    const net = buildModel({ arch: arch as ArchName, encoder, encoderDepth: 5, inputShape: [size, size, 3], classes: 1, dropout: { strategy: 'none', rate: 0 } });
    const x = tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const y = tf.randomUniform([batch, size, size, 1], 0, 1, 'float32', 2).round() as tf.Tensor4D;
    const fused = createTrainStep(net.model, { learningRate: 1e-4 });
    const stock = values.stock ? createTrainStep(net.model, { learningRate: 1e-4, fused: false }) : undefined;
    const trainMs = (step: TrainStep) => timed(steps, () => {
      const loss = step.run(x, y);
      loss.dataSync();
      loss.dispose();
    });
    const inferMs = () => timed(steps, () => tf.tidy(() => void (net.model.predict(x) as tf.Tensor).sum().dataSync()));
    const onnx = await onnxInference(net, x);
    const onnxMs = async () => median(await timeSteps(onnx.run, steps));
    const sides: Record<'torch' | 'project' | 'stock' | 'onnx', Side> = {
      torch: { train: [], infer: [] }, project: { train: [], infer: [] }, stock: { train: [], infer: [] }, onnx: { train: [], infer: [] },
    };
    const perSecond = (ms: number) => batch / (ms / 1000);
    for (let round = 0; round < rounds; round++) {
      if (train) {
        sides.torch.train.push(perSecond((await worker.ask<{ medianMs: number }>({ cmd: 'train', steps })).medianMs));
        sides.project.train.push(perSecond(trainMs(fused)));
        if (stock) sides.stock.train.push(perSecond(trainMs(stock)));
      }
      sides.torch.infer.push(perSecond((await worker.ask<{ medianMs: number }>({ cmd: 'infer', steps })).medianMs));
      sides.project.infer.push(perSecond(inferMs()));
      sides.onnx.infer.push(perSecond(await onnxMs()));
      const last = (xs: number[]) => xs[xs.length - 1].toFixed(2);
      console.log(`  ${entry} round ${round + 1}: ${train ? `train torch ${last(sides.torch.train)} project ${last(sides.project.train)}` +
        `${stock ? ` stock ${last(sides.stock.train)}` : ''} img/s; ` : ''}infer torch ${last(sides.torch.infer)} tfjs ${last(sides.project.infer)} onnxruntime ${last(sides.onnx.infer)} img/s`);
    }
    await onnx.release();
    const cell = (xs: number[]) => `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
    const ratios = (a: number[], b: number[]) => a.map((v, i) => v / b[i]);
    const params = `${net.paramCount.toLocaleString('en-US')} / ${torchParams.toLocaleString('en-US')}`;
    if (train) {
      rows.push(`| ${entry} | ${params} | train | ${cell(sides.torch.train)} | ${cell(sides.project.train)} | ${cell(ratios(sides.project.train, sides.torch.train))}× | | |` +
        (stock ? ` ${cell(sides.stock.train)} (${cell(ratios(sides.stock.train, sides.torch.train))}×) |` : ''));
    }
    rows.push(`| ${entry} | ${train ? '' : params} | infer | ${cell(sides.torch.infer)} | ${cell(sides.project.infer)} | ${cell(ratios(sides.project.infer, sides.torch.infer))}× |` +
      ` ${cell(sides.onnx.infer)} | ${cell(ratios(sides.onnx.infer, sides.torch.infer))}× |${stock ? ' |' : ''}`);
    if (values.breakdown) {
      const torchSide = await worker.ask<Breakdown>({ cmd: 'profile' });
      breakdowns.push(...breakdownRows(entry, torchSide, await projectBreakdown(fused, x, y)));
    }
    fused.dispose();
    stock?.dispose();
    tf.dispose([x, y]);
    net.model.dispose();
  }
  worker.close();
  console.log(`\nimg/s, median of ${rounds} rounds (min–max); ratio = project / PyTorch per round; inference with each engine of the project`);
  console.log(`| model | params (project / PyTorch) | work | PyTorch | project (tfjs) | ratio | project (ONNX Runtime) | ratio |${values.stock ? ' stock tfjs path (ratio) |' : ''}`);
  console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |${values.stock ? ' --- |' : ''}`);
  for (const row of rows) console.log(row);
  if (breakdowns.length > 0) {
    console.log('\nOne profiled training step per side, ms (profilers add a little to each side\'s wall time)');
    console.log('| model | part | PyTorch | project | difference | ratio |\n| --- | --- | --- | --- | --- | --- |');
    for (const row of breakdowns) console.log(row);
  }
}

await main();
