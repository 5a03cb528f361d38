/**
 * Option groups shared by several commands, each defined once with its default and help text, and the check that
 * rejects options a command would ignore.
 */
import fs from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  ACQUISITION_FUNCTIONS, ARCHITECTURES, DEFAULT_BETA, DEFAULT_OUTAGE_WINDOW_MS, EVALUATION_SPLITS, LR_SCHEDULES, MC_DROPOUT_STRATEGIES, MC_MODES,
  DEFAULT_AUTO_CANDIDATES, DEFAULT_AUTO_PHASES, DEFAULT_PSEUDO_LABEL_IOU, DEFAULT_RUN_ENGINE, parseStrategy, PIXEL_REDUCTIONS, PREDICT_ENGINES, SEMI_SUPERVISED_MODES, SEARCH_SCHEDULERS, SEARCH_SPACES, SELECTION_MODES, type Strategy,
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
    .option('--epochs <n>', 'training epochs per phase (the paper: 30)', positiveInt, 30)
    .addOption(new Option('--lr-schedule <name>', 'learning rate over a phase\'s epochs: constant, cosine to 0, or nnU-Net\'s poly').choices(LR_SCHEDULES).default('constant'))
    .option('--early-stopping <epochs>', 'end a phase\'s training after this many epochs without a validation improvement (the best epoch is kept)', positiveInt)
    .option('--warm-start', 'each phase\'s models start from the previous phase\'s (the default: measured better, README "Starting points")')
    .option('--no-warm-start', 'each phase\'s models start from scratch (or from --encoder-weights / --init-weights) instead')
    .addOption(new Option('--semi-supervised <mode>', 'pseudo-label: the next phase also trains on the segmentation model\'s masks of the pool frames the uncertainty model is sure about (sure as measured on validation)')
      .choices(SEMI_SUPERVISED_MODES).default('none'))
    .option('--pseudo-label-iou <iou>', 'pseudo-labels: the mean validation IoU the frames at or below the uncertainty threshold must reach', numberIn(0, 1, 'an IoU in (0, 1]'), DEFAULT_PSEUDO_LABEL_IOU)
    .addOption(new Option('--dropout <where>', 'dropout placement of the uncertainty model').choices(MC_DROPOUT_STRATEGIES).default('head'))
    .option('--dropout-rate <p>', 'dropout rate in (0, 1)', numberIn(0, 0.999999, 'a rate in (0, 1)'), 0.2)
    .addOption(new Option('--reduce <how>', 'per-image reduction of pixel uncertainty').choices(PIXEL_REDUCTIONS).default('mean'))
    .option('--mc-samples <T>', 'Monte Carlo dropout samples', positiveInt, 30)
    .addOption(new Option('--mc-mode <mode>', 'fast: the deterministic prefix once, the dropout tail T times').choices(MC_MODES).default('fast'))
    .addOption(new Option('--engine <engine>', 'what evaluates on validation/test and runs fast MC\'s deterministic prefix: ONNX Runtime on the trained model converted in-process ' +
      'or tfjs (the default: README "Engines of a run"); training is tfjs either way').choices(PREDICT_ENGINES).default(DEFAULT_RUN_ENGINE))
    .option('--k <n>', 'images requested per phase', positiveInt, 50)
    .option('--target <iou>', 'stop when the segmentation model\'s IoU reaches this', numberIn(0, 1, 'an IoU in (0, 1]'), 0.87)
    .option('--max-labelled <n>', 'stop when this many images are labelled', positiveInt)
    .option('--max-phases <n>', 'stop after this many phases', positiveInt, 20)
    .option('--max-per-group <n>', 'at most this many frames of one video per request', positiveInt)
    .option('--auto-candidates <list>', 'the strategy auto: the strategies it tries, <function>[:<selection>] each', listOf((s) => s), [...DEFAULT_AUTO_CANDIDATES])
    .option('--auto-phases <n>', 'the strategy auto: phases whose requests are split among the candidates before it chooses', positiveInt, DEFAULT_AUTO_PHASES)
    .addOption(new Option('--stop-on <split>', 'the split the target IoU is read on (validation when the dataset has one)').choices(EVALUATION_SPLITS).default('validation'))
    .addOption(new Option('--outage-window <duration>', 'how long storage, Temporal or workers may be unreachable before the run gives up')
      .argParser(duration).default(DEFAULT_OUTAGE_WINDOW_MS, '6h'));
  if (options.oracle) {
    command
      .option('--oracle', 'answer each request from the dataset\'s own masks (benchmark mode)')
      .addOption(new Option('--reminder <duration>', 'mark a request overdue after this long, again each period').argParser(duration).default(86_400_000, '1d'))
      .option('--mask-label <n>', 'grey value of the structure when doctors send multi-label masks', positiveInt)
      .option('--label-studio <project>', 'push each request to this Label Studio project (created if missing; needs LABEL_STUDIO_URL and _TOKEN on the worker)')
      .option('--initial <n>', 'a dataset without enough masks: initial training frames to ask for (default: the dataset\'s initial set, or 40 when it has none)', positiveInt)
      .option('--eval-frames-per-video <n>', 'a dataset without enough masks: frames to ask for per validation or test video that has none', positiveInt, 2);
  }
  return command;
}

export function addAcquisitionOption(command: Command): Command {
  return command.addOption(new Option('--acquisition <fn>', 'acquisition function').choices(ACQUISITION_FUNCTIONS).default('mfe'));
}

/** `<function>[:<selection>]` → a strategy, or a usage error saying what is wrong. */
function strategyOption(value: string): Strategy {
  const parsed = parseStrategy(value);
  if ('error' in parsed) throw new InvalidArgumentError(`${parsed.error}.`);
  return parsed;
}

export function addStrategiesOptions(command: Command): Command {
  return command
    .addOption(new Option('--strategies <list>', `strategies to compare: <function>[:<selection>][+pseudo-label] or auto[+pseudo-label], functions ${ACQUISITION_FUNCTIONS.join(', ')}, ` +
      `selections ${SELECTION_MODES.join(', ')} (e.g. mfe,random,random:stratified,mfe:clasp+pseudo-label); compared with random`)
      .argParser(listOf(strategyOption)).default(['mfe', 'random'].map(strategyOption), 'mfe,random'))
    // Earlier releases' flag: say what replaced it rather than "unknown option".
    .addOption(new Option('--acquisitions <list>').hideHelp().argParser((value: string): never => {
      throw new InvalidArgumentError(`--acquisitions is now --strategies (e.g. --strategies ${value}; add :stratified or :stochastic to a function to change how the batch is picked).`);
    }))
    .option('--seeds <n>', 'seeds of the paired comparison (each its own initial set and training seeds; nnActive uses 4)', positiveInt, 4)
    .option('--beta <b>', 'stochastic selection: probability ∝ score^beta', numberIn(0, 100, 'a number in [0, 100]', true), DEFAULT_BETA);
}

export function addSelectionOptions(command: Command): Command {
  return command
    .addOption(new Option('--selection <mode>', 'how the batch is chosen from the scores').choices(SELECTION_MODES).default('top-k'))
    .option('--auto', 'the strategy auto: split the first --auto-phases requests among --auto-candidates, then continue with the one whose frames the model got most wrong (instead of --acquisition and --selection)')
    .option('--beta <b>', 'stochastic selection: probability ∝ score^beta', numberIn(0, 100, 'a number in [0, 100]', true), DEFAULT_BETA);
}

export function addSearchOptions(command: Command): Command {
  return command
    .addOption(new Option('--space <name>', 'default: 9 architectures × 10 encoders × the paper\'s 6 learning rates × 3 batch sizes; paper: its 46 encoders (7,452 configurations)')
      .choices(Object.keys(SEARCH_SPACES)).default('default'))
    .option('--archs <list>', 'architectures to search (default: the space\'s)', listOf(oneOf(ARCHITECTURES)))
    .option('--encoders <list>', 'encoders to search (default: the space\'s)', listOf((s) => s))
    .option('--lrs <list>', 'learning rates to search (default: the space\'s)', listOf(positiveNumber))
    .option('--batches <list>', 'batch sizes to search (default: the space\'s)', listOf(positiveInt))
    .addOption(new Option('--scheduler <name>', 'random: every configuration trains --search-epochs; asha: successive halving over epochs').choices(SEARCH_SCHEDULERS).default('random'))
    .option('--eta <n>', 'asha: the top 1/eta of a rung is promoted', numberIn(1, 100, 'a number above 1'), 3)
    .option('--min-epochs <n>', 'asha: epochs of the first rung', positiveInt, 1)
    .option('--max-epochs <n>', 'asha: epochs of the last rung (default --search-epochs)', positiveInt)
    .option('--epoch-budget <n>', 'stop starting work once this many epochs are trained in all', positiveInt)
    .option('--trials <n>', 'configurations to try at most', positiveInt, 20)
    .option('--wall-time <duration>', 'no trial starts after this much time (e.g. 48h)', duration)
    .option('--concurrency <n>', 'trials in flight at once', positiveInt, 1)
    .option('--search-epochs <n>', 'training epochs per trial', positiveInt, 20)
    .option('--trials-per-run <n>', 'continue-as-new period of the search workflow', positiveInt, 10);
}

export { nonNegativeInt };
