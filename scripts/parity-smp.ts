/**
 * Numerical parity with segmentation_models_pytorch 0.6: for each configuration, scripts/parity_smp.py (in the
 * optional torch venv, see scripts/torchVenv.ts) builds the smp model with random weights and randomised batch-norm
 * statistics, saves it with `save_pretrained`, and records an input and its logits (eval mode); this script builds
 * the same model in the zoo, loads the directory through the weight importer (`--init-weights`' path), and prints
 * the max absolute difference of the logits. Target ≤ 1e-4.
 *
 *   npx tsx scripts/parity-smp.ts [--only resnet18,…] [--python PATH] [--keep DIR]
 *   npx tsx scripts/parity-smp.ts --fixtures   # rewrites test/fixtures/weights/ (small F16 models, see the test)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { projectRoot } from '../config';
import { initBackend } from '../ml/backend';
import type { ArchName } from '../ml/types';
import { loadTorchWeights } from '../ml/weights/load';
import { SafetensorsFile } from '../ml/weights/safetensors';
import { buildModel, type SegmentationNet } from '../ml/zoo';
import { torchPython } from './torchVenv';

export interface ParityConfig {
  id: string;
  arch: ArchName;
  encoder: string;
  depth: number;
  size: number;
  /** The zoo model takes one channel (weights summed over RGB). */
  grey?: boolean;
  seed?: number;
  fp16?: boolean;
  /** State_dict keys left out of the file (stages smp holds beyond the depth). */
  drop?: string;
  /** Also smp's logits in float64: the float32 noise floor (parity-smp runs ask for it; fixtures do not). */
  float64?: boolean;
}

/** At least one configuration per encoder family, over every architecture. */
export const PARITY_CONFIGS: ParityConfig[] = [
  { id: 'unet-resnet18', arch: 'Unet', encoder: 'resnet18', depth: 5, size: 64 },
  { id: 'unet-resnet18-grey', arch: 'Unet', encoder: 'resnet18', depth: 5, size: 64, grey: true },
  { id: 'fpn-resnext50_32x4d', arch: 'FPN', encoder: 'resnext50_32x4d', depth: 5, size: 64 },
  { id: 'linknet-se_resnet50', arch: 'Linknet', encoder: 'se_resnet50', depth: 5, size: 64 },
  { id: 'unetplusplus-timm-skresnet18', arch: 'UnetPlusPlus', encoder: 'timm-skresnet18', depth: 5, size: 64 },
  { id: 'deeplabv3plus-timm-resnest14d', arch: 'DeepLabV3Plus', encoder: 'timm-resnest14d', depth: 5, size: 64 },
  { id: 'manet-densenet121', arch: 'MAnet', encoder: 'densenet121', depth: 5, size: 64 },
  { id: 'pan-efficientnet-b0', arch: 'PAN', encoder: 'efficientnet-b0', depth: 5, size: 128 },
  { id: 'pspnet-dpn68', arch: 'PSPNet', encoder: 'dpn68', depth: 3, size: 64 },
  { id: 'deeplabv3-timm-regnetx_002', arch: 'DeepLabV3', encoder: 'timm-regnetx_002', depth: 5, size: 64 },
  { id: 'deeplabv3-resnet18', arch: 'DeepLabV3', encoder: 'resnet18', depth: 5, size: 64 },
  { id: 'unet-timm-regnetx_002', arch: 'Unet', encoder: 'timm-regnetx_002', depth: 5, size: 64 },
  { id: 'pan-timm-resnest14d', arch: 'PAN', encoder: 'timm-resnest14d', depth: 5, size: 128 },
  { id: 'deeplabv3-timm-skresnet18', arch: 'DeepLabV3', encoder: 'timm-skresnet18', depth: 5, size: 64 },
  { id: 'deeplabv3-efficientnet-b0', arch: 'DeepLabV3', encoder: 'efficientnet-b0', depth: 5, size: 64 },
  { id: 'deeplabv3plus-dpn68', arch: 'DeepLabV3Plus', encoder: 'dpn68', depth: 5, size: 64 },
  { id: 'deeplabv3-mobilenet_v2', arch: 'DeepLabV3', encoder: 'mobilenet_v2', depth: 5, size: 64 },
  { id: 'deeplabv3-timm-mobilenetv3_small_100', arch: 'DeepLabV3', encoder: 'timm-mobilenetv3_small_100', depth: 5, size: 64 },
  { id: 'fpn-timm-regnety_002', arch: 'FPN', encoder: 'timm-regnety_002', depth: 5, size: 64 },
  { id: 'unetplusplus-vgg11_bn', arch: 'UnetPlusPlus', encoder: 'vgg11_bn', depth: 5, size: 64 },
  { id: 'unet-vgg11_bn-grey', arch: 'Unet', encoder: 'vgg11_bn', depth: 5, size: 64, grey: true },
  { id: 'unet-mobilenet_v2', arch: 'Unet', encoder: 'mobilenet_v2', depth: 5, size: 64 },
  { id: 'linknet-timm-mobilenetv3_small_100', arch: 'Linknet', encoder: 'timm-mobilenetv3_small_100', depth: 5, size: 64 },
];

/** The committed fixtures (test/fixtures/weights/): F16 weights, small decoders, ≤ 15 MB in all. */
export const FIXTURE_CONFIGS: ParityConfig[] = [
  { id: 'unet-mobilenet_v2-d3', arch: 'Unet', encoder: 'mobilenet_v2', depth: 3, size: 32, fp16: true, drop: '^encoder\\.features\\.(7|8|9|1\\d)\\.' },
  { id: 'linknet-resnet18-d3-grey', arch: 'Linknet', encoder: 'resnet18', depth: 3, size: 32, grey: true, fp16: true, drop: '^encoder\\.layer[34]\\.' },
  { id: 'fpn-timm-regnetx_002', arch: 'FPN', encoder: 'timm-regnetx_002', depth: 5, size: 32, fp16: true },
];

/** The zoo model of a configuration, with the smp directory loaded as a whole model. */
export function zooModel(config: ParityConfig, dir: string): SegmentationNet {
  const net = buildModel({
    arch: config.arch, encoder: config.encoder, encoderDepth: config.depth, inputShape: [config.size, config.size, config.grey ? 1 : 3],
    classes: 1, dropout: { strategy: 'none', rate: 0 }, widthScale: 1, seed: 1,
  });
  loadTorchWeights(net.model, net.config, dir, 'model');
  return net;
}

/** The logits (before the sigmoid) of the zoo model for an NCHW input, as NCHW data. */
export function zooLogits(net: SegmentationNet, inputNchw: { shape: number[]; data: Float32Array }): Float32Array {
  const sigmoid = net.model.getLayer('decoder_head_sigmoid');
  const logitsModel = tf.model({ inputs: net.model.inputs, outputs: sigmoid.input as tf.SymbolicTensor });
  return tf.tidy(() => {
    const x = tf.tensor(inputNchw.data, inputNchw.shape).transpose([0, 2, 3, 1]);
    const y = logitsModel.predict(x) as tf.Tensor;
    return y.transpose([0, 3, 1, 2]).dataSync() as Float32Array;
  });
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Max abs difference between the zoo and smp logits of one exported configuration directory. */
export function parityOf(config: ParityConfig, dir: string): { diff: number; maxAbs: number; smpFloat32Error?: number } {
  const io = SafetensorsFile.read(path.join(dir, 'io.safetensors'));
  const net = zooModel(config, dir);
  try {
    const expected = io.float('logits').data;
    const actual = zooLogits(net, io.float('input'));
    const exact = io.tensors.has('logits64') ? io.float('logits64').data : undefined;
    return {
      diff: maxAbsDiff(actual, expected), maxAbs: expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
      ...(exact ? { smpFloat32Error: maxAbsDiff(expected, exact) } : {}),
    };
  } finally {
    net.model.dispose();
  }
}

function exportFromSmp(python: string, configs: ParityConfig[], out: string): void {
  const job = path.join(out, 'job.json');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(job, JSON.stringify({ out, configs }));
  const result = spawnSync(python, [path.join(projectRoot, 'scripts', 'parity_smp.py'), job], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) throw new Error(`parity_smp.py failed (exit ${result.status}).`);
  fs.rmSync(job);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, python: { type: 'string' }, keep: { type: 'string' }, fixtures: { type: 'boolean', default: false } } });
  await initBackend(undefined, () => {});
  const python = torchPython(values.python);
  if (values.fixtures) {
    const out = path.join(projectRoot, 'test', 'fixtures', 'weights');
    fs.rmSync(out, { recursive: true, force: true });
    exportFromSmp(python, FIXTURE_CONFIGS, out);
    fs.writeFileSync(path.join(out, 'configs.json'), `${JSON.stringify(FIXTURE_CONFIGS, null, 2)}\n`);
  }
  const only = values.only?.split(',');
  const configs = values.fixtures ? FIXTURE_CONFIGS : PARITY_CONFIGS.filter((c) => !only || only.some((o) => c.id.includes(o)));
  const out = values.fixtures ? path.join(projectRoot, 'test', 'fixtures', 'weights') : values.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'parity-smp-'));
  console.log('| configuration | arch | encoder | depth | input | max abs diff | max abs logit | smp f32 vs f64 | ≤ 1e-4 |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  let failures = 0;
  for (const config of configs) {
    if (!values.fixtures) exportFromSmp(python, [{ ...config, float64: true }], out);
    const { diff, maxAbs, smpFloat32Error } = parityOf(config, path.join(out, config.id));
    const ok = diff <= 1e-4;
    if (!ok) failures++;
    const input = `${config.size}²×${config.grey ? 1 : 3}${config.fp16 ? ' F16' : ''}`;
    console.log(`| ${config.id} | ${config.arch} | ${config.encoder} | ${config.depth} | ${input} | ${diff.toExponential(2)} | ${maxAbs.toFixed(2)} | ${smpFloat32Error?.toExponential(2) ?? '–'} | ${ok ? 'yes' : 'NO'} |`);
    if (!values.fixtures && !values.keep) fs.rmSync(path.join(out, config.id), { recursive: true, force: true });
  }
  if (!values.fixtures && !values.keep) fs.rmSync(out, { recursive: true, force: true });
  if (failures > 0) process.exitCode = 1;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
