/**
 * Random search against asynchronous successive halving (ASHA) at the same total epoch budget, on a synthetic echo
 * dataset, through the real search workflow (services started if needed, a worker in this process).
 *
 *   npx tsx scripts/bench-search.ts [--seeds 3] [--budget 54] [--epochs 9] [--eta 3] [--min-epochs 1]
 *                                   [--videos 16] [--frames 10] [--size 32] [--width 0.125] [--depth 3]
 *
 * Per seed, both schedulers draw configurations in the same seeded order from the same space (paired). Random search
 * trains each configuration --epochs; ASHA trains rungs of --min-epochs × eta^k epochs up to --epochs, a promoted
 * configuration continuing from its checkpoint. Both stop starting work once --budget epochs are spent. The curve of
 * each run — best validation IoU found against epochs spent — is read from the workflow's history (every finished
 * trial or rung step is recorded by a `recordTrial` activity, in completion order; --concurrency is 1).
 *
 * Printed per seed: each scheduler's final best validation IoU, the epochs spent, its winner's test IoU (measured
 * after the search, never used to choose), and the epochs ASHA needed to reach random search's final best validation
 * IoU, as a share of random's epochs. The issue's target: ≤ 1/3.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { ArchName, SearchInput, SearchResult, SearchScheduler, TrialResult } from '../contracts';
import { importSyntheticEcho } from '../data/import';
import { search } from '../workflows';
import { benchOptions, printCommand } from './benchArgs';
import { startBenchWorkers } from './benchWorkers';

const USAGE = 'npx tsx scripts/bench-search.ts [--seeds 3] [--budget 54] [--epochs 9] [--eta 3] [--min-epochs 1] [--videos 16] [--frames 10] [--size 32] [--width 0.125] [--depth 3]';
const values = benchOptions(USAGE, {
  seeds: { type: 'string', default: '3' }, budget: { type: 'string', default: '54' }, epochs: { type: 'string', default: '9' },
  eta: { type: 'string', default: '3' }, 'min-epochs': { type: 'string', default: '1' },
  videos: { type: 'string', default: '16' }, frames: { type: 'string', default: '10' }, size: { type: 'string', default: '32' },
  width: { type: 'string', default: '0.125' }, depth: { type: 'string', default: '3' },
});
printCommand('bench-search.ts');
const num = (name: keyof typeof values) => {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${values[name]}`);
  return n;
};
const args = {
  seeds: num('seeds'), budget: num('budget'), epochs: num('epochs'), eta: num('eta'), minEpochs: num('min-epochs'),
  videos: num('videos'), frames: num('frames'), size: num('size'), width: num('width'), depth: num('depth'),
};

/** A small space with real spread: learning rates from too small to large, depth-flexible architectures. */
const SPACE = {
  archs: ['Unet', 'UnetPlusPlus', 'Linknet', 'FPN', 'PSPNet', 'MAnet'] as ArchName[],
  encoders: ['resnet18', 'resnet34'],
  learningRates: [3e-3, 1e-3, 3e-4, 1e-4, 3e-5],
  batchSizes: [8],
};

interface CurvePoint { epochs: number; best: number }
interface SchedulerRun { curve: CurvePoint[]; epochs: number; best: number; jobs: number; configs: number; winnerTest?: number; seconds: number }

/** Best validation IoU against epochs spent, from the `recordTrial` activities of the search's history. */
async function curveOf(client: Client, workflowId: string): Promise<{ curve: CurvePoint[]; jobs: number; configs: number }> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const trained = new Map<number, number>();
  const curve: CurvePoint[] = [];
  let epochs = 0;
  let best = 0;
  let jobs = 0;
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name !== 'recordTrial') continue;
    const { result } = defaultPayloadConverter.fromPayload<{ result: TrialResult }>(scheduled.input!.payloads![0]);
    if (result.testIoU !== undefined) continue; // the winners' test measurement after the search
    jobs += 1;
    const total = result.epochs ?? 0;
    epochs += Math.max(0, total - (trained.get(result.index) ?? 0));
    trained.set(result.index, Math.max(total, trained.get(result.index) ?? 0));
    if (result.status === 'ok') best = Math.max(best, result.valIoU ?? 0);
    curve.push({ epochs, best });
  }
  return { curve, jobs, configs: trained.size };
}

/** Epochs at which the curve first reaches `target` (undefined: never). */
const epochsToReach = (curve: CurvePoint[], target: number) => curve.find((p) => p.best >= target - 1e-9)?.epochs;

async function main(): Promise<void> {
  const { taskQueues, suffix, store, client, stop } = await startBenchWorkers('search');

  try {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-search-'));
    const imported = await importSyntheticEcho(store, { dir, videos: args.videos, framesPerVideo: args.frames, size: args.size, seed: 11, initialCount: 8, testShare: 0.2 });
    fs.rmSync(dir, { recursive: true, force: true });
    const counts = imported.manifest.splits.counts;
    const configs = SPACE.archs.length * SPACE.encoders.length * SPACE.learningRates.length * SPACE.batchSizes.length;
    console.log(`dataset ${imported.datasetId}: ${args.videos} synthetic videos × ${args.frames} frames at ${args.size}², split by video ` +
      `(train ${counts.initial + counts.pool}, validation ${counts.val ?? 0}, test ${counts.test})`);
    console.log(`space: ${configs} configurations (${SPACE.archs.join(', ')} × ${SPACE.encoders.join(', ')} × lr ${SPACE.learningRates.join(', ')} × batch ` +
      `${SPACE.batchSizes.join(', ')}), depth ${args.depth}, width ${args.width}; budget ${args.budget} epochs; random: ${args.epochs} epochs per ` +
      `configuration; ASHA: eta ${args.eta}, rungs from ${args.minEpochs} to ${args.epochs} epochs\n`);

    const runs: { seed: number; random: SchedulerRun; asha: SchedulerRun }[] = [];
    for (let seed = 0; seed < args.seeds; seed++) {
      const order: SearchScheduler[] = seed % 2 === 0 ? ['random', 'asha'] : ['asha', 'random'];
      const result = {} as Record<SearchScheduler, SchedulerRun>;
      for (const scheduler of order) {
        const workflowId = `bench-search-${suffix}-s${seed}-${scheduler}`;
        const input: SearchInput = {
          datasetId: imported.datasetId, seed, space: SPACE, scheduler, maxTrials: configs, epochBudget: args.budget,
          concurrency: 1, encoderDepth: args.depth, widthScale: args.width, epochs: args.epochs, augment: false,
          trialsPerRun: 10_000, taskQueues,
          ...(scheduler === 'asha' ? { asha: { eta: args.eta, minEpochs: args.minEpochs, maxEpochs: args.epochs } } : {}),
        };
        const started = performance.now();
        const outcome: SearchResult = await client.workflow.execute(search, { taskQueue: taskQueues.light, workflowId, args: [input] });
        const seconds = (performance.now() - started) / 1000;
        const { curve, jobs, configs: tried } = await curveOf(client, workflowId);
        const last = curve.at(-1) ?? { epochs: 0, best: 0 };
        result[scheduler] = { curve, epochs: last.epochs, best: last.best, jobs, configs: tried, winnerTest: outcome.leaderboard[0]?.testIoU, seconds };
        console.log(`seed ${seed} ${scheduler.padEnd(6)}: best validation IoU ${last.best.toFixed(4)} after ${last.epochs} epochs ` +
          `(${tried} configurations, ${jobs} jobs, ${seconds.toFixed(0)} s); winner's test IoU ${outcome.leaderboard[0]?.testIoU?.toFixed(4) ?? '—'}`);
      }
      runs.push({ seed, random: result.random, asha: result.asha });
    }

    console.log('\n| seed | random: best val IoU | epochs | winner test IoU | ASHA: best val IoU | epochs | winner test IoU | ASHA epochs to random\'s best | share of random\'s epochs |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    const shares: number[] = [];
    for (const { seed, random, asha } of runs) {
      const reach = epochsToReach(asha.curve, random.best);
      const share = reach === undefined ? undefined : reach / random.epochs;
      if (share !== undefined) shares.push(share);
      console.log(`| ${seed} | ${random.best.toFixed(4)} | ${random.epochs} | ${random.winnerTest?.toFixed(4) ?? '—'} | ${asha.best.toFixed(4)} | ${asha.epochs} | ` +
        `${asha.winnerTest?.toFixed(4) ?? '—'} | ${reach ?? 'not reached'} | ${share === undefined ? '—' : share.toFixed(2)} |`);
    }
    const met = runs.filter(({ random, asha }) => {
      const reach = epochsToReach(asha.curve, random.best);
      return reach !== undefined && reach <= random.epochs / 3;
    }).length;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    console.log(`\nASHA reached random search's final best validation IoU in ${shares.length} of ${runs.length} seeds, with ` +
      `${shares.length ? `${mean(shares).toFixed(2)} of random's epochs on average` : 'no share to average'}; within 1/3 of them in ${met} of ${runs.length}.`);
    console.log(`Mean winner test IoU: random ${mean(runs.map((r) => r.random.winnerTest ?? 0)).toFixed(4)}, ASHA ${mean(runs.map((r) => r.asha.winnerTest ?? 0)).toFixed(4)}.`);
  } finally {
    await stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : String(error));
  process.exit(1);
});
