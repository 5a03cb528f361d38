/**
 * Option groups shared by several commands, each defined once with its default and help text, and the check that
 * rejects options a command would ignore.
 */
import { type Command, Option } from 'commander';
import {
  ACQUISITION_FUNCTIONS, ARCHITECTURES, DEFAULT_OUTAGE_WINDOW_MS, EVALUATION_SPLITS, MC_DROPOUT_STRATEGIES, MC_MODES, PAPER_SEARCH_SPACE,
  PIXEL_REDUCTIONS,
} from '../contracts';
import { UsageError } from './context';
import {
  duration, intIn, listOf, nonNegativeInt, numberIn, oneOf, positiveInt, positiveNumber, integer,
} from './parse';

/** Options given on the command line (not defaults), by their attribute names. */
export function givenOptions(command: Command): string[] {
  return command.options
    .map((option) => option.attributeName())
    .filter((name) => command.getOptionValueSource(name) === 'cli');
}

/** Long flag of an option attribute (`maxLabelled` → `--max-labelled`). */
export function flagOf(command: Command, attribute: string): string {
  return command.options.find((o) => o.attributeName() === attribute)?.long ?? `--${attribute}`;
}

/** Rejects options given on the command line that `allowed` does not list: `why` says when they apply. */
export function rejectUnlessAllowed(command: Command, allowed: readonly string[], why: (flag: string) => string): void {
  const stray = givenOptions(command).filter((name) => !allowed.includes(name));
  if (stray.length > 0) throw new UsageError(why(flagOf(command, stray[0])));
}

export function addRunOptions(command: Command, idPrefix: string): Command {
  return command
    .requiredOption('--dataset <id>', 'dataset id (`dataset list` shows them)')
    .option('--id <id>', `workflow id (default ${idPrefix}-<timestamp>)`)
    .option('--wait', 'follow the run with a progress display until it finishes')
    .option('--json', 'print the started run (and, with --wait, its result) as JSON');
}

export function addSharedTrainingOptions(command: Command): Command {
  return command
    .option('--depth <n>', 'encoder depth, 3–5 (default: the architecture\'s own, 5; PSPNet 3)', intIn(3, 5))
    .option('--width <scale>', 'channel width multiplier in (0, 1]; 1 = the faithful smp structure', numberIn(0, 1, 'a width scale in (0, 1]'), 1)
    .option('--seed <n>', 'seed of sampling, training and selection', integer, 0)
    .option('--no-augment', 'train without the paper\'s augmentations');
}

export function addModelOptions(command: Command): Command {
  return command
    .addOption(new Option('--arch <name>', 'architecture').choices(ARCHITECTURES).default('Unet'))
    .option('--encoder <name>', 'encoder (`models` lists them)', 'resnet34')
    .option('--lr <rate>', 'learning rate', positiveNumber, 1e-4)
    .option('--batch <n>', 'batch size', positiveInt, 8);
}

export function addActiveLearningOptions(command: Command, options: { oracle: boolean } = { oracle: true }): Command {
  command
    .option('--epochs <n>', 'training epochs per phase', positiveInt, 20)
    .addOption(new Option('--dropout <where>', 'dropout placement of the uncertainty model').choices(MC_DROPOUT_STRATEGIES).default('head'))
    .option('--dropout-rate <p>', 'dropout rate in (0, 1)', numberIn(0, 0.999999, 'a rate in (0, 1)'), 0.2)
    .addOption(new Option('--reduce <how>', 'per-image reduction of pixel uncertainty').choices(PIXEL_REDUCTIONS).default('mean'))
    .option('--mc-samples <T>', 'Monte Carlo dropout samples', positiveInt, 30)
    .addOption(new Option('--mc-mode <mode>', 'fast: the deterministic prefix once, the dropout tail T times').choices(MC_MODES).default('fast'))
    .option('--k <n>', 'images requested per phase', positiveInt, 50)
    .option('--target <iou>', 'stop when the segmentation model\'s IoU reaches this', numberIn(0, 1, 'an IoU in (0, 1]'), 0.87)
    .option('--max-labelled <n>', 'stop when this many images are labelled', positiveInt)
    .option('--max-phases <n>', 'stop after this many phases', positiveInt, 20)
    .option('--max-per-group <n>', 'at most this many frames of one video per request', positiveInt)
    .addOption(new Option('--stop-on <split>', 'the split the target IoU is read on (validation when the dataset has one)').choices(EVALUATION_SPLITS).default('validation'))
    .option('--outage-window <duration>', 'how long storage, Temporal or workers may be unreachable before the run gives up', duration, DEFAULT_OUTAGE_WINDOW_MS);
  if (options.oracle) {
    command
      .option('--oracle', 'answer each request from the dataset\'s own masks (benchmark mode)')
      .option('--reminder <duration>', 'mark a request overdue after this long, again each period', duration, 86_400_000)
      .option('--mask-label <n>', 'grey value of the structure when doctors send multi-label masks', positiveInt)
      .option('--label-studio <project>', 'push each request to this Label Studio project (created if missing; needs LABEL_STUDIO_URL and _TOKEN on the worker)');
  }
  return command;
}

export function addAcquisitionOption(command: Command): Command {
  return command.addOption(new Option('--acquisition <fn>', 'acquisition function').choices(ACQUISITION_FUNCTIONS).default('mfe'));
}

export function addAcquisitionsOption(command: Command): Command {
  return command.option('--acquisitions <list>', `acquisition functions to compare (of ${ACQUISITION_FUNCTIONS.join(', ')})`,
    listOf(oneOf(ACQUISITION_FUNCTIONS)), ['mfe', 'random']);
}

export function addSearchOptions(command: Command): Command {
  return command
    .option('--archs <list>', 'architectures to search (default: all 9)', listOf(oneOf(ARCHITECTURES)), [...PAPER_SEARCH_SPACE.archs])
    .option('--encoders <list>', 'encoders to search (default: the paper\'s 10)', listOf((s) => s), [...PAPER_SEARCH_SPACE.encoders])
    .option('--lrs <list>', 'learning rates to search', listOf(positiveNumber), [...PAPER_SEARCH_SPACE.learningRates])
    .option('--batches <list>', 'batch sizes to search', listOf(positiveInt), [...PAPER_SEARCH_SPACE.batchSizes])
    .option('--trials <n>', 'trials to run', positiveInt, 20)
    .option('--wall-time <duration>', 'no trial starts after this much time (e.g. 48h)', duration)
    .option('--concurrency <n>', 'trials in flight at once', positiveInt, 1)
    .option('--search-epochs <n>', 'training epochs per trial', positiveInt, 20)
    .option('--trials-per-run <n>', 'continue-as-new period of the search workflow', positiveInt, 10);
}

export { nonNegativeInt };
