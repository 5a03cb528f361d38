/**
 * The model zoo: architecture × encoder, built as tfjs LayersModels with segmentation_models_pytorch 0.6.0's
 * structures. A model holds what smp's forward computes, so its parameter count equals smp's for the same arch,
 * encoder, depth, in_channels and classes, less the modules smp constructs but never runs: encoder stages beyond
 * the depth, EfficientNet's unused head, UnetPlusPlus's center block for VGG encoders (test/ml/zooSmp.test.ts
 * reconciles every configuration with smp's own figures). Without a depth, an architecture builds at smp's
 * default (`defaultEncoderDepth`: 3 for PSPNet, 5 otherwise).
 *
 * Dropout for Monte Carlo sampling, where it is placed:
 * - 'head': one MCDropout on the decoder output, i.e. after the last convolution before the segmentation head;
 * - 'decoder': one MCDropout after every decoder convolution unit (conv → norm → activation). Convolutions
 *   that only compute attention gates (SE / GAU sigmoid gates, PAB query and key) are not followed by dropout:
 *   their outputs are weights, not features;
 * - 'none': no MCDropout.
 * smp's own training-time dropouts (FPN and PSPNet spatial dropout 0.2, ASPP dropout 0.5) are kept as standard
 * Keras dropout: active while training, identity at inference (also in MC mode).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ArchName, ModelConfig } from '../types';
import { archRegistry, DecoderContext, type ArchSpec } from './archs';
import { LayerBuilder, conv2d, countTrainableParams, mcDropout, resizeBilinear, spatialSize } from './blocks';
import { encoderRegistry, type EncoderSpec } from './encoders';
import { headInitializer, withInitSettings } from './init';
import { splitAtMCDropout } from './mcSplit';

export interface SegmentationNet {
  config: ModelConfig;
  /** Input [N, H, W, C] → probabilities [N, H, W, classes] (sigmoid if classes == 1, else softmax). */
  model: tf.LayersModel;
  /**
   * For fast Monte Carlo: the deterministic prefix (input → every tensor the first MCDropout layer and
   * everything after it need) and the stochastic tail (those tensors → probabilities), sharing weights with
   * `model`. The prefix outputs every deterministic tensor a node after an MCDropout reads (ml/zoo/mcSplit.ts):
   * for strategy 'head' the decoder output; for 'decoder' the output of any decoder unit that runs before the first
   * dropout, the encoder features the tail reads, and the skip halves of convolutions over [upsampled, skip].
   * Throws for strategy 'none'.
   */
  mcSplit(): { prefix: tf.LayersModel; tail: tf.LayersModel };
  /** Trainable parameters (PyTorch's count: BN moving statistics excluded). */
  paramCount: number;
}

export interface BuildOptions {
  /**
   * Encoder weights to start from instead of random initialisation: a tfjs weights file — `model.json` with a
   * `weightsManifest` (as written by `saveEncoderWeights` or `model.save('file://…')`) next to its `.bin`
   * shards. Entries are matched by weight name (`<layer name>/<weight>`, e.g. `encoder_conv1_conv/kernel`)
   * for every encoder weight; every encoder weight must be present with the same shape. Other entries are
   * ignored, so a whole-model checkpoint also works.
   */
  encoderWeights?: string;
}

const ENCODER_PREFIX = 'encoder';
const DECODER_PREFIX = 'decoder';

export function listArchitectures(): ArchName[] {
  return Object.keys(archRegistry) as ArchName[];
}

export function listEncoders(): string[] {
  return Object.keys(encoderRegistry);
}

function encoderSpec(name: string): EncoderSpec {
  const spec = encoderRegistry[name];
  if (!spec) throw new Error(`Unknown encoder '${name}'. Valid encoders: ${listEncoders().join(', ')}.`);
  return spec;
}

function archSpec(name: string): ArchSpec {
  const spec = (archRegistry as Record<string, ArchSpec | undefined>)[name];
  if (!spec) throw new Error(`Unknown architecture '${name}'. Valid architectures: ${listArchitectures().join(', ')}.`);
  return spec;
}

/** smp's default `encoder_depth` of an architecture: 3 for PSPNet, 5 for the others. */
export function defaultEncoderDepth(arch: ArchName): number {
  return archSpec(arch).defaultEncoderDepth;
}

function hasCenterBlock(arch: ArchSpec, encoder: string): boolean {
  return arch.centerBlock?.(encoder) ?? false;
}

/** Throws a message naming the wrong field and the allowed values. */
export function validateConfig(config: ModelConfig): void {
  const arch = archSpec(config.arch);
  encoderSpec(config.encoder);
  const depth = config.encoderDepth;
  if (!Number.isInteger(depth) || depth < 3 || depth > 5) throw new Error(`encoderDepth must be 3, 4 or 5, got ${depth}.`);
  const [h, w, channels] = config.inputShape;
  if (channels !== 1 && channels !== 3) throw new Error(`Input channels must be 1 or 3, got ${channels}.`);
  const multiple = 2 ** depth;
  if (!(h > 0 && w > 0 && h % multiple === 0 && w % multiple === 0)) {
    throw new Error(`Input height and width must be positive multiples of 2^encoderDepth = ${multiple}, got ${h}×${w}.`);
  }
  if (!Number.isInteger(config.classes) || config.classes < 1) throw new Error(`classes must be an integer ≥ 1, got ${config.classes}.`);
  const ws = config.widthScale ?? 1;
  if (!(ws > 0 && ws <= 1)) throw new Error(`widthScale must be in (0, 1], got ${ws}.`);
  const { strategy, rate } = config.dropout;
  if (!['none', 'head', 'decoder'].includes(strategy)) throw new Error(`dropout.strategy must be none, head or decoder, got ${strategy}.`);
  if (strategy !== 'none' && !(rate >= 0 && rate < 1)) throw new Error(`dropout.rate must be in [0, 1), got ${rate}.`);
  const archProblem = archConstraint(arch, config);
  if (archProblem) throw new Error(archProblem);
}

/** An architecture's own input constraint (e.g. PAN's minimum size), as a message, or undefined. */
function archConstraint(arch: ArchSpec, config: ModelConfig): string | undefined {
  const problem = arch.validate?.([config.inputShape[0], config.inputShape[1]], config.encoderDepth);
  return problem ? `${config.arch}: ${problem}` : undefined;
}

interface Graph {
  input: tf.SymbolicTensor;
  output: tf.SymbolicTensor;
}

/** Segmentation head on the decoder output: ['head' MCDropout] → conv → bilinear upsampling → sigmoid/softmax. */
function applyHead(config: ModelConfig, arch: ArchSpec, b: LayerBuilder, x: tf.SymbolicTensor): tf.SymbolicTensor {
  let y = x;
  if (config.dropout.strategy === 'head') y = mcDropout(b, y, 'head_mcdrop', config.dropout.rate);
  y = conv2d(b, y, 'head_conv', { filters: config.classes, kernelSize: arch.headKernelSize, bias: true, kernelInitializer: headInitializer });
  const [h, w] = spatialSize(y);
  const [inH, inW] = config.inputShape;
  if (h !== inH || w !== inW) {
    if (inH % h !== 0 || inW % w !== 0) throw new Error(`${config.arch}: decoder output ${h}×${w} does not divide the input ${inH}×${inW}.`);
    y = resizeBilinear(b, y, 'head_upsample', [inH, inW], true);
  }
  return config.classes === 1
    ? b.apply('head_sigmoid', (full) => tf.layers.activation({ name: full, activation: 'sigmoid' }), y)
    : b.apply('head_softmax', (full) => tf.layers.softmax({ name: full, axis: -1 }), y);
}

function buildGraph(config: ModelConfig): Graph {
  const arch = archSpec(config.arch);
  const ws = config.widthScale ?? 1;
  const input = tf.input({ shape: config.inputShape, name: 'input' });
  const features = encoderSpec(config.encoder).build({
    input,
    inChannels: config.inputShape[2],
    depth: config.encoderDepth,
    widthScale: ws,
    outputStride: arch.outputStride(config.encoderDepth),
    name: ENCODER_PREFIX,
  });
  if (features.length !== config.encoderDepth + 1) {
    throw new Error(`Encoder ${config.encoder} returned ${features.length} features for depth ${config.encoderDepth}; expected ${config.encoderDepth + 1}.`);
  }
  const decoder = new LayerBuilder(DECODER_PREFIX);
  const ctx = new DecoderContext(decoder, ws, config.dropout, hasCenterBlock(arch, config.encoder));
  const output = applyHead(config, arch, decoder, arch.decode(features, ctx));
  return { input, output };
}

function makeMcSplit(config: ModelConfig, graph: Graph): () => { prefix: tf.LayersModel; tail: tf.LayersModel } {
  let cached: { prefix: tf.LayersModel; tail: tf.LayersModel } | undefined;
  return () => {
    if (config.dropout.strategy === 'none') throw new Error("mcSplit() needs dropout; this model was built with dropout strategy 'none'.");
    if (!cached) {
      const { prefix, tail } = splitAtMCDropout(graph.input, graph.output);
      cached = { prefix, tail };
    }
    return cached;
  };
}

/** A model configuration whose encoder depth may be left to the architecture's default. */
export type ModelConfigInput = Omit<ModelConfig, 'encoderDepth'> & { encoderDepth?: number };

/** The configuration with its encoder depth filled in: the one given, else `defaultEncoderDepth(arch)`. */
export function resolveConfig(config: ModelConfigInput): ModelConfig {
  return { ...config, encoderDepth: config.encoderDepth ?? defaultEncoderDepth(config.arch) };
}

/**
 * Builds the segmentation network for a configuration (random init, or `options.encoderWeights`); without an
 * encoder depth, at the architecture's default. `net.config` is the configuration as built.
 */
export function buildModel(input: ModelConfigInput, options: BuildOptions = {}): SegmentationNet {
  const config = resolveConfig(input);
  validateConfig(config);
  const graph = withInitSettings({ mode: 'random', seed: config.seed }, () => buildGraph(config));
  const model = tf.model({ inputs: graph.input, outputs: graph.output, name: `${config.arch}_${config.encoder}` });
  if (options.encoderWeights) loadEncoderWeights(model, options.encoderWeights);
  return { config, model, mcSplit: makeMcSplit(config, graph), paramCount: countTrainableParams(model) };
}

/** The encoder part of a built model: the weights of every layer that is not the decoder's (or the input). */
function encoderWeightsOf(model: tf.LayersModel): tf.LayerVariable[] {
  return model.layers.filter((l) => !l.name.startsWith(`${DECODER_PREFIX}_`)).flatMap((l) => l.weights);
}

interface WeightsManifestFile {
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/** Writes the encoder's weights (trainable and BN statistics) as `model.json` + `weights.bin` in `dir`. */
export function saveEncoderWeights(net: SegmentationNet, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const weights = encoderWeightsOf(net.model);
  const tensors = weights.map((w) => ({ name: w.originalName, tensor: w.read() }));
  const specs: tf.io.WeightsManifestEntry[] = tensors.map(({ name, tensor }) => ({ name, shape: tensor.shape, dtype: 'float32' }));
  const data = tf.tidy(() => tensors.map(({ tensor }) => tensor.dataSync() as Float32Array));
  const bytes = Buffer.concat(data.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength)));
  fs.writeFileSync(path.join(dir, 'weights.bin'), bytes);
  const manifest: WeightsManifestFile & { format: string; encoder: string } = {
    format: 'echo-al-encoder-weights',
    encoder: net.config.encoder,
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
  };
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify(manifest));
  return file;
}

/**
 * The weights a tfjs `model.json` (+ the shards beside it) holds, by name. Float32 only, and the shards must hold
 * exactly the bytes the manifest declares: a cut-short or foreign file is refused, naming the file. The caller
 * disposes the tensors.
 */
export function readTfjsWeights(file: string): Map<string, tf.Tensor> {
  if (!fs.existsSync(file)) throw new Error(`Weights file ${file} does not exist.`);
  let manifest: Partial<WeightsManifestFile>;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<WeightsManifestFile>;
  } catch (error) {
    throw new Error(`${file} is not valid JSON (${(error as Error).message}).`);
  }
  if (!Array.isArray(manifest.weightsManifest)) throw new Error(`${file} has no weightsManifest: not a tfjs layers model.`);
  const dir = path.dirname(file);
  const weights = new Map<string, tf.Tensor>();
  try {
    for (const group of manifest.weightsManifest) {
      const shards = group.paths.map((p) => {
        const shard = path.join(dir, p);
        if (!fs.existsSync(shard)) throw new Error(`${file} names the weights file ${p}, which is not in ${dir}.`);
        return fs.readFileSync(shard);
      });
      const joined = Buffer.concat(shards);
      const expected = group.weights.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
      if (group.weights.some((w) => w.dtype !== 'float32') || joined.byteLength !== expected) {
        throw new Error(`${dir}: the weights files hold ${joined.byteLength} bytes, model.json declares ${expected} (float32): truncated or not this model's.`);
      }
      const decoded = tf.io.decodeWeights(joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength), group.weights);
      for (const [name, tensor] of Object.entries(decoded)) weights.set(name, tensor);
    }
  } catch (error) {
    for (const t of weights.values()) t.dispose();
    throw error;
  }
  return weights;
}

/** Loads encoder weights from a tfjs `model.json` (+ shards) into a built model; see `BuildOptions`. */
export function loadEncoderWeights(model: tf.LayersModel, file: string): void {
  const available = readTfjsWeights(file);
  try {
    const targets = encoderWeightsOf(model);
    const missing = targets.filter((w) => !available.has(w.originalName)).map((w) => w.originalName);
    if (missing.length > 0) {
      throw new Error(`${file} lacks ${missing.length} encoder weights (e.g. ${missing.slice(0, 3).join(', ')}): was it saved from the same encoder?`);
    }
    for (const w of targets) {
      const tensor = available.get(w.originalName)!;
      if (!tf.util.arraysEqual(tensor.shape, w.shape as number[])) {
        throw new Error(`${file}: ${w.originalName} has shape [${tensor.shape}], the model expects [${w.shape}] (same widthScale and input channels?).`);
      }
      w.write(tensor);
    }
  } finally {
    for (const t of available.values()) t.dispose();
  }
}

export interface ModelListing {
  arch: ArchName;
  encoder: string;
  family: string;
  /** The depth the row was counted at (architectures may differ when no depth is given). */
  encoderDepth: number;
  /** Trainable parameters; NaN when the combination cannot be built (see `error`). */
  params: number;
  /** Why the combination cannot be built (e.g. an encoder without dilated mode under DeepLabV3). */
  error?: string;
}

export interface ListOptions {
  /** One depth for every architecture; default: each architecture's own (`defaultEncoderDepth`). */
  encoderDepth?: number;
  widthScale?: number;
  archs?: ArchName[];
  encoders?: string[];
}

/** An encoder's parameter count and feature shapes at one depth and output stride, or why it cannot be built. */
type EncoderBuild = { params: number; shapes: tf.Shape[] } | { error: string };

function trainableCount(layers: tf.layers.Layer[]): number {
  return layers.reduce((sum, l) => sum + l.trainableWeights.reduce((s, w) => s + w.shape.reduce((a: number, d) => a * (d as number), 1), 0), 0);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Parameter counts for every architecture × encoder, equal to the built models' `paramCount`, each at
 * `opts.encoderDepth` or else its architecture's `defaultEncoderDepth`. Cheap: the total is encoder +
 * decoder-and-head; the encoder is built once per depth and output stride its architectures need and the decoder
 * once per architecture and feature shapes, on zero-initialised layers that are disposed at once.
 */
export function listModels(inputShape: [number, number, number], classes: number, opts: ListOptions = {}): ModelListing[] {
  const widthScale = opts.widthScale ?? 1;
  const archs = opts.archs ?? listArchitectures();
  const encoders = opts.encoders ?? listEncoders();
  for (const arch of archs) archSpec(arch);
  const depthOf = (arch: ArchName) => opts.encoderDepth ?? defaultEncoderDepth(arch);
  const configFor = (arch: ArchName, encoder: string, depth = depthOf(arch)): ModelConfig => ({
    arch, encoder, encoderDepth: depth, inputShape, classes, dropout: { strategy: 'none', rate: 0 }, widthScale,
  });
  // Names, depth, shape and classes are checked up front; an architecture's own size constraint becomes that row's error.
  const depths = [...new Set(archs.map(depthOf))];
  for (const encoder of encoders) for (const depth of depths) validateConfig(configFor('Unet', encoder, depth));
  const rows: ModelListing[] = [];
  const decoderCache = new Map<string, number>();
  for (const encoder of encoders) {
    const spec = encoderSpec(encoder);
    const buildEncoder = (depth: number, outputStride: 8 | 16 | 32, scale: number) =>
      withInitSettings({ mode: 'zeros' }, () => {
        const input = tf.input({ shape: inputShape });
        const features = spec.build({ input, inChannels: inputShape[2], depth, widthScale: scale, outputStride, name: ENCODER_PREFIX });
        const model = tf.model({ inputs: input, outputs: features });
        const params = countTrainableParams(model);
        model.dispose();
        return { params, shapes: features.map((f) => f.shape) };
      });
    const builds = new Map<string, EncoderBuild>();
    const encoderAt = (depth: number, outputStride: 8 | 16 | 32): EncoderBuild => {
      const key = `${depth}|${outputStride}`;
      let built = builds.get(key);
      if (built) return built;
      if (outputStride === 32) {
        built = buildEncoder(depth, 32, widthScale);
      } else {
        // Dilation changes spatial sizes only: a thin build gives them (and whether the encoder supports dilation)
        // cheaply; if the thin width itself is what fails, the full width decides.
        const full = encoderAt(depth, 32);
        try {
          if ('error' in full) throw new Error(full.error);
          let probe: { shapes: tf.Shape[] };
          try {
            probe = buildEncoder(depth, outputStride, Math.min(widthScale, 1 / 16));
          } catch {
            probe = buildEncoder(depth, outputStride, widthScale);
          }
          built = { params: full.params, shapes: probe.shapes.map((s, i) => [...s.slice(0, 3), full.shapes[i][3]]) };
        } catch (err) {
          built = { error: errorMessage(err) };
        }
      }
      builds.set(key, built);
      return built;
    };
    for (const archName of archs) {
      const arch = archSpec(archName);
      const depth = depthOf(archName);
      const config = configFor(archName, encoder);
      const built = encoderAt(depth, arch.outputStride(depth));
      const problem = 'error' in built ? built.error : archConstraint(arch, config);
      if (problem !== undefined || 'error' in built) {
        rows.push({ arch: archName, encoder, family: spec.family, encoderDepth: depth, params: Number.NaN, error: problem });
        continue;
      }
      const centerBlock = arch.centerBlock?.(encoder) ?? false;
      const key = `${archName}|${centerBlock}|${JSON.stringify(built.shapes)}`;
      let decoderParams = decoderCache.get(key);
      if (decoderParams === undefined) {
        decoderParams = withInitSettings({ mode: 'zeros' }, () => {
          const b = new LayerBuilder(DECODER_PREFIX);
          const features = built.shapes.map((s, i) => tf.input({ shape: s.slice(1) as number[], name: `feature${i}` }));
          const ctx = new DecoderContext(b, widthScale, config.dropout, centerBlock);
          applyHead(config, arch, b, arch.decode(features, ctx));
          const count = trainableCount(b.layers());
          for (const layer of b.layers()) for (const w of layer.weights) w.dispose();
          return count;
        });
        decoderCache.set(key, decoderParams);
      }
      rows.push({ arch: archName, encoder, family: spec.family, encoderDepth: depth, params: built.params + decoderParams });
    }
  }
  return rows;
}

export { archRegistry } from './archs';
export { countTrainableParams } from './blocks';
export { encoderRegistry, type EncoderBuildArgs, type EncoderRegistry, type EncoderSpec } from './encoders';
export { withInitSettings, type InitSettings } from './init';
