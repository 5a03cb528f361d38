/** Workflow inputs built from CLI options, with the paper's defaults, checked against the model registries. */
import type { ParseArgsConfig } from 'node:util';
import type { ProjectConfig } from '../config';
import { listArchitectures, listEncoders } from '../ml/zoo';
import {
  type AcquisitionName, type ActiveLearningInput, type ArchName, PAPER_SEARCH_SPACE, type SearchInput,
} from '../shared';
import { CliError } from './context';
import { duration, list, num, oneOf, positiveInt, str } from './options';

type Options = NonNullable<ParseArgsConfig['options']>;

export const modelOptions: Options = {
  arch: { type: 'string' }, encoder: { type: 'string' }, depth: { type: 'string' }, width: { type: 'string' },
};

export const alOptions: Options = {
  dataset: { type: 'string' }, id: { type: 'string' }, wait: { type: 'boolean' },
  ...modelOptions,
  dropout: { type: 'string' }, 'dropout-rate': { type: 'string' }, epochs: { type: 'string' }, batch: { type: 'string' },
  lr: { type: 'string' }, seed: { type: 'string' }, 'no-augment': { type: 'boolean' }, acquisition: { type: 'string' },
  reduce: { type: 'string' }, 'mc-samples': { type: 'string' }, 'mc-mode': { type: 'string' }, k: { type: 'string' },
  target: { type: 'string' }, 'max-labelled': { type: 'string' }, 'max-phases': { type: 'string' }, oracle: { type: 'boolean' },
  'max-per-group': { type: 'string' }, reminder: { type: 'string' },
};

export const searchOptions: Options = {
  dataset: { type: 'string' }, id: { type: 'string' }, wait: { type: 'boolean' },
  archs: { type: 'string' }, encoders: { type: 'string' }, lrs: { type: 'string' }, batches: { type: 'string' },
  trials: { type: 'string' }, 'wall-time': { type: 'string' }, concurrency: { type: 'string' }, seed: { type: 'string' },
  'search-epochs': { type: 'string' }, depth: { type: 'string' }, width: { type: 'string' }, 'trials-per-run': { type: 'string' },
  'no-augment': { type: 'boolean' },
};

function checkArch(name: string): ArchName {
  if (!listArchitectures().includes(name as ArchName)) {
    throw new CliError(`unknown architecture '${name}'; choose from ${listArchitectures().join(', ')}`);
  }
  return name as ArchName;
}

function checkEncoder(name: string): string {
  if (!listEncoders().includes(name)) throw new CliError(`unknown encoder '${name}'; \`client.ts models\` lists them`);
  return name;
}

const depthOf = (v: Record<string, unknown>) => num(v, 'depth', 5, (n) => Number.isInteger(n) && n >= 3 && n <= 5, 'an integer from 3 to 5');
const widthOf = (v: Record<string, unknown>) => num(v, 'width', 1, (n) => n > 0 && n <= 1, 'a width scale in (0, 1]');

export function activeLearningInput(v: Record<string, unknown>, config: ProjectConfig): ActiveLearningInput {
  const acquisition = oneOf<AcquisitionName>(v, 'acquisition', ['cfe', 'mfe', 'mi', 'std', 'random'], 'mfe');
  return {
    datasetId: str(v, 'dataset'),
    model: { arch: checkArch(str(v, 'arch', 'Unet')), encoder: checkEncoder(str(v, 'encoder', 'resnet34')), encoderDepth: depthOf(v), widthScale: widthOf(v) },
    dropout: {
      strategy: oneOf(v, 'dropout', ['head', 'decoder'] as const, 'head'),
      rate: num(v, 'dropout-rate', 0.2, (n) => n > 0 && n < 1, 'a rate in (0, 1)'),
    },
    hyper: {
      epochs: num(v, 'epochs', 20, positiveInt, 'a positive integer'),
      batchSize: num(v, 'batch', 8, positiveInt, 'a positive integer'),
      learningRate: num(v, 'lr', 1e-4, (n) => n > 0, 'a positive number'),
      seed: num(v, 'seed', 0, Number.isInteger, 'an integer'),
      augment: !v['no-augment'],
    },
    acquisition,
    reduce: oneOf(v, 'reduce', ['mean', 'sum', 'max'] as const, 'mean'),
    mcSamples: num(v, 'mc-samples', 30, positiveInt, 'a positive integer'),
    mcMode: oneOf(v, 'mc-mode', ['fast', 'naive'] as const, 'fast'),
    labelsPerPhase: num(v, 'k', 50, positiveInt, 'a positive integer'),
    targetIoU: num(v, 'target', 0.87, (n) => n > 0 && n <= 1, 'an IoU in (0, 1]'),
    maxLabelled: num(v, 'max-labelled', 1_000_000, positiveInt, 'a positive integer'),
    maxPhases: num(v, 'max-phases', 20, positiveInt, 'a positive integer'),
    oracle: Boolean(v.oracle),
    maxPerGroup: v['max-per-group'] === undefined ? undefined : num(v, 'max-per-group', 0, positiveInt, 'a positive integer'),
    reminderEveryMs: duration(v, 'reminder', 86_400_000)!,
    taskQueues: config.taskQueues,
  };
}

export function searchInput(v: Record<string, unknown>, config: ProjectConfig): SearchInput {
  const numbers = (name: string, fallback: number[]) => {
    const items = list(v, name);
    if (!items) return fallback;
    return items.map((s) => {
      const n = Number(s);
      if (!(n > 0)) throw new CliError(`--${name}: '${s}' is not a positive number`);
      return n;
    });
  };
  return {
    datasetId: str(v, 'dataset'),
    seed: num(v, 'seed', 0, Number.isInteger, 'an integer'),
    space: {
      archs: (list(v, 'archs') ?? PAPER_SEARCH_SPACE.archs).map(checkArch),
      encoders: (list(v, 'encoders') ?? PAPER_SEARCH_SPACE.encoders).map(checkEncoder),
      learningRates: numbers('lrs', PAPER_SEARCH_SPACE.learningRates),
      batchSizes: numbers('batches', PAPER_SEARCH_SPACE.batchSizes).map((b) => {
        if (!positiveInt(b)) throw new CliError(`--batches: ${b} is not a positive integer`);
        return b;
      }),
    },
    maxTrials: num(v, 'trials', 20, positiveInt, 'a positive integer'),
    maxWallTimeMs: duration(v, 'wall-time'),
    concurrency: num(v, 'concurrency', 1, positiveInt, 'a positive integer'),
    encoderDepth: depthOf(v),
    widthScale: widthOf(v),
    epochs: num(v, 'search-epochs', 20, positiveInt, 'a positive integer'),
    augment: !v['no-augment'],
    trialsPerRun: num(v, 'trials-per-run', 10, positiveInt, 'a positive integer'),
    taskQueues: config.taskQueues,
  };
}
