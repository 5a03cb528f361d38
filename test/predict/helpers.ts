/** Tiny trained models, inputs and output readers shared by the predict tests (not a test file itself). */
import { execFile } from 'node:child_process';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { expect } from 'vitest';
import { projectRoot } from '../../config';
import { modelKeys } from '../../contracts';
import { generateSyntheticEcho, type SyntheticFrame } from '../../data/synthetic';
import type { BlobStore } from '../../store/blobStore';
import { saveCheckpoint } from '../../ml/train/checkpoint';
import type { DropoutConfig, ModelConfig } from '../../ml/types';
import { buildModel } from '../../ml/zoo';

/** The model input of the tests' models. */
export const MODEL_SIZE = 32;

/**
 * Stores Unet + resnet18 (depth 3, width 1/16) as a trained model is stored (`<key>/config.json`, `<key>/final/`).
 * Training so small a model to a useful mask takes minutes, so its random weights are calibrated instead: the head's
 * logits are shifted so about `foreground` of the pixels of synthetic echo frames are foreground, and scaled so almost
 * every probability is far from 0.5. Masks then depend on the image, and are decided, not coin flips at the threshold.
 */
export async function storeTinyModel(store: BlobStore, modelKey: string, options: { seed?: number; foreground?: number; dropout?: DropoutConfig } = {}): Promise<ModelConfig> {
  const seed = options.seed ?? 1;
  const config: ModelConfig = {
    arch: 'Unet', encoder: 'resnet18', encoderDepth: 3, widthScale: 0.0625, inputShape: [MODEL_SIZE, MODEL_SIZE, 1], classes: 1,
    dropout: options.dropout ?? { strategy: 'none', rate: 0 }, seed,
  };
  const net = buildModel(config);
  const frames = generateSyntheticEcho({ videos: 3, framesPerVideo: 4, size: MODEL_SIZE, seed: 100 + seed });
  const images = tf.tensor4d(Float32Array.from(frames.flatMap((f) => Array.from(f.image))), [frames.length, MODEL_SIZE, MODEL_SIZE, 1]);
  const head = net.model.layers.find((l) => l.name.endsWith('head_conv'))!;
  try {
    const logits = tf.tidy(() => {
      const p = (net.model.predict(images) as tf.Tensor).clipByValue(1e-7, 1 - 1e-7);
      return Float32Array.from(p.div(tf.sub(1, p)).log().dataSync()).sort();
    });
    const shift = -logits[Math.floor((1 - (options.foreground ?? 0.3)) * logits.length)];
    const spread = logits[Math.floor(0.9 * logits.length)] - logits[Math.floor(0.1 * logits.length)];
    const scale = 40 / spread;
    const [kernel, bias] = head.getWeights();
    const calibrated = [kernel.mul(scale), bias.add(shift).mul(scale)];
    head.setWeights(calibrated);
    tf.dispose(calibrated);
    await saveCheckpoint(net.model, undefined, store, modelKeys.finalWeights(modelKey), { epoch: 1, step: 0 }, { weightsOnly: true });
    await store.putBytes(modelKeys.config(modelKey), new TextEncoder().encode(JSON.stringify(config)), 'application/json');
  } finally {
    images.dispose();
    net.model.dispose();
  }
  return config;
}

/** Synthetic echo frames of any (non-square) size, one video per `videos`. */
export function echoFrames(size: [number, number], options: { videos?: number; frames?: number; seed?: number } = {}): SyntheticFrame[] {
  return generateSyntheticEcho({ videos: options.videos ?? 1, framesPerVideo: options.frames ?? 3, size, seed: options.seed ?? 5 });
}

/** An 8-bit grey PNG of a synthetic frame. */
export async function framePng(frame: SyntheticFrame): Promise<Buffer> {
  const grey = Uint8Array.from(frame.image, (v) => Math.round(v * 255));
  return sharp(grey, { raw: { width: frame.width, height: frame.height, channels: 1 } }).png().toBuffer();
}

/** A PNG's first channel and size. */
export async function readPng(file: string | Uint8Array): Promise<{ width: number; height: number; channels: number; data: Uint8Array }> {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** A mask PNG as 0/1. */
export async function readMask(file: string): Promise<{ width: number; height: number; mask: Uint8Array }> {
  const png = await readPng(file);
  const mask = new Uint8Array(png.width * png.height);
  for (let i = 0; i < mask.length; i++) mask[i] = png.data[i * png.channels] >= 128 ? 1 : 0;
  return { width: png.width, height: png.height, mask };
}

/** Parses the tests' CSVs (no quoted fields in them). */
export function parseCsv(text: string): Record<string, string>[] {
  const [head, ...lines] = text.trim().split('\n');
  const names = head.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [names[i], v])));
}

export interface CliRun {
  status: number;
  out: string;
  err: string;
}

/** The real CLI in its own process (asynchronously: a worker may run in the test's process). */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 300_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], {
      cwd: projectRoot, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, ...env },
    }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}

/** Each command line was refused as a usage error: exit 2 and one error line matching its pattern. */
export function expectUsageRefusals(cases: readonly (readonly [string[], RegExp])[], runs: readonly { status: number; err: string }[]): void {
  for (const [index, [args, message]] of cases.entries()) {
    const run = runs[index];
    expect(run.status, `${args.join(' ')}: ${run.err}`).toBe(2);
    const lines = run.err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  }
}
