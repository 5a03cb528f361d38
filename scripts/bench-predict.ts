/**
 * Throughput of `predict` for Unet + resnet34 at 256² (random weights: speed does not depend on them), in images/s:
 *
 *   engine      the batch loop in this process (ml/predict.ts predictBatch: resize, model, masks back, PNGs), model loaded
 *   local       `client.ts predict --local --json` end to end: process start, TensorFlow, model load, inputs, outputs
 *   workflow    `client.ts predict --workflow --json` end to end, with a worker (both queues) running in this process:
 *               upload of the frames, the predict workflow's batch activities, download of the outputs
 *
 *   npx tsx scripts/bench-predict.ts [--images 48] [--batch 8] [--size 256] [--input-size 320x400] [--uncertainty] [--skip-workflow]
 *                                    [--engine tf|onnx]
 *
 * `--engine` is predict's: what computes the masks on every path (tfjs, or ONNX Runtime on the converted model).
 *
 * Needs the services (MinIO; Temporal for the workflow path). The model is stored under `bench/predict-<time>`.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import sharp from 'sharp';
import { loadConfig, projectRoot } from '../config';
import { engineFactory } from '../activities/predict';
import { DEFAULT_PREDICT_ENGINE, isPredictEngine, modelKeys, PREDICT_ENGINES, type PredictItem } from '../contracts';
import { generateSyntheticVideo } from '../data/synthetic';
import { initBackend } from '../ml/backend';
import { batchCount, batchFingerprint, batchItems, decodeFramePng, loadPredictionModels, predictBatch } from '../ml/predict';
import { FolderBlobStore, saveCheckpoint } from '../ml/train/checkpoint';
import type { ModelConfig } from '../ml/types';
import { buildModel } from '../ml/zoo';
import { ObjectStore } from '../store/objectStore';
import { createWorkers, workflowsPath } from '../worker';
import { benchOptions, intOption, printCommand } from './benchArgs';

const USAGE = 'npx tsx scripts/bench-predict.ts [--images 48] [--batch 8] [--size 256] [--input-size 320x400] [--uncertainty] [--skip-workflow] [--engine tf|onnx]';

function parseArgs() {
  const values = benchOptions(USAGE, {
    images: { type: 'string', default: '48' }, batch: { type: 'string', default: '8' }, size: { type: 'string', default: '256' },
    'input-size': { type: 'string', default: '320x400' }, uncertainty: { type: 'boolean', default: false }, 'skip-workflow': { type: 'boolean', default: false },
    engine: { type: 'string', default: DEFAULT_PREDICT_ENGINE },
  });
  if (!isPredictEngine(values.engine)) throw new Error(`--engine must be one of ${PREDICT_ENGINES.join(', ')}, got '${values.engine}'.`);
  const match = /^(\d+)x(\d+)$/.exec(values['input-size']!);
  if (!match) throw new Error('--input-size needs HEIGHTxWIDTH, e.g. 320x400.');
  const size = intOption(USAGE, 'size', values.size, 32);
  if (size % 32 !== 0) throw new Error(`--size must be a multiple of 32 (5 encoder stages), got ${size}.`);
  return {
    images: intOption(USAGE, 'images', values.images), batch: intOption(USAGE, 'batch', values.batch), size,
    inputSize: [Number(match[1]), Number(match[2])] as [number, number], uncertainty: values.uncertainty === true, skipWorkflow: values['skip-workflow'] === true,
    engine: values.engine,
  };
}

function tsx(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), args, { cwd: projectRoot, env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
      (error, out, err) => resolve({ status: error ? 1 : 0, out, err }));
  });
}

async function main(): Promise<void> {
  const args = parseArgs();
  printCommand('bench-predict.ts');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const backend = await initBackend(undefined, () => {});
  const config = loadConfig();
  const store = new ObjectStore(config.minio);
  await store.ensureBucket();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-predict-'));
  console.log(`Unet + resnet34 at ${args.size}², ${args.images} frames of ${args.inputSize[0]}×${args.inputSize[1]}, batch ${args.batch}` +
    `${args.uncertainty ? ', with MC uncertainty (T = 30)' : ''}; backend ${backend}, engine ${args.engine}`);

  // The model, stored as a trained model is.
  const modelKey = `bench/predict-${Date.now()}`;
  const modelConfig: ModelConfig = { arch: 'Unet', encoder: 'resnet34', encoderDepth: 5, inputShape: [args.size, args.size, 1], classes: 1, dropout: { strategy: 'none', rate: 0 }, seed: 1 };
  const net = buildModel(modelConfig);
  await saveCheckpoint(net.model, undefined, store, modelKeys.finalWeights(modelKey), { epoch: 0, step: 0 }, { weightsOnly: true });
  await store.putJson(modelKeys.config(modelKey), modelConfig);
  net.model.dispose();

  // The frames: synthetic echo videos as 8-bit PNGs.
  const inputDir = path.join(scratch, 'input');
  fs.mkdirSync(inputDir);
  for (let video = 0, written = 0; written < args.images; video++) {
    for (const frame of generateSyntheticVideo({ videos: video + 1, framesPerVideo: Math.min(16, args.images - written), size: args.inputSize, seed: 3 }, video)) {
      const grey = Uint8Array.from(frame.image, (v) => Math.round(v * 255));
      fs.writeFileSync(path.join(inputDir, `${frame.id}.png`), await sharp(grey, { raw: { width: frame.width, height: frame.height, channels: 1 } }).png().toBuffer());
      written += 1;
    }
  }

  // 1. The engine alone.
  const files = fs.readdirSync(inputDir).sort();
  const items: PredictItem[] = files.map((file, i) => ({
    id: file.replace(/\.png$/, ''), group: file.slice(0, 8), order: i, originalSize: args.inputSize,
    source: { kind: 'file', path: path.join(inputDir, file), format: 'png', frame: 1, stamp: '' },
  }));
  const options = { uncertainty: args.uncertainty, overlay: false, samples: 30, seed: 0, engine: args.engine };
  const models = await loadPredictionModels(store, { modelKey }, args.uncertainty, engineFactory(args.engine));
  const frames = { load: async (item: PredictItem) => ({ frame: await decodeFramePng(fs.readFileSync((item.source as { path: string }).path)) }) };
  const out = new FolderBlobStore(path.join(scratch, 'engine'));
  // One warm-up batch (kernel selection, first allocations) is not counted.
  await predictBatch({ batch: 0, items: items.slice(0, args.batch), models, frames, out: new FolderBlobStore(path.join(scratch, 'warm')), root: '', options, fingerprint: 'warm-up' });
  let started = performance.now();
  for (let batch = 0; batch < batchCount(items.length, args.batch); batch++) {
    const chunk = batchItems(items, args.batch, batch);
    await predictBatch({ batch, items: chunk, models, frames, out, root: '', options, fingerprint: batchFingerprint({ modelKey }, options, batch, chunk) });
  }
  const engineSeconds = (performance.now() - started) / 1000;
  models.dispose();
  console.log(`engine    ${(args.images / engineSeconds).toFixed(2)} images/s (${engineSeconds.toFixed(1)} s)`);

  // 2. and 3. The CLI, in its own process, end to end.
  const common = ['client.ts', 'predict', '--model', modelKey, '--input', inputDir, '--batch', String(args.batch), '--json', '--engine', args.engine, ...(args.uncertainty ? ['--uncertainty'] : [])];
  const report = (name: string, run: { status: number; out: string; err: string }) => {
    if (run.status !== 0) throw new Error(`${name} failed: ${run.err}`);
    const result = JSON.parse(run.out) as { seconds: number; images: number };
    console.log(`${name.padEnd(9)} ${(result.images / result.seconds).toFixed(2)} images/s (${result.seconds.toFixed(1)} s end to end)`);
  };
  started = performance.now();
  report('local', await tsx([...common, '--local', '--out', path.join(scratch, 'local')], {}));

  if (!args.skipWorkflow) {
    const suffix = randomUUID().slice(0, 8);
    const taskQueues = { light: `bench-light-${suffix}`, accel: `bench-accel-${suffix}` };
    const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: { error: console.error, warn: () => {}, info: () => {}, debug: () => {}, trace: () => {}, log: () => {} } });
    const { workers, connection } = await createWorkers({ config: { ...config, taskQueues }, workflowBundle });
    const running = Promise.all(workers.map((w) => w.run()));
    try {
      report('workflow', await tsx([...common, '--workflow', '--out', path.join(scratch, 'workflow')], { TASK_QUEUE_LIGHT: taskQueues.light, TASK_QUEUE_ACCEL: taskQueues.accel }));
    } finally {
      for (const w of workers) w.shutdown();
      await running;
      await connection.close();
    }
  }
  fs.rmSync(scratch, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
