/**
 * smp Unet: from the deepest feature, each block upsamples ×2 (nearest), concatenates the skip feature and
 * applies two 3×3 conv-BN-ReLU; decoder channels (256, 128, 64, 32, 16), the last `depth` of them; head 3×3.
 */
import { concat, upsampleNearest } from '../blocks';
import { unetDecoderChannels, type ArchSpec, type DecoderContext, type Sym } from './common';

/** smp's Unet DecoderBlock (no attention): up ×2 → [concat skip] → conv3×3 → conv3×3. */
export function unetBlock(ctx: DecoderContext, x: Sym, skip: Sym | undefined, name: string, outChannels: number): Sym {
  let y = upsampleNearest(ctx.b, x, `${name}_up`, 2);
  if (skip) y = concat(ctx.b, [y, skip], `${name}_cat`);
  y = ctx.convUnit(y, `${name}_conv1`, { filters: outChannels, kernelSize: 3 });
  return ctx.convUnit(y, `${name}_conv2`, { filters: outChannels, kernelSize: 3 });
}

export const Unet: ArchSpec = {
  name: 'Unet',
  outputStride: () => 32,
  headKernelSize: 3,
  decode(features, ctx) {
    const depth = features.length - 1;
    const channels = unetDecoderChannels(ctx, depth);
    const reversed = features.slice(1).reverse();
    let x = reversed[0];
    for (let i = 0; i < depth; i++) x = unetBlock(ctx, x, reversed[i + 1], `block${i}`, channels[i]);
    return x;
  },
};
