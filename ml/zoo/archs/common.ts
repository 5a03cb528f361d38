/**
 * What every architecture shares: the decoder context (layer builder, width scale, dropout placement) and
 * the contract an architecture implements. Decoders read channel counts from the feature tensors
 * themselves, so they fit any encoder at any width scale, like smp's decoders read `encoder.out_channels`.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ArchName, DropoutConfig } from '../../types';
import { scaled } from '../encoders/contract';
import { LayerBuilder, convBnAct, mcDropout, type ConvBnActOptions } from '../blocks';

export type Sym = tf.SymbolicTensor;

export class DecoderContext {
  constructor(
    readonly b: LayerBuilder,
    readonly widthScale: number,
    readonly dropout: DropoutConfig,
    /** Whether the architecture adds its center block for this encoder (`ArchSpec.centerBlock`). */
    readonly centerBlock = false,
  ) {}

  /** A channel count of smp's default decoder, scaled like the encoder. */
  ch(channels: number, divisor = 1): number {
    return scaled(channels, this.widthScale, divisor);
  }

  /** MCDropout after a decoder convolution, present only for the 'decoder' strategy. */
  drop(x: Sym, name: string): Sym {
    if (this.dropout.strategy !== 'decoder') return x;
    return mcDropout(this.b, x, `${name}_mcdrop`, this.dropout.rate);
  }

  /** A decoder convolution unit (conv → norm → activation) followed by its 'decoder'-strategy dropout. */
  convUnit(x: Sym, name: string, o: ConvBnActOptions): Sym {
    return this.drop(convBnAct(this.b, x, name, o), name);
  }
}

export interface ArchSpec {
  name: ArchName;
  /** smp's default `encoder_depth` for this architecture (3 for PSPNet, 5 for the others). */
  defaultEncoderDepth: number;
  /**
   * Whether smp adds a center block between encoder and decoder for this encoder (smp's Unet: for encoder names
   * starting with "vgg"); absent = never. The decoder reads the answer as `ctx.centerBlock`.
   */
  centerBlock?(encoder: string): boolean;
  /** smp's make_dilated for this architecture at this depth (32 = no dilation). */
  outputStride(depth: number): 8 | 16 | 32;
  /** Kernel size of smp's SegmentationHead conv for this architecture. */
  headKernelSize: number;
  /** Extra input-size constraints; returns a message when the configuration cannot work. */
  validate?(inputSize: [number, number], depth: number): string | undefined;
  /**
   * Builds the decoder on the encoder features [input, stride 2, …] and returns its output (the tensor the
   * segmentation head reads). Must create layers only through `ctx.b`, so a second call re-uses them.
   */
  decode(features: Sym[], ctx: DecoderContext): Sym;
}

/** The largest divisor of `channels` not above 32, smp's GroupNorm(32, C) when widths are scaled down. */
export function groupNormGroups(channels: number): number {
  for (let g = Math.min(32, channels); g > 1; g--) if (channels % g === 0) return g;
  return 1;
}

/**
 * Default decoder channels of Unet-like decoders (256, 128, 64, 32, 16), cut to the encoder depth by keeping
 * the last `depth` entries, as smp's UnetPlusPlus decoder does (depth 3 → 64, 32, 16).
 */
export function unetDecoderChannels(ctx: DecoderContext, depth: number): number[] {
  return [256, 128, 64, 32, 16].slice(5 - depth).map((c) => ctx.ch(c));
}
