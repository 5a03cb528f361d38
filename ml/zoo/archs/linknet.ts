/**
 * smp Linknet: each block is 1×1 conv (C/4) → 4×4 transposed conv stride 2 (with bias) → BN → ReLU →
 * 1×1 conv to the next skip's channels, then adds the skip; the last block outputs 32 channels; head 1×1.
 */
import * as tf from '@tensorflow/tfjs';
import { activation, add, batchNorm, channelsOf } from '../blocks';
import { kernelInitializer } from '../init';
import type { ArchSpec, DecoderContext, Sym } from './common';

function linknetBlock(ctx: DecoderContext, x: Sym, skip: Sym | undefined, name: string, outChannels: number): Sym {
  const { b } = ctx;
  const mid = Math.max(1, Math.floor(channelsOf(x) / 4));
  let y = ctx.convUnit(x, `${name}_conv1`, { filters: mid, kernelSize: 1 });
  y = b.apply(
    `${name}_transpose`,
    // PyTorch ConvTranspose2d(k=4, s=2, p=1) pads (1, 1): identical to TF 'same' for an exact ×2.
    (full) => tf.layers.conv2dTranspose({ name: full, filters: mid, kernelSize: 4, strides: 2, padding: 'same', kernelInitializer: kernelInitializer() }),
    y,
  );
  y = batchNorm(b, y, `${name}_transpose_bn`);
  y = ctx.drop(activation(b, y, `${name}_transpose_act`, 'relu'), `${name}_transpose`);
  y = ctx.convUnit(y, `${name}_conv2`, { filters: outChannels, kernelSize: 1 });
  return skip ? add(b, [y, skip], `${name}_add`) : y;
}

export const Linknet: ArchSpec = {
  name: 'Linknet',
  outputStride: () => 32,
  defaultEncoderDepth: 5,
  headKernelSize: 1,
  decode(features, ctx) {
    const reversed = features.slice(1).reverse();
    const channels = [...reversed.map(channelsOf), ctx.ch(32)];
    let x = reversed[0];
    for (let i = 0; i < reversed.length; i++) x = linknetBlock(ctx, x, reversed[i + 1], `block${i}`, channels[i + 1]);
    return x;
  },
};
