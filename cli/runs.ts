/** Starting, following, listing, stopping and reporting on runs: search, al, pipeline, benchmark, status, runs list. */
import fs from 'node:fs';
import path from 'node:path';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { type Command } from 'commander';
import {
  type AcquisitionFunction, type ActiveLearningStatus, type BenchmarkInput, childIds, type SearchInput, type WeightsRef, isRunKind, type LeaderboardRow,
  rankingScore, RUN_KINDS, type RunKind, runKeys, SEARCH_ATTRIBUTES, searchKeys, type Strategy,
} from '../contracts';
import { readManifest } from '../data/manifest';
import { latestRejections } from '../labelling/rejections';
import { MissingKeyError } from '../store/blobStore';
import { isStoreUnreachable } from '../store/objectStore';
import { activeLearning, benchmark, pipeline, search } from '../workflows';
import { leaderboardQuery, searchProgressQuery, statusQuery, stopSignal } from '../contracts/messages';
import { type CliContext, CliError, UsageError } from './context';
import { addWeightsOptions, prepareWeights, weightsChoice, type WeightsOptions } from './weights';
import {
  activeLearningInput, autoChoice, type ActiveLearningOptions, type ModelOptions, searchInput, type SearchOptions, type SharedTrainingOptions,
} from './inputs';
import {
  addAcquisitionOption, addActiveLearningOptions, addModelOptions, addRunOptions, addSearchOptions, addSelectionOptions, addStrategiesOptions,
  addSharedTrainingOptions, givenOptions, flagOf,
} from './options';
import { positiveInt } from './parse';
import { createProgress } from './progress';

interface RunOptions {
  dataset: string;
  id?: string;
  wait?: boolean;
  json?: boolean;
}

export async function describeRun(client: Client, id: string): Promise<{ kind: RunKind; running: boolean }> {
  try {
    const description = await client.workflow.getHandle(id).describe();
    if (!isRunKind(description.type)) throw new CliError(`run '${id}' is a '${description.type}' workflow, not one of this tool's runs`);
    return { kind: description.type, running: description.status.name === 'RUNNING' };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new CliError(`no run '${id}'; \`client.ts runs list\` lists the runs`);
    throw error;
  }
}

/** The active-learning workflow behind an id: the run itself, or a pipeline's child. */
export async function activeLearningId(client: Client, id: string): Promise<string> {
  const { kind } = await describeRun(client, id);
  if (kind === 'activeLearning') return id;
  if (kind === 'pipeline') return childIds.activeLearning(id);
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

export function statusLine(s: ActiveLearningStatus): string {
  const purposes = s.pending?.purposes ? `; for ${Object.entries(s.pending.purposes).map(([purpose, n]) => `${purpose} ${n}`).join(', ')}` : '';
  const unusable = s.pending?.unusable?.length ? `, ${s.pending.unusable.length} marked unusable` : '';
  const pending = s.pending ? `, waiting for ${s.pending.remaining.length}/${s.pending.requested} masks (phase ${s.pending.phase}${s.pending.overdue ? `, overdue ×${s.pending.reminders}` : ''}${purposes}${unusable})` : '';
  if (s.pending?.purposes && s.lastIoU === undefined) {
    return `phase ${s.phase} ${s.stage}: the dataset lacks masks: the first request asks doctors for the evaluation and initial frames${pending}${s.stopReason ? `, stopped: ${s.stopReason}` : ''}`;
  }
  const origin = s.bootstrappedFrom ? ` (on the dataset made from ${s.bootstrappedFrom} with the doctors' first masks)` : '';
  return `phase ${s.phase} ${s.stage}: labelled ${s.labelledCount}, pool ${s.poolCount}, last IoU ${s.lastIoU?.toFixed(4) ?? '—'}${pending}${s.stopReason ? `, stopped: ${s.stopReason}` : ''}${origin}`;
}

interface ProgressProbe {
  status: string;
  done?: number;
  total?: number;
}

async function searchProbe(client: Client, id: string): Promise<ProgressProbe> {
  const handle = client.workflow.getHandle(id);
  const p = await handle.query(searchProgressQuery);
  const top = (await handle.query(leaderboardQuery))[0];
  return {
    done: p.completed + p.failed,
    total: p.maxTrials,
    status: `search configurations (${p.failed} failed, ${p.running} running${p.epochsSpent !== undefined ? `, ${p.epochsSpent}${p.epochBudget ? `/${p.epochBudget}` : ''} epochs` : ''})` +
      (top?.status === 'ok' ? `; best validation IoU ${rankingScore(top).toFixed(4)} ${top.arch}+${top.encoder} lr ${top.learningRate} batch ${top.batchSize}` : ''),
  };
}

async function activeLearningProbe(client: Client, id: string): Promise<ProgressProbe> {
  return { status: statusLine(await client.workflow.getHandle(id).query(statusQuery)) };
}

async function pipelineProbe(client: Client, id: string): Promise<ProgressProbe> {
  try {
    return await activeLearningProbe(client, childIds.activeLearning(id));
  } catch {
    return searchProbe(client, childIds.search(id));
  }
}

async function benchmarkProbe(client: Client, id: string, input: BenchmarkInput | undefined): Promise<ProgressProbe> {
  const parts: string[] = [];
  if (input?.search) {
    try {
      const s = await searchProbe(client, childIds.search(id));
      parts.push(`search ${s.done}/${s.total}`);
    } catch {
      parts.push('search: starting');
    }
  }
  const names = input?.strategies.map((s) => s.name) ?? [];
  const runs = input?.seeds
    ? input.seeds.flatMap((seed) => names.map((name) => ({ name, seed, id: childIds.benchmarkSeedRun(id, seed, name) })))
    : names.map((name) => ({ name, seed: undefined, id: childIds.benchmarkRun(id, name) }));
  let finished = 0;
  for (const run of runs) {
    try {
      const s = await client.workflow.getHandle(run.id).query(statusQuery);
      if (s.done) finished += 1;
      else parts.push(`${run.name}${run.seed === undefined ? '' : ` s${run.seed}`}: phase ${s.phase} ${s.stage}, labelled ${s.labelledCount}`);
    } catch {
      // not started yet
    }
  }
  return { done: finished, total: runs.length, status: parts.join(' | ') || 'runs finishing' };
}

/** How to show a run's progress, by its kind (a benchmark's input says which children to look at). */
async function probeFor(client: Client, id: string, kind: RunKind): Promise<() => Promise<ProgressProbe>> {
  switch (kind) {
    case 'search': return () => searchProbe(client, id);
    case 'activeLearning': return () => activeLearningProbe(client, id);
    case 'pipeline': return () => pipelineProbe(client, id);
    case 'benchmark': {
      const history = await client.workflow.getHandle(id).fetchHistory();
      const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      const parsed = input?.data ? JSON.parse(new TextDecoder().decode(input.data)) as BenchmarkInput : undefined;
      return () => benchmarkProbe(client, id, parsed);
    }
    default: return async () => ({ status: 'running' });
  }
}

/** The headline fields of a run's result (the whole result is in the Temporal UI). */
function headline(result: unknown): Record<string, unknown> {
  const record = (result ?? {}) as Record<string, unknown>;
  const flat = { ...(record.activeLearning as Record<string, unknown> | undefined), ...record };
  return Object.fromEntries(Object.entries(flat).filter(([key]) =>
    ['stopReason', 'reportKey', 'leaderboardKey', 'markdownKey', 'trials', 'failed', 'labelledKey', 'key'].includes(key)));
}

/** Follows a run (new or already running) with a progress display until it closes, then prints its headline. */
export async function follow(ctx: CliContext, id: string, options: { json?: boolean } = {}): Promise<void> {
  const client = await ctx.temporal();
  const { kind } = await describeRun(client, id);
  const probe = await probeFor(client, id, kind);
  const progress = createProgress({ withTotal: kind === 'search' || kind === 'benchmark' });
  let last: ProgressProbe = { status: 'starting' };
  for (;;) {
    const { running } = await describeRun(client, id);
    try {
      last = await probe();
    } catch {
      // between continueAsNew runs a query can miss; the next poll catches up
    }
    progress.update(last.status, last.done, last.total);
    if (!running) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  let result: unknown;
  try {
    result = await client.workflow.getHandle(id).result();
  } catch (error) {
    progress.stop(`${id} failed`);
    throw new CliError(`run '${id}' failed: ${(error as { cause?: Error }).cause?.message ?? (error as Error).message}`);
  }
  progress.stop(last.status);
  if (options.json) console.log(JSON.stringify({ workflowId: id, kind, result }, null, 2));
  else console.log(`finished ${id}: ${JSON.stringify(headline(result))}`);
}

async function started(ctx: CliContext, workflowId: string, kind: RunKind, options: RunOptions): Promise<void> {
  if (options.json && !options.wait) {
    console.log(JSON.stringify({ workflowId, kind, uiUrl: ctx.uiUrl(workflowId) }, null, 2));
  } else if (!options.json) {
    console.log(`started ${workflowId}\n  Temporal UI: ${ctx.uiUrl(workflowId)}`);
  }
  if (options.wait) await follow(ctx, workflowId, { json: options.json });
}

type AlStartOptions = RunOptions & SharedTrainingOptions & ModelOptions & ActiveLearningOptions & WeightsOptions & { acquisition: AcquisitionFunction; resumeFrom?: string };

function registerSearchStart(parent: Command, ctx: CliContext): void {
  const command = parent.command('start').description('start an EDNAS random search');
  addRunOptions(command, 'search');
  addSearchOptions(command);
  addSharedTrainingOptions(command);
  addWeightsOptions(command);
  command.action(async (options: RunOptions & SharedTrainingOptions & SearchOptions & WeightsOptions, cmd: Command) => {
    rejectAshaOptionsWithoutAsha(cmd, options);
    const input = await searchInput(options.dataset, options, ctx.config);
    await checkDataset(ctx, input.datasetId);
    const weights = await searchWeights(ctx, options, input);
    if (weights) input.initWeights = weights;
    const workflowId = options.id ?? `search-${Date.now()}`;
    await (await ctx.temporal()).workflow.start(search, { taskQueue: ctx.config.taskQueues.light, workflowId, args: [input] });
    await started(ctx, workflowId, 'search', options);
  });
}

function registerAlStart(parent: Command, ctx: CliContext): void {
  const command = parent.command('start').description('start active learning (--oracle: masks answered from the dataset)');
  addRunOptions(command, 'al');
  addModelOptions(command);
  addSharedTrainingOptions(command);
  addAcquisitionOption(command);
  addSelectionOptions(command);
  addActiveLearningOptions(command);
  addWeightsOptions(command);
  command.option('--resume-from <run>', 'continue from an earlier run\'s merged labels and phases (e.g. one that failed in an outage)');
  command.action(async (options: AlStartOptions, cmd: Command) => {
    rejectBetaWithoutStochastic(cmd, options.selection === 'stochastic' || Boolean(options.auto));
    checkAutoOptions(cmd, Boolean(options.auto));
    const input = await activeLearningInput(options.dataset, options, ctx.config);
    weightsChoice(options);
    await checkDataset(ctx, input.datasetId);
    const weights = await prepareWeights(ctx, options, input.model);
    if (weights) input.model = { ...input.model, initWeights: weights };
    if (options.resumeFrom) {
      const client = await ctx.temporal();
      const previous = await describeRun(client, options.resumeFrom);
      if (previous.kind !== 'activeLearning') throw new CliError(`run '${options.resumeFrom}' is a ${previous.kind} run; --resume-from takes an active-learning run`);
      if (previous.running) throw new CliError(`run '${options.resumeFrom}' is still running; stop it first (\`client.ts stop ${options.resumeFrom}\`)`);
      input.resumeFrom = options.resumeFrom;
    }
    const workflowId = options.id ?? `al-${input.acquisition}-${Date.now()}`;
    await (await ctx.temporal()).workflow.start(activeLearning, { taskQueue: ctx.config.taskQueues.light, workflowId, args: [input] });
    await started(ctx, workflowId, 'activeLearning', options);
  });
}

/**
 * Weights for a search: they fit one encoder (and, for --init-weights, one architecture), so the space must hold just
 * that; checked against its first configuration like any model.
 */
async function searchWeights(ctx: CliContext, options: WeightsOptions, input: SearchInput): Promise<WeightsRef | undefined> {
  const choice = weightsChoice(options);
  if (!choice) return undefined;
  if (input.space.encoders.length !== 1) throw new UsageError(`${choice.flag} fits one encoder: give the search --encoders <that encoder> (the space has ${input.space.encoders.length})`);
  if (choice.scope === 'model' && input.space.archs.length !== 1) throw new UsageError(`--init-weights fits one architecture: give the search --archs <that architecture> (the space has ${input.space.archs.length})`);
  return prepareWeights(ctx, options, {
    arch: input.space.archs[0], encoder: input.space.encoders[0], encoderDepth: input.encoderDepth, widthScale: input.widthScale,
  });
}

/** Successive-halving options mean nothing to random search. */
function rejectAshaOptionsWithoutAsha(command: Command, options: { scheduler?: string }): void {
  if (options.scheduler === 'asha') return;
  const stray = ['eta', 'minEpochs', 'maxEpochs'].find((name) => givenOptions(command).includes(name));
  if (stray) throw new UsageError(`${flagOf(command, stray)} applies to --scheduler asha`);
}

/** --auto-candidates and --auto-phases mean something only to the strategy auto, which replaces --acquisition and --selection. */
function checkAutoOptions(command: Command, auto: boolean, options: { benchmark?: boolean } = {}): void {
  const given = givenOptions(command);
  const stray = ['autoCandidates', 'autoPhases'].find((name) => given.includes(name));
  if (!auto && stray) throw new UsageError(`${flagOf(command, stray)} applies to the strategy auto (${options.benchmark ? 'auto in --strategies' : '--auto'})`);
  const replaced = ['acquisition', 'selection'].find((name) => given.includes(name));
  if (auto && replaced && !options.benchmark) throw new UsageError(`--auto chooses the acquisition and selection itself; drop ${flagOf(command, replaced)} (or list it in --auto-candidates)`);
}

/** β means something only to stochastic selection. */
function rejectBetaWithoutStochastic(command: Command, stochastic: boolean): void {
  if (!stochastic && givenOptions(command).includes('beta')) throw new UsageError('--beta applies to stochastic selection (--selection stochastic, or a <function>:stochastic strategy)');
}

/** The search picks the architecture, encoder, learning rate and batch size of what follows it. */
const SEARCH_CHOOSES: readonly (keyof ModelOptions)[] = ['arch', 'encoder', 'lr', 'batch'];
const modelDefaults: ModelOptions = { arch: 'Unet', encoder: 'resnet34', lr: 1e-4, batch: 8 };

function registerPipelineStart(parent: Command, ctx: CliContext): void {
  const command = parent.command('start').description('start EDNAS search, then active learning with the best trial');
  addRunOptions(command, 'pipeline');
  addSearchOptions(command);
  addSharedTrainingOptions(command);
  addAcquisitionOption(command);
  addSelectionOptions(command);
  addActiveLearningOptions(command);
  addWeightsOptions(command);
  command.action(async (options: RunOptions & SharedTrainingOptions & SearchOptions & ActiveLearningOptions & WeightsOptions & { acquisition: AcquisitionFunction }, cmd: Command) => {
    rejectAshaOptionsWithoutAsha(cmd, options);
    rejectBetaWithoutStochastic(cmd, options.selection === 'stochastic' || Boolean(options.auto));
    checkAutoOptions(cmd, Boolean(options.auto));
    const al = await activeLearningInput(options.dataset, { ...modelDefaults, ...options }, ctx.config);
    const searchPart = await searchInput(options.dataset, options, ctx.config);
    await checkDataset(ctx, al.datasetId);
    const weights = await searchWeights(ctx, options, searchPart);
    // The search's best trial replaces the model's architecture and encoder; the weights ride along (one encoder).
    if (weights) {
      searchPart.initWeights = weights;
      al.model = { ...al.model, initWeights: weights };
    }
    const workflowId = options.id ?? `pipeline-${Date.now()}`;
    await (await ctx.temporal()).workflow.start(pipeline, { taskQueue: ctx.config.taskQueues.light, workflowId, args: [{ search: searchPart, activeLearning: al }] });
    await started(ctx, workflowId, 'pipeline', options);
  });
}

function registerBenchmarkStart(parent: Command, ctx: CliContext): void {
  const command = parent.command('start')
    .description('the paper\'s experiment: optional search, oracle active learning per acquisition function, full-data baseline, report');
  addRunOptions(command, 'benchmark');
  addSearchOptions(command);
  addSharedTrainingOptions(command);
  addModelOptions(command);
  addStrategiesOptions(command);
  addActiveLearningOptions(command, { oracle: false });
  addWeightsOptions(command);
  command
    .option('--no-search', 'skip the search: --arch, --encoder, --lr and --batch set the model')
    .option('--no-baseline', 'skip the model trained on all the training data')
    .option('--title <text>', 'report title');
  command.action(async (options: RunOptions & SharedTrainingOptions & SearchOptions & ModelOptions & ActiveLearningOptions & {
    strategies: Strategy[]; seeds: number; beta: number; search: boolean; baseline: boolean; title?: string;
  } & WeightsOptions, cmd: Command) => {
    const given = givenOptions(cmd);
    rejectAshaOptionsWithoutAsha(cmd, options);
    weightsChoice(options);
    if (options.search) {
      const ignored = SEARCH_CHOOSES.find((name) => given.includes(name));
      if (ignored) throw new UsageError(`${flagOf(cmd, ignored)} is chosen by the search; drop it, or add --no-search to set the model yourself`);
    } else {
      const searchOnly = ['space', 'archs', 'encoders', 'lrs', 'batches', 'scheduler', 'eta', 'minEpochs', 'maxEpochs', 'epochBudget', 'trials', 'wallTime',
        'concurrency', 'searchEpochs', 'trialsPerRun'].find((name) => given.includes(name));
      if (searchOnly) throw new UsageError(`${flagOf(cmd, searchOnly)} configures the search, which --no-search skips`);
    }
    rejectBetaWithoutStochastic(cmd, options.strategies.some((s) => s.selection === 'stochastic' || s.auto !== undefined));
    checkAutoOptions(cmd, options.strategies.some((s) => s.auto !== undefined), { benchmark: true });
    if (!options.strategies.some((s) => s.name === 'random')) throw new UsageError('--strategies must include random: every strategy is compared with it');
    const strategies = options.strategies.map((s) => (s.auto ? { ...s, auto: autoChoice(options) } : s.selection === 'stochastic' ? { ...s, beta: options.beta } : s));
    const al = await activeLearningInput(options.dataset, { ...options, acquisition: strategies[0].acquisition, oracle: true }, ctx.config);
    await checkDataset(ctx, al.datasetId);
    const searchPart = options.search ? await searchInput(options.dataset, options, ctx.config) : undefined;
    const weights = searchPart ? await searchWeights(ctx, options, searchPart) : await prepareWeights(ctx, options, al.model);
    if (weights) {
      al.model = { ...al.model, initWeights: weights };
      if (searchPart) searchPart.initWeights = weights;
    }
    const workflowId = options.id ?? `benchmark-${Date.now()}`;
    const input: BenchmarkInput = {
      title: options.title ?? `Active learning on ${al.datasetId}`,
      datasetId: al.datasetId,
      seed: al.hyper.seed,
      search: searchPart,
      activeLearning: al,
      strategies,
      seeds: Array.from({ length: options.seeds }, (_, i) => al.hyper.seed + i),
      baseline: options.baseline,
      taskQueues: ctx.config.taskQueues,
    };
    await (await ctx.temporal()).workflow.start(benchmark, { taskQueue: ctx.config.taskQueues.light, workflowId, args: [input] });
    await started(ctx, workflowId, 'benchmark', options);
  });
}

/** Why a closed run did not complete: the failure's message, down to its root cause. */
async function failureOf(client: Client, id: string): Promise<string | undefined> {
  const description = await client.workflow.getHandle(id).describe();
  if (['RUNNING', 'COMPLETED', 'CONTINUED_AS_NEW'].includes(description.status.name)) return undefined;
  try {
    await client.workflow.getHandle(id).result();
    return undefined;
  } catch (error) {
    const messages: string[] = [];
    for (let e = error as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) if (e.message) messages.push(e.message);
    return `${description.status.name.toLowerCase()}: ${messages.join(': ')}`;
  }
}

async function runStatus(ctx: CliContext, id: string): Promise<{ kind: RunKind; running: boolean; status: unknown; line: string }> {
  const client = await ctx.temporal();
  const { kind, running } = await describeRun(client, id);
  const handle = client.workflow.getHandle(id);
  const failure = running ? undefined : await failureOf(client, id);
  if (failure) {
    return { kind, running, status: { failure, resume: kind === 'activeLearning' ? `al start --resume-from ${id} --dataset …` : undefined }, line: `FAILED — ${failure}` };
  }
  if (kind === 'activeLearning') {
    const status = await handle.query(statusQuery);
    // The run's state is Temporal's; what sits beside it in MinIO is shown when it can be read, and named when not.
    const unread: string[] = [];
    const rejections = status.pending ? await latestRejections(ctx.store(), id, status.pending.phase).catch((error: unknown) => {
      if (!isStoreUnreachable(error)) throw error;
      unread.push(`refused submissions (${(error as Error).message})`);
      return [];
    }) : [];
    const lines = [statusLine(status),
      ...status.invalid.slice(-5).map((i) => `invalid (phase ${i.phase}${i.id ? `, ${i.id}` : ''}): ${i.reason}`),
      ...rejections.slice(0, 10).flatMap((r) => r.rejected.map((x) => `rejected ${r.at.slice(0, 19)} from ${r.source}${r.annotator ? ` (${r.annotator})` : ''}: ${x.id ?? ''} — ${x.reason}`)),
      ...unread.map((part) => `could not read: ${part}`)];
    return { kind, running, status: { ...status, rejections, ...(unread.length > 0 ? { unread } : {}) }, line: lines.join('\n  ') };
  }
  if (kind === 'search') {
    const status = { progress: await handle.query(searchProgressQuery), top: (await handle.query(leaderboardQuery)).slice(0, 5) };
    const probe = await searchProbe(client, id);
    return { kind, running, status, line: `${probe.done}/${probe.total} ${probe.status}` };
  }
  const description = await handle.describe();
  const stage = description.searchAttributes?.[SEARCH_ATTRIBUTES.stage.name]?.[0];
  return { kind, running, status: { stage }, line: `stage ${String(stage ?? '—')}` };
}

function registerStatus(program: Command, ctx: CliContext): void {
  program.command('status').description('show where a run stands (--wait follows it until it finishes)')
    .argument('<id>', 'run id')
    .option('--json', 'print as JSON')
    .option('--wait', 'follow the run (re-attach to a running run) until it finishes')
    .action(async (id: string, options: { json?: boolean; wait?: boolean }) => {
      // With --wait the answer is the run's result, whether it is still running or has just finished.
      if (options.wait) return follow(ctx, id, { json: options.json });
      const { kind, running, status, line } = await runStatus(ctx, id);
      if (options.json) return console.log(JSON.stringify({ id, kind, running, status }, null, 2));
      console.log(`${id}: ${kind}, ${running ? 'running' : 'closed'}\n  ${line}`);
    });
}

interface RunRow {
  id: string;
  kind: string;
  status: string;
  stage?: string;
  phase?: number;
  labelled?: number;
  bestIoU?: number;
  started: string;
}

function registerRunsList(parent: Command, ctx: CliContext): void {
  parent.command('list').description('list runs, newest first: id, kind, status, stage, phase, labelled, best IoU, started')
    .option('--json', 'print as JSON')
    .option('--running', 'only runs still running')
    .option('--limit <n>', 'at most this many', positiveInt, 50)
    .action(async (options: { json?: boolean; running?: boolean; limit: number }) => {
      const client = await ctx.temporal();
      const kinds = RUN_KINDS.map((k) => `'${k}'`).join(', ');
      const query = `WorkflowType IN (${kinds})${options.running ? " AND ExecutionStatus = 'Running'" : ''}`;
      const rows: RunRow[] = [];
      const attribute = (values: Record<string, unknown[]> | undefined, key: keyof typeof SEARCH_ATTRIBUTES) => values?.[SEARCH_ATTRIBUTES[key].name]?.[0];
      for await (const run of client.workflow.list({ query })) {
        const sa = run.searchAttributes as Record<string, unknown[]> | undefined;
        rows.push({
          id: run.workflowId, kind: run.type, status: run.status.name.toLowerCase(),
          stage: attribute(sa, 'stage') as string | undefined,
          phase: attribute(sa, 'phase') as number | undefined,
          labelled: attribute(sa, 'labelledCount') as number | undefined,
          bestIoU: attribute(sa, 'bestIoU') as number | undefined,
          started: run.startTime.toISOString(),
        });
        if (rows.length >= options.limit) break;
      }
      if (options.json) return console.log(JSON.stringify(rows, null, 2));
      if (rows.length === 0) return console.log('no runs yet; `client.ts al start …`, `search start …` or `pipeline start …` starts one');
      const cells = rows.map((r) => [r.id, r.kind, r.status, r.stage ?? '—', String(r.phase ?? '—'), String(r.labelled ?? '—'),
        r.bestIoU === undefined ? '—' : r.bestIoU.toFixed(4), r.started.slice(0, 19).replace('T', ' ')]);
      const head = ['id', 'kind', 'status', 'stage', 'phase', 'labelled', 'best IoU', 'started'];
      const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
      for (const line of [head, ...cells]) console.log(line.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
    });
}

export function leaderboardTable(rows: readonly LeaderboardRow[]): string {
  const head = 'rank  val IoU test IoU arch            encoder                 lr        batch  epochs rung params        status';
  const fmt = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(4));
  return [head, ...rows.map((r) => [
    String(r.rank).padEnd(5), fmt(r.valIoU).padEnd(7), fmt(r.testIoU).padEnd(8), r.arch.padEnd(15), r.encoder.padEnd(23),
    String(r.learningRate).padEnd(9), String(r.batchSize).padEnd(6), String(r.epochs ?? '—').padEnd(6), String(r.rung ?? 0).padEnd(4),
    (r.params?.toLocaleString('en-US') ?? '—').padEnd(13), r.status === 'ok' ? 'ok' : `failed: ${r.error?.slice(0, 60)}`,
  ].join(' '))].join('\n');
}

function registerLeaderboard(program: Command, ctx: CliContext): void {
  program.command('leaderboard').description('print a search\'s leaderboard (Table I); a pipeline or benchmark id shows its search')
    .argument('<id>', 'search, pipeline or benchmark id')
    .option('--json', 'print as JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const client = await ctx.temporal();
      const { kind } = await describeRun(client, id);
      if (kind !== 'search' && kind !== 'pipeline' && kind !== 'benchmark') throw new CliError(`run '${id}' is a ${kind} run; it has no leaderboard`);
      const searchId = kind === 'search' ? id : childIds.search(id);
      let rows: LeaderboardRow[];
      try {
        rows = (await ctx.store().getJson<{ rows: LeaderboardRow[] }>(searchKeys.leaderboardJson(searchId))).rows;
      } catch (error) {
        if (!(error instanceof MissingKeyError)) throw error;
        try {
          rows = await client.workflow.getHandle(searchId).query(leaderboardQuery); // still running: the top 20 so far
        } catch (queryError) {
          if (queryError instanceof WorkflowNotFoundError) throw new CliError(`run '${id}' has no search (it was skipped or has not started)`);
          throw queryError;
        }
      }
      console.log(options.json ? JSON.stringify(rows, null, 2) : leaderboardTable(rows));
    });
}

function registerStop(program: Command, ctx: CliContext): void {
  program.command('stop')
    .description('stop a run cleanly: active learning after its current step (it writes its report); a search starts no new trial; a pipeline or benchmark forwards the stop')
    .argument('<id>', 'run id')
    .option('--reason <text>', 'why (recorded with the stop)')
    .option('--json', 'print the outcome as JSON')
    .action(async (id: string, options: { reason?: string; json?: boolean }) => {
      const client = await ctx.temporal();
      const { kind, running } = await describeRun(client, id);
      if (!running) throw new CliError(`run '${id}' has already finished`);
      if (kind === 'roundTrip') throw new CliError(`run '${id}' is a ${kind} run; it cannot be stopped`);
      await client.workflow.getHandle(id).signal(stopSignal, { reason: options.reason });
      if (options.json) return console.log(JSON.stringify({ workflowId: id, kind, stopSent: true, reason: options.reason ?? null }));
      console.log(`stop sent to ${id} (${kind}); it finishes its current step, then writes its results`);
    });
}

function registerReport(program: Command, ctx: CliContext): void {
  program.command('report').description('print a finished run\'s report (or download it with --out)')
    .argument('<id>', 'active-learning, pipeline or benchmark id')
    .option('--out <dir>', 'download the report files (Markdown and charts) to this folder')
    .option('--json', 'print where the report is, and the files, as JSON')
    .action(async (id: string, options: { out?: string; json?: boolean }) => {
      const client = await ctx.temporal();
      const { kind } = await describeRun(client, id);
      const runId = kind === 'pipeline' ? childIds.activeLearning(id) : id;
      // A benchmark's report is report.md; an active-learning run's is active-learning.md.
      const keys = (await ctx.store().list(runKeys.reportPrefix(runId))).filter((k) => !k.endsWith('/'));
      if (keys.length === 0) throw new CliError(`run '${id}' has no report yet (reports are written when a run finishes)`);
      const markdownKey = keys.find((k) => k.endsWith('/report.md')) ?? keys.find((k) => k.endsWith('.md'))!;
      const url = await ctx.store().presignedGetUrl(markdownKey, 24 * 3600);
      let downloaded: string[] = [];
      if (options.out) {
        const dir = path.resolve(options.out);
        fs.mkdirSync(dir, { recursive: true });
        for (const key of keys) fs.writeFileSync(path.join(dir, path.basename(key)), await ctx.store().getBytes(key));
        downloaded = keys.map((key) => path.join(dir, path.basename(key)));
      }
      if (options.json) {
        return console.log(JSON.stringify({ workflowId: id, markdownKey, url, keys, downloaded }, null, 2));
      }
      console.log(`report of ${id}: s3://${ctx.store().bucket}/${markdownKey}\n  ${url}`);
      if (options.out) console.log(`  downloaded ${downloaded.length} files to ${path.resolve(options.out)}`);
      else console.log(new TextDecoder().decode(await ctx.store().getBytes(markdownKey)));
    });
}

export function registerRunCommands(program: Command, ctx: CliContext): void {
  registerSearchStart(program.command('search').description('EDNAS architecture search'), ctx);
  registerAlStart(program.command('al').description('active learning'), ctx);
  registerPipelineStart(program.command('pipeline').description('search, then active learning'), ctx);
  registerBenchmarkStart(program.command('benchmark').description('the paper\'s experiment, unattended'), ctx);
  registerRunsList(program.command('runs').description('the runs Temporal knows'), ctx);
  registerStatus(program, ctx);
  registerLeaderboard(program, ctx);
  registerStop(program, ctx);
  registerReport(program, ctx);
}
