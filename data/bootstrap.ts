/**
 * What a run that starts without enough masks asks doctors for first (README, "Starting from unlabelled studies"):
 *   - validation and test: `evalFramesPerVideo` frames of every held-out video that has no labelled frame, spread
 *     over the video (one frame per stratum of its frames in order, at a seeded place within the stratum);
 *   - initial: enough frames of the training videos to make `initialCount` labelled ones, spread over as many
 *     videos as possible (round-robin over shuffled videos, each video's frames in a spread order).
 * Each purpose keeps reserve candidates (the same video's other frames; further initial frames) that replace
 * frames doctors mark unusable. Pure: the same inputs and seed give the same plan.
 */
import type { LabelPurpose } from '../contracts/names';
import { Random } from './random';

export interface BootstrapItem {
  id: string;
  group: string;
  labelled: boolean;
}

export interface BootstrapSplits {
  initial: readonly string[];
  pool: readonly string[];
  test: readonly string[];
  val?: readonly string[];
  testUnlabelled?: readonly string[];
  valUnlabelled?: readonly string[];
}

export interface BootstrapOptions {
  evalFramesPerVideo: number;
  initialCount: number;
  seed: number;
}

export interface PlannedFrame {
  id: string;
  purpose: LabelPurpose;
}

export interface BootstrapPlan {
  /** In the order doctors should label them: validation, test, initial. */
  frames: PlannedFrame[];
  reserve: PlannedFrame[];
}

/** Frames of a video in order (ids sort in frame order), then spread: `count` from strata of equal size. */
function spreadPick(ids: readonly string[], count: number, rng: Random): { picked: string[]; rest: string[] } {
  const sorted = [...ids].sort();
  const n = Math.min(count, sorted.length);
  const picked: string[] = [];
  for (let s = 0; s < n; s++) {
    const from = Math.floor((s * sorted.length) / n);
    const to = Math.floor(((s + 1) * sorted.length) / n);
    picked.push(sorted[from + rng.int(to - from)]);
  }
  const chosen = new Set(picked);
  return { picked, rest: rng.shuffled(sorted.filter((id) => !chosen.has(id))) };
}

/** A video's frames in an order that spreads over the video: halves, then quarters, … (van der Corput positions). */
function spreadOrder(ids: readonly string[], rng: Random): string[] {
  const sorted = [...ids].sort();
  const offset = rng.next();
  const positions = sorted.map((id, i) => {
    let x = 0;
    for (let bit = 0.5, k = i + 1; k > 0; k >>= 1, bit /= 2) if (k & 1) x += bit;
    return { id, key: (x + offset) % 1 };
  });
  return positions.sort((a, b) => a.key - b.key).map((p) => p.id);
}

function byGroup(ids: readonly string[], groupOf: Map<string, string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const id of ids) {
    const group = groupOf.get(id)!;
    out.set(group, [...(out.get(group) ?? []), id]);
  }
  return out;
}

/** The plan, or undefined when the dataset already has what a run needs. */
export function planBootstrap(items: readonly BootstrapItem[], splits: BootstrapSplits, options: BootstrapOptions): BootstrapPlan | undefined {
  const { evalFramesPerVideo, initialCount, seed } = options;
  if (!(Number.isInteger(evalFramesPerVideo) && evalFramesPerVideo >= 1)) throw new Error(`evalFramesPerVideo must be a whole number ≥ 1, got ${evalFramesPerVideo}.`);
  if (!(Number.isInteger(initialCount) && initialCount >= 1)) throw new Error(`initialCount must be a whole number ≥ 1, got ${initialCount}.`);
  const groupOf = new Map(items.map((i) => [i.id, i.group]));
  const labelled = new Set(items.filter((i) => i.labelled).map((i) => i.id));
  const frames: PlannedFrame[] = [];
  const reserve: PlannedFrame[] = [];

  const heldOut = (purpose: 'validation' | 'test', labelledIds: readonly string[] = [], unlabelledIds: readonly string[] = []) => {
    const covered = new Set(labelledIds.map((id) => groupOf.get(id)));
    const rng = new Random(seed, `bootstrap-${purpose}`);
    for (const [, ids] of [...byGroup(unlabelledIds, groupOf)].filter(([group]) => !covered.has(group)).sort(([a], [b]) => a.localeCompare(b))) {
      const { picked, rest } = spreadPick(ids, evalFramesPerVideo, rng);
      frames.push(...picked.map((id) => ({ id, purpose })));
      reserve.push(...rest.slice(0, evalFramesPerVideo).map((id) => ({ id, purpose })));
    }
  };
  heldOut('validation', splits.val, splits.valUnlabelled);
  heldOut('test', splits.test, splits.testUnlabelled);

  const need = initialCount - splits.initial.length;
  if (need > 0) {
    const rng = new Random(seed, 'bootstrap-initial');
    const candidates = splits.pool.filter((id) => !labelled.has(id));
    const queues = rng.shuffled([...byGroup(candidates, groupOf)].sort(([a], [b]) => a.localeCompare(b))).map(([, ids]) => spreadOrder(ids, rng));
    const order: string[] = [];
    while (queues.some((q) => q.length > 0)) {
      for (const queue of queues) {
        const next = queue.shift();
        if (next !== undefined) order.push(next);
      }
    }
    frames.push(...order.slice(0, need).map((id) => ({ id, purpose: 'initial' as const })));
    reserve.push(...order.slice(need, 2 * need).map((id) => ({ id, purpose: 'initial' as const })));
  }
  return frames.length > 0 ? { frames, reserve } : undefined;
}
