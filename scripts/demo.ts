/**
 * The README's first command (after scripts/bootstrap.sh): starts the local services and a worker, makes a dataset
 * (synthetic echo videos, or imports yours), runs the benchmark — a short EDNAS search, then oracle-mode active
 * learning comparing acquisition functions against the full-data baseline — with a live progress view, and prints
 * where the report is and how to open the Temporal UI. The services keep running afterwards for the UI.
 *
 *   npm run demo                                   # default preset (about 6 minutes on 2 CPU cores)
 *   npm run demo -- --preset smoke                 # smallest settings (what CI runs)
 *   npm run demo -- --preset large                 # 256×256, more videos, more phases
 *   npm run demo -- --data DIR [--format pairs|camus]   # your own images and masks instead of synthetic ones
 *   npm run demo -- --preset paper                 # the paper's protocol (GPU hours)
 *   npm run demo -- --strategies mfe,mi,random,random:stratified --seeds 3   # compare more strategies
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, projectRoot } from '../config';
import { startServices } from './services';

interface Preset {
  /** Synthetic videos × frames per video (ignored with --data), and their atypical minority ('default' or 'none'). */
  synthetic: [number, number];
  heterogeneity: 'default' | 'none';
  size: number;
  initial: number;
  /** Strategies compared (default for --strategies) on this many seeds. */
  strategies: string;
  seeds: number;
  benchmark: string[];
}

/** The search chooses architecture, encoder, learning rate and batch size for the active-learning runs. */
const common = ['--no-augment', '--mc-mode', 'fast', '--dropout', 'head', '--dropout-rate', '0.3'];

/**
 * `smoke` is what CI runs (seconds of training); `default` finishes in about 6 minutes on 2 CPU cores (334 s measured)
 * (2 seeds: fewer than a real comparison wants; the charts show each seed's run beside the mean); `large` and `paper` are for GPUs: `paper`
 * follows the paper's protocol (256², 40 initial images, K = 50, T = 30, 30 epochs per phase, its search space with
 * successive halving, target 0.87).
 */
const PRESETS: Record<string, Preset> = {
  smoke: {
    synthetic: [6, 6], heterogeneity: 'none', size: 32, initial: 4, strategies: 'mfe,random', seeds: 2,
    benchmark: [...common, '--depth', '3', '--width', '0.0625', '--epochs', '2', '--k', '3', '--max-phases', '2', '--mc-samples', '4',
      '--trials', '2', '--search-epochs', '1', '--archs', 'Unet,FPN', '--encoders', 'resnet18', '--lrs', '0.001', '--batches', '4', '--target', '0.95'],
  },
  default: {
    synthetic: [16, 16], heterogeneity: 'default', size: 64, initial: 8, strategies: 'auto,random', seeds: 2,
    benchmark: [...common, '--depth', '4', '--width', '0.25', '--epochs', '10', '--k', '8', '--max-phases', '4', '--mc-samples', '12',
      '--trials', '2', '--search-epochs', '5', '--archs', 'Unet,FPN', '--encoders', 'resnet18', '--lrs', '0.003', '--batches', '8', '--target', '0.9'],
  },
  large: {
    synthetic: [40, 30], heterogeneity: 'default', size: 256, initial: 40, strategies: 'mfe,random,random:stratified,mfe:stochastic', seeds: 3,
    benchmark: [...common, '--depth', '5', '--width', '0.25', '--epochs', '10', '--k', '50', '--max-phases', '8', '--mc-samples', '30',
      '--trials', '6', '--search-epochs', '5', '--archs', 'Unet,FPN,Linknet,PAN,DeepLabV3Plus', '--encoders', 'resnet18,resnet34,mobilenet_v2', '--batches', '8', '--target', '0.87'],
  },
  paper: {
    synthetic: [100, 30], heterogeneity: 'default', size: 256, initial: 40, strategies: 'mfe,mi,std,random', seeds: 3,
    benchmark: ['--mc-mode', 'fast', '--dropout', 'head', '--dropout-rate', '0.2', '--epochs', '30', '--k', '50', '--max-phases', '26',
      '--mc-samples', '30', '--space', 'paper', '--scheduler', 'asha', '--min-epochs', '2', '--max-epochs', '30', '--trials', '200', '--target', '0.87'],
  },
};

const tsx = path.join(projectRoot, 'node_modules', '.bin', 'tsx');

function cli(args: string[], capture = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, ['client.ts', ...args], { cwd: projectRoot, stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      process.stdout.write(d);
    });
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`client.ts ${args.slice(0, 2).join(' ')} failed (exit ${code})`))));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      preset: { type: 'string', default: 'default' }, data: { type: 'string' }, format: { type: 'string', default: 'pairs' },
      strategies: { type: 'string' }, seeds: { type: 'string' }, seed: { type: 'string', default: '0' },
    },
  });
  const preset = PRESETS[values.preset!];
  if (!preset) throw new Error(`--preset ${values.preset} is not one of ${Object.keys(PRESETS).join(', ')}`);
  const config = loadConfig();
  await startServices(config);

  const worker = spawn(tsx, ['worker.ts'], { cwd: projectRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  const workerExit = new Promise<number | null>((resolve) => worker.once('exit', resolve));
  try {
    const sizing = ['--size', String(preset.size), '--initial', String(preset.initial), '--seed', values.seed!];
    const importArgs = values.data
      ? ['dataset', 'import', '--format', values.format!, '--dir', values.data, ...sizing]
      : ['dataset', 'import', '--format', 'synthetic', '--videos', String(preset.synthetic[0]), '--frames-per-video', String(preset.synthetic[1]),
        '--heterogeneity', preset.heterogeneity, ...sizing];
    const imported = await cli(importArgs, true);
    const datasetId = /(ds-[0-9a-f]+)/.exec(imported)?.[1];
    if (!datasetId) throw new Error('the import printed no dataset id');

    const benchmarkId = `demo-${values.preset}-${Date.now()}`;
    const strategies = values.strategies ?? preset.strategies;
    const seeds = values.seeds ?? String(preset.seeds);
    await cli(['benchmark', 'start', '--dataset', datasetId, '--id', benchmarkId, '--seed', values.seed!, '--strategies', strategies, '--seeds', seeds,
      '--title', `Demo (${values.preset} preset): ${strategies} × ${seeds} seeds on ${values.data ? path.basename(values.data) : 'synthetic echo videos'}`,
      ...preset.benchmark, '--wait']);
    await cli(['report', benchmarkId, '--out', path.join(config.dataDir, 'reports', benchmarkId)], true);
    const host = config.temporal.address.split(':')[0];
    console.log(`\nReport: ${path.join(config.dataDir, 'reports', benchmarkId, 'report.md')} (also s3://${config.minio.bucket}/runs/${benchmarkId}/report/)`);
    console.log(`Temporal UI: http://${host}:${config.temporal.uiPort}/namespaces/${config.temporal.namespace}/workflows/${benchmarkId}`);
    console.log('The services keep running for the UI; `npm run services:stop` stops them.');
  } finally {
    worker.kill('SIGINT');
    // A worker that does not stop within a minute (an activity ignoring cancellation) must not hang the demo.
    const stopped = await Promise.race([workerExit.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 60_000).unref())]);
    if (!stopped) {
      console.error('demo: the worker did not stop within 60 s of SIGINT; killing it');
      worker.kill('SIGKILL');
    }
  }
}

main().catch((error: unknown) => {
  console.error(`demo error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
