/** Starting, following, stopping and reporting on runs: search, al, pipeline, status, leaderboard, stop, report. */
import fs from 'node:fs';
import path from 'node:path';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Command } from '../client';
import { readManifest } from '../data/manifest';
import { MissingKeyError } from '../ml/blobStore';
import type { AcquisitionName, ActiveLearningStatus, BenchmarkInput, LeaderboardRow } from '../shared';
import { activeLearning, benchmark, pipeline, search } from '../workflows';
import { leaderboardQuery, searchProgressQuery, statusQuery, stopSignal } from '../workflows/messages';
import { CliContext, CliError } from './context';
import { activeLearningInput, alOptions, searchInput, searchOptions } from './inputs';
import { list, str } from './options';

type RunKind = 'search' | 'activeLearning' | 'pipeline' | 'benchmark' | 'roundTrip';

export async function describeRun(client: Client, id: string): Promise<{ kind: RunKind; running: boolean }> {
  try {
    const description = await client.workflow.getHandle(id).describe();
    return { kind: description.type as RunKind, running: description.status.name === 'RUNNING' };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new CliError(`no run '${id}'; \`temporal workflow list\` or the Temporal UI lists runs`);
    throw error;
  }
}

/** The active-learning workflow behind an id: the run itself, or a pipeline's / benchmark's child. */
export async function activeLearningId(client: Client, id: string): Promise<string> {
  const { kind } = await describeRun(client, id);
  if (kind === 'activeLearning') return id;
  if (kind === 'pipeline') return `${id}-al`;
  throw new CliError(`run '${id}' is a ${kind} run, not an active-learning run`);
}

async function checkDataset(ctx: CliContext, datasetId: string): Promise<void> {
  try {
    await readManifest(ctx.store(), datasetId);
  } catch (error) {
    if (error instanceof MissingKeyError) throw new CliError(`no dataset '${datasetId}'; \`client.ts dataset list\` shows the imported ones`);
    throw error;
  }
}

function statusLine(s: ActiveLearningStatus): string {
  const pending = s.pending ? `, waiting for ${s.pending.remaining.length}/${s.pending.requested} masks (phase ${s.pending.phase}${s.pending.overdue ? `, overdue ×${s.pending.reminders}` : ''})` : '';
  return `phase ${s.phase} ${s.stage}: labelled ${s.labelledCount}, pool ${s.poolCount}, last IoU ${s.lastIoU?.toFixed(4) ?? '—'}${pending}${s.stopReason ? `, stopped: ${s.stopReason}` : ''}`;
}

/** Polls a run and prints a progress line whenever it changes, until the run closes. */
export async function follow(ctx: CliContext, id: string, line: () => Promise<string>): Promise<void> {
  const client = await ctx.temporal();
  let last = '';
  for (;;) {
    const { running } = await describeRun(client, id);
    let text: string;
    try {
      text = await line();
    } catch {
      text = last; // between continueAsNew runs a query can miss; the next poll catches up
    }
    if (text !== last) {
      console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
      last = text;
    }
    if (!running) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  const result = (await client.workflow.getHandle(id).result()) as Record<string, unknown> | undefined;
  // The headline fields of whichever result this is; the full result is in the Temporal UI.
  const flat = { ...(result?.activeLearning as Record<string, unknown> | undefined), ...result };
  const headline = Object.fromEntries(Object.entries(flat).filter(([key]) =>
    ['stopReason', 'reportKey', 'leaderboardKey', 'markdownKey', 'trials', 'failed', 'labelledKey', 'key'].includes(key)));
  console.log(`finished ${id}: ${JSON.stringify(headline)}`);
}

function printStart(ctx: CliContext, workflowId: string): void {
  const host = ctx.config.temporal.address.split(':')[0];
  console.log(`started ${workflowId}\n  Temporal UI: http://${host}:${ctx.config.temporal.uiPort}/namespaces/${ctx.config.temporal.namespace}/workflows/${workflowId}`);
}

async function searchLine(ctx: CliContext, id: string): Promise<string> {
  const handle = (await ctx.temporal()).workflow.getHandle(id);
  const p = await handle.query(searchProgressQuery);
  const top = (await handle.query(leaderboardQuery))[0];
  return `search: ${p.completed + p.failed}/${p.maxTrials} trials (${p.failed} failed, ${p.running} running)` +
    (top?.status === 'ok' ? `; best IoU ${top.iou?.toFixed(4)} ${top.arch}+${top.encoder} lr ${top.learningRate} batch ${top.batchSize}` : '');
}

async function alLine(ctx: CliContext, id: string): Promise<string> {
  return statusLine(await (await ctx.temporal()).workflow.getHandle(id).query(statusQuery));
}

export const searchStartCommand: Command = {
  summary: 'start an EDNAS random search (--wait follows it)',
  usage: 'search start --dataset ID [--trials 20] [--archs A,B] [--encoders E,F] [--lrs 1e-4,…] [--batches 4,8,16] [--search-epochs 20] [--concurrency 1] [--wall-time 48h] [--wait]',
  options: searchOptions,
  async run(ctx, { values }) {
    const input = searchInput(values, ctx.config);
    await checkDataset(ctx, input.datasetId);
    const workflowId = str(values, 'id', `search-${Date.now()}`);
    await (await ctx.temporal()).workflow.start(search, { taskQueue: ctx.config.taskQueues.light, workflowId, args: [input] });
    printStart(ctx, workflowId);
    if (values.wait) await follow(ctx, workflowId, () => searchLine(ctx, workflowId));
  },
};

export const alStartCommand: Command = {
  summary: 'start active learning (--oracle: masks answered from the dataset)',
  usage: 'al start --dataset ID [--arch Unet] [--encoder resnet34] [--acquisition mfe] [--k 50] [--target 0.87] [--epochs 20] [--oracle] [--wait] …',
  options: alOptions,
  async run(ctx, { values }) {
    const input = activeLearningInput(values, ctx.config);
    await checkDataset(ctx, input.datasetId);
    const workflowId = str(values, 'id', `al-${input.acquisition}-${Date.now()}`);
    await (await ctx.temporal()).workflow.start(activeLearning, { taskQueue: ctx.config.taskQueues.light, workflowId, args: [input] });
    printStart(ctx, workflowId);
    if (values.wait) await follow(ctx, workflowId, () => alLine(ctx, workflowId));
  },
};

export const pipelineStartCommand: Command = {
  summary: 'start EDNAS search, then active learning with the best trial',
  usage: 'pipeline start --dataset ID [search options] [active-learning options] [--wait]',
  options: { ...searchOptions, ...alOptions },
  async run(ctx, { values }) {
    const al = activeLearningInput(values, ctx.config);
    const searchPart = searchInput(values, ctx.config);
    await checkDataset(ctx, al.datasetId);
    const workflowId = str(values, 'id', `pipeline-${Date.now()}`);
    await (await ctx.temporal()).workflow.start(pipeline, { taskQueue: ctx.config.taskQueues.light, workflowId, args: [{ search: searchPart, activeLearning: al }] });
    printStart(ctx, workflowId);
    if (values.wait) {
      await follow(ctx, workflowId, async () => {
        try {
          return await alLine(ctx, `${workflowId}-al`);
        } catch {
          return searchLine(ctx, `${workflowId}-search`);
        }
      });
    }
  },
};

export const statusCommand: Command = {
  summary: 'show where a run stands',
  usage: 'status <id> [--json]',
  options: { json: { type: 'boolean' } },
  async run(ctx, { positionals, values }) {
    const id = positionals[0] ?? '';
    if (!id) throw new CliError('status needs a run id');
    const client = await ctx.temporal();
    const { kind, running } = await describeRun(client, id);
    const handle = client.workflow.getHandle(id);
    let status: unknown;
    if (kind === 'activeLearning') status = await handle.query(statusQuery);
    else if (kind === 'search') status = { progress: await handle.query(searchProgressQuery), top: (await handle.query(leaderboardQuery)).slice(0, 5) };
    else if (kind === 'pipeline' || kind === 'benchmark') {
      const description = await handle.describe();
      status = { stage: description.typedSearchAttributes.get({ name: 'EchoStage', type: 'KEYWORD' } as never) };
    }
    if (values.json) {
      console.log(JSON.stringify({ id, kind, running, status }, null, 2));
      return;
    }
    console.log(`${id}: ${kind}, ${running ? 'running' : 'closed'}`);
    if (kind === 'activeLearning') console.log(`  ${statusLine(status as ActiveLearningStatus)}`);
    else if (kind === 'search') console.log(`  ${await searchLine(ctx, id)}`);
    else if (status) console.log(`  ${JSON.stringify(status)}`);
  },
};

export function leaderboardTable(rows: readonly LeaderboardRow[]): string {
  const head = 'rank  IoU     arch            encoder                 lr        batch  params        status';
  return [head, ...rows.map((r) => [
    String(r.rank).padEnd(5), (r.iou?.toFixed(4) ?? '—').padEnd(7), r.arch.padEnd(15), r.encoder.padEnd(23),
    String(r.learningRate).padEnd(9), String(r.batchSize).padEnd(6), (r.params?.toLocaleString('en-US') ?? '—').padEnd(13),
    r.status === 'ok' ? 'ok' : `failed: ${r.error?.slice(0, 60)}`,
  ].join(' '))].join('\n');
}

export const leaderboardCommand: Command = {
  summary: 'print a search\'s leaderboard (Table I)',
  usage: 'leaderboard <id> [--json]',
  options: { json: { type: 'boolean' } },
  async run(ctx, { positionals, values }) {
    const id = positionals[0] ?? '';
    if (!id) throw new CliError('leaderboard needs a run id');
    const client = await ctx.temporal();
    const { kind } = await describeRun(client, id);
    const searchId = kind === 'pipeline' || kind === 'benchmark' ? `${id}-search` : id;
    if (kind !== 'search' && searchId === id) throw new CliError(`run '${id}' is a ${kind} run; it has no leaderboard`);
    let rows: LeaderboardRow[];
    try {
      rows = (await ctx.store().getJson<{ rows: LeaderboardRow[] }>(`runs/${searchId}/leaderboard.json`)).rows;
    } catch (error) {
      if (!(error instanceof MissingKeyError)) throw error;
      rows = await client.workflow.getHandle(searchId).query(leaderboardQuery); // still running: the top 20 so far
    }
    console.log(values.json ? JSON.stringify(rows, null, 2) : leaderboardTable(rows));
  },
};

export const stopCommand: Command = {
  summary: 'stop a run cleanly: active learning after its current step (it writes its report); a search starts no new trial',
  usage: 'stop <id> [--reason TEXT]',
  options: { reason: { type: 'string' } },
  async run(ctx, { positionals, values }) {
    const id = positionals[0] ?? '';
    if (!id) throw new CliError('stop needs a run id');
    const client = await ctx.temporal();
    const { kind, running } = await describeRun(client, id);
    if (!running) throw new CliError(`run '${id}' has already finished`);
    if (kind === 'roundTrip') throw new CliError(`run '${id}' is a ${kind} run; it cannot be stopped`);
    // Pipelines and benchmarks forward the stop to the child that is running and skip stages not started.
    await client.workflow.getHandle(id).signal(stopSignal, { reason: values.reason ? String(values.reason) : undefined });
    console.log(`stop sent to ${id} (${kind}); it finishes its current step, then writes its results`);
  },
};

export const reportCommand: Command = {
  summary: 'show where a run\'s report is (and download it with --out)',
  usage: 'report <id> [--out DIR]',
  options: { out: { type: 'string' } },
  async run(ctx, { positionals, values }) {
    const id = positionals[0] ?? '';
    if (!id) throw new CliError('report needs a run id');
    const client = await ctx.temporal();
    const { kind } = await describeRun(client, id);
    const runId = kind === 'pipeline' ? `${id}-al` : id;
    // A benchmark's report is report.md; an active-learning run's is active-learning.md.
    const keys = (await ctx.store().list(`runs/${runId}/report/`)).filter((k) => !k.endsWith('/'));
    if (keys.length === 0) throw new CliError(`run '${id}' has no report yet (reports are written when a run finishes)`);
    const markdownKey = keys.find((k) => k.endsWith('/report.md')) ?? keys.find((k) => k.endsWith('.md'))!;
    console.log(`report of ${id}: s3://${ctx.store().bucket}/${markdownKey}`);
    console.log(`  ${await ctx.store().presignedGetUrl(markdownKey, 24 * 3600)}`);
    if (values.out) {
      const dir = path.resolve(String(values.out));
      fs.mkdirSync(dir, { recursive: true });
      for (const key of keys) fs.writeFileSync(path.join(dir, path.basename(key)), await ctx.store().getBytes(key));
      console.log(`  downloaded ${keys.length} files to ${dir}`);
    } else {
      console.log(new TextDecoder().decode(await ctx.store().getBytes(markdownKey)));
    }
  },
};

export const benchmarkStartCommand: Command = {
  summary: 'the paper\'s experiment: optional search, oracle active learning per acquisition function, baseline, report',
  usage: 'benchmark start --dataset ID [--acquisitions mfe,random] [--no-search] [--no-baseline] [--title T] [search and active-learning options] [--wait]',
  options: { ...searchOptions, ...alOptions, acquisitions: { type: 'string' }, 'no-search': { type: 'boolean' }, 'no-baseline': { type: 'boolean' }, title: { type: 'string' } },
  async run(ctx, { values }) {
    const al = activeLearningInput({ ...values, oracle: true }, ctx.config);
    const acquisitions = (list(values, 'acquisitions') ?? ['mfe', 'random']).map((fn) => {
      if (!['cfe', 'mfe', 'mi', 'std', 'random'].includes(fn)) throw new CliError(`--acquisitions: '${fn}' is not one of cfe, mfe, mi, std, random`);
      return fn as AcquisitionName;
    });
    if (new Set(acquisitions).size !== acquisitions.length) throw new CliError('--acquisitions lists a function twice');
    await checkDataset(ctx, al.datasetId);
    const workflowId = str(values, 'id', `benchmark-${Date.now()}`);
    const input: BenchmarkInput = {
      title: str(values, 'title', `Active learning on ${al.datasetId}`),
      datasetId: al.datasetId,
      seed: al.hyper.seed,
      search: values['no-search'] ? undefined : searchInput(values, ctx.config),
      activeLearning: al,
      acquisitions,
      baseline: !values['no-baseline'],
      taskQueues: ctx.config.taskQueues,
    };
    await (await ctx.temporal()).workflow.start(benchmark, { taskQueue: ctx.config.taskQueues.light, workflowId, args: [input] });
    printStart(ctx, workflowId);
    if (values.wait) await follow(ctx, workflowId, () => benchmarkLine(ctx, workflowId, acquisitions, Boolean(input.search)));
  },
};

async function benchmarkLine(ctx: CliContext, id: string, acquisitions: AcquisitionName[], withSearch: boolean): Promise<string> {
  const client = await ctx.temporal();
  const parts: string[] = [];
  if (withSearch) {
    try {
      parts.push(await searchLine(ctx, `${id}-search`));
    } catch {
      parts.push('search: starting');
    }
  }
  for (const fn of acquisitions) {
    try {
      const s = await client.workflow.getHandle(`${id}-al-${fn}`).query(statusQuery);
      parts.push(`${fn}: phase ${s.phase} ${s.stage}, labelled ${s.labelledCount}, IoU ${s.lastIoU?.toFixed(3) ?? '—'}`);
    } catch {
      // not started yet
    }
  }
  return parts.join(' | ');
}
