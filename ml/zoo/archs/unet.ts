/**
 * smp Unet: from the deepest feature, each block upsamples ×2 (nearest), concatenates the skip feature and
 * applies two 3×3 conv-BN-ReLU; decoder channels (256, 128, 64, 32, 16), the last `depth` of them; head 3×3.
 * For VGG encoders (names starting with "vgg", whose deepest feature is a bare max-pool) smp first applies a
 * center block: two 3×3 conv-BN-ReLU at the deepest feature's channels.
 */
import { channelsOf, concat, upsampleNearest } from '../blocks';
import { unetDecoderChannels, type ArchSpec, type DecoderContext, type Sym } from './common';

/** smp's Unet DecoderBlock (no attention): up ×2 → [concat skip] → conv3×3 → conv3×3. */
export function unetBlock(ctx: DecoderContext, x: Sym, skip: Sym | undefined, name: string, outChannels: number): Sym {
  let y = upsampleNearest(ctx.b, x, `${name}_up`, 2);
  if (skip) y = concat(ctx.b, [y, skip], `${name}_cat`);
  y = ctx.convUnit(y, `${name}_conv1`, { filters: outChannels, kernelSize: 3 });
  return ctx.convUnit(y, `${name}_conv2`, { filters: outChannels, kernelSize: 3 });
}

/** smp's UnetCenterBlock: two 3×3 conv-BN-ReLU keeping the channel count. */
function centerBlock(ctx: DecoderContext, x: Sym): Sym {
  const channels = channelsOf(x);
  const y = ctx.convUnit(x, 'center_conv1', { filters: channels, kernelSize: 3 });
  return ctx.convUnit(y, 'center_conv2', { filters: channels, kernelSize: 3 });
}

export const Unet: ArchSpec = {
  name: 'Unet',
  outputStride: () => 32,
  defaultEncoderDepth: 5,
  headKernelSize: 3,
  centerBlock: (encoder) => encoder.startsWith('vgg'),
  decode(features, ctx) {
    const depth = features.length - 1;
    const channels = unetDecoderChannels(ctx, depth);
    const reversed = features.slice(1).reverse();
    let x = ctx.centerBlock ? centerBlock(ctx, reversed[0]) : reversed[0];
    for (let i = 0; i < depth; i++) x = unetBlock(ctx, x, reversed[i + 1], `block${i}`, channels[i]);
    return x;
  },
};
