/**
 * The active-learning loop's logic in seconds: the real workflow under the time-skipping test server with in-memory
 * stand-ins for its activities (./stubs.ts): phase order, stop rules, continue-as-new, waiting for doctors with
 * reminders, submissions through the update, masks that changed after acceptance, stop requests.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ActiveLearningInput, runKeys, type SubmittedLabel, UNUSABLE_FRAME } from '../../../contracts';
import { statusQuery, stopSignal, submitLabelsUpdate } from '../../../contracts/messages';
import { activeLearning, pipeline } from '../../../workflows';
import { timeSkippingEnv, uniqueQueues, withWorkers } from './env';
import { alWorld, type AlScript, poolId } from './stubs';

const DAY_MS = 24 * 3600_000;

function input(queues: ActiveLearningInput['taskQueues'], overrides: Partial<ActiveLearningInput> = {}): ActiveLearningInput {
  return {
    datasetId: 'ds-logic',
    model: { arch: 'Unet', encoder: 'resnet18', encoderDepth: 3, widthScale: 0.0625 },
    dropout: { strategy: 'head', rate: 0.3 },
    hyper: { epochs: 2, batchSize: 4, learningRate: 1e-3, seed: 7, augment: false },
    acquisition: 'mfe', reduce: 'mean', mcSamples: 4, mcMode: 'fast',
    labelsPerPhase: 3, targetIoU: 0.9, maxLabelled: 1000, maxPhases: 3, oracle: true, reminderEveryMs: DAY_MS,
    taskQueues: queues,
    ...overrides,
  };
}

const rising: AlScript = { initial: 4, pool: 20, valIoU: (p) => 0.5 + 0.1 * p, testIoU: (p) => 0.52 + 0.1 * p };

/** A checked label of `id` in `phase`, as the submission path would hand it to the run. */
function label(runId: string, phase: number, id: string, hash = `hash-${id}`): SubmittedLabel {
  return { id, maskKey: runKeys.phaseLabel(runId, phase, id, hash.padEnd(16, '0')), contentHash: hash, foreground: 50, source: 'test' };
}

/** The validator's reason for refusing an update (fails if the update was accepted). */
async function refusal(update: Promise<unknown>): Promise<string> {
  try {
    await update;
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) return (error.cause as Error).message;
    throw error;
  }
  throw new Error('the update was accepted');
}

describe('active learning (workflow logic, stubbed activities)', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await timeSkippingEnv();
  });

  afterAll(async () => {
    await env?.teardown();
  });

  it('runs each phase as train the pair → evaluate → score in shards → select → label → merge, continuing as new', async () => {
    const queues = uniqueQueues('order');
    const world = alWorld(rising);
    const workflowId = `logic-order-${Date.now()}`;
    const { result, firstRunId } = await withWorkers(env, queues, world, async () => {
      const handle = await env.client.workflow.start(activeLearning, { taskQueue: queues.light, workflowId, args: [input(queues, { scoreShardSize: 64 })] });
      return { result: await handle.result(), firstRunId: handle.firstExecutionRunId };
    });
    expect(result.stopReason).toBe('max-phases');
    expect(result.history.map((h) => [h.phase, h.labelled])).toEqual([[0, 4], [1, 7], [2, 10]]);
    expect(result.history.map((h) => h.valIoU)).toEqual([0.5, 0.6, 0.7]);
    const phase0 = world.calls.slice(0, world.calls.indexOf('writeRunCheckpoint:1') + 1);
    expect(phase0.slice(0, 1)).toEqual(['initActiveLearning:ds-logic']);
    expect(new Set(phase0.slice(1, 3))).toEqual(new Set(['train:seg:0', 'train:unc:0']));
    expect(new Set(phase0.slice(3, 5))).toEqual(new Set(['evaluate:val:0', 'evaluate:test:0']));
    expect(phase0.slice(5)).toEqual(['scorePoolShard:0:0', 'mergeScoreShards:0', 'selectForLabelling:0', 'publishLabellingRequest:0', 'oracleLabels',
      'mergePhaseLabels:0', 'writeRunCheckpoint:1']);
    // The last phase trains and evaluates, then stops: no scoring, no request; its state and report are written.
    expect(new Set(world.calls.slice(-4, -2))).toEqual(new Set(['evaluate:val:2', 'evaluate:test:2']));
    expect(world.calls.slice(-2)).toEqual(['writeRunCheckpoint:2', 'writeActiveLearningReport:max-phases']);
    expect(world.calls.filter((c) => c.startsWith('scorePoolShard'))).toEqual(['scorePoolShard:0:0', 'scorePoolShard:1:0']);
    // One run per phase: the first one continued as new.
    const firstEvents = (await env.client.workflow.getHandle(workflowId, firstRunId).fetchHistory()).events ?? [];
    expect(firstEvents.some((e) => e.workflowExecutionContinuedAsNewEventAttributes)).toBe(true);
  });

  it('stops on the validation split when it reaches the target, never on test; --stop-on test reads test', async () => {
    const script: AlScript = { initial: 4, pool: 20, valIoU: (p) => [0.5, 0.8, 0.95][p], testIoU: () => 0.99 };
    for (const [stopOn, phases] of [[undefined, 3], ['test', 1]] as const) {
      const queues = uniqueQueues('stop');
      const world = alWorld(script);
      const result = await withWorkers(env, queues, world, async () => env.client.workflow.execute(activeLearning, {
        taskQueue: queues.light, workflowId: `logic-stop-${stopOn ?? 'val'}-${Date.now()}`, args: [input(queues, { maxPhases: 10, ...(stopOn ? { stopOn } : {}) })],
      }));
      expect(result.stopReason).toBe('target-reached');
      expect(result.history).toHaveLength(phases);
    }
  });

  it('stops when the labelling budget is spent or the pool is empty, and trains no uncertainty model for random', async () => {
    const budget = uniqueQueues('budget');
    const budgetWorld = alWorld(rising);
    const spent = await withWorkers(env, budget, budgetWorld, async () => env.client.workflow.execute(activeLearning, {
      taskQueue: budget.light, workflowId: `logic-budget-${Date.now()}`, args: [input(budget, { maxPhases: 10, maxLabelled: 9, acquisition: 'random' })],
    }));
    expect(spent.stopReason).toBe('budget-spent');
    // 4 + 3, then 2 (what the budget leaves), then the budget is spent.
    expect(spent.history.map((h) => h.labelled)).toEqual([4, 7, 9]);
    expect(budgetWorld.calls.filter((c) => c.startsWith('train:unc'))).toEqual([]);

    const empty = uniqueQueues('empty');
    const emptied = await withWorkers(env, empty, alWorld({ ...rising, pool: 5 }), async () => env.client.workflow.execute(activeLearning, {
      taskQueue: empty.light, workflowId: `logic-empty-${Date.now()}`, args: [input(empty, { maxPhases: 10 })],
    }));
    expect(emptied.stopReason).toBe('pool-empty');
    expect(emptied.history.map((h) => h.labelled)).toEqual([4, 7, 9]);
  });

  it('waits days for doctors with a reminder a day, takes their masks through the update, refuses what was not asked', async () => {
    const queues = uniqueQueues('doctors');
    const world = alWorld(rising);
    const workflowId = `logic-doctors-${Date.now()}`;
    await withWorkers(env, queues, world, async () => {
      const handle = await env.client.workflow.start(activeLearning, {
        taskQueue: queues.light, workflowId, args: [input(queues, { oracle: false, maxPhases: 2 })],
      });
      let status = await handle.query(statusQuery);
      while (!status.pending) {
        await env.sleep(1000);
        status = await handle.query(statusQuery);
      }
      expect(status.pending.remaining).toEqual([poolId(0), poolId(1), poolId(2)]);
      expect(world.calls).toContain('predictMasks:0');
      await env.sleep(2 * DAY_MS + 3600_000);
      status = await handle.query(statusQuery);
      expect(status.pending?.reminders).toBe(2);
      expect(world.calls.filter((c) => c.startsWith('recordReminder:0'))).toEqual(['recordReminder:0:1', 'recordReminder:0:2']);

      // Not requested, or for another phase: refused by the validator, nothing recorded.
      expect(await refusal(handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [label(workflowId, 0, 'not-asked')] }] })))
        .toBe("'not-asked' was not requested in phase 0");
      expect(await refusal(handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 1, items: [label(workflowId, 1, poolId(0))] }] })))
        .toMatch(/^not waiting: the submission is for phase 1, but phase 0 is waiting/);
      const first = await handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [label(workflowId, 0, poolId(0)), label(workflowId, 0, poolId(1))] }] });
      expect(first).toMatchObject({ accepted: [poolId(0), poolId(1)], remaining: [poolId(2)] });
      // The same mask again changes nothing; a new mask replaces the earlier one.
      expect(await refusal(handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [label(workflowId, 0, poolId(0))] }] })))
        .toMatch(/^already received/);
      const replaced = await handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [label(workflowId, 0, poolId(1), 'hash-other')] }] });
      expect(replaced.replaced).toEqual([poolId(1)]);
      await handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [label(workflowId, 0, poolId(2))] }] });
      const result = await handle.result();
      expect(result.stopReason).toBe('max-phases');
      expect(result.history[0]).toMatchObject({ received: 3, replaced: 1 });
    });
  });

  it('asks again for a mask that changed after it was accepted, and merges once it is sent again', async () => {
    const queues = uniqueQueues('changed');
    const world = alWorld({ ...rising, changedAfterAcceptance: [poolId(1)] });
    const workflowId = `logic-changed-${Date.now()}`;
    await withWorkers(env, queues, world, async () => {
      const handle = await env.client.workflow.start(activeLearning, {
        taskQueue: queues.light, workflowId, args: [input(queues, { oracle: false, maxPhases: 2 })],
      });
      while (!(await handle.query(statusQuery)).pending) await env.sleep(1000);
      await handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [0, 1, 2].map((i) => label(workflowId, 0, poolId(i))) }] });
      let status = await handle.query(statusQuery);
      while (!(status.pending && !status.pending.closed && status.pending.remaining.length === 1)) {
        await env.sleep(1000);
        status = await handle.query(statusQuery);
      }
      expect(status.pending!.remaining).toEqual([poolId(1)]);
      expect(status.invalid.map((i) => i.id)).toEqual([poolId(1)]);
      await handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [label(workflowId, 0, poolId(1), 'hash-resent')] }] });
      const result = await handle.result();
      expect(result.history[0].received).toBe(3);
      expect(world.calls.filter((c) => c === 'mergePhaseLabels:0')).toHaveLength(2);
    });
  });

  it('a stop request while waiting merges the masks that came and ends; with none, ends at once', async () => {
    for (const send of [1, 0]) {
      const queues = uniqueQueues('stop-wait');
      const world = alWorld(rising);
      const workflowId = `logic-stopwait-${send}-${Date.now()}`;
      const result = await withWorkers(env, queues, world, async () => {
        const handle = await env.client.workflow.start(activeLearning, {
          taskQueue: queues.light, workflowId, args: [input(queues, { oracle: false, maxPhases: 5 })],
        });
        while (!(await handle.query(statusQuery)).pending) await env.sleep(1000);
        if (send) await handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [label(workflowId, 0, poolId(0))] }] });
        await handle.signal(stopSignal, { reason: 'test' });
        return handle.result();
      });
      expect(result.stopReason).toBe('stopped');
      expect(world.calls.filter((c) => c.startsWith('mergePhaseLabels'))).toHaveLength(send);
      expect(world.calls.at(-1)).toBe('writeActiveLearningReport:stopped');
    }
  });

  it('with --warm-start, each phase\'s models start from the previous phase\'s, across continue-as-new', async () => {
    const queues = uniqueQueues('warm');
    const world = alWorld(rising);
    const workflowId = `logic-warm-${Date.now()}`;
    await withWorkers(env, queues, world, async () => env.client.workflow.execute(activeLearning, {
      taskQueue: queues.light, workflowId, args: [input(queues, { warmStart: true })],
    }));
    const trained = world.calls.filter((c) => c.startsWith('train:')).sort();
    const model = (kind: string, phase: number) => `runs/${workflowId}/phase-${phase}/model-${kind}`;
    expect(trained).toEqual([
      'train:seg:0', `train:seg:1:from:${model('seg', 0)}`, `train:seg:2:from:${model('seg', 1)}`,
      'train:unc:0', `train:unc:1:from:${model('unc', 0)}`, `train:unc:2:from:${model('unc', 1)}`,
    ]);
  });

  it('with --warm-start, a phase whose warm model fell on validation is trained again from scratch, and the better pair is kept', async () => {
    const queues = uniqueQueues('warm-retry');
    // Phase 1's warm model falls (0.3 < phase 0's 0.5): its scratch retry (0.6) is kept, and phase 2 starts from it.
    // Phase 2's warm model falls too (0.4 < 0.6), and its retry is worse still (0.35): the warm pair is kept.
    const world = alWorld({ initial: 4, pool: 20, valIoU: (p) => [0.5, 0.3, 0.4][p], testIoU: (p) => [0.52, 0.31, 0.41][p], scratchIoU: (p) => [0, 0.6, 0.35][p] });
    const workflowId = `logic-warm-retry-${Date.now()}`;
    const result = await withWorkers(env, queues, world, async () => env.client.workflow.execute(activeLearning, {
      taskQueue: queues.light, workflowId, args: [input(queues, { warmStart: true })],
    }));
    const model = (kind: string, phase: number, scratch = false) => `runs/${workflowId}/phase-${phase}/model-${kind}${scratch ? '-scratch' : ''}`;
    expect(world.calls.filter((c) => c.startsWith('train:seg'))).toEqual([
      'train:seg:0', `train:seg:1:from:${model('seg', 0)}`, 'train:seg:1:scratch', `train:seg:2:from:${model('seg', 1, true)}`, 'train:seg:2:scratch',
    ]);
    expect(world.calls.filter((c) => c.startsWith('train:unc'))).toContain(`train:unc:2:from:${model('unc', 1, true)}`);
    expect(result.history.map((h) => [h.phase, h.valIoU, h.iou, h.warmRetry?.kept])).toEqual([
      [0, 0.5, 0.52, undefined], [1, 0.6, 0.6, 'scratch'], [2, 0.4, 0.41, 'warm'],
    ]);
    expect(result.history[1].warmRetry).toEqual({ warmValIoU: 0.3, scratchValIoU: 0.6, kept: 'scratch' });
    // Without warm starts nothing is retried.
    const plainQueues = uniqueQueues('no-retry');
    const plain = alWorld({ initial: 4, pool: 20, valIoU: (p) => [0.5, 0.3, 0.4][p], testIoU: (p) => [0.52, 0.31, 0.41][p], scratchIoU: () => 0.9 });
    await withWorkers(env, plainQueues, plain, async () => env.client.workflow.execute(activeLearning, {
      taskQueue: plainQueues.light, workflowId: `${workflowId}-plain`, args: [input(plainQueues)],
    }));
    expect(plain.calls.filter((c) => c.startsWith('train:seg'))).toEqual(['train:seg:0', 'train:seg:1', 'train:seg:2']);
  });

  it('with --semi-supervised pseudo-label, phase n+1\'s segmentation model trains on phase n\'s pseudo-labels (never on frames just requested), also with random', async () => {
    const queues = uniqueQueues('pseudo');
    const world = alWorld(rising);
    const workflowId = `logic-pseudo-${Date.now()}`;
    const result = await withWorkers(env, queues, world, async () => env.client.workflow.execute(activeLearning, {
      taskQueue: queues.light, workflowId, args: [input(queues, { acquisition: 'random', semiSupervised: 'pseudo-label' })],
    }));
    const pseudo = (phase: number) => `runs/${workflowId}/phase-${phase}/pseudo-labels.json`;
    // Random needs no uncertainty model to select, but pseudo-labelling does: both models train every phase.
    expect(world.calls.filter((c) => c.startsWith('train:')).sort()).toEqual([
      'train:seg:0', `train:seg:1:extra:${pseudo(0)}`, `train:seg:2:extra:${pseudo(1)}`, 'train:unc:0', 'train:unc:1', 'train:unc:2',
    ]);
    // With random selection the sureness is measured with mfe; the requested frames are excluded; at most the labelled count.
    expect(world.calls.filter((c) => c.startsWith('makePseudoLabels'))).toEqual([
      `makePseudoLabels:0:mfe:exclude:${[0, 1, 2].map(poolId).join(',')}:max:4`,
      `makePseudoLabels:1:mfe:exclude:${[3, 4, 5].map(poolId).join(',')}:max:7`,
    ]);
    expect(result.history.map((h) => h.pseudoLabels)).toEqual([undefined, 2, 3]);
    // Without the option nothing of it happens: random trains no uncertainty model and makes no pseudo-labels.
    const plainQueues = uniqueQueues('plain');
    const plain = alWorld(rising);
    await withWorkers(env, plainQueues, plain, async () => env.client.workflow.execute(activeLearning, {
      taskQueue: plainQueues.light, workflowId: `logic-plain-${Date.now()}`, args: [input(plainQueues, { acquisition: 'random' })],
    }));
    expect(plain.calls.filter((c) => c.startsWith('train:')).sort()).toEqual(['train:seg:0', 'train:seg:1', 'train:seg:2']);
    expect(plain.calls.some((c) => c.startsWith('makePseudoLabels'))).toBe(false);
  });

  it('with --semi-supervised mean-teacher, each phase\'s segmentation model (not the uncertainty model) trains with that phase\'s pool as its unlabelled frames', async () => {
    const queues = uniqueQueues('mean-teacher');
    const world = alWorld(rising);
    await withWorkers(env, queues, world, async () => env.client.workflow.execute(activeLearning, {
      taskQueue: queues.light, workflowId: `logic-mt-${Date.now()}`, args: [input(queues, { semiSupervised: 'mean-teacher' })],
    }));
    expect(world.calls.filter((c) => c.startsWith('train:')).sort()).toEqual([
      'train:seg:0:unlabelled:pool/phase-0', 'train:seg:1:unlabelled:pool/phase-1', 'train:seg:2:unlabelled:pool/phase-2', 'train:unc:0', 'train:unc:1', 'train:unc:2',
    ]);
    expect(world.calls.some((c) => c.startsWith('makePseudoLabels'))).toBe(false);
  });

  it('with the strategy auto, the first requests are split among the candidates, and the one whose frames the model got most wrong selects after', async () => {
    const queues = uniqueQueues('auto');
    const world = alWorld({ ...rising, pickError: (name) => (name === 'mfe:badge' ? 0.6 : name === 'random' ? 0.2 : 0.4) });
    const candidates = [
      { name: 'random', acquisition: 'random', selection: 'top-k' }, { name: 'mfe:clasp', acquisition: 'mfe', selection: 'clasp' },
      { name: 'mfe:badge', acquisition: 'mfe', selection: 'badge' },
    ] as const;
    const result = await withWorkers(env, queues, world, async () => env.client.workflow.execute(activeLearning, {
      taskQueue: queues.light, workflowId: `logic-auto-${Date.now()}`,
      args: [input(queues, { labelsPerPhase: 4, maxPhases: 4, auto: { candidates: candidates.map((c) => ({ ...c })), explorePhases: 2 } })],
    }));
    // K = 4 over 3 candidates: one extra frame each phase, to a candidate that rotates with the phase.
    expect(world.calls.filter((c) => c.startsWith('selectForLabelling'))).toEqual([
      'selectForLabelling:0:random=2,mfe:clasp=1,mfe:badge=1', 'selectForLabelling:1:mfe:clasp=2,mfe:badge=1,random=1', 'selectForLabelling:2:mfe:badge=4',
    ]);
    // One scoring gives every column the candidates read; after the choice, only the chosen one's.
    expect(world.calls.filter((c) => c.startsWith('scorePoolShard'))).toEqual([
      'scorePoolShard:0:0:mfe:random+mfe:features:areas', 'scorePoolShard:1:0:mfe:mfe+random:features:areas', 'scorePoolShard:2:0:mfe:mfe:features',
    ]);
    // Each explored phase's picks are judged by that phase's segmentation model once their masks are merged.
    expect(world.calls.filter((c) => c.startsWith('judge'))).toEqual(['judge:0:random=2,mfe:clasp=1,mfe:badge=1', 'judge:1:mfe:clasp=2,mfe:badge=1,random=1']);
    expect(result.history.map((h) => h.auto)).toEqual([
      { picked: { random: 2, 'mfe:clasp': 1, 'mfe:badge': 1 }, error: { random: 0.2, 'mfe:clasp': 0.4, 'mfe:badge': 0.6 } },
      { picked: { 'mfe:clasp': 2, 'mfe:badge': 1, random: 1 }, error: { random: 0.2, 'mfe:clasp': 0.4, 'mfe:badge': 0.6 } },
      { selectedBy: 'mfe:badge' },
      undefined,
    ]);
  });

  describe('a dataset without enough masks', () => {
    const cold: AlScript = {
      ...rising,
      bootstrap: {
        unlabelled: 'ds-unlabelled', labelled: 'ds-labelled',
        frames: [{ id: 'v1', purpose: 'validation' }, { id: 't1', purpose: 'test' }, { id: 't2', purpose: 'test' }, { id: 'i1', purpose: 'initial' }, { id: 'i2', purpose: 'initial' }],
        reserve: [{ id: 'i3', purpose: 'initial' }, { id: 't3', purpose: 'test' }],
      },
    };

    it('asks first for the validation, test and initial frames, replaces an unusable one from its reserve, then trains on the dataset they make', async () => {
      const queues = uniqueQueues('cold');
      const world = alWorld(cold);
      const workflowId = `logic-cold-${Date.now()}`;
      const result = await withWorkers(env, queues, world, async () => {
        const handle = await env.client.workflow.start(activeLearning, {
          taskQueue: queues.light, workflowId, args: [input(queues, { datasetId: 'ds-unlabelled', oracle: false, maxPhases: 1 })],
        });
        let status = await handle.query(statusQuery);
        while (!status.pending) {
          await env.sleep(1000);
          status = await handle.query(statusQuery);
        }
        expect(status.pending).toMatchObject({ phase: 0, requested: 5, purposes: { validation: 1, test: 2, initial: 2 } });
        expect(status.lastIoU).toBeUndefined();
        const masks = ['v1', 't1', 'i1', 'i2'].map((id) => label(workflowId, 0, id));
        const unusable: SubmittedLabel = { id: 't2', maskKey: '', contentHash: UNUSABLE_FRAME, foreground: 0, unusable: true, source: 'test' };
        const outcome = await handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [...masks, unusable] }] });
        expect(outcome.accepted.sort()).toEqual(['i1', 'i2', 't1', 't2', 'v1']);
        // The unusable test frame is replaced by the reserve's test frame (not the initial one before it).
        status = await handle.query(statusQuery);
        while (status.pending?.remaining.join() !== 't3') {
          await env.sleep(1000);
          status = await handle.query(statusQuery);
        }
        expect(status.pending!.unusable).toEqual(['t2']);
        expect(status.pending!.purposes).toEqual({ validation: 1, test: 3, initial: 2 });
        // A mask for an unusable frame it marked cannot ride along with the mark.
        expect(await refusal(handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [{ ...unusable, maskKey: 'x' }] }] })))
          .toMatch(/cannot carry a mask/);
        await handle.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: [label(workflowId, 0, 't3')] }] });
        return handle.result();
      });
      expect(world.calls).toContain('extendLabellingRequest:t3');
      expect(world.calls).toContain('completeBootstrap:i1,i2,t1,t3,v1|unusable:t2');
      // The run went on, as new, on the labelled dataset, from phase 1; nothing trained before the masks came.
      expect(world.calls.indexOf('initActiveLearning:ds-labelled:from-phase-1')).toBeGreaterThan(world.calls.findIndex((c) => c.startsWith('completeBootstrap')));
      expect(world.calls.findIndex((c) => c.startsWith('train:'))).toBeGreaterThan(world.calls.findIndex((c) => c.startsWith('completeBootstrap')));
      expect(result.stopReason).toBe('max-phases');
      expect(result.history.map((h) => h.phase)).toEqual([1]);
    });

    it('refuses oracle mode on it, and a pipeline gathers the masks in its first child before the rest runs on the labelled dataset', async () => {
      const oracleQueues = uniqueQueues('cold-oracle');
      await expect(withWorkers(env, oracleQueues, alWorld(cold), async () => env.client.workflow.execute(activeLearning, {
        taskQueue: oracleQueues.light, workflowId: `logic-cold-oracle-${Date.now()}`, args: [input(oracleQueues, { datasetId: 'ds-unlabelled' })],
      }))).rejects.toThrow();

      const queues = uniqueQueues('cold-pipeline');
      const world = alWorld(cold);
      const pipelineId = `logic-cold-pipeline-${Date.now()}`;
      const result = await withWorkers(env, queues, world, async () => {
        const handle = await env.client.workflow.start(pipeline, {
          taskQueue: queues.light, workflowId: pipelineId, args: [{ activeLearning: input(queues, { datasetId: 'ds-unlabelled', oracle: false, maxPhases: 1 }) }],
        });
        const child = env.client.workflow.getHandle(`${pipelineId}-al`);
        let status = await child.query(statusQuery).catch(() => undefined);
        while (!status?.pending) {
          await env.sleep(1000);
          status = await child.query(statusQuery).catch(() => undefined);
        }
        await child.executeUpdate(submitLabelsUpdate, { args: [{ phase: 0, items: ['v1', 't1', 't2', 'i1', 'i2'].map((id) => label(`${pipelineId}-al`, 0, id)) }] });
        return handle.result();
      });
      expect(result.labelling).toMatchObject({ stopReason: 'labelled', labelledDatasetId: 'ds-labelled' });
      expect(result.activeLearning?.history.map((h) => h.phase)).toEqual([1]);
      expect(world.calls[0]).toBe('datasetNeedsLabels:ds-unlabelled');
      expect(world.calls.filter((c) => c.startsWith('initActiveLearning'))).toEqual(['initActiveLearning:ds-unlabelled', 'initActiveLearning:ds-labelled:from-phase-1']);
    });
  });
});
