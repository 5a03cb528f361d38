/**
 * `--encoder-weights <file|dir>` and `--init-weights <file|dir>`: PyTorch weights (safetensors, or a smp
 * save_pretrained directory) checked against the model here — a mismatch is a usage error (exit 2) naming every
 * offending tensor, before any run starts — then uploaded under their sha256 for the training activity.
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../config';
import type { ObjectStore } from '../store/objectStore';
import { type ModelChoice, weightsKeys, type WeightsRef, type WeightsScope } from '../contracts';
import type { CliContext } from './context';
import { UsageError } from './context';

export interface WeightsOptions {
  encoderWeights?: string;
  initWeights?: string;
}

export function addWeightsOptions(command: Command): Command {
  return command
    .option('--encoder-weights <file|dir|imagenet>', 'start the encoder from pretrained weights: a safetensors file (timm / smp encoder weights), a smp save_pretrained directory, a model exported by this project (`export` folder: its encoder), or imagenet (.cache/weights/<encoder>.imagenet/, downloaded once from ECHO_WEIGHTS_HUB when online; offline: the message names the file to fetch)')
    .option('--init-weights <file|dir>', 'start the whole model from a smp save_pretrained directory (or its model.safetensors), or a model exported by this project, of the same architecture and encoder');
}

/** The weights option given (at most one), as path and scope. */
export function weightsChoice(o: WeightsOptions): { given: string; scope: WeightsScope; flag: string } | undefined {
  if (o.encoderWeights && o.initWeights) throw new UsageError('--encoder-weights and --init-weights exclude each other: --init-weights already fills the encoder');
  if (o.encoderWeights) return { given: o.encoderWeights, scope: 'encoder', flag: '--encoder-weights' };
  if (o.initWeights) return { given: o.initWeights, scope: 'model', flag: '--init-weights' };
  return undefined;
}

/**
 * Plans the load against the model (grey input, as every dataset here; 128² fits every architecture) and refuses a
 * mismatch; then uploads the file (and smp's config.json) and returns the reference the workflow carries.
 */
export async function prepareWeights(ctx: CliContext, o: WeightsOptions, model: ModelChoice): Promise<WeightsRef | undefined> {
  const choice = weightsChoice(o);
  if (!choice) return undefined;
  return uploadWeights(ctx.store(), choice, model);
}

/** `--encoder-weights imagenet`: the cached file, else downloaded from the hub once (hash checked), else a usage error naming the file. */
async function imagenetFile(encoder: string): Promise<string> {
  const { DownloadError, fetchImagenetWeights } = await import('../ml/weights/download');
  const { weights } = loadConfig();
  try {
    return await fetchImagenetWeights(encoder, weights.cacheDir, weights.hub, (message) => console.error(message));
  } catch (error) {
    if (error instanceof DownloadError) throw new UsageError(`--encoder-weights imagenet: ${error.message}`);
    throw error;
  }
}

/** Checks `choice` against `model` (see `prepareWeights`) and uploads it under its sha256. */
export async function uploadWeights(store: ObjectStore, choice: { given: string; scope: WeightsScope; flag: string }, model: ModelChoice): Promise<WeightsRef> {
  let given = choice.given;
  let label: string | undefined;
  if (given === 'imagenet') {
    if (choice.scope !== 'encoder') throw new UsageError('imagenet weights are encoder weights: use --encoder-weights imagenet');
    given = await imagenetFile(model.encoder);
    label = `${model.encoder}.imagenet`;
  }
  const { planTorchWeights, sha256File, WeightsMismatchError } = await import('../ml/weights/load');
  const { SafetensorsError } = await import('../ml/weights/safetensors');
  const { buildModel, withInitSettings } = await import('../ml/zoo');
  // The native backend, quietly (tfjs' pure-JS fallback would print its "install our node backend" banner).
  const { initBackend } = await import('../ml/backend');
  await initBackend(undefined, () => {});
  const net = withInitSettings({ mode: 'zeros' }, () => buildModel({
    arch: model.arch, encoder: model.encoder, encoderDepth: model.encoderDepth, inputShape: [128, 128, 1], classes: 1,
    dropout: { strategy: 'none', rate: 0 }, widthScale: model.widthScale ?? 1,
  }));
  let planned;
  try {
    planned = planTorchWeights(net.model, net.config, given, choice.scope);
  } catch (error) {
    if (error instanceof WeightsMismatchError || error instanceof SafetensorsError) throw new UsageError(`${choice.flag}: ${error.message}`);
    throw error;
  } finally {
    net.model.dispose();
  }
  const sha256 = sha256File(planned.source.file);
  await store.putBytes(weightsKeys.file(sha256), fs.readFileSync(planned.source.file));
  if (planned.source.smpConfig) await store.putJson(weightsKeys.smpConfig(sha256), planned.source.smpConfig);
  return { sha256, source: label ?? planned.source.label, scope: choice.scope, hasSmpConfig: planned.source.smpConfig !== undefined };
}
