/**
 * The encoder contract, modelled on segmentation_models_pytorch: an encoder turns the input into
 * depth + 1 feature maps [input, stride 2, stride 4, …], and decoders read `outChannels` to size themselves.
 * Adding an encoder is one registry entry of this type. Below it, the rules every family applies the same way:
 * width scaling, timm's channel rounding, depth checks and smp's `make_dilated`.
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

/** timm's make_divisible: round to a multiple of `divisor`, at least `minValue`, never 10 % below v. */
export function makeDivisible(v: number, divisor = 8, minValue?: number): number {
  const min = minValue ?? divisor;
  let result = Math.max(min, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (result < 0.9 * v) result += divisor;
  return result;
}

/** Python's round(): halves go to the even neighbour (numpy and timm rely on it). */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export function greatestCommonDivisor(a: number, b: number): number {
  return b === 0 ? a : greatestCommonDivisor(b, a % b);
}

export function checkDepth(depth: number, family: string): void {
  if (!Number.isInteger(depth) || depth < 1 || depth > 5) {
    throw new Error(`${family} encoder depth must be an integer in 1…5, got ${depth}.`);
  }
}

/**
 * smp's `make_dilated`: dilation per feature index 0…5. Output stride 16 dilates stage 5 by 2; 8 dilates stages
 * 4 and 5 by 2 and 4. In a dilated stage every convolution runs at stride 1 with that dilation, as smp's
 * `replace_strides_with_dilation` does to every Conv2d of the stage.
 */
export function stageDilations(outputStride: number): number[] {
  if (outputStride === 32) return [1, 1, 1, 1, 1, 1];
  if (outputStride === 16) return [1, 1, 1, 1, 1, 2];
  if (outputStride === 8) return [1, 1, 1, 1, 2, 4];
  throw new Error(`Output stride should be 32, 16 or 8, got ${outputStride}.`);
}

/** Stride and dilation of a stage's convolutions once smp's make_dilated has run. */
export function strideAndDilation(stride: number, stageDilation: number): { stride: number; dilation: number } {
  return stageDilation > 1 ? { stride: 1, dilation: stageDilation } : { stride, dilation: 1 };
}

/** smp refuses dilation for encoders that downsample by pooling (VGG, DenseNet). */
export function rejectDilation(family: string, outputStride: number): void {
  if (outputStride !== 32) {
    throw new Error(
      `${family} encoders do not support output stride ${outputStride}: they downsample with pooling, which ` +
      'cannot be dilated (segmentation_models_pytorch refuses this too). Use outputStride 32 or another encoder.',
    );
  }
}
