/**
 * The encoder contract, modelled on segmentation_models_pytorch: an encoder turns the input into
 * depth + 1 feature maps [input, stride 2, stride 4, …], and decoders read `outChannels` to size themselves.
 * Adding an encoder is one registry entry of this type.
 */
import type * as tf from '@tensorflow/tfjs';

export interface EncoderBuildArgs {
  /** Symbolic input [batch, H, W, inChannels]. */
  input: tf.SymbolicTensor;
  inChannels: number;
  /** Number of stages after the input, 3–5. */
  depth: number;
  /** Multiplies every channel count; 1 = faithful smp structure. */
  widthScale: number;
  /** 32 (default), 16 or 8: later stages use dilation instead of stride, as smp's make_dilated. */
  outputStride: 8 | 16 | 32;
  /** Prefix for layer names, unique per model. */
  name: string;
}

export interface EncoderSpec {
  /** Family label shown in listings, e.g. 'ResNet', 'RegNetY', 'DPN'. */
  family: string;
  /** Channel counts of the 6 smp features (index 0 = input channels), at widthScale 1 and 3 input channels. */
  outChannels: readonly number[];
  /** Returns depth + 1 symbolic features: [input, stride-2, …]. */
  build(args: EncoderBuildArgs): tf.SymbolicTensor[];
}

export type EncoderRegistry = Record<string, EncoderSpec>;

/** Channel count after width scaling; never below 1, and divisible by `divisor` (for grouped convs). */
export function scaled(channels: number, widthScale: number, divisor = 1): number {
  if (widthScale === 1) return channels;
  return Math.max(divisor, Math.round((channels * widthScale) / divisor) * divisor);
}
