/**
 * Every list of choices the project offers, defined once. Types are derived from the arrays, and the predicates
 * narrow unknown input (CLI options, workflow payloads, HTTP bodies) to them. Pure: imported by workflow code, the
 * ML library, the activities and the CLI alike.
 */

function member<T extends string>(list: readonly T[]) {
  return (value: unknown): value is T => typeof value === 'string' && (list as readonly string[]).includes(value);
}

/** segmentation_models_pytorch architecture names. */
export const ARCHITECTURES = ['Unet', 'UnetPlusPlus', 'Linknet', 'FPN', 'PSPNet', 'PAN', 'DeepLabV3', 'DeepLabV3Plus', 'MAnet'] as const;
export type ArchName = (typeof ARCHITECTURES)[number];
export const isArchName = member(ARCHITECTURES);

/** Uncertainty functions over T Monte Carlo dropout samples (formulas in `ml/acquisition.ts`). */
export const UNCERTAINTY_FUNCTIONS = ['cfe', 'mfe', 'mi', 'std'] as const;
export type UncertaintyFunction = (typeof UNCERTAINTY_FUNCTIONS)[number];
export const isUncertaintyFunction = member(UNCERTAINTY_FUNCTIONS);

/**
 * What computes a prediction's probabilities: TensorFlow.js (the trained model itself), or ONNX Runtime on the model
 * converted in-process by `export/onnx` (`onnxruntime-node`, CPU; CUDA on hosts where it is built for it). Same
 * probabilities within 1e-4; which is faster depends on the model and the host (`scripts/bench-torch.ts`).
 */
export const PREDICT_ENGINES = ['tf', 'onnx'] as const;
export type PredictEngine = (typeof PREDICT_ENGINES)[number];
export const isPredictEngine = member(PREDICT_ENGINES);
/**
 * The engine of a new request when none is asked for: ONNX Runtime, measured faster on the development machine
 * (bench-torch, quiet: 1.46× PyTorch's inference img/s for Unet-resnet34 against tfjs' 1.05×, 1.43× for
 * PAN-regnety_120 against 1.00×). New requests always record their engine.
 */
export const DEFAULT_PREDICT_ENGINE: PredictEngine = 'onnx';

/**
 * The engine of a new active-learning run's evaluation and pool scoring when none is asked for (`al`, `pipeline`,
 * `benchmark start --engine`): tfjs, because fast MC scoring with its prefix in ONNX Runtime measured slower than all
 * in tfjs on the busy development machine (bench-mc, alternating in one process, best of 2 at load 7–11: 0.64× with
 * `head` dropout, 0.80× with `decoder`), though a plain forward pass (evaluation) was faster (1.06×, 1.67×); README
 * "Engines of a run". Runs record their engine either way.
 */
export const DEFAULT_RUN_ENGINE: PredictEngine = 'tf';

/**
 * The engine of a request or run configuration recorded without one: `tf`, the only engine there was before
 * requests recorded it. Readers of recorded inputs go through this, never through the default of new ones.
 */
export function recordedEngine(engine: PredictEngine | undefined): PredictEngine {
  return engine ?? 'tf';
}

/**
 * ONNX Runtime's execution provider for `--engine onnx` (`ONNX_PROVIDER`): the CPU, or CUDA on a GPU host whose
 * onnxruntime-node was installed with its CUDA binaries (`ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node`).
 */
export const ONNX_PROVIDERS = ['cpu', 'cuda'] as const;
export type OnnxProvider = (typeof ONNX_PROVIDERS)[number];
export const isOnnxProvider = member(ONNX_PROVIDERS);

/** Acquisition functions: the uncertainty functions, and those that need no uncertainty model. */
export const ACQUISITION_FUNCTIONS = [...UNCERTAINTY_FUNCTIONS, 'random'] as const;
export type AcquisitionFunction = (typeof ACQUISITION_FUNCTIONS)[number];
export const isAcquisitionFunction = member(ACQUISITION_FUNCTIONS);

/** What each acquisition function is, for help texts and reports. */
export const ACQUISITION_SUMMARIES: Record<AcquisitionFunction, string> = {
  cfe: 'category-first entropy: mean over samples of the per-sample entropy (expected entropy)',
  mfe: 'mean-first entropy: entropy of the mean prediction (predictive entropy)',
  mi: 'mutual information |MFE − CFE| (BALD)',
  std: 'standard deviation over samples, averaged over classes',
  random: 'uniform random scores from the run\'s seed (no uncertainty model is trained)',
};

/** True when the function scores images with the dropout (uncertainty) model, so the phase trains one. */
export function needsUncertaintyModel(fn: AcquisitionFunction): fn is UncertaintyFunction {
  return isUncertaintyFunction(fn);
}

/**
 * How a phase's batch is chosen from the scored pool: the top K scores; K drawn with probability ∝ score^β
 * (stochastic batch acquisition); spread evenly over videos, best-scored first within each (stratified; with
 * `random` scores this is stratified random sampling); farthest-first on pooled features (k-center); k-means++ on
 * features scaled by the score (badge, BADGE-style); or ClaSP-PE-like: a share of K stratified by the predicted
 * structure size, the rest power-sampled with noise that decays over phases (clasp). ml/selection.ts has the details.
 */
export const SELECTION_MODES = ['top-k', 'stochastic', 'stratified', 'k-center', 'badge', 'clasp'] as const;
export type SelectionMode = (typeof SELECTION_MODES)[number];
export const isSelectionMode = member(SELECTION_MODES);

/** What the scoring must also give each pool image for a selection mode: pooled features, the predicted area. */
export function selectionNeeds(mode: SelectionMode | undefined): { features: boolean; areas: boolean } {
  return { features: mode === 'k-center' || mode === 'badge', areas: mode === 'clasp' };
}

/**
 * What a requested frame's mask is for: the test or validation set (a run that starts without them asks for them
 * first), the initial training set, or a phase's query (the frames active learning chose).
 */
export const LABEL_PURPOSES = ['validation', 'test', 'initial', 'query'] as const;
export type LabelPurpose = (typeof LABEL_PURPOSES)[number];
export const isLabelPurpose = member(LABEL_PURPOSES);

/**
 * The learning rate over a training run's epochs: constant; cosine from the base rate to 0; or nnU-Net's poly,
 * base · (1 − epoch / epochs)^0.9.
 */
export const LR_SCHEDULES = ['constant', 'cosine', 'poly'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];
export const isLrSchedule = member(LR_SCHEDULES);

/**
 * Use of the unlabelled pool in training: none; pseudo-labels for the frames the models are sure about; or a mean
 * teacher whose predictions of pool frames the segmentation model must agree with (ml/train/trainer.ts).
 */
export const SEMI_SUPERVISED_MODES = ['none', 'pseudo-label', 'mean-teacher'] as const;
export type SemiSupervisedMode = (typeof SEMI_SUPERVISED_MODES)[number];
export const isSemiSupervisedMode = member(SEMI_SUPERVISED_MODES);
/** Mean validation IoU of the frames at or below the pseudo-label threshold, unless the run says otherwise. */
export const DEFAULT_PSEUDO_LABEL_IOU = 0.8;

/** How a search chooses what to train next. */
export const SEARCH_SCHEDULERS = ['random', 'asha'] as const;
export type SearchScheduler = (typeof SEARCH_SCHEDULERS)[number];
export const isSearchScheduler = member(SEARCH_SCHEDULERS);

/** How per-pixel uncertainty becomes one score per image. */
export const PIXEL_REDUCTIONS = ['mean', 'sum', 'max'] as const;
export type PixelReduction = (typeof PIXEL_REDUCTIONS)[number];
export const isPixelReduction = member(PIXEL_REDUCTIONS);

/** Naive MC runs T full passes; fast runs the deterministic prefix once and only the stochastic tail T times. */
export const MC_MODES = ['fast', 'naive'] as const;
export type MCMode = (typeof MC_MODES)[number];
export const isMCMode = member(MC_MODES);

/** Where dropout layers sit: after the last decoder convolution (`head`) or after every decoder convolution. */
export const MC_DROPOUT_STRATEGIES = ['head', 'decoder'] as const;
export type MCDropoutStrategy = (typeof MC_DROPOUT_STRATEGIES)[number];
export const isMCDropoutStrategy = member(MC_DROPOUT_STRATEGIES);

/** Dropout of any model: the segmentation model of a phase has none. */
export const DROPOUT_STRATEGIES = ['none', ...MC_DROPOUT_STRATEGIES] as const;
export type DropoutStrategy = (typeof DROPOUT_STRATEGIES)[number];
export const isDropoutStrategy = member(DROPOUT_STRATEGIES);

/**
 * A dataset's splits: `initial`, `val` and `test` hold labelled frames, `pool` every other frame of the training
 * videos; `valUnlabelled` and `testUnlabelled` the unlabelled frames of the validation and test videos, which a run
 * may ask doctors to label for evaluation (never trained on).
 */
export const SPLIT_NAMES = ['initial', 'pool', 'val', 'test', 'valUnlabelled', 'testUnlabelled'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];
export const isSplitName = member(SPLIT_NAMES);

/** Splits a model is scored on: validation chooses (search ranking, early stopping, the stop rule), test reports. */
export const EVALUATION_SPLITS = ['validation', 'test'] as const;
export type EvaluationSplit = (typeof EVALUATION_SPLITS)[number];
export const isEvaluationSplit = member(EVALUATION_SPLITS);

/** Why an active-learning run ended. */
/** Why a run ended; 'labelled': a pipeline's first run, which only gathered the masks of the evaluation and initial sets. */
export const STOP_REASONS = ['target-reached', 'budget-spent', 'pool-empty', 'max-phases', 'stopped', 'labelled'] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/** Workflow type names, as Temporal and `runs list` show them. */
export const RUN_KINDS = ['search', 'activeLearning', 'pipeline', 'benchmark', 'roundTrip', 'predict'] as const;
export type RunKind = (typeof RUN_KINDS)[number];
export const isRunKind = member(RUN_KINDS);

/** Which task queues a worker process serves. */
export const WORKER_ROLES = ['all', 'light', 'accel'] as const;
export type WorkerRole = (typeof WORKER_ROLES)[number];
export const isWorkerRole = member(WORKER_ROLES);

/** TensorFlow.js backend preference (`TF_BACKEND`). */
export const BACKEND_PREFERENCES = ['auto', 'gpu', 'node', 'cpu'] as const;
export type BackendPreference = (typeof BACKEND_PREFERENCES)[number];
export const isBackendPreference = member(BACKEND_PREFERENCES);

/** Temporal SDK log levels (`LOG_LEVEL`). */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];
export const isLogLevelName = member(LOG_LEVELS);

/** Dataset importers. */
export const IMPORT_FORMATS = ['pairs', 'camus', 'dicom', 'dicomweb', 'synthetic'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** CAMUS views and frames. */
export const CAMUS_VIEWS = ['2CH', '4CH'] as const;
export type CamusView = (typeof CAMUS_VIEWS)[number];
export const CAMUS_FRAMES = ['ED', 'ES'] as const;
export type CamusFrame = (typeof CAMUS_FRAMES)[number];

/** Formats of `export`: the tfjs package (default) or an ONNX file with the same metadata. */
export const EXPORT_FORMATS = ['tfjs', 'onnx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Formats of `labels pending`. */
export const REQUEST_FORMATS = ['json', 'csv'] as const;
export type RequestFormat = (typeof REQUEST_FORMATS)[number];

/** Custom search attributes the workflows set (shown in the Temporal UI; registered when the dev server starts). */
export const SEARCH_ATTRIBUTES = {
  stage: { name: 'EchoStage', type: 'KEYWORD' },
  dataset: { name: 'EchoDataset', type: 'KEYWORD' },
  phase: { name: 'EchoPhase', type: 'INT' },
  labelledCount: { name: 'EchoLabelledCount', type: 'INT' },
  bestIoU: { name: 'EchoBestIoU', type: 'DOUBLE' },
  acquisition: { name: 'EchoAcquisition', type: 'KEYWORD' },
} as const;
