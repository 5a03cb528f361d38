/**
 * PyTorch weights into a built zoo model: a safetensors file (timm / smp-hub encoder weights, or a whole smp model's
 * state_dict) or a smp `save_pretrained` directory (`model.safetensors` + `config.json`). `planTorchWeights` reads
 * only the header and refuses a mismatch with every offending tensor named, before anything is written or trained;
 * `applyTorchWeights` then decodes, re-lays and writes each tensor. The origin (file hash, source name) goes into the
 * trained model's metadata.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../types';
import { encoderRegistry, readTfjsWeights, withInitSettings } from '../zoo';
import { planLoad, planProblems, type LoadPlan, type Transform } from './plan';
import { encodeSafetensors, SafetensorsFile } from './safetensors';

export type WeightsScope = 'encoder' | 'model';

/** Where the weights a model started from came from (kept in its metadata). */
export interface WeightsOrigin {
  /** Basename of the file or directory given. */
  source: string;
  /** sha256 of the safetensors file, hex. */
  sha256: string;
  scope: WeightsScope;
  /** Tensors loaded, and tensors skipped by name (unused modules, heads, stages beyond the depth). */
  loaded: number;
  skipped: number;
}

export class WeightsMismatchError extends Error {
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(message);
    this.name = 'WeightsMismatchError';
  }
}

/** A weights file resolved from a path: the safetensors file, and smp's config.json when it is a directory. */
export interface WeightsSource {
  file: string;
  label: string;
  smpConfig?: { encoder_name?: string; in_channels?: number; classes?: number; _model_class?: string; arch?: string; encoder_depth?: number };
}

/**
 * A directory holding a tfjs layers model (`model.json` + weight shards: this project's `export` package), written as
 * one safetensors file with the zoo's own variable names, named by its content's hash in the system's temporary
 * folder. Its weights are then planned and loaded like any other file (by name: `isZooNamed`).
 */
export function tfjsModelAsSafetensors(dir: string): string {
  let weights: Map<string, tf.Tensor>;
  try {
    weights = readTfjsWeights(path.join(dir, 'model.json'));
  } catch (error) {
    throw new WeightsMismatchError((error as Error).message, []);
  }
  const tensors = [...weights].map(([name, tensor]) => ({ name, shape: [...tensor.shape], data: tensor.dataSync() as Float32Array }));
  for (const tensor of weights.values()) tensor.dispose();
  const bytes = encodeSafetensors(tensors, { source: 'echo-al tfjs model' });
  const file = path.join(os.tmpdir(), `echo-al-weights-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.safetensors`);
  if (!fs.existsSync(file)) {
    const partial = `${file}.partial-${process.pid}`;
    fs.writeFileSync(partial, bytes);
    fs.renameSync(partial, file);
  }
  return file;
}

/**
 * A safetensors file, a smp `save_pretrained` directory (model.safetensors + config.json), or a directory holding a
 * tfjs layers model (this project's `export` package: a model trained here on other data).
 */
export function resolveWeightsSource(given: string): WeightsSource {
  if (!fs.existsSync(given)) throw new WeightsMismatchError(`weights '${given}' do not exist.`, []);
  const label = path.basename(path.resolve(given));
  if (!fs.statSync(given).isDirectory()) return { file: given, label };
  const file = path.join(given, 'model.safetensors');
  if (!fs.existsSync(file) && fs.existsSync(path.join(given, 'model.json'))) return { file: tfjsModelAsSafetensors(given), label };
  if (!fs.existsSync(file)) throw new WeightsMismatchError(`${given} is a directory without model.safetensors or model.json (expected a smp save_pretrained directory or an exported package).`, []);
  const configFile = path.join(given, 'config.json');
  let smpConfig: WeightsSource['smpConfig'];
  if (fs.existsSync(configFile)) {
    try {
      smpConfig = JSON.parse(fs.readFileSync(configFile, 'utf8')) as WeightsSource['smpConfig'];
    } catch (error) {
      throw new WeightsMismatchError(`${configFile} is not valid JSON (${(error as Error).message}).`, []);
    }
  }
  return { file, label, smpConfig };
}

/** Zoo layer names of the model's encoder built at full depth (tiny and zero-initialised: names only). */
function fullDepthEncoderLayers(config: ModelConfig): Set<string> {
  return withInitSettings({ mode: 'zeros' }, () => {
    const input = tf.input({ shape: [32, 32, config.inputShape[2]] });
    const spec = encoderRegistry[config.encoder];
    const features = spec.build({ input, inChannels: config.inputShape[2], depth: 5, widthScale: 0.0625, outputStride: 32, name: 'encoder' });
    const model = tf.model({ inputs: input, outputs: features });
    const names = new Set(model.layers.map((l) => l.name));
    model.dispose();
    return names;
  });
}

export interface PlannedLoad {
  source: WeightsSource;
  file: SafetensorsFile;
  plan: LoadPlan;
  scope: WeightsScope;
}

/**
 * Reads the header, checks smp's config.json (if any) against the model, and plans the load; throws
 * `WeightsMismatchError` naming every missing, unexpected and wrong-shaped tensor. Writes nothing.
 */
export function planTorchWeights(model: tf.LayersModel, config: ModelConfig, given: string, scope: WeightsScope): PlannedLoad {
  const source = resolveWeightsSource(given);
  const smp = source.smpConfig;
  if (smp?.encoder_name && smp.encoder_name !== config.encoder) {
    throw new WeightsMismatchError(`${given} holds a ${smp.encoder_name} encoder, the model's is ${config.encoder}.`, []);
  }
  const arch = smp?._model_class ?? smp?.arch;
  if (scope === 'model' && arch && arch !== config.arch) {
    throw new WeightsMismatchError(`${given} holds a ${arch} model, this one is ${config.arch}.`, []);
  }
  const file = SafetensorsFile.read(source.file);
  const sources = file.header.tensors.map((t) => ({ name: t.name, shape: t.shape }));
  const targets = model.weights.map((w) => ({ name: w.originalName, shape: w.shape as number[] }));
  const plan = planLoad(sources, targets, {
    encoderFamily: encoderRegistry[config.encoder].family, scope, arch: config.arch, fullDepthLayers: fullDepthEncoderLayers(config),
  });
  const problems = planProblems(plan);
  if (problems.length > 0) {
    const shown = problems.length > 40 ? [...problems.slice(0, 40), `… and ${problems.length - 40} more`] : problems;
    throw new WeightsMismatchError(
      `${given} does not fit ${config.arch} + ${config.encoder} (${scope === 'encoder' ? 'encoder weights' : 'whole model'}; same widthScale, depth and input channels?): ${problems.length} problem(s):\n  ${shown.join('\n  ')}`,
      problems,
    );
  }
  return { source, file, plan, scope };
}

/** OIHW → HWIO (optionally summing I, for a 1-channel model from RGB weights), [O, I] → [I, O], or a copy. */
export function relayout(data: Float32Array, shape: number[], transform: Transform): Float32Array {
  if (transform === 'copy') return data;
  if (transform === 'linear') {
    const [o, i] = shape;
    const out = new Float32Array(data.length);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) out[b * o + a] = data[a * i + b];
    return out;
  }
  const [O, I, H, W] = shape;
  const sum = transform === 'oihwSumRgb';
  const inOut = sum ? 1 : I;
  const out = new Float32Array(H * W * inOut * O);
  for (let o = 0; o < O; o++) {
    for (let i = 0; i < I; i++) {
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < W; w++) {
          const value = data[((o * I + i) * H + h) * W + w];
          const at = ((h * W + w) * inOut + (sum ? 0 : i)) * O + o;
          out[at] = sum ? out[at] + value : value;
        }
      }
    }
  }
  return out;
}

/** Writes a planned load into the model; returns the origin for the model's metadata. */
export function applyTorchWeights(model: tf.LayersModel, planned: PlannedLoad): WeightsOrigin {
  const byName = new Map(model.weights.map((w) => [w.originalName, w]));
  for (const a of planned.plan.assignments) {
    const tensor = planned.file.float(a.source);
    const variable = byName.get(a.target)!;
    const data = relayout(tensor.data, tensor.shape, a.transform);
    const value = tf.tensor(data, variable.shape as number[], 'float32');
    variable.write(value);
    value.dispose();
  }
  return {
    source: planned.source.label,
    sha256: sha256File(planned.source.file),
    scope: planned.scope,
    loaded: planned.plan.assignments.length,
    skipped: planned.plan.skipped.length,
  };
}

/** Plans, checks and loads in one step (see `planTorchWeights`). */
export function loadTorchWeights(model: tf.LayersModel, config: ModelConfig, given: string, scope: WeightsScope): WeightsOrigin {
  return applyTorchWeights(model, planTorchWeights(model, config, given, scope));
}

export function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}
