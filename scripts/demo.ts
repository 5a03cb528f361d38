/**
 * The README's first command (after scripts/bootstrap.sh): starts the local services and a worker, makes a dataset
 * (synthetic echo videos, or imports yours), runs the benchmark — a short EDNAS search, then oracle-mode active
 * learning comparing acquisition functions against the full-data baseline — with a live progress view, and prints
 * where the report is and how to open the Temporal UI. The services keep running afterwards for the UI.
 *
 *   npm run demo                                   # default preset (about 7 minutes on 2 CPU cores)
 *   npm run demo -- --preset smoke                 # smallest settings (what CI runs)
 *   npm run demo -- --preset large                 # 256×256, more videos, more phases
 *   npm run demo -- --data DIR [--format pairs|camus]   # your own images and masks instead of synthetic ones
 *   npm run demo -- --acquisitions mfe,mi,random   # compare more functions
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, projectRoot } from '../config';
import { startServices } from './services';

interface Preset {
  /** Synthetic videos × frames per video (ignored with --data). */
  synthetic: [number, number];
  size: number;
  initial: number;
  benchmark: string[];
}

/** The search chooses architecture, encoder, learning rate and batch size for the active-learning runs. */
const common = ['--no-augment', '--mc-mode', 'fast', '--dropout', 'head', '--dropout-rate', '0.3'];

const PRESETS: Record<string, Preset> = {
  smoke: {
    synthetic: [6, 6], size: 32, initial: 4,
    benchmark: [...common, '--depth', '3', '--width', '0.0625', '--epochs', '2', '--k', '3', '--max-phases', '2', '--mc-samples', '4',
      '--trials', '2', '--search-epochs', '1', '--archs', 'Unet,FPN', '--encoders', 'resnet18', '--lrs', '0.001', '--batches', '4', '--target', '0.95'],
  },
  default: {
    synthetic: [20, 20], size: 64, initial: 8,
    benchmark: [...common, '--depth', '4', '--width', '0.25', '--epochs', '25', '--k', '8', '--max-phases', '8', '--mc-samples', '20',
      '--trials', '4', '--search-epochs', '15', '--archs', 'Unet,FPN,Linknet', '--encoders', 'resnet18', '--lrs', '0.003,0.001', '--batches', '8', '--target', '0.9'],
  },
  large: {
    synthetic: [40, 30], size: 256, initial: 40,
    benchmark: [...common, '--depth', '5', '--width', '0.25', '--epochs', '10', '--k', '50', '--max-phases', '8', '--mc-samples', '30',
      '--trials', '6', '--search-epochs', '5', '--archs', 'Unet,FPN,Linknet,PAN,DeepLabV3Plus', '--encoders', 'resnet18,resnet34,mobilenet_v2', '--batches', '8', '--target', '0.87'],
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
      acquisitions: { type: 'string', default: 'mfe,random' }, seed: { type: 'string', default: '0' },
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
      : ['dataset', 'import', '--format', 'synthetic', '--videos', String(preset.synthetic[0]), '--frames-per-video', String(preset.synthetic[1]), ...sizing];
    const imported = await cli(importArgs, true);
    const datasetId = /(ds-[0-9a-f]+)/.exec(imported)?.[1];
    if (!datasetId) throw new Error('the import printed no dataset id');

    const benchmarkId = `demo-${values.preset}-${Date.now()}`;
    await cli(['benchmark', 'start', '--dataset', datasetId, '--id', benchmarkId, '--seed', values.seed!, '--acquisitions', values.acquisitions!,
      '--title', `Demo (${values.preset} preset): ${values.acquisitions} on ${values.data ? path.basename(values.data) : 'synthetic echo videos'}`,
      ...preset.benchmark, '--wait']);
    await cli(['report', benchmarkId, '--out', path.join(config.dataDir, 'reports', benchmarkId)], true);
    const host = config.temporal.address.split(':')[0];
    console.log(`\nReport: ${path.join(config.dataDir, 'reports', benchmarkId, 'report.md')} (also s3://${config.minio.bucket}/runs/${benchmarkId}/report/)`);
    console.log(`Temporal UI: http://${host}:${config.temporal.uiPort}/namespaces/${config.temporal.namespace}/workflows/${benchmarkId}`);
    console.log('The services keep running for the UI; `npm run services:stop` stops them.');
  } finally {
    worker.kill('SIGINT');
    await workerExit;
  }
}

main().catch((error: unknown) => {
  console.error(`demo error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
